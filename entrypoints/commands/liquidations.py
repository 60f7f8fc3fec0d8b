"""``allot liquidations``: account liquidations, every position sold in full."""

from __future__ import annotations

import click

from core.lifecycle import LIQUIDATION_STATES, ParentState
from entrypoints.commands.orders import describe
from entrypoints.params import TEXT
from entrypoints.session import Session, rows_table, with_session


@click.group()
def liquidations() -> None:
    """Account liquidations: sell every position in full."""


@liquidations.command()
@click.argument("account_id", type=TEXT)
@click.option(
    "--idempotency-key", type=TEXT, help="Creating again with the same key returns the first liquidation."
)
@with_session
def create(session: Session, account_id: str, idempotency_key: str | None) -> None:
    """Liquidate an account: one unit sell per position."""
    app = session.open(writes=True)
    liquidation = app.liquidations.create(account_id, idempotency_key)
    session.emit(liquidation, lambda: describe(app, liquidation))


@liquidations.command()
@click.argument("liquidation_id", type=TEXT)
@with_session
def show(session: Session, liquidation_id: str) -> None:
    """A liquidation with its orders and, once filled, its cash amount."""
    app = session.open(writes=False)
    liquidation = app.liquidations.get(liquidation_id)
    session.emit(liquidation, lambda: describe(app, liquidation))


@liquidations.command(name="list")
@click.option("--account", "account_id", type=TEXT)
@click.option("--state", type=click.Choice(LIQUIDATION_STATES, case_sensitive=False))
@with_session
def list_(session: Session, account_id: str | None, state: ParentState | None) -> None:
    """Account liquidations, of one account and in one state if asked."""
    found = session.open(writes=False).liquidations.all(account_id, state.value if state else None)
    rows = [[x.id, x.account_id, x.state, x.cash_amount, x.management_fee, len(x.orders)] for x in found]
    session.emit(
        found, lambda: rows_table(["liquidation", "account", "state", "cash amount", "fee", "orders"], rows)
    )


@liquidations.command()
@click.argument("liquidation_id", type=TEXT)
@with_session
def cancel(session: Session, liquidation_id: str) -> None:
    """Cancel a liquidation (only while NEW) and its orders."""
    app = session.open(writes=True)
    liquidation = app.liquidations.cancel(liquidation_id)
    session.emit(liquidation, lambda: describe(app, liquidation))
