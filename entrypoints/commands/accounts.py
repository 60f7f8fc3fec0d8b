"""``allot accounts``: create, deposit, withdraw, show, list, close."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import click

from core.portfolio import FeeSchedule
from entrypoints.app import AllotGroup, App, decimal_callback, pass_app, rows_table
from ports.service import AccountView


@click.group(cls=AllotGroup)
def accounts() -> None:
    """Accounts: cash, positions, NAV, fee schedule."""


@accounts.command()
@click.option("--currency", required=True, help="ISO 4217 code, e.g. EUR.")
@click.option("--cash", callback=decimal_callback, default="0", show_default=True, help="Opening cash.")
@click.option("--id", "account_id", help="Choose the id (default: a new UUID).")
@click.option(
    "--fee-rate", callback=decimal_callback, help="Annual management fee rate, e.g. 0.0075 for 0.75 %."
)
@click.option("--fee-since", type=click.DateTime(["%Y-%m-%d"]), help="Date the fee was last charged.")
@pass_app
def create(
    app: App,
    currency: str,
    cash: Decimal,
    account_id: str | None,
    fee_rate: Decimal | None,
    fee_since: dt.datetime | None,
) -> None:
    """Open an account."""
    fees = FeeSchedule(fee_rate, (fee_since or dt.datetime.now()).date()) if fee_rate is not None else None
    account = app.engine.create_account(currency.upper(), cash, fees, account_id=account_id)
    app.emit(account, lambda: f"account {account.id} opened with {cash} {account.currency}")


def _view(view: AccountView) -> str:
    a = view.account
    lines = [
        f"account {a.id} ({a.status.value})",
        f"cash {a.cash_in(a.currency)} {a.currency}, available {view.available_cash}, securities (NAV) {view.nav}",
    ]
    rows = [[p.instrument_id, p.quantity] for p in a.positions]
    return "\n".join([*lines, rows_table(["instrument", "quantity"], rows)])


@accounts.command()
@click.argument("account_id")
@pass_app
def show(app: App, account_id: str) -> None:
    """Cash, positions and NAV of an account."""
    view = app.engine.get_account(account_id)
    app.emit(view, lambda: _view(view))


@accounts.command(name="list")
@pass_app
def list_(app: App) -> None:
    """Every account."""
    found = app.engine.list_accounts()
    rows = [[a.id, a.currency, a.cash_in(a.currency), len(a.positions), a.status.value] for a in found]
    app.emit(found, lambda: rows_table(["account", "currency", "cash", "positions", "status"], rows))


@accounts.command()
@click.argument("account_id")
@click.argument("amount", callback=decimal_callback)
@pass_app
def deposit(app: App, account_id: str, amount: Decimal) -> None:
    """Add cash to an account."""
    account = app.engine.deposit(account_id, amount)
    app.emit(account, lambda: f"cash is now {account.cash_in(account.currency)} {account.currency}")


@accounts.command()
@click.argument("account_id")
@click.argument("amount", callback=decimal_callback)
@pass_app
def withdraw(app: App, account_id: str, amount: Decimal) -> None:
    """Take cash out (never more than is available after open buy orders)."""
    account = app.engine.withdraw(account_id, amount)
    app.emit(account, lambda: f"cash is now {account.cash_in(account.currency)} {account.currency}")


@accounts.command()
@click.argument("account_id")
@pass_app
def close(app: App, account_id: str) -> None:
    """Close an empty account (keys that name it become unusable)."""
    account = app.engine.close_account(account_id)
    app.emit(account, lambda: f"account {account.id} closed")
