"""The documents' own example requests, sent as written, and their example objects, compared field by field.

Each example request below is the document's, verbatim (only an id the server makes, such as an allocation key's,
stands where the document shows its own). Each answer is compared with the document's example object: every field
the document shows is there, under the document's name, with the document's JSON type (a string where it shows a
string, a number where it shows a number), and the values the request decides are the ones it asked for. allot's
own fields may stand beside them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.instruments import AllocationLine, AssetType, Instrument
from tests.http.conftest import Api, client, running_api

# -- the documents' examples, as they are written --------------------------------------------------------------

#: Portfolio orders: "Placing a nominal sell order", its example request.
SELL_REQUEST = """{
	"user_id": "7c9dc9d0-8953-42f9-9b5e-f602a6201577",
	"account_id": "72ca4792-bd9c-4525-9f9b-c2ff93e1c352",
	"cash_amount": "400.00",
	"currency": "EUR",
	"side": "SELL"
}"""
#: "Liquidating a portfolio" and "Liquidating an account": the same example request.
LIQUIDATION_REQUEST = """{
	"user_id": "7c9dc9d0-8953-42f9-9b5e-f602a6201577"
}"""
#: The portfolio order object (its "created at" is "created_at" everywhere else in the document).
PORTFOLIO_ORDER = {
    "id": "10bfd760-dbf0-4302-b415-7ac7ffec7a52",
    "created_at": "2021-07-21T14:10:00.000Z",
    "updated_at": "2021-07-21T14:10:00.000Z",
    "account_id": "d7a57c3e-2be9-4c4e-b3ff-48e1e7815659",
    "allocation_id": "214fad90-42dd-40b5-8f78-53fcde53cd6f",
    "user_id": "2ef01903-3b0f-487c-89d8-303684d2f23c",
    "type": "SELL",
    "cash_amount": "1000",
    "currency": "EUR",
    "status": "PROCESSING",
    "orders": [{"id": "6a8c5a23-@bff-4faf-83bb-6c4871110409", "side": "SELL", "state": "NEW"}],
}
#: The account liquidation object, and its webhook's object (whose orders show ``status``).
ACCOUNT_LIQUIDATION = {
    "id": "10bfd760-dbf0-4302-b415-7ac7ffec7a52",
    "created_at": "2021-07-21T14:10:00.000Z",
    "updated_at": "2021-07-21T14:10:00.000Z",
    "account_id": "d7a57c3e-2be9-4c4e-b3ff-48e1e7815659",
    "user_id": "2ef01903-3b0f-487c-89d8-303684d2f23c",
    "cash_amount": "",
    "currency": "EUR",
    "status": "PROCESSING",
    "orders": [{"id": "6a8c5a23-abff-4faf-83bb-6c4871110409", "side": "SELL", "state": "NEW"}],
}
LIQUIDATION_WEBHOOK_ORDER = {"id": "778caa17-f0b3-4c52-93da-4d06e3b8f048", "side": "SELL", "status": "NEW"}
WEBHOOK_ENVELOPE = {
    "id": "54b8d84f-5bd0-4e43-bf0f-164388cb4c23",
    "created_at": "2021-07-21T14:10:00.000Z",
    "type": "PORTFOLIO_ORDER.NEW",
    "object": {},
}

#: Block trading: the three allocation keys and the block order, as the document writes them (its keys name no
#: error account; its percentage key spells its unit type in lower case).
KEY_10_20_30 = """{
"AllocationKeyName": "10-20-30",
"AllocationUnitType": "Unit",
"MarginHandling": "Reject",
"OneTime": true,
"OwnerAccountKey": "LDC3XwbK1pQOp9igdanlzQ==",
"ParticipatingAccountsInfo": [
    {
      "AcceptRemainderAmount":false,
      "AccountKey": "SeZ92W8Z-LBMILUTWZtmpw==",
	  "Priority":1,
      "UnitValue": 10000
    },
    {
	  "AcceptRemainderAmount":false,
      "AccountKey": "Z2sNFkNXjm-hbP2fBsyizg==",
	  "Priority":2,
      "UnitValue": 20000
    },
    {
	  "AcceptRemainderAmount":false,
      "AccountKey": "w500reaC177EHgaRs7NBOQ==",
	  "Priority":3,
      "UnitValue": 30000
    }
    ]
}"""
KEY_WITH_REMAINDER = """{
"AllocationKeyName": "10-20-30WithRemainder",
"AllocationUnitType": "Unit",
"MarginHandling": "Reject",
"OneTime": true,
"OwnerAccountKey": "LDC3XwbK1pQOp9igdanlzQ==",
"ParticipatingAccountsInfo": [
    {
      "AccountKey": "SeZ92W8Z-LBMILUTWZtmpw==",
      "AcceptRemainderAmount":true,
      "Priority" :2,
      "UnitValue": 10000
    },
    {
      "AccountKey": "Z2sNFkNXjm-hbP2fBsyizg==",
      "AcceptRemainderAmount":true,
      "Priority" :1,
      "UnitValue": 20000
    },
    {
	  "AcceptRemainderAmount":false,
      "AccountKey": "w500reaC177EHgaRs7NBOQ==",
      "Priority" :3,
      "UnitValue": 30000
    }
    ]
}"""
KEY_PERCENTAGE = """{
"AllocationKeyName": "25-35-40 Pct",
"AllocationUnitType": "percentage",
"MarginHandling": "Reduce",
"OneTime": false,
"OwnerAccountKey": "LDC3XwbK1pQOp9igdanlzQ==",
"ParticipatingAccountsInfo": [
    {
	  "AcceptRemainderAmount":false,
      "AccountKey": "SeZ92W8Z-LBMILUTWZtmpw==",
	  "Priority" :1,
      "UnitValue": 25
    },
    {
	  "AcceptRemainderAmount":false,
      "AccountKey": "Z2sNFkNXjm-hbP2fBsyizg==",
  	  "Priority" :2,
      "UnitValue": 35
    },
    {
	  "AcceptRemainderAmount":false,
      "AccountKey": "w500reaC177EHgaRs7NBOQ==",

	  "Priority" :3,
      "UnitValue": 40
    }
    ]
}"""
BLOCK_ORDER = """{
    "AccountKey":"LDC3XwbK1pQOp9igdanlzQ==",
    "AllocationKeyId":"6014",
    "Amount":60000,
    "AssetType":"FxSpot",
    "BuySell":"Buy",
    "OrderDuration": {
        "DurationType":"DayOrder"
    },
    "OrderType":"Market",
    "Uic":21
}"""

USER, ACCOUNT = "7c9dc9d0-8953-42f9-9b5e-f602a6201577", "72ca4792-bd9c-4525-9f9b-c2ff93e1c352"
BLOCK_ACCOUNT = "LDC3XwbK1pQOp9igdanlzQ=="
PARTICIPANTS = ("SeZ92W8Z-LBMILUTWZtmpw==", "Z2sNFkNXjm-hbP2fBsyizg==", "w500reaC177EHgaRs7NBOQ==")

# -- comparing shapes -------------------------------------------------------------------------------------------


def json_type(value: Any) -> str:
    """A JSON value's type as JSON names it (a whole and a fractional number are both numbers)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    names: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return names[type(value)]


def assert_shaped_like(
    answer: Any, example: Any, where: str = "$", nullable: frozenset[str] = frozenset()
) -> None:
    """Every field of ``example`` is in ``answer`` with the same JSON type, all the way down (arrays: each item
    like the example's first). ``nullable``: paths where the answer may hold null for a value it does not know."""
    if isinstance(example, dict):
        assert isinstance(answer, dict), f"{where}: expected an object, got {answer!r}"
        for name, value in example.items():
            assert name in answer, f"{where}.{name} is missing (the answer has {sorted(answer)})"
            assert_shaped_like(answer[name], value, f"{where}.{name}", nullable)
    elif isinstance(example, list):
        assert isinstance(answer, list), f"{where}: expected an array, got {answer!r}"
        for index, item in enumerate(answer):
            assert_shaped_like(item, example[0], f"{where}[{index}]", nullable)
    elif not (answer is None and where in nullable):
        assert json_type(answer) == json_type(example), f"{where}: {answer!r} is not a {json_type(example)}"


# -- the servers ------------------------------------------------------------------------------------------------


def post(api_client: httpx.Client, path: str, text: str) -> httpx.Response:
    """POST the text as it is written (tabs, spacing and all), as a client would send the document's example."""
    headers = {"Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/json"}
    return api_client.post(path, content=text.encode(), headers=headers)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with running_api(tmp_path / "documents.db") as running:
        yield running


@pytest.fixture
def investor(api: Api) -> Iterator[httpx.Client]:
    """The portfolio-order documents' user, with their account holding two funds bought with a model."""
    key = api.app.api_keys.create("u" * 43, client="platform", user=USER).text
    with client(api.base_url, key) as user:
        opened = api.post(user, "/accounts", {"account_id": ACCOUNT, "currency": "EUR", "cash": "5000.00"})
        assert opened.status_code == 201, opened.text
        api.app.allocations.create(
            "balanced", [AllocationLine("AAA", Decimal("0.5")), AllocationLine("BBB", Decimal("0.5"))]
        )
        bought = api.post(user, "/portfolios/orders", {"account_id": ACCOUNT, "type": "BUY", "cash_amount": "2000.00",
                                                       "allocation_id": "balanced"})  # fmt: skip
        assert bought.status_code == 202, bought.text
        assert api.admin.post("/sandbox/market/run").status_code == 200
        yield user


# -- portfolio orders -------------------------------------------------------------------------------------------


def test_the_documents_sell_request_places_a_sell_shaped_like_its_portfolio_order_object(
    api: Api, investor: httpx.Client
) -> None:
    placed = post(investor, "/portfolios/orders", SELL_REQUEST)
    assert placed.status_code == 202, placed.text
    order = placed.json()
    assert order["portfolio_order_id"] == order["id"]
    assert (order["type"], order["cash_amount"], order["currency"]) == ("SELL", "400.00", "EUR")
    assert (order["user_id"], order["account_id"]) == (USER, ACCOUNT)
    assert order["status"] == order["state"] == "SUBMITTED"
    # A sell of cash over the holdings names no model: its allocation_id is null where the example shows one.
    assert_shaped_like(order, PORTFOLIO_ORDER, nullable=frozenset({"$.allocation_id"}))
    assert [o["side"] for o in order["orders"]] == ["SELL", "SELL"]
    assert all(o["state"] == "NEW" for o in order["orders"])

    assert api.admin.post("/sandbox/market/run").status_code == 200
    shown = investor.get(f"/portfolios/orders/{order['id']}").json()
    assert shown["status"] == "FILLED"
    assert_shaped_like(shown, PORTFOLIO_ORDER, nullable=frozenset({"$.allocation_id"}))
    events = investor.get("/events", params={"topic": "PORTFOLIO_ORDER"}).json()["data"]
    sells = [e for e in events if e["object"]["id"] == order["id"]]
    assert [e["type"] for e in sells] == [
        "PORTFOLIO_ORDER.NEW", "PORTFOLIO_ORDER.SUBMITTED", "PORTFOLIO_ORDER.PROCESSING", "PORTFOLIO_ORDER.FILLED"
    ]  # fmt: skip
    for event in sells:
        assert_shaped_like(event, WEBHOOK_ENVELOPE)
        assert event["object"]["status"] == event["type"].split(".")[1]


def test_the_documents_liquidation_request_answers_a_portfolio_order_id_and_sells_everything(
    api: Api, investor: httpx.Client
) -> None:
    placed = post(investor, f"/portfolios/{ACCOUNT}/liquidation_request", LIQUIDATION_REQUEST)
    assert placed.status_code == 202, placed.text
    order = placed.json()
    assert (order["portfolio_order_id"], order["type"], order["cash_amount"]) == (
        order["id"],
        "LIQUIDATION",
        "",
    )
    assert_shaped_like(order, PORTFOLIO_ORDER, nullable=frozenset({"$.allocation_id"}))
    assert api.admin.post("/sandbox/market/run").status_code == 200
    filled = investor.get(f"/portfolios/orders/{order['id']}").json()
    assert filled["status"] == "FILLED"
    assert Decimal(filled["cash_amount"]) > 0
    assert investor.get(f"/accounts/{ACCOUNT}").json()["account"]["positions"] == []


# -- account liquidations ---------------------------------------------------------------------------------------


def test_the_documents_account_liquidation_answers_its_id_with_a_blank_cash_amount_until_filled(
    api: Api, investor: httpx.Client
) -> None:
    placed = post(investor, f"/accounts/{ACCOUNT}/liquidations", LIQUIDATION_REQUEST)
    assert placed.status_code == 202, placed.text
    liquidation = placed.json()
    assert liquidation["account_liquidation_id"] == liquidation["id"]
    assert (liquidation["cash_amount"], liquidation["status"], liquidation["user_id"]) == (
        "",
        "NEW",
        USER,
    )
    assert_shaped_like(liquidation, ACCOUNT_LIQUIDATION)
    for order in liquidation["orders"]:
        assert_shaped_like(order, LIQUIDATION_WEBHOOK_ORDER)
        assert order["status"] == order["state"]
    assert api.admin.post("/sandbox/market/run").status_code == 200
    done = investor.get(f"/accounts/{ACCOUNT}/liquidations/{liquidation['id']}").json()
    assert done["status"] == "FILLED"
    assert Decimal(done["cash_amount"]) > 0
    assert_shaped_like(done, ACCOUNT_LIQUIDATION)
    events = investor.get("/events", params={"topic": "ACCOUNT_LIQUIDATION"}).json()["data"]
    assert [e["object"]["status"] for e in events] == ["NEW", "PROCESSING", "FILLED"]
    assert [e["object"]["cash_amount"] == "" for e in events] == [True, True, False]


# -- block trading ----------------------------------------------------------------------------------------------


@pytest.fixture
def desk(api: Api) -> httpx.Client:
    """The block-trading document's ownership structure: a block account and three client accounts, all the
    client's (its desk trades them), in USD; and its instrument Uic 21, EURUSD."""
    api.app.instruments.add(
        Instrument("EURUSD", Decimal("1.0842"), currency="USD", asset_type=AssetType.FX_SPOT, uic=21)
    )
    for account_id in (BLOCK_ACCOUNT, *PARTICIPANTS):
        body = {"account_id": account_id, "currency": "USD", "cash": "100000.00"}
        assert api.post(api.desk, "/accounts", body).status_code == 201
    return api.desk


def key_id(desk: httpx.Client, text: str) -> str:
    created = post(desk, "/trade/v1/allocationkeys", text)
    assert created.status_code == 201, created.text
    assert list(created.json()) == ["AllocationKeyId"]
    made: str = created.json()["AllocationKeyId"]
    return made


def positions(desk: httpx.Client, account_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = desk.get("/port/v1/positions", params={"AccountKey": account_id}).json()[
        "Data"
    ]
    return found


@pytest.mark.parametrize(("amount", "error_part"), [(60000, None), (65000, 5000)])
def test_the_documents_first_key_and_block_order_allocate_ten_twenty_thirty_and_the_rest_to_the_error_account(
    api: Api, desk: httpx.Client, amount: int, error_part: int | None
) -> None:
    made = key_id(desk, KEY_10_20_30)
    shown = desk.get(f"/trade/v1/allocationkeys/{made}").json()
    assert shown["ErrorAccountKey"] == f"{BLOCK_ACCOUNT}-ERROR"
    assert [p["UnitValue"] for p in shown["ParticipatingAccountsInfo"]] == [10000, 20000, 30000]
    placed = post(
        desk,
        "/trade/v2/orders",
        BLOCK_ORDER.replace('"6014"', json.dumps(made)).replace("60000", str(amount)),
    )
    assert placed.status_code == 202, placed.text
    assert list(placed.json()) == ["OrderId"]
    assert api.admin.post("/sandbox/market/run").status_code == 200
    held = [[(p["Amount"], p["Uic"]) for p in positions(desk, a)] for a in PARTICIPANTS]
    assert held == [[(10000, 21)], [(20000, 21)], [(30000, 21)]]
    error = positions(desk, f"{BLOCK_ACCOUNT}-ERROR")
    assert [p["Amount"] for p in error] == ([] if error_part is None else [error_part])
    paid = desk.get(f"/accounts/{BLOCK_ACCOUNT}").json()["available_cash"]  # the error account opens empty
    assert Decimal(paid) == Decimal("100000.00") - (0 if error_part is None else Decimal("5421.00"))
    for account_id in PARTICIPANTS:
        (order,) = desk.get("/port/v1/orders", params={"AccountKey": account_id}).json()["Data"]
        assert (order["CorrelationKey"], order["Uic"], order["Status"]) == (
            placed.json()["OrderId"],
            21,
            "Filled",
        )


def test_the_documents_key_with_remainder_gives_the_remainder_to_the_accounts_that_accept_it(
    api: Api, desk: httpx.Client
) -> None:
    made = key_id(desk, KEY_WITH_REMAINDER)
    preview = desk.get(f"/trade/v1/allocationkeys/{made}/distributions", params={"Amount": "65000"}).json()
    assert [(d["AccountKey"], d["Amount"]) for d in preview["Distributions"]] == [
        (PARTICIPANTS[0], "11667"), (PARTICIPANTS[1], "23333"), (PARTICIPANTS[2], "30000"),
    ]  # fmt: skip
    placed = post(
        desk, "/trade/v2/orders", BLOCK_ORDER.replace('"6014"', json.dumps(made)).replace("60000", "65000")
    )
    assert placed.status_code == 202, placed.text
    assert api.admin.post("/sandbox/market/run").status_code == 200
    assert [[p["Amount"] for p in positions(desk, a)] for a in PARTICIPANTS] == [[11667], [23333], [30000]]


def test_the_documents_percentage_key_is_taken_as_written_and_reads_back_in_its_fields(
    desk: httpx.Client,
) -> None:
    made = key_id(desk, KEY_PERCENTAGE)
    shown = desk.get(f"/trade/v1/allocationkeys/{made}").json()
    written = json.loads(KEY_PERCENTAGE)
    assert_shaped_like(shown, written)
    assert (shown["AllocationUnitType"], shown["MarginHandling"], shown["Status"]) == (
        "Percentage",
        "Reduce",
        "Active",
    )
    assert [(p["AccountKey"], p["UnitValue"]) for p in shown["ParticipatingAccountsInfo"]] == [
        (p["AccountKey"], p["UnitValue"]) for p in written["ParticipatingAccountsInfo"]
    ]


def test_the_documents_percentage_key_reduces_an_account_short_of_cash_and_parks_the_odd_unit_in_the_error_account(
    api: Api, desk: httpx.Client
) -> None:
    made = key_id(desk, KEY_PERCENTAGE)
    first = PARTICIPANTS[0]
    taken = api.post(desk, f"/accounts/{first}/withdrawals", {"amount": "99800.00"})
    assert taken.status_code == 201, taken.text  # 200.00 USD left: 184 units at 1.0842, not its 250
    placed = post(
        desk, "/trade/v2/orders", BLOCK_ORDER.replace('"6014"', json.dumps(made)).replace("60000", "1001")
    )
    assert placed.status_code == 202, placed.text
    assert api.admin.post("/sandbox/market/run").status_code == 200
    held = [[p["Amount"] for p in positions(desk, a)] for a in (*PARTICIPANTS, f"{BLOCK_ACCOUNT}-ERROR")]
    assert held == [[184], [350], [400], [1]]


def place_with_uic(desk: httpx.Client, made: str, uic: str) -> httpx.Response:
    """The document's block order on key ``made``, with its ``Uic`` written as ``uic``."""
    return post(
        desk,
        "/trade/v2/orders",
        BLOCK_ORDER.replace('"6014"', json.dumps(made)).replace('"Uic":21', f'"Uic":{uic}'),
    )


def test_a_block_order_naming_a_uic_no_instrument_has_is_404_and_nothing_is_placed(
    desk: httpx.Client,
) -> None:
    made = key_id(desk, KEY_10_20_30)
    refused = place_with_uic(desk, made, "22")
    assert refused.status_code == 404, refused.text
    assert refused.json()["error"]["details"] == {"kind": "instrument", "uic": 22}
    assert desk.get(f"/trade/v1/allocationkeys/{made}").json()["Status"] == "OneTime"


def test_a_block_orders_uic_written_with_a_zero_fraction_is_that_whole_number(desk: httpx.Client) -> None:
    made = key_id(desk, KEY_10_20_30)
    placed = place_with_uic(desk, made, "21.0")
    assert placed.status_code == 202, placed.text
    assert desk.get(f"/trade/v1/allocationkeys/{made}").json()["Status"] == "Used"


def test_a_key_whose_error_account_is_given_empty_is_refused_naming_it(desk: httpx.Client) -> None:
    refused = post(
        desk,
        "/trade/v1/allocationkeys",
        KEY_10_20_30.replace('"OwnerAccountKey"', '"ErrorAccountKey":"", "OwnerAccountKey"'),
    )
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["details"]["field"] == "ErrorAccountKey"


@pytest.mark.parametrize("uic", ["0", "-21", "9007199254740992"])
def test_a_block_orders_uic_no_instrument_could_have_is_400_naming_it(desk: httpx.Client, uic: str) -> None:
    made = key_id(desk, KEY_10_20_30)
    answer = place_with_uic(desk, made, uic)
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "VALIDATION_ERROR"), answer.text
    assert answer.json()["error"]["details"]["field"] == "Uic"
