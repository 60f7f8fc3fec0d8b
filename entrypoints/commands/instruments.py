"""``allot instruments`` and ``allot prices``."""

from __future__ import annotations

from decimal import Decimal

import click

from core.instruments import Instrument
from entrypoints.app import AllotGroup, App, decimal_callback, pass_app, rows_table


@click.group(cls=AllotGroup)
def instruments() -> None:
    """Tradable instruments."""


@instruments.command()
@click.argument("instrument_id")
@click.option("--price", callback=decimal_callback, help="Current price per unit.")
@click.option(
    "--step",
    callback=decimal_callback,
    default="1",
    show_default=True,
    help="Quantity step (0.000001 for fractional).",
)
@click.option(
    "--min-order",
    callback=decimal_callback,
    default="0",
    show_default=True,
    help="Minimum order amount (cash).",
)
@click.option("--contract-size", callback=decimal_callback, default="1", show_default=True)
@click.option("--currency", help="Trading currency (default: the order's).")
@pass_app
def add(
    app: App,
    instrument_id: str,
    price: Decimal | None,
    step: Decimal,
    min_order: Decimal,
    contract_size: Decimal,
    currency: str | None,
) -> None:
    """Add an instrument."""
    instrument = app.engine.add_instrument(
        Instrument(instrument_id, price, step, min_order, contract_size, currency)
    )
    app.emit(instrument, lambda: f"instrument {instrument.instrument_id} added")


@instruments.command(name="list")
@pass_app
def list_(app: App) -> None:
    """Every instrument with its price."""
    found = app.engine.list_instruments()
    rows = [[i.instrument_id, i.price, i.quantity_step, i.min_order_amount, i.contract_size] for i in found]
    app.emit(found, lambda: rows_table(["instrument", "price", "step", "min order", "contract size"], rows))


@click.group(cls=AllotGroup)
def prices() -> None:
    """The price table the simulated venue trades at."""


@prices.command(name="set")
@click.argument("instrument_id")
@click.argument("price", callback=decimal_callback)
@pass_app
def set_(app: App, instrument_id: str, price: Decimal) -> None:
    """Set an instrument's price."""
    instrument = app.engine.set_price(instrument_id, price)
    app.emit(instrument, lambda: f"{instrument.instrument_id} is now {instrument.price}")
