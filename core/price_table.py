"""Instruments as stored records: added to the price table and repriced."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from core.decisions import Changes, Decision
from core.errors import AlreadyExists, NotFound
from core.instruments import Instrument, repriced


def add(instrument: Instrument, others: Iterable[Instrument] = ()) -> Decision[Instrument]:
    """A new instrument (its values were checked when it was made); an id that exists is ``ALREADY_EXISTS``, and
    so is a ``uic`` another instrument (``others``) has."""
    if instrument.uic is not None:
        taken = next((i for i in others if i.uic == instrument.uic), None)
        if taken is not None:
            raise AlreadyExists(
                f"instrument {taken.instrument_id} has uic {instrument.uic} already: choose another",
                {"field": "uic", "uic": instrument.uic, "instrument_id": taken.instrument_id},
            )
    return Decision(instrument, Changes.of(created=[instrument]))


def by_uic(instruments: Iterable[Instrument], uic: int) -> Instrument:
    """The instrument whose ``uic`` this is; none: ``NOT_FOUND``."""
    found = next((i for i in instruments if i.uic == uic), None)
    if found is None:
        raise NotFound(f"no instrument has uic {uic}", {"kind": "instrument", "uic": uic})
    return found


def set_price(instrument: Instrument, price: Decimal) -> Decision[Instrument]:
    """The instrument at a new price, greater than zero."""
    updated = repriced(instrument, price)
    return Decision(updated, Changes.of(updated=[updated]))
