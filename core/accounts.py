"""Accounts: opening, deposits and withdrawals, closing, what is available, and the cash open orders hold back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal

import attrs

from core.decisions import Changes, Decision
from core.errors import AccountClosed, AccountNotEmpty, InsufficientFunds
from core.fills import CostSchedule
from core.instruments import Instrument, Side
from core.lifecycle import OrderState
from core.numbers import ZERO, as_cash, check_non_negative, check_positive, exact, floor_to, fmt, minor_unit
from core.portfolio import FeeSchedule
from core.records import Account, AccountStatus, Order
from core.validators import check_text

#: States in which an order may still trade.
OPEN = frozenset({OrderState.NEW, OrderState.PROCESSING})


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
    now: dt.datetime,
) -> Decision[Account]:
    """A new account with its opening cash (zero or more, in the currency's minor units)."""
    check_text(account_id, "account id")
    check_non_negative(cash, "cash")
    account = Account(
        account_id,
        currency,
        {currency: as_cash(cash, currency, "cash")},
        fee_schedule=fee_schedule,
        costs=costs,
        created_at=now,
    )
    return Decision(account, Changes.of(created=[account]))


def check_open(account: Account) -> Account:
    if account.status is not AccountStatus.ACTIVE:
        raise AccountClosed(
            f"account {account.id} is closed; it cannot trade or move cash", {"account_id": account.id}
        )
    return account


@exact
def deposit(account: Account, amount: Decimal) -> Decision[Account]:
    """Add cash (greater than zero, in the account's minor units)."""
    check_open(account)
    check_positive(amount, "amount")
    added = as_cash(amount, account.currency, "amount")
    updated = _with_cash(account, account.cash_in(account.currency) + added)
    return Decision(updated, Changes.of(updated=[updated]))


@exact
def withdraw(account: Account, amount: Decimal) -> Decision[Account]:
    """Take cash out: never more than is available, i.e. not what open buy orders may still spend."""
    check_open(account)
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
    updated = _with_cash(account, account.cash_in(account.currency) - taken)
    return Decision(updated, Changes.of(updated=[updated]))


def close(account: Account) -> Decision[Account]:
    """Close an account that holds nothing: no positions, no cash, nothing held back for open orders."""
    check_open(account)
    holding = {
        "positions": [p.instrument_id for p in account.positions],
        "cash": {c: fmt(v) for c, v in account.cash.items() if v},
        "held_back": {c: fmt(v) for c, v in account.reserved.items() if v},
    }
    if any(holding.values()):
        raise AccountNotEmpty(
            f"account {account.id} still holds positions, cash or open orders: liquidate, let the orders finish "
            "or cancel them, and withdraw the cash first",
            {"account_id": account.id, **{k: v for k, v in holding.items() if v}},
        )
    closed = attrs.evolve(account, status=AccountStatus.CLOSED)
    return Decision(closed, Changes.of(updated=[closed]))


@exact
def available_cash(account: Account) -> Decimal:
    """Cash not yet promised: the balance less what open buy orders may still spend, in minor units."""
    free = max(ZERO, account.cash_in(account.currency) - account.reserved_in(account.currency))
    return as_cash(free, account.currency, "available cash")


@exact
def nav(account: Account, instruments: Mapping[str, Instrument]) -> Decimal:
    """Market value of the securities, rounded down to the minor unit for display."""
    total = sum((instruments[p.instrument_id].value_of(p.quantity) for p in account.positions), ZERO)
    return floor_to(total, minor_unit(account.currency))


def view(account: Account, instruments: Mapping[str, Instrument]) -> AccountView:
    return AccountView(account, nav(account, instruments), available_cash(account))


def unspent(order: Order) -> Decimal:
    """What a buy cash order may still spend (its amount less what its fills have traded)."""
    if order.side is not Side.BUY or order.cash_amount is None:
        return ZERO
    return max(ZERO, order.cash_amount - order.traded_value)


def reservation(order: Order) -> Decimal:
    """The cash an order holds back from its account: what it may still spend while it is open."""
    return unspent(order) if order.state in OPEN else ZERO


@exact
def reserve(account: Account, before: Iterable[Order], after: Iterable[Order]) -> Account:
    """Keep the cash the account holds back in step with its orders changing from ``before`` to ``after``
    (new orders have no ``before``)."""
    delta = sum((reservation(o) for o in after), ZERO) - sum((reservation(o) for o in before), ZERO)
    if not delta:
        return account
    held = account.reserved_in(account.currency) + delta
    return attrs.evolve(account, reserved={**account.reserved, account.currency: held})


def _with_cash(account: Account, balance: Decimal) -> Account:
    return attrs.evolve(account, cash={**account.cash, account.currency: balance})


def money(account: Account, amount: Decimal) -> Decimal:
    """An amount of the account's currency, written with its minor units."""
    return as_cash(amount, account.currency, "amount")
