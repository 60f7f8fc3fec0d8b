"""``allot orders``: portfolio orders (BUY, SELL, LIQUIDATION, REBALANCING) and their individual orders."""

from __future__ import annotations

from decimal import Decimal

import attrs
import click

from core.lifecycle import ParentState
from core.portfolio import OrderType, Policy
from core.records import AccountLiquidation, Order, PortfolioOrder
from entrypoints.params import DECIMAL, TEXT, choice
from entrypoints.render import table
from entrypoints.session import Session, rows_table, with_session
from ports.application import Application

POLICY = Policy()


def children(app: Application, parent_id: str) -> str:
    found = app.portfolio_orders.orders_of(parent_id)
    rows = [
        [o.id, o.side, o.instrument_id, o.cash_amount, o.quantity, o.filled_quantity, o.state, o.reason]
        for o in found
    ]
    return rows_table(["order", "side", "instrument", "cash", "quantity", "filled", "state", "reason"], rows)


def describe(app: Application, record: PortfolioOrder | AccountLiquidation) -> str:
    """A portfolio order or an account liquidation with its orders."""
    head = f"{record.id}  {record.state.value}"
    if isinstance(record, PortfolioOrder):
        amount = "" if record.cash_amount is None else f" {record.cash_amount}"
        head += f"  {record.type.value}{amount} {record.currency}"
    if record.cash_amount is not None and record.management_fee is not None:
        head += (
            f"  cash_amount {record.cash_amount} {record.currency} (management fee {record.management_fee})"
        )
    if record.reason:
        head += f"  ({record.reason})"
    return head + "\n" + children(app, record.id)


def describe_order(order: Order) -> str:
    return table(
        ["field", "value"], [[name, value] for name, value in attrs.asdict(order, recurse=False).items()]
    )


@click.group()
def orders() -> None:
    """Portfolio orders and their individual orders."""


@orders.command()
@click.argument("account_id", type=TEXT)
@click.option("--type", "order_type", type=choice(OrderType), required=True)
@click.option("--amount", type=DECIMAL, help="Cash amount (BUY and SELL), in the account's currency.")
@click.option("--allocation", type=TEXT, help="Model portfolio, by id or name (BUY and REBALANCING).")
@click.option("--cash-buffer", type=DECIMAL, default=str(POLICY.cash_buffer), show_default=True,
              help="REBALANCING: cash to keep.")  # fmt: skip
@click.option("--drift-band", type=DECIMAL, default=str(POLICY.drift_band), show_default=True,
              help="REBALANCING: weight tolerance.")  # fmt: skip
@click.option("--nav-limit", type=DECIMAL, default=str(POLICY.sell_nav_limit), show_default=True,
              help="SELL: largest share of the securities' value.")  # fmt: skip
@click.option("--idempotency-key", type=TEXT, help="Placing again with the same key returns the first order.")
@with_session
def create(
    session: Session,
    account_id: str,
    order_type: OrderType,
    amount: Decimal | None,
    allocation: str | None,
    cash_buffer: Decimal,
    drift_band: Decimal,
    nav_limit: Decimal,
    idempotency_key: str | None,
) -> None:
    """Place a portfolio order; it is split into individual orders at once (SUBMITTED)."""
    app = session.open(writes=True)
    order = app.portfolio_orders.place(
        account_id,
        order_type,
        amount,
        allocation,
        Policy(nav_limit, cash_buffer, drift_band),
        idempotency_key,
    )
    session.emit(order, lambda: describe(app, order))


@orders.command()
@click.argument("order_id", type=TEXT)
@with_session
def show(session: Session, order_id: str) -> None:
    """A portfolio order with its individual orders (or one individual order)."""
    app = session.open(writes=False)
    found = app.portfolio_orders.find(order_id)
    if found is None:
        single = app.queries.order(order_id)
        session.emit(single, lambda: describe_order(single))
        return
    session.emit(found, lambda: describe(app, found))


@orders.command(name="list")
@click.option("--account", "account_id", type=TEXT)
@click.option("--state", type=choice(ParentState))
@click.option("--individual", is_flag=True, help="The individual orders instead (those of blocks included).")
@with_session
def list_(session: Session, account_id: str | None, state: ParentState | None, individual: bool) -> None:
    """Portfolio orders (or with --individual, individual orders), of one account and in one state if asked."""
    app = session.open(writes=False)
    if individual:
        single = app.queries.orders(account_id=account_id, state=state.value if state else None)
        order_rows = [[o.id, o.account_id, o.side, o.instrument_id, o.cash_amount, o.quantity, o.filled_quantity, o.state,
                 o.parent_kind, o.correlation_key] for o in single]  # fmt: skip
        headers = [
            "order",
            "account",
            "side",
            "instrument",
            "cash",
            "quantity",
            "filled",
            "state",
            "parent",
            "correlation key",
        ]
        session.emit(single, lambda: rows_table(headers, order_rows))
        return
    found = app.portfolio_orders.all(account_id, state.value if state else None)
    rows = [[o.id, o.account_id, o.type, o.cash_amount, o.state, len(o.orders)] for o in found]
    session.emit(
        found, lambda: rows_table(["portfolio order", "account", "type", "cash", "state", "orders"], rows)
    )


@orders.command()
@click.argument("order_id", type=TEXT)
@with_session
def cancel(session: Session, order_id: str) -> None:
    """Cancel a portfolio order (only while NEW or SUBMITTED) and its orders."""
    app = session.open(writes=True)
    order = app.portfolio_orders.cancel(order_id)
    session.emit(order, lambda: describe(app, order))
