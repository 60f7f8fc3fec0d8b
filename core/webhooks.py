"""Webhook delivery decisions: what to do after an attempt, and when to try again.

Pure: the delivery worker (``adapters.webhooks``) makes the HTTP call and passes the outcome and a random
draw for the jitter; this decides.
"""

from __future__ import annotations

import enum

import attrs

#: Seconds to wait before attempt 2, 3, ... (Standard Webhooks' suggested schedule, shortened at the end).
DEFAULT_SCHEDULE: tuple[float, ...] = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0)


class Outcome(enum.Enum):
    DELIVERED = "DELIVERED"  #: the endpoint answered 2xx
    RETRY = "RETRY"  #: try again after ``delay``
    GIVE_UP = "GIVE_UP"  #: the schedule is exhausted: the endpoint is disabled
    GONE = "GONE"  #: the endpoint answered 410 Gone: it is disabled at once


@attrs.frozen
class Decision:
    outcome: Outcome
    delay: float = 0.0


def after_attempt(
    status_code: int | None,
    attempts: int,
    schedule: tuple[float, ...] = DEFAULT_SCHEDULE,
    jitter: float = 0.0,
) -> Decision:
    """Decide after the ``attempts``-th attempt (1 = the first) that got ``status_code`` (None: no answer,
    a timeout or a connection error). ``jitter`` in [-1, 1] spreads the delay by up to ±20 %.
    Redirects are failures: a webhook is never followed to another address."""
    if status_code is not None and 200 <= status_code < 300:
        return Decision(Outcome.DELIVERED)
    if status_code == 410:
        return Decision(Outcome.GONE)
    if attempts > len(schedule):
        return Decision(Outcome.GIVE_UP)
    return Decision(Outcome.RETRY, schedule[attempts - 1] * (1 + 0.2 * max(-1.0, min(1.0, jitter))))
