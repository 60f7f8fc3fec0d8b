"""``allot accounts``: create, show, list, deposit, withdraw, close."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import click

from core.accounts import AccountView
from core.portfolio import FeeSchedule
from entrypoints.params import DECIMAL, TEXT
from entrypoints.session import Session, rows_table, with_session


@click.group()
def accounts() -> None:
    """Accounts: cash, positions, market value, fee schedule."""


@accounts.command()
@click.option(
    "--currency", required=True, type=TEXT, help="ISO 4217 code, e.g. EUR (the account's only currency)."
)
@click.option("--cash", type=DECIMAL, default="0", show_default=True, help="Opening cash, 0 or more.")
@click.option("--id", "account_id", type=TEXT, help="Choose the id (default: a new UUID).")
@click.option("--fee-rate", type=DECIMAL, help="Annual management fee rate, e.g. 0.0075 for 0.75 %.")
@click.option(
    "--fee-since",
    type=click.DateTime(["%Y-%m-%d"]),
    help="With --fee-rate: the day the fee was last charged (default: today).",
)
@with_session
def create(
    session: Session,
    currency: str,
    cash: Decimal,
    account_id: str | None,
    fee_rate: Decimal | None,
    fee_since: dt.datetime | None,
) -> None:
    """Open an account."""
    if fee_since is not None and fee_rate is None:
        raise click.UsageError("--fee-since goes with --fee-rate")
    since = fee_since.date() if fee_since is not None else dt.datetime.now(dt.UTC).date()
    fees = FeeSchedule(fee_rate, since) if fee_rate is not None else None
    account = session.open(writes=True).accounts.open(currency.upper(), cash, fees, account_id=account_id)
    session.emit(
        account,
        lambda: f"account {account.id} opened with {account.cash_in(account.currency)} {account.currency}",
    )


def describe(view: AccountView) -> str:
    a = view.account
    lines = [
        f"account {a.id} ({a.status.value})",
        f"cash {a.cash_in(a.currency)} {a.currency}, available {view.available_cash}, "
        f"securities (NAV) {view.nav} {a.currency}",
    ]
    rows = [[p.instrument_id, p.quantity] for p in a.positions]
    return "\n".join([*lines, rows_table(["instrument", "quantity"], rows)])


@accounts.command()
@click.argument("account_id", type=TEXT)
@with_session
def show(session: Session, account_id: str) -> None:
    """Cash, available cash, positions and NAV of an account."""
    view = session.open(writes=False).accounts.show(account_id)
    session.emit(view, lambda: describe(view))


@accounts.command(name="list")
@with_session
def list_(session: Session) -> None:
    """Every account."""
    found = session.open(writes=False).accounts.all()
    rows = [[a.id, a.currency, a.cash_in(a.currency), len(a.positions), a.status.value] for a in found]
    session.emit(found, lambda: rows_table(["account", "currency", "cash", "positions", "status"], rows))


@accounts.command()
@click.argument("account_id", type=TEXT)
@click.argument("amount", type=DECIMAL)
@with_session
def deposit(session: Session, account_id: str, amount: Decimal) -> None:
    """Add cash to an account."""
    account = session.open(writes=True).accounts.deposit(account_id, amount)
    session.emit(account, lambda: f"cash is now {account.cash_in(account.currency)} {account.currency}")


@accounts.command()
@click.argument("account_id", type=TEXT)
@click.argument("amount", type=DECIMAL)
@with_session
def withdraw(session: Session, account_id: str, amount: Decimal) -> None:
    """Take cash out (never more than is available after open buy orders)."""
    account = session.open(writes=True).accounts.withdraw(account_id, amount)
    session.emit(account, lambda: f"cash is now {account.cash_in(account.currency)} {account.currency}")


@accounts.command()
@click.argument("account_id", type=TEXT)
@with_session
def close(session: Session, account_id: str) -> None:
    """Close an account that holds nothing (keys that name it become unusable)."""
    account = session.open(writes=True).accounts.close(account_id)
    session.emit(account, lambda: f"account {account.id} closed")
