"""``allot allocations``, ``allot orders`` and ``allot liquidations``."""

from __future__ import annotations

from decimal import Decimal

import attrs
import click

from core.instruments import AllocationLine
from core.portfolio import OrderType, Policy
from core.records import AccountLiquidation, Order, PortfolioOrder
from entrypoints.app import AllotGroup, App, decimal_callback, pass_app, rows_table, to_decimal
from entrypoints.render import table
from ports.service import Engine


@click.group(cls=AllotGroup)
def allocations() -> None:
    """Model portfolios that BUY and REBALANCING orders follow."""


@allocations.command()
@click.argument("name")
@click.option(
    "--line",
    "lines",
    multiple=True,
    required=True,
    metavar="INSTRUMENT=WEIGHT",
    help="Repeat; weights sum to 1.",
)
@pass_app
def create(app: App, name: str, lines: tuple[str, ...]) -> None:
    """Create a model portfolio, e.g. --line IE00B4L5Y983=0.6 --line IE00B3F81R35=0.4."""
    parsed = []
    for line in lines:
        instrument_id, _, weight = line.partition("=")
        parsed.append(AllocationLine(instrument_id, to_decimal(weight, "weight")))
    model = app.engine.create_allocation(name, parsed)
    app.emit(model, lambda: f"allocation {model.id} ({model.name}) created")


@allocations.command(name="list")
@pass_app
def list_allocations(app: App) -> None:
    """Every model portfolio."""
    found = app.engine.list_allocations()
    rows = [
        [m.id, m.name, ", ".join(f"{line.instrument_id} {line.weight}" for line in m.lines)] for m in found
    ]
    app.emit(found, lambda: rows_table(["allocation", "name", "weights"], rows))


def children(engine: Engine, parent_id: str) -> str:
    found = engine.list_orders(client_reference=parent_id)
    rows = [
        [o.id, o.side, o.instrument_id, o.cash_amount, o.quantity, o.filled_quantity, o.state.value, o.reason]
        for o in found
    ]
    return rows_table(["order", "side", "instrument", "cash", "quantity", "filled", "state", "reason"], rows)


def describe(engine: Engine, record: PortfolioOrder | AccountLiquidation) -> str:
    head = f"{record.id}  {record.state.value}"
    if isinstance(record, PortfolioOrder):
        head += f"  {record.type.value} {record.cash_amount if record.cash_amount is not None else ''} {record.currency}"
    elif record.cash_amount is not None:
        head += (
            f"  cash_amount {record.cash_amount} {record.currency} (management fee {record.management_fee})"
        )
    if record.reason:
        head += f"  ({record.reason})"
    return head + "\n" + children(engine, record.id)


@click.group(cls=AllotGroup)
def orders() -> None:
    """Portfolio orders (BUY, SELL, LIQUIDATION, REBALANCING) and their individual orders."""


@orders.command()
@click.argument("account_id")
@click.option(
    "--type",
    "order_type",
    type=click.Choice([t.value for t in OrderType], case_sensitive=False),
    required=True,
)
@click.option("--amount", callback=decimal_callback, help="Cash amount (BUY and SELL).")
@click.option("--allocation", "allocation_id", help="Model portfolio id (BUY and REBALANCING).")
@click.option(
    "--cash-buffer",
    callback=decimal_callback,
    default="0",
    show_default=True,
    help="REBALANCING: cash to keep.",
)
@click.option(
    "--drift-band",
    callback=decimal_callback,
    default="0",
    show_default=True,
    help="REBALANCING: weight tolerance.",
)
@click.option(
    "--nav-limit",
    callback=decimal_callback,
    default="0.9",
    show_default=True,
    help="SELL: largest share of NAV.",
)
@click.option("--idempotency-key", help="Placing again with the same key returns the first order.")
@pass_app
def place(
    app: App,
    account_id: str,
    order_type: str,
    amount: Decimal | None,
    allocation_id: str | None,
    cash_buffer: Decimal,
    drift_band: Decimal,
    nav_limit: Decimal,
    idempotency_key: str | None,
) -> None:
    """Place a portfolio order; it is split into individual orders at once (SUBMITTED)."""
    order = app.engine.place_portfolio_order(
        account_id,
        OrderType(order_type.upper()),
        amount,
        allocation_id,
        Policy(nav_limit, cash_buffer, drift_band),
        idempotency_key,
    )
    app.emit(order, lambda: describe(app.engine, order))


@orders.command()
@click.argument("order_id")
@pass_app
def show(app: App, order_id: str) -> None:
    """A portfolio order with its individual orders (or one individual order)."""
    match = app.engine.find_portfolio_order(order_id)
    if match is None:
        single: Order = app.engine.get_order(order_id)
        fields = [[name, value] for name, value in attrs.asdict(single, recurse=False).items()]
        app.emit(single, lambda: table(["field", "value"], fields))
        return
    app.emit(match, lambda: describe(app.engine, match))


@orders.command(name="list")
@click.option("--account", "account_id")
@click.option(
    "--state",
    type=click.Choice(["NEW", "SUBMITTED", "PROCESSING", "FILLED", "CANCELLED"], case_sensitive=False),
)
@pass_app
def list_orders(app: App, account_id: str | None, state: str | None) -> None:
    """Portfolio orders, by account and state."""
    found = app.engine.list_portfolio_orders(account_id, state.upper() if state else None)
    rows = [[o.id, o.account_id, o.type.value, o.cash_amount, o.state.value, len(o.orders)] for o in found]
    app.emit(
        found, lambda: rows_table(["portfolio order", "account", "type", "cash", "state", "orders"], rows)
    )


@orders.command()
@click.argument("order_id")
@pass_app
def cancel(app: App, order_id: str) -> None:
    """Cancel a portfolio order (only while NEW or SUBMITTED)."""
    order = app.engine.cancel_portfolio_order(order_id)
    app.emit(order, lambda: describe(app.engine, order))


@click.group(cls=AllotGroup)
def liquidations() -> None:
    """Account liquidations: sell every position in full."""


@liquidations.command(name="create")
@click.argument("account_id")
@click.option("--idempotency-key")
@pass_app
def create_liquidation(app: App, account_id: str, idempotency_key: str | None) -> None:
    """Liquidate an account: one unit sell per position."""
    liquidation = app.engine.create_liquidation(account_id, idempotency_key)
    app.emit(liquidation, lambda: describe(app.engine, liquidation))


@liquidations.command(name="show")
@click.argument("liquidation_id")
@pass_app
def show_liquidation(app: App, liquidation_id: str) -> None:
    """A liquidation with its orders and, once filled, its cash amount."""
    liquidation = app.engine.get_liquidation(liquidation_id)
    app.emit(liquidation, lambda: describe(app.engine, liquidation))


@liquidations.command(name="cancel")
@click.argument("liquidation_id")
@pass_app
def cancel_liquidation(app: App, liquidation_id: str) -> None:
    """Cancel a liquidation (only while NEW)."""
    liquidation = app.engine.cancel_liquidation(liquidation_id)
    app.emit(liquidation, lambda: describe(app.engine, liquidation))
