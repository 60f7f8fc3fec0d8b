"""Test doubles that are real adapters of their ports: a clock you move by hand, predictable ids, no jitter."""

from __future__ import annotations

import datetime as dt
import itertools

import attrs


@attrs.define
class ManualClock:
    """A Clock that stands still until a test moves it."""

    moment: dt.datetime = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)

    def now(self) -> dt.datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += dt.timedelta(**delta)


@attrs.define
class SequentialIds:
    """An IdGenerator giving id-1, id-2, ... (unique within one run)."""

    prefix: str = "id"
    counter: itertools.count[int] = attrs.field(factory=lambda: itertools.count(1))

    def new_id(self) -> str:
        return f"{self.prefix}-{next(self.counter)}"


@attrs.define
class FixedJitter:
    """A Jitter that always draws the same number (0: delays exactly as scheduled)."""

    value: float = 0.0

    def draw(self) -> float:
        return self.value
