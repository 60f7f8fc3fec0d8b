"""Parents of individual orders — portfolio orders and account liquidations — moving with their orders.

Both kinds follow the same rules through their own lifecycle (``LIFECYCLE_OF`` their record type): created orders
submit the parent where its lifecycle has that step, the first order that trades starts it, all orders filled
fill it, and an order cancelled by the trading partner cancels the parent and its other open orders with it
(filled ones stay filled). The client may cancel a parent only where its lifecycle allows; its open orders are
cancelled with it.

A liquidation (a LIQUIDATION portfolio order or an account liquidation) is settled when it is filled: the
management fee is charged for the days since it was last charged (one journal entry to fee income, and the
schedule's date moves to today), never more than the cash the account has available once the sales are booked
(the rest is not charged: those days are settled), and its cash amount is what its entries moved: proceeds −
costs − fee charged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Generic, TypeVar

import attrs

from core.accounts import available_cash, reserve
from core.decisions import Changes
from core.journal import FEE_INCOME, Asset, Cause, CauseKind, JournalEntry, LedgerAccount, post, transfer
from core.lifecycle import ACCOUNT_LIQUIDATION, PORTFOLIO_ORDER, Lifecycle, ParentState, Trigger, follow_steps
from core.numbers import ZERO, fmt
from core.orders import CLIENT_CANCELLED, cancel_open
from core.portfolio import settle_liquidation
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
    """A parent after its orders changed, its orders (open ones cancelled with it), its account (charged a fee
    when a liquidation settles), the journal entries that made, and what to announce: the orders' cancellations
    before the parent's move, so every snapshot shows what was committed."""

    parent: Parent
    orders: tuple[Order, ...]
    account: Account
    entries: tuple[JournalEntry, ...]
    announcements: tuple[Announcement, ...]


def follow(
    parent: Parent, orders: Sequence[Order], account: Account, *, ids: Iterator[str], now: dt.datetime
) -> Followed[Parent]:
    """The parent after one of its orders changed, announcing every state it passes through."""
    children = tuple(orders)
    updated = attrs.evolve(parent, orders=refs(children))
    announcements: list[Announcement] = []
    entries: list[JournalEntry] = []
    for trigger, state in follow_steps(LIFECYCLE_OF[type(parent)], parent.state, [o.state for o in children]):
        if trigger is Trigger.FAIL:
            reason = "; ".join(sorted({o.reason for o in children if o.reason})) or PARTNER_ERROR
            cancelled = tuple(cancel_open(children, reason, now, Trigger.FAIL))
            announcements += [
                announce(o) for o, before in zip(cancelled, children, strict=True) if o != before
            ]
            account = reserve(account, children, cancelled)
            children = cancelled
            updated = attrs.evolve(updated, orders=refs(children), reason=reason)
        if trigger is Trigger.FILL and updated.settles_when_filled:
            updated, account, fee_entries = settle(updated, children, account, ids=ids, now=now)
            entries += fee_entries
        updated = attrs.evolve(updated, state=state, updated_at=now)
        announcements.append(announce(updated))
    return Followed(updated, children, account, tuple(entries), tuple(announcements))


def settle(
    parent: Parent, children: Sequence[Order], account: Account, *, ids: Iterator[str], now: dt.datetime
) -> tuple[Parent, Account, list[JournalEntry]]:
    """Charge the management fee of a filled liquidation and record its cash amount (what its entries moved)."""
    settlement = settle_liquidation(
        sum((o.traded_value for o in children), ZERO),
        sum((o.total_cost for o in children), ZERO),
        account.fee_schedule,
        now.date(),
        parent.currency,
        available=available_cash(account),
    )
    capped = settlement.management_fee != settlement.fee_due
    entries: list[JournalEntry] = []
    if settlement.management_fee:
        entries.append(
            JournalEntry(
                id=next(ids),
                at=now,
                cause=Cause(CauseKind.MANAGEMENT_FEE, parent.id),
                postings=transfer(
                    LedgerAccount.client(account.id),
                    FEE_INCOME,
                    Asset.cash(parent.currency),
                    settlement.management_fee,
                ),
                memo=f"management fee of {fmt(settlement.management_fee)} {parent.currency} on the liquidation"
                + (f" ({fmt(settlement.fee_due)} due, capped at the cash available)" if capped else ""),
            )
        )
        account = post(account, entries[0])
    if account.fee_schedule is not None:
        account = attrs.evolve(
            account, fee_schedule=attrs.evolve(account.fee_schedule, last_charged=now.date())
        )
    settled = attrs.evolve(
        parent, cash_amount=settlement.cash_amount, management_fee=settlement.management_fee
    )
    return settled, account, entries


def cancel_by_client(
    parent: Parent, orders: Sequence[Order], account: Account, now: dt.datetime
) -> Followed[Parent]:
    """The client cancels the parent, where its lifecycle allows, and its open orders with it; what they held back
    is released."""
    state = LIFECYCLE_OF[type(parent)].next(parent.state, Trigger.CANCEL)
    children = tuple(cancel_open(orders, CLIENT_CANCELLED, now, Trigger.CANCEL))
    cancelled = attrs.evolve(
        parent, state=state, orders=refs(children), reason=CLIENT_CANCELLED, updated_at=now
    )
    changed = [announce(o) for o, before in zip(children, orders, strict=True) if o != before]
    return Followed(
        cancelled, children, reserve(account, orders, children), (), (*changed, announce(cancelled))
    )


def followed_changes(
    followed: Followed[Parent], parent: Parent, before: Sequence[Order], account: Account
) -> Changes:
    """What storing a parent's move changes: the parent, its orders that moved, its account, and the entries."""
    moved = [o for o, was in zip(followed.orders, before, strict=True) if o != was]
    return Changes.of(
        updated=[
            *([followed.parent] if followed.parent != parent else []),
            *moved,
            *([followed.account] if followed.account != account else []),
        ],
        announced=followed.announcements,
        journaled=followed.entries,
    )
