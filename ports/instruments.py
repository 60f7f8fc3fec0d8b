"""Instruments and their prices (the price table the simulated venue trades at)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from core import price_table
from core.instruments import Instrument, check_known
from ports.driven import UnitOfWork
from ports.use_cases import UseCases, require, transaction


class Instruments(UseCases):
    @transaction
    def add(self, uow: UnitOfWork, instrument: Instrument) -> Instrument:
        """Add an instrument; an id that exists is ``ALREADY_EXISTS`` (set a new price with ``set_price``)."""
        return self.save(uow, price_table.add(instrument), self.now())

    @transaction
    def set_price(self, uow: UnitOfWork, instrument_id: str, price: Decimal) -> Instrument:
        decision = price_table.set_price(require(uow.instruments, instrument_id, "instrument"), price)
        return self.save(uow, decision, self.now())

    @transaction
    def get(self, uow: UnitOfWork, instrument_id: str) -> Instrument:
        return require(uow.instruments, instrument_id, "instrument")

    @transaction
    def all(self, uow: UnitOfWork) -> list[Instrument]:
        return uow.instruments.list()

    @transaction
    def check_known(self, uow: UnitOfWork, instrument_ids: Iterable[str]) -> None:
        """Refuse instrument ids that name nothing (``UNKNOWN_INSTRUMENT``, a problem of the input)."""
        named = set(instrument_ids)
        check_known(named, {i for i in named if uow.instruments.get(i) is not None})
