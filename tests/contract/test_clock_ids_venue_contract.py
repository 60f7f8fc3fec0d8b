"""Contracts of the clock, id and venue ports, for every adapter of each."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from adapters.system import SystemClock, UuidGenerator
from adapters.venue import SimulatedVenue
from core.instruments import Instrument, Side
from ports.driven import Clock, IdGenerator
from tests.fakes import ManualClock, SequentialIds


@pytest.mark.parametrize("clock", [SystemClock(), ManualClock()], ids=["system", "manual"])
def test_a_clock_tells_timezone_aware_utc_time(clock: Clock) -> None:
    assert clock.now().utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize("ids", [UuidGenerator(), SequentialIds()], ids=["uuid", "sequential"])
def test_ids_are_unique_strings(ids: IdGenerator) -> None:
    made = [ids.new_id() for _ in range(1000)]
    assert len(set(made)) == 1000
    assert all(isinstance(i, str) and i for i in made)


def test_the_uuid_generator_makes_version_4_uuids_written_as_uuid_writes_them() -> None:
    made = [UuidGenerator().new_id() for _ in range(1000)]
    parsed = [uuid.UUID(i) for i in made]
    assert [str(u) for u in parsed] == made
    assert {(u.version, u.variant) for u in parsed} == {(4, uuid.RFC_4122)}
    # 122 random bits: every free hexadecimal digit takes more than one value over a thousand ids
    free = [i for i in range(36) if i not in (8, 13, 14, 18, 19, 23)]
    assert all(len({m[i] for m in made}) > 1 for i in free)
    assert {m[19] for m in made} <= set("89ab")


SHARE = Instrument("X", Decimal("12.50"), Decimal("1"))


def test_the_simulated_venue_quotes_the_price_table() -> None:
    assert SimulatedVenue().quote(SHARE, Side.BUY).price == Decimal("12.50")


def test_the_simulated_venue_fills_a_share_of_the_quantity_rounded_down_to_the_step() -> None:
    assert SimulatedVenue(Decimal("0.4")).fill(SHARE, Side.BUY, Decimal(7)) == Decimal(2)


def test_the_simulated_venue_fills_the_rest_when_a_share_would_be_nothing() -> None:
    assert SimulatedVenue(Decimal("0.4")).fill(SHARE, Side.BUY, Decimal(2)) == Decimal(2)


def test_the_simulated_venue_rejects_chosen_instruments_with_a_reason() -> None:
    quote = SimulatedVenue(reject={"X"}).quote(SHARE, Side.SELL)
    assert (quote.price, quote.rejection) == (None, "the trading partner rejected X")


def test_an_instrument_without_a_price_is_not_quoted() -> None:
    assert SimulatedVenue().quote(Instrument("Y"), Side.BUY).price is None
