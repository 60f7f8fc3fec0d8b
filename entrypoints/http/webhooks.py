"""Webhook subscriptions and the event feed (snake_case, as the portfolio-order documents write their webhooks).

A subscription belongs to the caller's client and receives only the events about what that client may see. Its
signing secret is generated here and shown once, in the answer to ``POST /webhooks``; later reads never show it.
``GET /events`` is the same events for a client that polls instead: each with its sequence number, oldest first.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, ClassVar, Final

import attrs

from adapters.webhooks import new_secret
from core.errors import ValidationError
from core.records import TOPICS, Event, Subscription
from core.webhooks import EventQuery
from entrypoints.http.openapi import TEXT, Rules, checked, http_url_pattern, one_of
from entrypoints.http.routing import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    PAGING,
    Call,
    Operation,
    Param,
    Reply,
    as_json,
    page,
)

# -- bodies -------------------------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class NewSubscription:
    """Where to send the events of ``topics``. ``allow_private_network`` lets it deliver to a loopback or private
    address (a receiver on the same machine or network)."""

    url: str = attrs.field(metadata=checked(TEXT))
    topics: tuple[str, ...] = attrs.field(metadata=checked(one_of(TOPICS)))
    allow_private_network: bool = False
    #: At least one topic; an http or https URL with a host, a port from 1 (if any) and no user name, as
    #: ``core.webhooks.parse_url`` reads it (``openapi.http_url_pattern``).
    openapi_rules: ClassVar[Rules] = (
        {"properties": {"topics": {"minItems": 1}, "url": {"pattern": http_url_pattern()}}},
    )


@attrs.frozen(kw_only=True)
class SubscriptionView:
    """A subscription as listed: everything but its secret. ``disabled_reason`` says why it no longer receives
    events (``removed``, or the failures that disabled it); null while it is active."""

    id: str
    url: str
    topics: tuple[str, ...]
    allow_private_network: bool
    created_at: dt.datetime
    disabled_reason: str | None


@attrs.frozen(kw_only=True)
class CreatedSubscription(SubscriptionView):
    """A new subscription with its signing secret (Standard Webhooks ``whsec_…``), shown this once."""

    secret: str


def view(subscription: Subscription) -> SubscriptionView:
    return SubscriptionView(
        id=subscription.id,
        url=subscription.url,
        topics=subscription.topics,
        allow_private_network=subscription.allow_private_network,
        created_at=subscription.created_at,
        disabled_reason=subscription.disabled_reason,
    )


def created(subscription: Subscription) -> CreatedSubscription:
    return CreatedSubscription(**attrs.asdict(view(subscription), recurse=False), secret=subscription.secret)


@attrs.frozen(kw_only=True)
class FeedEvent:
    """An event of the feed: its sequence number (the order it was committed in), then the event as a webhook
    carries it: ``id`` (the ``webhook-id`` of its deliveries), ``created_at``, ``type`` (``TOPIC.STATE``, as
    ``PORTFOLIO_ORDER.FILLED``) and ``object``, the record as it stood (its shape is that of the record of the
    topic: a portfolio order, an individual order, a position event, …)."""

    sequence: int
    id: str
    created_at: dt.datetime
    type: str
    object: dict[str, Any]


@attrs.frozen(kw_only=True)
class FeedPage:
    """A page of the feed, oldest first; ``next``: the ``after`` of the following page."""

    data: list[FeedEvent]
    next: int


def item(sequence: int, event: Event) -> dict[str, Any]:
    shown: dict[str, Any] = as_json(event)
    return {"sequence": sequence, **shown}


# -- handlers -----------------------------------------------------------------------------------------------------


def subscribe(call: Call) -> Reply:
    body: NewSubscription = call.body
    subscription = call.app.webhooks.subscribe(
        body.url, body.topics, new_secret(), body.allow_private_network, scope=call.scope,
        clients_reach_private=call.settings.sandbox, idempotency_key=call.idempotency_key,
    )  # fmt: skip
    return Reply(201, as_json(created(subscription)))


def list_subscriptions(call: Call) -> Reply:
    return page(call, [view(s) for s in call.app.webhooks.all(scope=call.scope)], key=lambda s: s.id)


def show_subscription(call: Call) -> Reply:
    return Reply(200, as_json(view(call.app.webhooks.get(call.path["subscription_id"], scope=call.scope))))


def unsubscribe(call: Call) -> Reply:
    removed = call.app.webhooks.unsubscribe(call.path["subscription_id"], scope=call.scope)
    return Reply(200, as_json(view(removed)))


#: Sequence numbers and page sizes are read as at most 18 digits (SQLite integers are 64-bit).
_WHOLE: Final = re.compile(r"[0-9]{1,18}")


def whole(call: Call, name: str, default: int) -> int:
    text = call.param(name)
    if text is None:
        return default
    if not _WHOLE.fullmatch(text):
        raise ValidationError(f"{name} must be a whole number, 0 or more", {"parameter": name, "value": text})
    return int(text)


def events(call: Call) -> Reply:
    """A page of the feed; ``next`` is the ``after`` of the following page (the last sequence number shown, or
    the ``after`` asked for when nothing newer was committed yet): an empty page means the caller is up to date."""
    after, limit = whole(call, "after", 0), whole(call, "limit", DEFAULT_LIMIT)
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(
            f"limit must be a whole number from 1 to {MAX_LIMIT}",
            {"parameter": "limit", "value": call.param("limit")},
        )
    found = call.app.queries.events(EventQuery(after, limit, call.param("topic")), scope=call.scope)
    return Reply(200, {"data": [item(n, e) for n, e in found], "next": found[-1][0] if found else after})


# -- the table ----------------------------------------------------------------------------------------------------

FEED: Final = (
    Param("after", "Only the events after this sequence number (the `next` of the previous page; default 0).",
          schema={"type": "integer", "minimum": 0, "maximum": 10**18 - 1}),
    Param("topic", f"Only the events of one topic: {', '.join(TOPICS)}.",
          schema={"type": "string", "enum": list(TOPICS)}),
    Param("limit", f"At most this many events (1 to {MAX_LIMIT}, default {DEFAULT_LIMIT}).",
          schema={"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
)  # fmt: skip
OPERATIONS: Final = (
    Operation("POST", "/webhooks", subscribe,
              "Subscribe a URL to topics for the caller's client; the signing secret is shown this once", "webhooks",
              body=NewSubscription, response=CreatedSubscription, status=201, creates_work=True, errors=(422,),
              shown_once=("secret",)),
    Operation("GET", "/webhooks", list_subscriptions, "The client's webhook subscriptions (without secrets)",
              "webhooks", response=SubscriptionView, paged=True, query=PAGING),
    Operation("GET", "/webhooks/{subscription_id}", show_subscription,
              "A webhook subscription (without its secret)", "webhooks", response=SubscriptionView, errors=(404,)),
    Operation("DELETE", "/webhooks/{subscription_id}", unsubscribe,
              "Stop delivering to a subscription (it stays listed, disabled_reason \"removed\")", "webhooks",
              response=SubscriptionView, errors=(404,)),
    Operation("GET", "/events", events,
              "Committed events the caller may see, oldest first, with their sequence numbers (for polling)",
              "webhooks", response=FeedPage, query=FEED),
)  # fmt: skip
