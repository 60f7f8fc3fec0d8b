"""``allot instruments``: create, show, list; options are exercised or expire."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import click

from core.instruments import MAX_UIC, AssetType, Instrument
from entrypoints.params import DECIMAL, TEXT, choice
from entrypoints.session import Session, rows_table, with_session

#: An instrument with every default, to show the defaults without repeating them.
DEFAULTS = Instrument("-")
HEADERS = [
    "instrument",
    "symbol",
    "price",
    "currency",
    "step",
    "min order",
    "contract size",
    "asset type",
    "expiry",
    "uic",
]


def row(i: Instrument) -> list[object]:
    expiry = i.expiry.isoformat() if i.expiry else None
    return [
        i.instrument_id,
        i.trading_symbol,
        i.price,
        i.currency,
        i.quantity_step,
        i.min_order_amount,
        i.contract_size,
        i.asset_type,
        f"{expiry} ({i.ended.value.lower()})" if i.ended else expiry,
        i.uic,
    ]


@click.group()
def instruments() -> None:
    """Tradable instruments."""


@instruments.command()
@click.argument("instrument_id", type=TEXT)
@click.option("--price", type=DECIMAL, help="Current price per unit (the simulated venue trades at it).")
@click.option("--step", type=DECIMAL, default=str(DEFAULTS.quantity_step), show_default=True,
              help="Quantity step: 1 for whole units, 0.000001 for fractional.")  # fmt: skip
@click.option("--min-order", type=DECIMAL, default=str(DEFAULTS.min_order_amount), show_default=True,
              help="Minimum order amount (cash).")  # fmt: skip
@click.option("--contract-size", type=DECIMAL, default=str(DEFAULTS.contract_size), show_default=True)
@click.option(
    "--currency", type=TEXT, help="Trading currency (default: that of the first account trading it)."
)
@click.option("--asset-type", type=choice(AssetType), default=DEFAULTS.asset_type.value, show_default=True)
@click.option("--symbol", type=TEXT, help="The symbol it trades under, e.g. ALFEN:xams (default: its id).")
@click.option(
    "--expiry",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Options only, and required for them: the last day it can be exercised (YYYY-MM-DD).",
)
@click.option("--uic", type=click.IntRange(1, MAX_UIC),
              help="The whole-number code a broker's API names it by (Uic), unique among instruments.")  # fmt: skip
@with_session
def create(
    session: Session,
    instrument_id: str,
    price: Decimal | None,
    step: Decimal,
    min_order: Decimal,
    contract_size: Decimal,
    currency: str | None,
    asset_type: AssetType,
    symbol: str | None,
    expiry: dt.datetime | None,
    uic: int | None,
) -> None:
    """Add an instrument. An option (STOCK_OPTION, STOCK_INDEX_OPTION) needs --expiry; it ends with
    ``allot instruments exercise`` or ``allot instruments expire``."""
    instrument = Instrument(
        instrument_id,
        price,
        step,
        min_order,
        contract_size,
        currency.upper() if currency else None,
        asset_type,
        symbol,
        expiry.date() if expiry else None,
        uic=uic,
    )
    added = session.open(writes=True).instruments.add(instrument)
    session.emit(added, lambda: rows_table(HEADERS, [row(added)]))


@instruments.command()
@click.argument("instrument_id", type=TEXT)
@with_session
def show(session: Session, instrument_id: str) -> None:
    """One instrument."""
    found = session.open(writes=False).instruments.get(instrument_id)
    session.emit(found, lambda: rows_table(HEADERS, [row(found)]))


@instruments.command(name="list")
@with_session
def list_(session: Session) -> None:
    """Every instrument with its price."""
    found = session.open(writes=False).instruments.all()
    session.emit(found, lambda: rows_table(HEADERS, [row(i) for i in found]))


@instruments.command()
@click.argument("instrument_id", type=TEXT)
@click.option("--price", type=DECIMAL, required=True, help="Settlement value per unit paid to every holder.")
@with_session
def exercise(session: Session, instrument_id: str, price: Decimal) -> None:
    """Exercise an option (on or before its expiry): every position in it is closed and paid PRICE per unit."""
    ended = session.open(writes=True).instruments.exercise(instrument_id, price)
    session.emit(
        ended, lambda: f"option {ended.instrument_id} exercised at {price}; every position in it is closed"
    )


@instruments.command()
@click.argument("instrument_id", type=TEXT)
@with_session
def expire(session: Session, instrument_id: str) -> None:
    """An option expires (on or after its expiry date): every position in it is closed worthless."""
    ended = session.open(writes=True).instruments.expire(instrument_id)
    session.emit(ended, lambda: f"option {ended.instrument_id} expired; every position in it is closed")
