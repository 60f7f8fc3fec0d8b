"""Account liquidations: every position sold in full with unit orders; the cash amount is known once all are filled."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping

import attrs

from core.accounts import check_managed, check_open, reserve
from core.decisions import Changes, Decision
from core.errors import NotFound
from core.instruments import Instrument, check_tradable
from core.lifecycle import LiquidationState
from core.orders import from_plan
from core.parents import cancel_by_client, followed_changes
from core.portfolio import plan_liquidation
from core.records import Account, AccountLiquidation, Order, ParentKind, announce, refs


def create(
    account: Account,
    instruments: Mapping[str, Instrument],
    *,
    liquidation_id: str,
    ids: Iterator[str],
    now: dt.datetime,
    by: str | None = None,
) -> Decision[AccountLiquidation]:
    """A liquidation in NEW with one unit sell per position, each holding back its units; announces
    ``ACCOUNT_LIQUIDATION.NEW`` and each ``ORDER.NEW``. It moves to PROCESSING with its first order. A position in
    an option that has ended cannot be sold (``INSTRUMENT_ENDED``). ``by``: the investment closing the account
    it manages (``check_managed``)."""
    check_open(account)
    check_managed(account, by)
    order_plan = plan_liquidation(account.currency, account.positions, account.held_units)
    for planned in order_plan.orders:
        check_tradable(instruments[planned.instrument_id], planned.side, now.date())
    new = AccountLiquidation(
        id=liquidation_id,
        account_id=account.id,
        currency=account.currency,
        state=LiquidationState.NEW,
        created_at=now,
        updated_at=now,
        client_id=account.client_id,
        user_id=account.user_id,
    )
    children = from_plan(
        order_plan, account, instruments, ParentKind.ACCOUNT_LIQUIDATION, liquidation_id, ids, now
    )
    listed = attrs.evolve(new, orders=refs(children))
    return Decision(
        listed,
        Changes.of(
            created=[listed, *children],
            updated=[reserve(account, [], children)],
            announced=[announce(new), *(announce(c) for c in children)],
        ),
    )


def of_account(liquidation: AccountLiquidation, account_id: str) -> AccountLiquidation:
    """The liquidation, read under the account it liquidates: under another account it does not exist."""
    if liquidation.account_id != account_id:
        raise NotFound(
            f"account liquidation {liquidation.id} does not exist",
            {"kind": "account liquidation", "id": liquidation.id},
        )
    return liquidation


def cancel(
    liquidation: AccountLiquidation, children: list[Order], account: Account, now: dt.datetime
) -> Decision[AccountLiquidation]:
    """The client cancels the liquidation (only while NEW) and its open orders with it."""
    followed = cancel_by_client(liquidation, children, account, now)
    return Decision(followed.parent, followed_changes(followed, liquidation, children, account))
