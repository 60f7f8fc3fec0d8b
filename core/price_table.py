"""Instruments as stored records: added to the price table and repriced."""

from __future__ import annotations

from decimal import Decimal

from core.decisions import Changes, Decision
from core.instruments import Instrument, repriced


def add(instrument: Instrument) -> Decision[Instrument]:
    """A new instrument (its values were checked when it was made); an id that exists is ``ALREADY_EXISTS``."""
    return Decision(instrument, Changes.of(created=[instrument]))


def set_price(instrument: Instrument, price: Decimal) -> Decision[Instrument]:
    """The instrument at a new price, greater than zero."""
    updated = repriced(instrument, price)
    return Decision(updated, Changes.of(updated=[updated]))
