"""Accounts: opening, deposits and withdrawals, closing, what is available, and what open orders hold back.

Cash moves only through journal entries: an opening balance or a deposit comes from the house funding account, a
withdrawal goes back to it, and each is announced as a funding event. Open orders hold back what they may still
need — a buy its remaining amount and estimated costs, a sell its units — and every limit counts what is held back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal

import attrs

from core.decisions import Changes, Decision
from core.errors import (
    AccountClosed,
    AccountManaged,
    AccountNotEmpty,
    AlreadyExists,
    BalanceLimitExceeded,
    InsufficientFunds,
    ValidationError,
)
from core.fills import CostSchedule, trading_costs
from core.instruments import Instrument, Side
from core.journal import FUNDING, Asset, Cause, CauseKind, JournalEntry, LedgerAccount, post, transfer
from core.lifecycle import OPEN
from core.numbers import (
    MAX_INTEGER_DIGITS,
    ZERO,
    as_cash,
    check_non_negative,
    check_positive,
    exact,
    floor_to,
    fmt,
    minor_unit,
)
from core.portfolio import FeeSchedule
from core.records import Account, AccountStatus, Announcement, Funding, FundingKind, Order, holds
from core.tenants import NOBODY, Owner, admits, scope_of_owner
from core.validators import check_id


@attrs.frozen
class AccountView:
    """An account as a person reads it: its record, the market value of its securities, and the cash it may
    still spend or withdraw."""

    account: Account
    nav: Decimal
    available_cash: Decimal


def open_account(
    account_id: str,
    currency: str,
    cash: Decimal,
    fee_schedule: FeeSchedule | None,
    costs: CostSchedule,
    *,
    ids: Iterator[str],
    now: dt.datetime,
    owner: Owner = NOBODY,
    partners: Iterable[Account] = (),
) -> Decision[Account]:
    """A new account; opening cash (zero or more, in the currency's minor units) is its first deposit. A management
    fee cannot have been charged after today (every liquidation would then charge it for days still to come).
    ``partners``: the accounts of ``error_account_partners`` that exist; each must be one the owner sees, else
    the id is answered as taken (as it is, for an error account: by the account it belongs to)."""
    check_id(account_id, "account id")
    for partner in partners:
        if not admits(scope_of_owner(owner), partner.client_id, partner.user_id):
            # Worded as the store words a taken id: the caller learns no more about the partner than that.
            raise AlreadyExists(f"account {account_id} already exists", {"id": account_id})
    check_non_negative(cash, "cash")
    if fee_schedule is not None and fee_schedule.last_charged > now.date():
        raise ValidationError(
            f"the management fee cannot have been charged after today: {fee_schedule.last_charged.isoformat()} is "
            f"after {now.date().isoformat()}; give today or an earlier day",
            {
                "field": "fee_since",
                "fee_since": fee_schedule.last_charged.isoformat(),
                "today": now.date().isoformat(),
            },
        )
    opening = as_cash(cash, currency, "cash")
    empty = Account(
        account_id,
        currency,
        {currency: ZERO.quantize(minor_unit(currency))},
        fee_schedule=fee_schedule,
        costs=costs,
        created_at=now,
        client_id=owner.client_id,
        user_id=owner.user_id,
    )
    if not opening:
        return Decision(empty, Changes.of(created=[empty]))
    funded = _fund(empty, opening, FundingKind.DEPOSIT, ids=ids, now=now)
    return Decision(funded.result, attrs.evolve(funded.changes, created=(funded.result,), updated=()))


def check_open(account: Account) -> Account:
    if account.status is not AccountStatus.ACTIVE:
        raise AccountClosed(
            f"account {account.id} is closed; it cannot trade or move cash", {"account_id": account.id}
        )
    return account


def check_managed(account: Account, by: str | None = None) -> Account:
    """An account an investment manages moves only through that investment (``by``: the investment moving it;
    none for its owner or anyone else). Its owner may read it, but not deposit into it, withdraw from it, trade,
    liquidate or close it, name it in an allocation key, or fund an investment from it: each would get round the
    investment's rules (its maximum withdrawal, its minimum) and change what its leader's performance shows."""
    if account.managed_by is not None and account.managed_by != by:
        raise AccountManaged(
            f"account {account.id} is investment {account.managed_by}'s: its money moves only through the "
            "investment (fund it, withdraw from it or stop it)",
            {"account_id": account.id, "investment_id": account.managed_by},
        )
    return account


def deposit(account: Account, amount: Decimal, *, ids: Iterator[str], now: dt.datetime) -> Decision[Account]:
    """Add cash (greater than zero, in the account's minor units) from the outside world."""
    check_open(account)
    check_managed(account)
    check_positive(amount, "amount")
    added = as_cash(amount, account.currency, "amount")
    balance = account.cash_in(account.currency) + added
    if max(0, balance.adjusted() + 1) > MAX_INTEGER_DIGITS:
        raise BalanceLimitExceeded(
            f"a deposit of {fmt(added)} {account.currency} would give account {account.id} a cash balance of "
            f"{fmt(balance)}, over the {MAX_INTEGER_DIGITS} digits before the decimal point an amount may have",
            {"field": "amount", "amount": fmt(added), "cash": fmt(money(account, account.cash_in(account.currency))),
             "currency": account.currency},
        )  # fmt: skip
    return _fund(account, added, FundingKind.DEPOSIT, ids=ids, now=now)


@exact
def withdraw(account: Account, amount: Decimal, *, ids: Iterator[str], now: dt.datetime) -> Decision[Account]:
    """Take cash out: never more than is available, i.e. not what open orders hold back."""
    check_open(account)
    check_managed(account)
    check_positive(amount, "amount")
    taken = as_cash(amount, account.currency, "amount")
    available = available_cash(account)
    if taken > available:
        raise InsufficientFunds(
            f"account {account.id} has {fmt(available)} {account.currency} available "
            f"(cash {fmt(money(account, account.cash_in(account.currency)))}, held back for open orders "
            f"{fmt(money(account, account.reserved_in(account.currency)))}); cannot withdraw {fmt(taken)}",
            {"available": fmt(available), "requested": fmt(taken), "currency": account.currency},
        )
    return _fund(account, taken, FundingKind.WITHDRAWAL, ids=ids, now=now)


def _fund(
    account: Account, amount: Decimal, kind: FundingKind, *, ids: Iterator[str], now: dt.datetime
) -> Decision[Account]:
    """One journal entry between the account and the house funding account, announced as a funding event."""
    mine, cash = LedgerAccount.client(account.id), Asset.cash(account.currency)
    source, target = (FUNDING, mine) if kind is FundingKind.DEPOSIT else (mine, FUNDING)
    funding_id = next(ids)
    entry = JournalEntry(
        id=funding_id,
        at=now,
        cause=Cause(CauseKind(kind.value), funding_id),
        postings=transfer(source, target, cash, amount),
        memo=f"{kind.value.lower()} of {fmt(amount)} {account.currency}",
    )
    updated = post(account, entry)
    funding = Funding(
        id=entry.id,
        kind=kind,
        account_id=account.id,
        currency=account.currency,
        amount=amount,
        cash_after=updated.cash_in(account.currency),
        created_at=now,
        client_id=account.client_id,
        user_id=account.user_id,
    )
    return Decision(
        updated,
        Changes.of(updated=[updated], journaled=[entry], announced=[Announcement.of(funding, kind.value)]),
    )


def close(account: Account, open_orders: Sequence[Order]) -> Decision[Account]:
    """Close an account that holds nothing: no positions, no cash, no open orders (``open_orders``: the
    account's), nothing held back for them. A refusal names what it still holds and what to do about each."""
    check_open(account)
    check_managed(account)
    orders = [order.id for order in open_orders if order.state in OPEN]
    holding = {
        "positions": [p.instrument_id for p in account.positions],
        "cash": {c: fmt(v) for c, v in account.cash.items() if v},
        "held_back": {c: fmt(v) for c, v in account.reserved.items() if v},
        "held_units": {i: fmt(v) for i, v in account.held_units.items() if v},
        "open_orders": orders,
    }
    if any(holding.values()):
        raise AccountNotEmpty(
            f"account {account.id} still holds {_what_is_held(account, len(orders))}: "
            f"{_what_to_do(account, len(orders))} before closing it",
            {"account_id": account.id, **{k: v for k, v in holding.items() if v}},
        )
    closed = attrs.evolve(account, status=AccountStatus.CLOSED)
    return Decision(closed, Changes.of(updated=[closed]))


def _what_is_held(account: Account, open_orders: int) -> str:
    """``cash 10.00 EUR; positions 6 AAA; 2 open orders (holding back 150.00 EUR, 6 AAA)``: only what there is."""
    cash = [f"{fmt(v)} {c}" for c, v in account.cash.items() if v]
    positions = [f"{fmt(p.quantity)} {p.instrument_id}" for p in account.positions]
    held = [f"{fmt(v)} {c}" for c, v in account.reserved.items() if v]
    held += [f"{fmt(v)} {i}" for i, v in account.held_units.items() if v]
    orders = f"{open_orders} open order{'' if open_orders == 1 else 's'}"
    parts = [
        f"cash {', '.join(cash)}" if cash else "",
        f"positions {', '.join(positions)}" if positions else "",
        f"{orders} (holding back {', '.join(held)})" if held else (orders if open_orders else ""),
    ]
    return "; ".join(part for part in parts if part)


def _what_to_do(account: Account, open_orders: int) -> str:
    """The steps that empty the account, in the order they can be taken: only those it needs."""
    held_back = any(account.reserved.values()) or any(account.held_units.values())
    steps = [
        step
        for step, needed in (
            ("let the open orders finish or cancel them", open_orders or held_back),
            ("liquidate the positions", account.positions),
            ("withdraw the cash", any(account.cash.values())),
        )
        if needed
    ]
    if len(steps) == 1:
        return steps[0]
    return f"{', '.join(steps[:-1])}{',' if len(steps) > 2 else ''} and {steps[-1]}"


@exact
def available_cash(account: Account) -> Decimal:
    """Cash not held back by open orders, in minor units."""
    free = max(ZERO, account.cash_in(account.currency) - account.reserved_in(account.currency))
    return as_cash(free, account.currency, "available cash")


@exact
def available_units(account: Account, instrument_id: str) -> Decimal:
    """Units of an instrument not held back by open sells."""
    return max(ZERO, account.quantity_of(instrument_id) - account.held_of(instrument_id))


@exact
def nav(account: Account, instruments: Mapping[str, Instrument]) -> Decimal:
    """Market value of the securities, rounded down to the minor unit for display."""
    total = sum((instruments[p.instrument_id].value_of(p.quantity) for p in account.positions), ZERO)
    return floor_to(total, minor_unit(account.currency))


def view(account: Account, instruments: Mapping[str, Instrument]) -> AccountView:
    return AccountView(account, nav(account, instruments), available_cash(account))


def estimated_costs(account: Account, amount: Decimal, side: Side) -> Decimal:
    """The trading costs of trading ``amount`` in one fill, by the account's cost schedule."""
    return trading_costs(account.costs, amount, side, account.currency).total


@exact
def reserve(account: Account, before: Iterable[Order], after: Iterable[Order]) -> Account:
    """Keep what the account holds back in step with its orders changing from ``before`` to ``after`` (new
    orders have no ``before``)."""
    cash = ZERO
    units: dict[str, Decimal] = {}
    for sign, orders in ((-1, before), (1, after)):
        for order in orders:
            held_cash, held_units = holds(order)
            cash += sign * held_cash
            if held_units:
                units[order.instrument_id] = units.get(order.instrument_id, ZERO) + sign * held_units
    if not cash and not any(units.values()):
        return account
    held = dict(account.held_units)
    for instrument_id, delta in units.items():
        left = held.get(instrument_id, ZERO) + delta
        if left:
            held[instrument_id] = left
        else:
            held.pop(instrument_id, None)
    reserved = {**account.reserved, account.currency: account.reserved_in(account.currency) + cash}
    return attrs.evolve(account, reserved=reserved, held_units=held)


def money(account: Account, amount: Decimal) -> Decimal:
    """An amount of the account's currency, written with its minor units."""
    return as_cash(amount, account.currency, "amount")
