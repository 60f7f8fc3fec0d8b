"""``allot prices``: the price table the simulated venue trades at."""

from __future__ import annotations

from decimal import Decimal

import click

from entrypoints.params import DECIMAL, TEXT
from entrypoints.session import Session, with_session


@click.group()
def prices() -> None:
    """The price table the simulated venue trades at."""


@prices.command(name="set")
@click.argument("instrument_id", type=TEXT)
@click.argument("price", type=DECIMAL)
@with_session
def set_(session: Session, instrument_id: str, price: Decimal) -> None:
    """Set an instrument's price (greater than zero)."""
    instrument = session.open(writes=True).instruments.set_price(instrument_id, price)
    session.emit(instrument, lambda: f"{instrument.instrument_id} is now {instrument.price}")
