"""A simulated back office: every step succeeds, unless it was told to fail or raise at a chosen step."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from core.errors import ValidationError
from core.investments import BackOfficeStep, Outcome
from core.records import Investment


class BackOfficeError(RuntimeError):
    """What the simulated back office raises when told to."""


class SimulatedBackOffice:
    """``fail`` and ``raise_at`` map a step to how many times it fails (answers FAILED) or raises before it
    succeeds; ``pending`` to how many times it answers PENDING first. Counts are kept per process."""

    def __init__(
        self,
        fail: Mapping[BackOfficeStep, int] | None = None,
        raise_at: Mapping[BackOfficeStep, int] | None = None,
        pending: Mapping[BackOfficeStep, int] | None = None,
    ) -> None:
        self._plans = {
            Outcome.FAILED: dict(fail or {}),
            Outcome.RAISED: dict(raise_at or {}),
            Outcome.PENDING: dict(pending or {}),
        }
        for plan in self._plans.values():
            for step, times in plan.items():
                BackOfficeStep(step)
                if times < 0:
                    raise ValidationError(f"a step fails a number of times from 0 up, not {times}", {})
        self._lock = threading.Lock()
        self.performed: list[tuple[BackOfficeStep, str, Outcome]] = []

    def perform(self, step: BackOfficeStep, investment: Investment) -> Outcome:
        with self._lock:
            outcome = Outcome.SUCCEEDED
            for planned, plan in self._plans.items():
                if plan.get(step, 0) > 0:
                    plan[step] -= 1
                    outcome = planned
                    break
            self.performed.append((step, investment.id, outcome))
        if outcome is Outcome.RAISED:
            raise BackOfficeError(f"the back office raised during {step.value.lower().replace('_', ' ')}")
        return outcome
