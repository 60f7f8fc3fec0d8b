"""Instruments and their prices (the price table the simulated venue trades at)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from core.decisions import Changes, Decision
from core.errors import UnknownInstrument
from core.instruments import Instrument, repriced
from ports.driven import UnitOfWork
from ports.use_cases import UseCases, require, transaction


class Instruments(UseCases):
    @transaction
    def add(self, uow: UnitOfWork, instrument: Instrument) -> Instrument:
        """Add an instrument; an id that exists is ``ALREADY_EXISTS`` (set a new price with ``set_price``)."""
        return self.save(uow, Decision(instrument, Changes.of(created=[instrument])), self.now())

    @transaction
    def set_price(self, uow: UnitOfWork, instrument_id: str, price: Decimal) -> Instrument:
        updated = repriced(require(uow.instruments, instrument_id, "instrument"), price)
        return self.save(uow, Decision(updated, Changes.of(updated=[updated])), self.now())

    @transaction
    def get(self, uow: UnitOfWork, instrument_id: str) -> Instrument:
        return require(uow.instruments, instrument_id, "instrument")

    @transaction
    def all(self, uow: UnitOfWork) -> list[Instrument]:
        return uow.instruments.list()

    @transaction
    def check_known(self, uow: UnitOfWork, instrument_ids: Iterable[str]) -> None:
        """Refuse instrument ids that name nothing (``UNKNOWN_INSTRUMENT``, a problem of the input)."""
        unknown = sorted({i for i in instrument_ids if uow.instruments.get(i) is None})
        if unknown:
            raise UnknownInstrument(
                f"no instrument {', '.join(unknown)}: see allot instruments list", {"instruments": unknown}
            )
