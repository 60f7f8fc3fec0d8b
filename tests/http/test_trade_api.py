"""Block trading over HTTP, as the block-trading document shows it: allocation keys, a block order placed with one,
and the allocated orders and positions of the participating accounts — on a real server."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.http.conftest import Api

#: The document's accounts: the block account and its error account (alice's), and three participants (two of
#: alice's, one of bob's). Keys over several users' accounts are the client's: its desk (a client-wide API key)
#: makes them and places the blocks; neither user may see or use them.
BLOCK, ERROR = "BlockTrade8393", "ERROR_8393"
FIRST, SECOND, THIRD = "Demo_8328394", "Demo_8328395", "Demo_8328424"
PARTICIPANTS = (FIRST, SECOND, THIRD)


def remainder_key(one_time: bool = True) -> dict[str, Any]:
    """The document's second key, "10-20-30WithRemainder", with allot's error account."""
    return {
        "AllocationKeyName": "10-20-30WithRemainder",
        "AllocationUnitType": "Unit",
        "MarginHandling": "Reject",
        "OneTime": one_time,
        "OwnerAccountKey": BLOCK,
        "ErrorAccountKey": ERROR,
        "ParticipatingAccountsInfo": [
            {"AccountKey": FIRST, "AcceptRemainderAmount": True, "Priority": 2, "UnitValue": 10000},
            {"AccountKey": SECOND, "AcceptRemainderAmount": True, "Priority": 1, "UnitValue": 20000},
            {"AcceptRemainderAmount": False, "AccountKey": THIRD, "Priority": 3, "UnitValue": 30000},
        ],
    }


def exact_key() -> dict[str, Any]:
    """The document's first key, "10-20-30": nobody takes a remainder, so it goes to the error account."""
    key = remainder_key()
    key["AllocationKeyName"] = "10-20-30"
    for participant in key["ParticipatingAccountsInfo"]:
        participant["AcceptRemainderAmount"] = False
    return key


def block_order(key_id: str, amount: int = 65000) -> dict[str, Any]:
    return {
        "AccountKey": BLOCK,
        "AllocationKeyId": key_id,
        "Amount": amount,
        "AssetType": "Stock",
        "BuySell": "Buy",
        "OrderDuration": {"DurationType": "DayOrder"},
        "OrderType": "Market",
        "Uic": "AAA",
    }


def open_accounts(api: Api) -> None:
    """The document's ownership structure within client acme, each account with cash for its part at 10.00."""
    for user, account_id in [(api.alice, BLOCK), (api.alice, ERROR), (api.alice, FIRST), (api.bob, SECOND),
                             (api.alice, THIRD)]:  # fmt: skip
        body = {"account_id": account_id, "currency": "EUR", "cash": "400000.00"}
        assert api.post(user, "/accounts", body).status_code == 201


def create_key(api: Api, body: dict[str, Any], client: httpx.Client | None = None) -> str:
    response = api.post(client or api.desk, "/trade/v1/allocationkeys", body)
    assert response.status_code == 201, response.text
    assert list(response.json()) == ["AllocationKeyId"]
    key_id: str = response.json()["AllocationKeyId"]
    return key_id


@pytest.fixture
def acme(api: Api) -> Api:
    open_accounts(api)
    return api


def distribution(api: Api, key_id: str, amount: str) -> dict[str, Any]:
    response = api.desk.get(f"/trade/v1/allocationkeys/{key_id}/distributions", params={"Amount": amount})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def parts(preview: dict[str, Any]) -> list[tuple[str, str]]:
    return [(d["AccountKey"], d["Amount"]) for d in preview["Distributions"]]


def test_a_key_with_remainder_accounts_previews_the_documents_distribution_of_65_000(acme: Api) -> None:
    key_id = create_key(acme, remainder_key())
    preview = distribution(acme, key_id, "65000")
    assert parts(preview) == [(FIRST, "11667"), (SECOND, "23333"), (THIRD, "30000")]
    assert (preview["Amount"], preview["RemainderAmount"]) == ("65000", "5000")
    assert preview["ErrorAccount"] == {"AccountKey": ERROR, "Amount": "0"}


def test_a_key_without_remainder_accounts_sends_the_remainder_to_the_error_account(acme: Api) -> None:
    key_id = create_key(acme, exact_key())
    preview = distribution(acme, key_id, "65000")
    assert parts(preview) == [(FIRST, "10000"), (SECOND, "20000"), (THIRD, "30000")]
    assert preview["ErrorAccount"] == {"AccountKey": ERROR, "Amount": "5000"}


def test_the_documents_block_flow_allocates_orders_and_positions_that_sum_to_the_block(acme: Api) -> None:
    key_id = create_key(acme, remainder_key())
    placed = acme.post(acme.desk, "/trade/v2/orders", block_order(key_id))
    assert placed.status_code == 202, placed.text
    block_id = placed.json()["OrderId"]
    assert acme.admin.post("/sandbox/market/run").status_code == 200

    owners = {FIRST: acme.alice, SECOND: acme.bob, THIRD: acme.alice}
    orders = {
        a: owners[a].get("/port/v1/orders", params={"AccountKey": a}).json()["Data"] for a in PARTICIPANTS
    }
    for account_id, listed in orders.items():
        assert [(o["AccountKey"], o["CorrelationKey"], o["Status"], o["BuySell"]) for o in listed] == [
            (account_id, block_id, "Filled", "Buy")
        ]
    assert [orders[a][0]["FilledAmount"] for a in PARTICIPANTS] == ["11667", "23333", "30000"]

    positions = {
        a: owners[a].get("/port/v1/positions", params={"AccountKey": a}).json()["Data"] for a in PARTICIPANTS
    }
    listed = [p for a in PARTICIPANTS for p in positions[a]]
    held = [(p["AccountKey"], p["InstrumentId"], p["Uic"], p["Amount"]) for p in listed]
    # AAA has no Uic; the amounts are JSON numbers, as in the document
    assert held == [(FIRST, "AAA", None, 11667), (SECOND, "AAA", None, 23333), (THIRD, "AAA", None, 30000)]
    assert sum(amount for *_, amount in held) == 65000
    assert [p["CorrelationKey"] for p in listed] == [block_id] * 3
    assert acme.alice.get("/port/v1/positions", params={"AccountKey": ERROR}).json()["Data"] == []


def test_a_block_reads_by_its_order_id_with_its_allocated_orders_and_is_listed_on_its_block_account(
    acme: Api,
) -> None:
    key_id = create_key(acme, remainder_key())
    placed = acme.post(acme.desk, "/trade/v2/orders", block_order(key_id))
    assert placed.status_code == 202, placed.text
    block_id = placed.json()["OrderId"]
    assert acme.admin.post("/sandbox/market/run").status_code == 200
    shown = acme.desk.get(f"/trade/v2/orders/{block_id}")
    assert shown.status_code == 200, shown.text
    block = shown.json()
    assert (block["OrderId"], block["AccountKey"], block["AllocationKeyId"], block["CorrelationKey"]) == (
        block_id, BLOCK, key_id, block_id,
    )  # fmt: skip
    assert (block["BuySell"], block["Amount"], block["FilledAmount"], block["Status"]) == (
        "Buy", 65000, "65000", "Filled",
    )  # fmt: skip
    allocated = block["AllocatedOrders"]
    assert [(o["AccountKey"], o["FilledAmount"], o["CorrelationKey"]) for o in allocated] == [
        (FIRST, "11667", block_id), (SECOND, "23333", block_id), (THIRD, "30000", block_id),
    ]  # fmt: skip
    assert block["TradedValue"] == str(sum(Decimal(o["TradedValue"]) for o in allocated))
    (listed,) = acme.desk.get("/port/v1/orders", params={"AccountKey": BLOCK}).json()["Data"]
    assert {k: listed[k] for k in ("OrderId", "Amount", "FilledAmount", "Status", "TradedValue")} == {
        k: block[k] for k in ("OrderId", "Amount", "FilledAmount", "Status", "TradedValue")
    }
    for outsider in (acme.alice, acme.bob):  # neither user sees every account the block names
        assert outsider.get(f"/trade/v2/orders/{block_id}").status_code == 404
    assert acme.desk.get("/trade/v2/orders/nothing").json()["error"]["code"] == "NOT_FOUND"


def test_a_one_time_key_is_listed_only_when_asked_for_and_reads_as_used_after_its_block(acme: Api) -> None:
    one_time = create_key(acme, remainder_key(one_time=True))
    active = create_key(acme, remainder_key(one_time=False))

    def listed(**params: str) -> list[tuple[str, str]]:
        data = acme.desk.get("/trade/v1/allocationkeys", params=params).json()["Data"]
        return [(k["AllocationKeyId"], k["Status"]) for k in data]

    assert listed() == [(active, "Active")]
    assert listed(Statuses="OneTime,Active") == [(one_time, "OneTime"), (active, "Active")]
    assert acme.post(acme.desk, "/trade/v2/orders", block_order(one_time, 60000)).status_code == 202
    assert listed(Statuses="ONE_TIME") == []
    assert listed(Statuses="Used") == [(one_time, "Used")]
    again = acme.post(acme.desk, "/trade/v2/orders", block_order(one_time, 60000))
    assert (again.status_code, again.json()["error"]["code"]) == (422, "ALLOCATION_KEY_NOT_USABLE")


def test_a_key_reads_back_in_the_documents_fields_and_a_deleted_one_stays_readable(acme: Api) -> None:
    key_id = create_key(acme, remainder_key(one_time=False))
    shown = acme.desk.get(f"/trade/v1/allocationkeys/{key_id}").json()
    assert shown["AllocationKeyId"] == key_id
    assert (shown["AllocationKeyName"], shown["AllocationUnitType"], shown["MarginHandling"]) == (
        "10-20-30WithRemainder", "Unit", "Reject",
    )  # fmt: skip
    assert shown["ParticipatingAccountsInfo"][1] == {
        "AccountKey": SECOND, "UnitValue": 20000, "AcceptRemainderAmount": True, "Priority": 1,
    }  # fmt: skip
    deleted = acme.desk.delete(f"/trade/v1/allocationkeys/{key_id}")
    assert (deleted.status_code, deleted.json()["Status"]) == (200, "Deleted")
    assert acme.desk.get(f"/trade/v1/allocationkeys/{key_id}").json()["Status"] == "Deleted"
    assert acme.desk.get("/trade/v1/allocationkeys").json()["Data"] == []
    assert acme.desk.delete(f"/trade/v1/allocationkeys/{key_id}").status_code == 409
    refused = acme.post(acme.desk, "/trade/v2/orders", block_order(key_id))
    assert refused.status_code == 422


def test_a_block_order_naming_another_account_or_asset_type_than_its_key_and_instrument_is_400(
    acme: Api,
) -> None:
    key_id = create_key(acme, remainder_key())
    for change in (
        {"AccountKey": FIRST},
        {"AssetType": "FxSpot"},
        {"BuySell": "Hold"},
        {"OrderType": "Limit"},
    ):
        refused = acme.post(acme.desk, "/trade/v2/orders", block_order(key_id) | change)
        assert refused.status_code == 400, change
    assert acme.alice.get("/port/v1/orders", params={"AccountKey": FIRST}).json()["Data"] == []


def test_a_key_that_breaks_the_documents_rules_is_refused_with_the_error_body(acme: Api) -> None:
    percentages = remainder_key() | {"AllocationUnitType": "Percentage"}
    clashing = remainder_key()
    clashing["ParticipatingAccountsInfo"][0]["Priority"] = 1
    for body in (
        percentages,
        clashing,
        remainder_key() | {"MarginHandling": "Maybe"},
        {"AllocationKeyName": "x"},
    ):
        refused = acme.post(acme.desk, "/trade/v1/allocationkeys", body)
        assert refused.status_code == 400, body
        assert set(refused.json()["error"]) == {"code", "message", "details"}
    assert acme.desk.get("/trade/v1/allocationkeys", params={"Statuses": "Maybe"}).status_code == 400
    key_id = create_key(acme, remainder_key())
    for amount in ("-1", "0", "1e40", "ten", "0.5"):
        response = acme.desk.get(
            f"/trade/v1/allocationkeys/{key_id}/distributions", params={"Amount": amount}
        )
        assert response.status_code == 400, amount


def test_another_client_gets_404_for_the_keys_and_accounts_of_acme_exactly_like_missing_ones(
    acme: Api,
) -> None:
    key_id = create_key(acme, remainder_key(one_time=False))
    carol = acme.carol
    for path in (
        f"/trade/v1/allocationkeys/{key_id}",
        f"/trade/v1/allocationkeys/{key_id}/distributions?Amount=1",
    ):
        hidden, missing = carol.get(path), carol.get(path.replace(key_id, "missing"))
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json()["error"]["code"] == missing.json()["error"]["code"] == "NOT_FOUND"
    assert carol.delete(f"/trade/v1/allocationkeys/{key_id}").status_code == 404
    assert acme.post(carol, "/trade/v2/orders", block_order(key_id) | {"AccountKey": None}).status_code == 404
    for route in ("/port/v1/orders", "/port/v1/positions"):
        assert carol.get(route, params={"AccountKey": FIRST}).status_code == 404
    assert acme.post(carol, "/trade/v1/allocationkeys", remainder_key()).status_code == 404
    statuses = {"Statuses": "Active,OneTime,Used,Expired,Deleted"}
    assert carol.get("/trade/v1/allocationkeys", params=statuses).json() == {"Data": [], "Next": None}
    assert acme.desk.get(f"/trade/v1/allocationkeys/{key_id}").json()["Status"] == "Active"


def test_a_user_sees_the_orders_of_their_own_accounts_only(acme: Api) -> None:
    key_id = create_key(acme, remainder_key())
    assert acme.post(acme.desk, "/trade/v2/orders", block_order(key_id)).status_code == 202
    assert acme.bob.get("/port/v1/orders", params={"AccountKey": FIRST}).status_code == 404
    assert len(acme.bob.get("/port/v1/orders", params={"AccountKey": SECOND}).json()["Data"]) == 1


def test_the_allocated_orders_come_in_pages(acme: Api) -> None:
    key_id = create_key(acme, remainder_key(one_time=False))
    for amount in (6000, 6000, 6000):  # below the key's units: the remainder accounts take it all
        assert acme.post(acme.desk, "/trade/v2/orders", block_order(key_id, amount)).status_code == 202
    first = acme.alice.get("/port/v1/orders", params={"AccountKey": FIRST, "limit": 2}).json()
    rest = acme.alice.get("/port/v1/orders", params={"AccountKey": FIRST, "after": first["Next"]}).json()
    assert (len(first["Data"]), len(rest["Data"]), rest["Next"]) == (2, 1, None)


def test_a_clients_key_over_two_users_accounts_is_the_desks_alone(acme: Api) -> None:
    key_id = create_key(acme, remainder_key(one_time=False))
    for user in (acme.alice, acme.bob):
        hidden, missing = (
            user.get(f"/trade/v1/allocationkeys/{key_id}"),
            user.get("/trade/v1/allocationkeys/nope"),
        )
        assert hidden.status_code == missing.status_code == 404
        assert hidden.text.replace(key_id, "nope") == missing.text
        assert user.get("/trade/v1/allocationkeys").json()["Data"] == []
        refused = acme.post(user, "/trade/v2/orders", block_order(key_id))
        assert refused.status_code == 404, refused.text
    cash = acme.bob.get(f"/accounts/{SECOND}").json()
    assert acme.admin.post("/sandbox/market/run").status_code == 200
    assert acme.bob.get(f"/accounts/{SECOND}").json() == cash


def test_a_user_cannot_make_a_key_over_another_users_accounts(acme: Api) -> None:
    # Bob names alice's accounts (and one of his own): 404, exactly as for an account that does not exist.
    refused = acme.post(acme.bob, "/trade/v1/allocationkeys", remainder_key())
    missing = acme.post(acme.bob, "/trade/v1/allocationkeys", remainder_key() | {"OwnerAccountKey": "NOPE"})
    assert refused.status_code == missing.status_code == 404
    assert refused.json()["error"]["code"] == missing.json()["error"]["code"] == "NOT_FOUND"
    assert (
        acme.desk.get("/trade/v1/allocationkeys", params={"Statuses": "Active,OneTime"}).json()["Data"] == []
    )
