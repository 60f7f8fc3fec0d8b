"""Position events and positions in the position-event document's fields, on a real server: a block and a
portfolio order are filled by the sandbox market, and each ``POSITION`` event — as ``GET /events`` lists it and as a
webhook delivers it — is compared field by field with the document's sample message; ``/port/v1/positions`` relates
each position to the block (or order) that opened it."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import attrs
import httpx
from standardwebhooks.webhooks import Webhook

from core.instruments import Instrument
from tests.http.conftest import Api
from tests.http.test_trade_api import (
    BLOCK,
    FIRST,
    PARTICIPANTS,
    SECOND,
    THIRD,
    block_order,
    create_key,
    open_accounts,
    remainder_key,
)
from tests.http.test_webhooks_api import subscribe, wait_for
from tests.integration.receivers import receiver

#: The document's sample message, as it is written there (its ``Data[0]``).
SAMPLE_TEXT = """{
"AccountId": "1234INET",
"AccountKey": "1234==",
"ActivityTime": "2022-11-01T09:01:11.836666Z",
"ActivityType": "Positions",
"Amount": 7645.0,
"AssetType": "Rights",
"BuySell": "Buy",
"ClientId": "5678",
"ClientKey": "5678==",
"ClientName": "***",
"CorrelationKey": "ab917a75-b9f3-4a23-b3d0-d94dbe57aa36",
"CurrencyCode": "CHF",
"DisplayAndFormat": {
"Currency": "CHF",
"Decimals": 5,
"Description": "Meyer Burger Tech AG- Rights",
"OrderDecimals": 5,
"Symbol": "MBTN1:xswx"
},
"ExecutionTime": "2022-11-01T09:00:29.000000Z",
"ExternalReference": "MyTestOrder_001",
"OptionData": {},
"OriginatingToolId": 10,
"PositionEvent": "Updated",
"PositionId": "6282058780",
"PriceType": "Amount",
"SequenceId": "1066362477",
"SpotDate": "2022-11-03",
"Symbol": "MBTN1:xswx",
"TradedValue": 0.00,
"Uic": 32160052,
"ValueDate": "2022-11-03"
}"""
SAMPLE: dict[str, Any] = json.loads(SAMPLE_TEXT, parse_float=Decimal)
#: Fields of the document's table that the sample does not show, with the JSON type of the table's type (Decimal: a
#: number; String: a string).
TABLE_ONLY = {"FillAmount": "number", "OpenPrice": "number", "Price": "number", "Commission": "number", "ExchangeFee": "number",
              "StampDuty": "number", "TotalCost": "number", "SourceOrderId": "string", "UserId": "string"}  # fmt: skip
#: The document's ``PositionEvent`` values.
DOCUMENT_EVENTS = {"New", "Updated", "Deleted", "OptionExercised", "OptionExpired"}
#: allot's decimal fields and the document's name for each: the same value, a string in one and a number in the other.
SAME_DECIMALS = {"amount": "Amount", "fill_amount": "FillAmount", "open_price": "OpenPrice",
                 "traded_value": "TradedValue", "commission": "Commission", "exchange_fee": "ExchangeFee",
                 "stamp_duty": "StampDuty", "total_cost": "TotalCost"}  # fmt: skip
UTC_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z")
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

#: The sample's instrument, as allot lists it: a Uic and a symbol, at 10.00 (the block test's price); and the
#: document's other symbol, at 20.00 (its Uic made up).
LISTED = Instrument("MBTN1", Decimal("10.00"), symbol="MBTN1:xswx", uic=32160052)
OTHER = Instrument("ALFEN", Decimal("20.00"), symbol="ALFEN:xams", uic=1234567)
#: The block test's key splits 65 000 units so (the block-trading document's numbers).
PARTS = {FIRST: 11667, SECOND: 23333, THIRD: 30000}
#: The portfolio order: 1 000.00 EUR over MBTN1 (at 10.00) and ALFEN (at 20.00), half each, into FIRST.
MODEL = {"name": "half-half", "lines": [{"instrument_id": "MBTN1", "weight": "0.5"},
                                         {"instrument_id": "ALFEN", "weight": "0.5"}]}  # fmt: skip
BOUGHT = {"MBTN1": 50, "ALFEN": 25}  # 500.00 / 10.00 and 500.00 / 20.00, no costs


def exactly(response: httpx.Response | str) -> Any:
    """JSON read exactly: a number with a fraction as a Decimal, never a float."""
    return json.loads(response if isinstance(response, str) else response.text, parse_float=Decimal)


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, dict) else "array"


def check_document_fields(event: dict[str, Any]) -> None:
    """The event has every field of the sample (a group's with every field of the sample's group), and the table's
    others, each of the document's type."""
    for name, value in SAMPLE.items():
        assert name in event, name
        assert json_type(event[name]) == json_type(value), (name, event[name])
        if isinstance(value, dict):
            assert {k: json_type(v) for k, v in event[name].items()} == {
                k: json_type(v) for k, v in value.items()
            }
    assert event["ActivityTime"] == event["ExecutionTime"]
    assert (event["SpotDate"], event["DisplayAndFormat"]["Symbol"]) == (event["ValueDate"], event["Symbol"])
    for name, kind in TABLE_ONLY.items():
        assert json_type(event[name]) == kind, (name, event[name])
    assert event["PositionEvent"] in DOCUMENT_EVENTS
    assert type(event["Uic"]) is int  # the table's Int
    assert UTC_TIME.fullmatch(event["ExecutionTime"])
    assert DATE.fullmatch(event["ValueDate"])
    for own, documents in SAME_DECIMALS.items():  # allot's own fields are kept, as strings
        assert Decimal(event[own]) == event[documents], own
    assert (event["correlation_key"], event["account_id"]) == (event["CorrelationKey"], event["AccountKey"])


@attrs.frozen
class Filled:
    """What ``place_and_fill`` placed: the block, the orders it allocated (by account) and the portfolio order's
    individual orders (by instrument)."""

    block_id: str
    allocated: dict[str, str]
    ordered: dict[str, str]


def place_and_fill(api: Api) -> Filled:
    """The block over the document's three accounts, filled; then the portfolio order into FIRST, filled."""
    api.app.instruments.add(LISTED)
    api.app.instruments.add(OTHER)
    placed = api.post(
        api.desk, "/trade/v2/orders", block_order(create_key(api, remainder_key())) | {"Uic": "MBTN1"}
    )
    assert placed.status_code == 202, placed.text
    assert api.admin.post("/sandbox/market/run").status_code == 200
    model = api.post(api.alice, "/models", MODEL)
    assert model.status_code == 201, model.text
    body = {"account_id": FIRST, "type": "BUY", "cash_amount": "1000.00", "allocation_id": model.json()["id"]}
    portfolio_order = api.post(api.alice, "/portfolios/orders", body)
    assert portfolio_order.status_code == 202, portfolio_order.text
    assert api.admin.post("/sandbox/market/run").status_code == 200
    block_id = placed.json()["OrderId"]
    allocated = {
        o["AccountKey"]: o["OrderId"]
        for a in PARTICIPANTS
        for o in api.desk.get("/port/v1/orders", params={"AccountKey": a}).json()["Data"]
        if o["CorrelationKey"] == block_id
    }
    children = [api.alice.get(f"/orders/{o['id']}").json() for o in portfolio_order.json()["orders"]]
    return Filled(block_id, allocated, {o["instrument_id"]: o["id"] for o in children})


def test_each_position_event_carries_the_documents_fields_as_the_sample_types_them(api: Api) -> None:
    open_accounts(api)
    with receiver() as hooks:
        subscription = subscribe(api, api.desk, f"{hooks.base}/positions", ["POSITION"])
        filled = place_and_fill(api)
        listed = exactly(api.desk.get("/events", params={"topic": "POSITION"}))["data"]
        wait_for(hooks, "/positions", len(listed))
        delivered = hooks.on("/positions")

    events = [e["object"] for e in listed]
    for event in events:
        check_document_fields(event)
    summary = [(e["AccountKey"], e["Symbol"], e["PositionEvent"], e["FillAmount"], e["Amount"], e["CorrelationKey"],
                e["SourceOrderId"]) for e in events]  # fmt: skip
    block_id, ordered = filled.block_id, filled.ordered
    assert sorted(summary, key=str) == sorted(
        [(account, "MBTN1:xswx", "New", part, part, block_id, filled.allocated[account])
         for account, part in PARTS.items()]
        + [(FIRST, "MBTN1:xswx", "Updated", BOUGHT["MBTN1"], PARTS[FIRST] + BOUGHT["MBTN1"], ordered["MBTN1"],
            ordered["MBTN1"]),
           (FIRST, "ALFEN:xams", "New", BOUGHT["ALFEN"], BOUGHT["ALFEN"], ordered["ALFEN"], ordered["ALFEN"])],
        key=str,
    )  # fmt: skip
    assert {(e["Symbol"], e["Uic"]) for e in events} == {("MBTN1:xswx", 32160052), ("ALFEN:xams", 1234567)}

    sent = {}
    for webhook in delivered:  # signed over the very text sent, which has real JSON numbers
        Webhook(subscription["secret"]).verify(webhook.body, webhook.headers)
        assert "\\u0000" not in webhook.body
        envelope = exactly(webhook.body)
        sent[envelope["id"]] = envelope["object"]
    assert sent == {e["id"]: e["object"] for e in listed}


def test_port_positions_give_each_position_its_correlation_key_and_the_instruments_uic(api: Api) -> None:
    open_accounts(api)
    filled = place_and_fill(api)
    block_id, ordered = filled.block_id, filled.ordered
    positions = {
        a: exactly(api.desk.get("/port/v1/positions", params={"AccountKey": a}))["Data"] for a in PARTICIPANTS
    }
    shown = {(a, p["InstrumentId"]): (p["Uic"], p["Amount"], p["CorrelationKey"]) for a in PARTICIPANTS
             for p in positions[a]}  # fmt: skip
    assert shown == {
        (FIRST, "MBTN1"): (32160052, PARTS[FIRST] + BOUGHT["MBTN1"], block_id),  # opened by the block
        (SECOND, "MBTN1"): (32160052, PARTS[SECOND], block_id),
        (THIRD, "MBTN1"): (32160052, PARTS[THIRD], block_id),
        (FIRST, "ALFEN"): (1234567, BOUGHT["ALFEN"], ordered["ALFEN"]),  # opened by the portfolio's own order
    }
    assert all(p["AccountKey"] == a and p["PositionId"] for a in PARTICIPANTS for p in positions[a])
    assert exactly(api.desk.get("/port/v1/positions", params={"AccountKey": BLOCK}))["Data"] == []
