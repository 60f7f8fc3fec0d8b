"""A position event as JSON: allot's own fields and, beside them, the position-event document's with the
document's JSON types; read back, the document's fields are dropped and the record is the same."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import attrs
import pytest

from adapters.serialization import from_json, structure, to_json, unstructure
from core.fills import AccountBook, CostSchedule, Fill, PositionEvent, PositionEventType, apply_fill
from core.instruments import Instrument, Side

FRIDAY = dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC)
LISTED = Instrument("MBTN1", Decimal("98.50"), symbol="MBTN1:xswx", uic=32160052)
SCHEDULE = CostSchedule(commission_rate=Decimal("0.001"), commission_minimum=Decimal("5.00"))
#: The document's ``PositionEvent`` values.
DOCUMENT_EVENTS = {"New", "Updated", "Deleted", "OptionExercised", "OptionExpired"}


def bought(instrument: Instrument = LISTED) -> PositionEvent:
    """The event of buying 10 at 98.50 (traded value 985.00, commission 5.00) in block B1's order O1."""
    fill = Fill(
        "O1",
        "ACC",
        instrument,
        Side.BUY,
        Decimal(10),
        Decimal("98.50"),
        FRIDAY,
        "B1",
        "REF-1",
        client_id="acme",
    )
    return apply_fill(AccountBook("ACC", "EUR", Decimal("5000.00")), fill, SCHEDULE).event


def written(event: PositionEvent) -> dict[str, Any]:
    """The event as it is stored and sent, read back exactly (numbers as Decimals or ints, never floats)."""
    data: dict[str, Any] = json.loads(to_json(event), parse_float=Decimal)
    return data


def test_a_position_event_carries_the_documents_fields_with_the_documents_types() -> None:
    shown = written(bought())
    assert {name: shown[name] for name in ("PositionEvent", "AssetType", "BuySell", "Uic", "SequenceId")} == {
        "PositionEvent": "New",
        "AssetType": "Stock",
        "BuySell": "Buy",
        "Uic": 32160052,
        "SequenceId": "1",
    }
    assert (shown["AccountId"], shown["AccountKey"], shown["ClientId"], shown["UserId"]) == (
        "ACC",
        "ACC",
        "acme",
        None,
    )
    assert (shown["CorrelationKey"], shown["SourceOrderId"], shown["ExternalReference"]) == (
        "B1",
        "O1",
        "REF-1",
    )
    assert (shown["Symbol"], shown["CurrencyCode"]) == ("MBTN1:xswx", "EUR")
    assert (shown["ExecutionTime"], shown["ValueDate"]) == ("2026-11-20T15:00:00Z", "2026-11-24")


def test_the_documents_decimals_are_json_numbers_with_exactly_allots_digits() -> None:
    text = to_json(bought())
    for name, digits in [("Amount", "10"), ("FillAmount", "10"), ("OpenPrice", "98.50"), ("TradedValue", "985.00"),
                         ("Commission", "5.00"), ("ExchangeFee", "0.00"), ("StampDuty", "0.00"),
                         ("TotalCost", "5.00")]:  # fmt: skip
        assert f'"{name}":{digits},' in text
    shown = written(bought())
    assert (shown["amount"], shown["traded_value"], shown["sequence_id"]) == (
        "10",
        "985.00",
        1,
    )  # allot's own


def test_an_instrument_without_a_uic_gives_a_null_uic() -> None:
    assert written(bought(attrs.evolve(LISTED, uic=None)))["Uic"] is None


@pytest.mark.parametrize("kind", list(PositionEventType))
def test_every_kind_of_event_is_one_of_the_documents_and_reads_back_as_the_same_record(
    kind: PositionEventType,
) -> None:
    event = attrs.evolve(bought(), event=kind)
    assert unstructure(event)["PositionEvent"] in DOCUMENT_EVENTS
    assert structure(unstructure(event), PositionEvent) == event
    assert from_json(to_json(event), PositionEvent) == event


def test_the_kinds_of_event_are_spelled_as_the_documents_five_values() -> None:
    spelled = {unstructure(attrs.evolve(bought(), event=kind))["PositionEvent"] for kind in PositionEventType}
    assert spelled == DOCUMENT_EVENTS


def test_an_event_stored_before_it_carried_the_documents_fields_still_reads() -> None:
    event = bought()
    stored = {
        name: value for name, value in unstructure(event).items() if name[:1].islower() and name != "uic"
    }
    assert structure(stored, PositionEvent) == attrs.evolve(event, uic=None)
