"""Parents of individual orders — portfolio orders and account liquidations — moving with their orders.

Both kinds follow the same rules through their own lifecycle (``LIFECYCLE_OF`` their record type): created orders
submit the parent where its lifecycle has that step, the first order that trades starts it, all orders filled
fill it (a liquidation then learns its cash amount), and an order cancelled by the trading partner cancels the
parent and its other open orders with it (filled ones stay filled). The client may cancel a parent only where
its lifecycle allows; its open orders are cancelled with it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Generic, TypeVar

import attrs

from core.accounts import reserve
from core.decisions import Changes
from core.lifecycle import ACCOUNT_LIQUIDATION, PORTFOLIO_ORDER, Lifecycle, ParentState, Trigger, follow_steps
from core.numbers import ZERO
from core.orders import CLIENT_CANCELLED, cancel_open
from core.portfolio import FeeSchedule, settle_liquidation
from core.records import (
    Account,
    AccountLiquidation,
    Announcement,
    Order,
    ParentRecord,
    PortfolioOrder,
    announce,
    refs,
)

Parent = TypeVar("Parent", bound=ParentRecord)

#: The transition table of each kind of parent.
LIFECYCLE_OF: Mapping[type, Lifecycle[ParentState, Trigger]] = {
    PortfolioOrder: PORTFOLIO_ORDER,
    AccountLiquidation: ACCOUNT_LIQUIDATION,
}

PARTNER_ERROR = "error at the trading partner"


@attrs.frozen
class Followed(Generic[Parent]):
    """A parent after its orders changed, its orders (open ones cancelled with it), and what to announce:
    the orders' cancellations before the parent's move, so every snapshot shows what was committed."""

    parent: Parent
    orders: tuple[Order, ...]
    announcements: tuple[Announcement, ...]


def follow(
    parent: Parent, orders: Sequence[Order], fees: FeeSchedule | None, now: dt.datetime
) -> Followed[Parent]:
    """The parent after one of its orders changed, announcing every state it passes through."""
    children = tuple(orders)
    updated = attrs.evolve(parent, orders=refs(children))
    announcements: list[Announcement] = []
    for trigger, state in follow_steps(LIFECYCLE_OF[type(parent)], parent.state, [o.state for o in children]):
        if trigger is Trigger.FAIL:
            reason = "; ".join(sorted({o.reason for o in children if o.reason})) or PARTNER_ERROR
            cancelled = tuple(cancel_open(children, reason, now, Trigger.FAIL))
            announcements += [
                announce(o) for o, before in zip(cancelled, children, strict=True) if o != before
            ]
            children = cancelled
            updated = attrs.evolve(updated, orders=refs(children), reason=reason)
        if trigger is Trigger.FILL and updated.settles_when_filled:
            settlement = settle_liquidation(
                sum((o.traded_value for o in children), ZERO),
                sum((o.total_cost for o in children), ZERO),
                fees,
                now.date(),
                updated.currency,
            )
            updated = attrs.evolve(
                updated, cash_amount=settlement.cash_amount, management_fee=settlement.management_fee
            )
        updated = attrs.evolve(updated, state=state, updated_at=now)
        announcements.append(announce(updated))
    return Followed(updated, children, tuple(announcements))


def cancel_by_client(parent: Parent, orders: Sequence[Order], now: dt.datetime) -> Followed[Parent]:
    """The client cancels the parent, where its lifecycle allows, and its open orders with it."""
    state = LIFECYCLE_OF[type(parent)].next(parent.state, Trigger.CANCEL)
    children = tuple(cancel_open(orders, CLIENT_CANCELLED, now, Trigger.CANCEL))
    cancelled = attrs.evolve(
        parent, state=state, orders=refs(children), reason=CLIENT_CANCELLED, updated_at=now
    )
    changed = [announce(o) for o, before in zip(children, orders, strict=True) if o != before]
    return Followed(cancelled, children, (*changed, announce(cancelled)))


def followed_changes(followed: Followed[Parent], before: Sequence[Order], account: Account) -> Changes:
    """What storing a parent's move changes: the parent, its orders that moved, and its account, whose cash held
    back for those orders follows them."""
    moved = [o for o, was in zip(followed.orders, before, strict=True) if o != was]
    held = reserve(account, before, followed.orders)
    return Changes.of(
        updated=[followed.parent, *moved, *([held] if held != account else [])],
        announced=followed.announcements,
    )
