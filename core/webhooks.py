"""Events and webhooks: the topics, subscriptions, event queries, and what to do after a delivery attempt.

Pure: the delivery worker makes the HTTP call and passes the outcome and a random draw for the jitter; this decides.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import ipaddress
from collections.abc import Sequence
from typing import Final
from urllib.parse import SplitResult, urlsplit

import attrs

from core.decisions import Changes, Decision
from core.errors import IllegalTransition, NotFound, UnsafeWebhookUrl, ValidationError
from core.records import TOPICS, Event, Subscription
from core.tenants import NOBODY, Owner, Scope, admits
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
#: Endpoints served at the same time.
DEFAULT_WORKERS: Final = 8
#: The longest ``Retry-After`` (seconds) an endpoint's 429 or 503 is obeyed for: a day.
MAX_RETRY_AFTER: Final = 86_400.0
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


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Where IPv6 carries an IPv4 address in its last 32 bits: IPv4-compatible (deprecated), IPv4-mapped,
#: IPv4-translated (SIIT), and the well-known NAT64 prefix.
_EMBEDS_IPV4_LOW32: Final = tuple(
    ipaddress.IPv6Network(n) for n in ("::/96", "::ffff:0:0/96", "::ffff:0:0:0/96", "64:ff9b::/96")
)
#: Special-purpose IPv6 blocks that ``ipaddress`` on some Pythons still calls global: local-use NAT64 (which hides an
#: IPv4 address of the operator's choosing), deprecated site-local, SRv6 segment identifiers, documentation.
_NOT_REACHABLE_V6: Final = tuple(
    ipaddress.IPv6Network(n)
    for n in ("64:ff9b:1::/48", "fec0::/10", "5f00::/16", "3fff::/20", "2001:db8::/32")
)
#: Special-purpose IPv4 blocks that ``ipaddress`` still calls global (multicast, the shared and benchmarking
#: ranges are covered by ``is_private``/``is_reserved`` on recent Pythons, not on all).
_NOT_REACHABLE_V4: Final = tuple(
    ipaddress.IPv4Network(n)
    for n in ("0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4")
)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (6to4, NAT64, IPv4-mapped, -compatible or -translated)."""
    if address in ipaddress.IPv6Network("2002::/16"):
        return address.sixtofour
    if any(address in network for network in _EMBEDS_IPV4_LOW32):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_refusal(address: IPAddress) -> str | None:
    """Why a webhook may not be sent to ``address`` without ``allow_private_network`` (None: it may): not a
    globally reachable unicast address by the IANA special-purpose registries, a Teredo tunnel, or an IPv6
    address that carries such an IPv4 address (NAT64, 6to4, IPv4-mapped or -compatible)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.is_multicast:
            return f"{address} is a multicast address"
        if address.teredo is not None:
            return f"{address} is a Teredo tunnel address"
        if any(address in network for network in _NOT_REACHABLE_V6):
            return f"{address} is not a public address"
        inner = _embedded_ipv4(address)
        if inner is not None:
            refused = address_refusal(inner)
            return None if refused is None else f"{address} carries the IPv4 address {inner}: {refused}"
        if not address.is_global or address in ipaddress.IPv6Network("2001::/23"):
            return f"{address} is not a public address"
        return None
    if address.is_multicast:
        return f"{address} is a multicast address"
    if not address.is_global or any(address in network for network in _NOT_REACHABLE_V4):
        return f"{address} is not a public address"
    return None


def parse_url(url: str) -> SplitResult:
    """A webhook URL as its parts: http or https, a host, a port from 1 to 65535 (or none), no user name or
    password (they would be sent in the clear to whoever answers)."""
    check_text(url, "url")
    try:
        parts = urlsplit(url)
        port = parts.port  # reading the port checks it: 0 to 65535
    except ValueError as error:
        raise UnsafeWebhookUrl(f"webhook URL {url!r} cannot be read: {error}", {"url": url}) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeWebhookUrl(f"webhook URL {url!r} must be an http or https URL with a host", {"url": url})
    if port == 0:
        raise UnsafeWebhookUrl(f"webhook URL {url!r} has port 0", {"url": url})
    if parts.username is not None or parts.password is not None:
        raise UnsafeWebhookUrl(f"webhook URL {url!r} must not carry a user name or password", {"url": url})
    return parts


def literal_address(host: str) -> IPAddress | None:
    """The address a URL's host names literally (``127.0.0.1``, ``::1``), or None for a name."""
    try:
        return ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return None


def check_url(url: str, allow_private_network: bool) -> None:
    """What can be known of a webhook URL without the network: its shape, and a literal address that is not
    public (a host name is checked again on every connection, on the address actually connected to)."""
    parts = parse_url(url)
    address = literal_address(parts.hostname or "")
    refused = None if allow_private_network or address is None else address_refusal(address)
    if refused is not None:
        raise UnsafeWebhookUrl(
            f"webhook URL {url!r} is not public ({refused}); create the subscription with "
            "allow_private_network to deliver to a local receiver",
            {"url": url, "addresses": [str(address)]},
        )


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
    owner: Owner = NOBODY,
    clients_reach_private: bool = False,
) -> Decision[Subscription]:
    """A subscription to the events of ``topics``; it receives the events committed from now on. Only the operator
    may let a subscription reach private networks (loopback, the LAN, a cloud's metadata address): a client's
    webhooks go to public addresses, except on a sandbox (``clients_reach_private``: a development server on the
    developer's own machine, whose receivers listen on loopback)."""
    if allow_private_network and owner.client_id is not None and not clients_reach_private:
        raise UnsafeWebhookUrl(
            "only the operator may allow a webhook to reach a private network; use a public https URL",
            {"field": "allow_private_network"},
        )
    check_url(url, allow_private_network)
    secret_key(secret)
    subscription = Subscription(
        id=subscription_id,
        url=url,
        topics=check_topics(topics),
        secret=secret,
        created_at=now,
        allow_private_network=allow_private_network,
        client_id=owner.client_id,
        user_id=owner.user_id,
    )
    return Decision(subscription, Changes.of(created=[subscription]))


def unsubscribe(subscription: Subscription) -> Decision[Subscription]:
    """Stop delivering to a subscription; it stays listed with the reason."""
    removed = attrs.evolve(subscription, disabled_reason=REMOVED)
    return Decision(removed, Changes.of(updated=[removed]))


def enable(subscription: Subscription) -> Decision[Subscription]:
    """Deliver again to a subscription that was disabled (by failures or a 410); one that was removed stays
    removed. Deliveries dropped while it was disabled are not sent again by this (see ``redelivery``)."""
    if subscription.disabled_reason == REMOVED:
        raise IllegalTransition(f"webhook subscription {subscription.id}", "removed", "be enabled")
    enabled = attrs.evolve(subscription, disabled_reason=None)
    return Decision(enabled, Changes.of(updated=[enabled] if enabled != subscription else []))


def rotate_secret(subscription: Subscription, secret: str) -> Decision[Subscription]:
    """Sign from now on with a new secret (the old one stops working at once)."""
    secret_key(secret)
    if subscription.disabled_reason == REMOVED:
        raise IllegalTransition(f"webhook subscription {subscription.id}", "removed", "get a new secret")
    rotated = attrs.evolve(subscription, secret=secret)
    return Decision(rotated, Changes.of(updated=[rotated]))


def receives(subscription: Subscription, event: Event) -> bool:
    """Whether an event is fanned out to a subscription: it is active, subscribed to the event's topic, and its
    owner may see what the event is about (a user's subscription: the user's records; a client's: the client's;
    an operator's subscription, with no client, receives every event)."""
    if subscription.disabled_reason is not None or event.topic not in subscription.topics:
        return False
    if subscription.client_id is None:
        return True
    about = event.object
    return admits(Scope(subscription.client_id, subscription.user_id), about.client_id, about.user_id)


def redelivery(
    event: Event, subscriptions: Sequence[Subscription], chosen: str | None = None
) -> tuple[Subscription, ...]:
    """Who receives an event sent again by hand: the chosen subscription, or every active one of its topic.
    A chosen one that is disabled or not subscribed to the topic is refused with the reason."""
    topic = event.topic
    if chosen is None:
        return tuple(s for s in subscriptions if receives(s, event))
    found = next((s for s in subscriptions if s.id == chosen), None)
    if found is None:
        raise NotFound(f"webhook subscription {chosen} does not exist", {"id": chosen})
    if found.disabled_reason is not None:
        raise IllegalTransition(
            f"webhook subscription {chosen}", f"disabled ({found.disabled_reason})", "receive events"
        )
    if topic not in found.topics:
        raise ValidationError(
            f"webhook subscription {chosen} does not receive {topic} events", {"id": chosen, "topic": topic}
        )
    return (found,)


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
    #: Only the events a client (or one of its users) may see; none: every event (the operator's feed).
    client_id: str | None = None
    user_id: str | None = None

    def shows(self, event: Event) -> bool:
        """Whether the event belongs on this page's feed (its sequence number aside)."""
        if self.topic is not None and event.topic != self.topic:
            return False
        if self.client_id is None:
            return True
        about = event.object
        return admits(Scope(self.client_id, self.user_id), about.client_id, about.user_id)


def feed_of(query: EventQuery, scope: Scope) -> EventQuery:
    """The page of the events the caller may see: the operator's feed has every event."""
    if scope.operator:
        return attrs.evolve(query, client_id=None, user_id=None)
    return attrs.evolve(query, client_id=scope.client_id, user_id=scope.user_id)


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


def delivered(status_code: int | None) -> bool:
    """Whether an answer with ``status_code`` (None: no answer) delivers the event: a 2xx, and only a 2xx."""
    return status_code is not None and 200 <= status_code < 300


def after_attempt(
    status_code: int | None,
    attempts: int,
    schedule: tuple[float, ...] = DEFAULT_SCHEDULE,
    jitter: float = 0.0,
    retry_after: float | None = None,
) -> AttemptDecision:
    """Decide after the ``attempts``-th attempt (1 = the first) that got ``status_code`` (None: no answer,
    a timeout or a connection error). ``jitter`` in [-1, 1] spreads the delay by up to ±20 %. An endpoint that
    answered 429 or 503 with ``retry_after`` seconds is not tried again sooner (at most ``MAX_RETRY_AFTER``
    later: an endpoint cannot put its events off for ever). Redirects are failures: a webhook is never followed
    to another address."""
    if delivered(status_code):
        return AttemptDecision(DeliveryOutcome.DELIVERED)
    if status_code == 410:
        return AttemptDecision(DeliveryOutcome.GONE, disable_reason="the endpoint answered 410 Gone")
    if attempts > len(schedule):
        return AttemptDecision(DeliveryOutcome.GIVE_UP, disable_reason=f"gave up after {attempts} attempts")
    delay = schedule[attempts - 1] * (1 + 0.2 * max(-1.0, min(1.0, jitter)))
    if status_code in (429, 503) and retry_after is not None and retry_after > 0:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return AttemptDecision(DeliveryOutcome.RETRY, delay)


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
    retry_after: float | None = None,
) -> tuple[Attempt, AttemptDecision]:
    """What one more attempt of a delivery that had ``attempts_before`` got, and what follows from it."""
    number = attempts_before + 1
    decision = after_attempt(status_code, number, schedule, jitter, retry_after)
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
