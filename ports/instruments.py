"""Instruments and their prices (the price table the simulated venue trades at)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from core import options, price_table
from core.idempotency import check_key, fingerprint
from core.instruments import Instrument, OptionEnd, check_known
from core.market import RUN_STATES
from core.numbers import ZERO
from ports.driven import UnitOfWork
from ports.use_cases import UseCases, require, transaction


class Instruments(UseCases):
    @transaction
    def add(self, uow: UnitOfWork, instrument: Instrument, idempotency_key: str | None = None) -> Instrument:
        """Add an instrument; an id or a uic that exists is ``ALREADY_EXISTS`` (set a new price with
        ``set_price``). Adding again with the same idempotency key and request returns the instrument."""
        key, request = check_key(idempotency_key), fingerprint("instrument", instrument)
        added = self.done_before(uow, key, request, uow.instruments, "instrument")
        if added is not None:
            return added
        others = uow.instruments.list() if instrument.uic is not None else []
        self.remember(uow, key, request, instrument.instrument_id)
        return self.save(uow, price_table.add(instrument, others), self.now())

    @transaction
    def set_price(self, uow: UnitOfWork, instrument_id: str, price: Decimal) -> Instrument:
        decision = price_table.set_price(require(uow.instruments, instrument_id, "instrument"), price)
        return self.save(uow, decision, self.now())

    @transaction
    def get(self, uow: UnitOfWork, instrument_id: str) -> Instrument:
        return require(uow.instruments, instrument_id, "instrument")

    @transaction
    def by_uic(self, uow: UnitOfWork, uic: int) -> Instrument:
        """The instrument a broker's API names by its ``Uic``."""
        return price_table.by_uic(uow.instruments.list(), uic)

    @transaction
    def all(self, uow: UnitOfWork) -> list[Instrument]:
        return uow.instruments.list()

    @transaction
    def check_known(self, uow: UnitOfWork, instrument_ids: Iterable[str]) -> None:
        """Refuse instrument ids that name nothing (``UNKNOWN_INSTRUMENT``, a problem of the input)."""
        named = set(instrument_ids)
        check_known(named, {i for i in named if uow.instruments.get(i) is not None})

    @transaction
    def exercise(self, uow: UnitOfWork, instrument_id: str, settlement_price: Decimal) -> Instrument:
        """Exercise an option: every position in it is closed and paid ``settlement_price`` per unit."""
        return self._end(uow, instrument_id, OptionEnd.EXERCISED, settlement_price)

    @transaction
    def expire(self, uow: UnitOfWork, instrument_id: str) -> Instrument:
        """An option expires: every position in it is closed worthless."""
        return self._end(uow, instrument_id, OptionEnd.EXPIRED, ZERO)

    def _end(self, uow: UnitOfWork, instrument_id: str, how: OptionEnd, price: Decimal) -> Instrument:
        instrument = require(uow.instruments, instrument_id, "instrument")
        holders = uow.accounts.list()
        open_orders = uow.orders.list(instrument_id=instrument_id, state=RUN_STATES)
        now = self.now()
        decision = options.end(instrument, how, price, holders, open_orders, ids=self.fresh_ids(), now=now)
        return self.save(uow, decision, now)
