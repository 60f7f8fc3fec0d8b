"""Events and webhooks: the topics, subscriptions, event queries, and what to do after a delivery attempt.

Pure: the delivery worker makes the HTTP call and passes the outcome and a random draw for the jitter; this decides.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
from collections.abc import Sequence
from typing import Final

import attrs

from core.decisions import Changes, Decision
from core.errors import ValidationError
from core.records import TOPICS, Subscription
from core.validators import check_text

#: Seconds to wait before attempt 2, 3, ... (Standard Webhooks' suggested schedule, shortened at the end).
DEFAULT_SCHEDULE: tuple[float, ...] = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0)
#: Standard Webhooks secrets are ``whsec_`` and the base64 of 24 to 64 random bytes.
SECRET_PREFIX: Final = "whsec_"
SECRET_BYTES: Final = (24, 64)
#: The most events one page of ``events list`` returns.
MAX_EVENT_PAGE: Final = 10_000
#: Seconds an endpoint may take to answer one delivery.
DEFAULT_TIMEOUT: Final = 10.0
#: Deliveries one round attempts at most.
DEFAULT_ROUND: Final = 100
#: Attempts the delivery log shows unless asked for more.
LOG_PAGE: Final = 50
REMOVED = "removed"


def secret_key(secret: str) -> bytes:
    """The signing key inside a Standard Webhooks secret, or a clear error if it is not one."""
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    low, high = SECRET_BYTES
    if not low <= len(key) <= high:
        raise ValidationError(
            f"a webhook secret is {SECRET_PREFIX} followed by the base64 of {low} to {high} random bytes; "
            "leave it out to have one generated",
            {"field": "secret"},
        )
    return key


def check_topics(topics: Sequence[str]) -> tuple[str, ...]:
    """Known topics in any case, each once, in the order given; at least one."""
    chosen = tuple(dict.fromkeys(t.upper() for t in topics))
    if not chosen:
        raise ValidationError(f"choose at least one topic: {', '.join(TOPICS)}", {"field": "topics"})
    unknown = [t for t in chosen if t not in TOPICS]
    if unknown:
        raise ValidationError(
            f"unknown topic {', '.join(unknown)}: choose from {', '.join(TOPICS)}",
            {"field": "topics", "unknown": unknown, "known": list(TOPICS)},
        )
    return chosen


def subscribe(
    url: str,
    topics: Sequence[str],
    secret: str,
    allow_private_network: bool,
    *,
    subscription_id: str,
    now: dt.datetime,
) -> Decision[Subscription]:
    """A subscription to the events of ``topics``; it receives the events committed from now on."""
    check_text(url, "url")
    secret_key(secret)
    subscription = Subscription(
        id=subscription_id,
        url=url,
        topics=check_topics(topics),
        secret=secret,
        created_at=now,
        allow_private_network=allow_private_network,
    )
    return Decision(subscription, Changes.of(created=[subscription]))


def unsubscribe(subscription: Subscription) -> Decision[Subscription]:
    """Stop delivering to a subscription; it stays listed with the reason."""
    removed = attrs.evolve(subscription, disabled_reason=REMOVED)
    return Decision(removed, Changes.of(updated=[removed]))


def _page_limit(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_EVENT_PAGE:
        raise ValidationError(f"limit must be a whole number from 1 to {MAX_EVENT_PAGE}", {"field": "limit"})


def _after(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError("after must be a sequence number, 0 or more", {"field": "after"})


def _upper(value: str | None) -> str | None:
    return value.upper() if isinstance(value, str) else value


def _topic(instance: object, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is not None and value not in TOPICS:
        raise ValidationError(
            f"unknown topic {value}: choose from {', '.join(TOPICS)}",
            {"field": "topic", "known": list(TOPICS)},
        )


@attrs.frozen
class EventQuery:
    """A page of committed events: those after sequence number ``after``, at most ``limit``, of one topic or all."""

    after: int = attrs.field(default=0, validator=_after)
    limit: int = attrs.field(default=100, validator=_page_limit)
    topic: str | None = attrs.field(default=None, converter=_upper, validator=_topic)


class DeliveryOutcome(enum.Enum):
    DELIVERED = "DELIVERED"  #: the endpoint answered 2xx
    RETRY = "RETRY"  #: try again after ``delay``
    GIVE_UP = "GIVE_UP"  #: the schedule is exhausted: the endpoint is disabled
    GONE = "GONE"  #: the endpoint answered 410 Gone: it is disabled at once


@attrs.frozen
class AttemptDecision:
    """What follows an attempt: the outcome, the delay before the next one, and why the subscription is
    disabled (when it is)."""

    outcome: DeliveryOutcome
    delay: float = 0.0
    disable_reason: str | None = None

    @property
    def delivery_status(self) -> str:
        """What the delivery is after this attempt: DELIVERED, still PENDING (a retry), or FAILED."""
        return {DeliveryOutcome.DELIVERED: "DELIVERED", DeliveryOutcome.RETRY: "PENDING"}.get(
            self.outcome, "FAILED"
        )


def after_attempt(
    status_code: int | None,
    attempts: int,
    schedule: tuple[float, ...] = DEFAULT_SCHEDULE,
    jitter: float = 0.0,
) -> AttemptDecision:
    """Decide after the ``attempts``-th attempt (1 = the first) that got ``status_code`` (None: no answer,
    a timeout or a connection error). ``jitter`` in [-1, 1] spreads the delay by up to ±20 %.
    Redirects are failures: a webhook is never followed to another address."""
    if status_code is not None and 200 <= status_code < 300:
        return AttemptDecision(DeliveryOutcome.DELIVERED)
    if status_code == 410:
        return AttemptDecision(DeliveryOutcome.GONE, disable_reason="the endpoint answered 410 Gone")
    if attempts > len(schedule):
        return AttemptDecision(DeliveryOutcome.GIVE_UP, disable_reason=f"gave up after {attempts} attempts")
    return AttemptDecision(
        DeliveryOutcome.RETRY, schedule[attempts - 1] * (1 + 0.2 * max(-1.0, min(1.0, jitter)))
    )


@attrs.frozen
class DeliveryReport:
    """How a round of deliveries went."""

    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    def __add__(self, other: DeliveryReport) -> DeliveryReport:
        return DeliveryReport(
            self.delivered + other.delivered, self.retrying + other.retrying, self.failed + other.failed
        )

    def counting(self, outcome: DeliveryOutcome) -> DeliveryReport:
        if outcome is DeliveryOutcome.DELIVERED:
            return attrs.evolve(self, delivered=self.delivered + 1)
        if outcome is DeliveryOutcome.RETRY:
            return attrs.evolve(self, retrying=self.retrying + 1)
        return attrs.evolve(self, failed=self.failed + 1)


@attrs.frozen
class Attempt:
    """One delivery attempt, as the delivery log keeps it."""

    event_id: str
    subscription_id: str
    attempt: int
    at: dt.datetime
    status_code: int | None
    error: str | None
    duration_ms: int
    outcome: DeliveryOutcome


def judge_attempt(
    event_id: str,
    subscription_id: str,
    attempts_before: int,
    status_code: int | None,
    error: str | None,
    duration_ms: int,
    *,
    at: dt.datetime,
    schedule: tuple[float, ...] = DEFAULT_SCHEDULE,
    jitter: float = 0.0,
) -> tuple[Attempt, AttemptDecision]:
    """What one more attempt of a delivery that had ``attempts_before`` got, and what follows from it."""
    number = attempts_before + 1
    decision = after_attempt(status_code, number, schedule, jitter)
    attempt = Attempt(
        event_id=event_id,
        subscription_id=subscription_id,
        attempt=number,
        at=at,
        status_code=status_code,
        error=error,
        duration_ms=duration_ms,
        outcome=decision.outcome,
    )
    return attempt, decision
