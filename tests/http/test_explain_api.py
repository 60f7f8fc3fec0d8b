"""``?explain=true``: a block order's and a portfolio order's answers carry how each share came about, in the route's
casing; without it they are as they always were. The expectations are worked out here from the key and the weights
(largest remainder, ties by priority), not copied from an answer."""

from __future__ import annotations

import uuid
from decimal import Decimal
from fractions import Fraction
from typing import Any

import httpx
import pytest

from tests.http.conftest import Api
from tests.http.test_openapi import SPEC, conforms
from tests.http.test_portfolio_api import body_of, buy, create_model, invested, open_account, refused
from tests.http.test_server_basics import recase_id

#: Three of alice's accounts with equal unit values, each accepting remainders, priorities out of key order.
PRIORITIES = {"P1": 3, "P2": 1, "P3": 2}
UNIT_VALUE = 10
#: Three times the key and one more: a base of 10 each, and a remainder of one unit.
AMOUNT = 31


def equal_key(api: Api) -> str:
    for account_id in ("BLOCK", "ERROR", *PRIORITIES):
        body = {"account_id": account_id, "currency": "EUR", "cash": "1000.00"}
        assert api.post(api.alice, "/accounts", body).status_code == 201
    key = {
        "AllocationKeyName": "equal", "AllocationUnitType": "Unit", "MarginHandling": "Reject",
        "OwnerAccountKey": "BLOCK", "ErrorAccountKey": "ERROR",
        "ParticipatingAccountsInfo": [
            {"AccountKey": account, "UnitValue": UNIT_VALUE, "AcceptRemainderAmount": True, "Priority": priority}
            for account, priority in PRIORITIES.items()
        ],
    }  # fmt: skip
    key_id: str = body_of(api.post(api.alice, "/trade/v1/allocationkeys", key), 201)["AllocationKeyId"]
    return key_id


def place_block(
    client: httpx.Client, key_id: str, explain: str | None, idempotency_key: str | None = None
) -> httpx.Response:
    block = {"AllocationKeyId": key_id, "Uic": "AAA", "BuySell": "Buy", "Amount": AMOUNT}
    return client.post(
        "/trade/v2/orders",
        json=block,
        params={} if explain is None else {"explain": explain},
        headers={"Idempotency-Key": idempotency_key or str(uuid.uuid4())},
    )


def expected_remainder_lines() -> list[dict[str, Any]]:
    """The remainder of one unit over three equal claims: quotas of 1/3, floors of 0, equal remainders; the step
    goes to the lowest priority number and the others queue behind it by priority."""
    remainder = AMOUNT % (UNIT_VALUE * len(PRIORITIES))
    queue = sorted(PRIORITIES, key=PRIORITIES.__getitem__)
    quota = str(Fraction(remainder, len(PRIORITIES)))
    return [
        {"Recipient": account, "Claim": str(UNIT_VALUE), "Quota": quota, "Floor": "0", "Remainder": quota,
         "Share": str(int(queue.index(account) < remainder)), "Reason": "TIE_BY_PRIORITY",
         "WonStep": queue.index(account) < remainder, "Rank": PRIORITIES[account],
         "Place": queue.index(account) + 1, "Lag": None}
        for account in PRIORITIES
    ]  # fmt: skip


def test_a_block_placed_with_explain_true_carries_its_explanation_in_pascal_case(api: Api) -> None:
    placed = place_block(api.alice, equal_key(api), "true")
    answer = body_of(placed, 202)
    conforms(SPEC, "post", "/trade/v2/orders", 202, answer)
    assert list(answer) == ["OrderId", "Explanation"]
    base, remainder = answer["Explanation"]["Stages"]
    assert [(line["Recipient"], line["Share"]) for line in base["Lines"]] == [
        (account, str(UNIT_VALUE)) for account in PRIORITIES
    ]
    assert (remainder["Method"], remainder["Total"], remainder["LeftoverSteps"]) == (
        "LARGEST_REMAINDER",
        "1",
        1,
    )
    assert remainder["Lines"] == expected_remainder_lines()


@pytest.mark.parametrize("explain", [None, "false"])
def test_a_block_placed_without_explain_true_answers_its_order_id_alone_as_before(
    api: Api, explain: str | None
) -> None:
    answer = body_of(place_block(api.alice, equal_key(api), explain), 202)
    assert list(answer) == ["OrderId"]


def test_a_portfolio_order_with_explain_true_carries_its_explanation_in_snake_case(api: Api) -> None:
    account_id = open_account(api, api.alice)
    order = {
        "account_id": account_id,
        "type": "BUY",
        "cash_amount": "100.01",
        "allocation_id": create_model(api, api.alice),
    }
    placed = body_of(api.alice.post("/portfolios/orders", json=order, params={"explain": "true"},
                                    headers={"Idempotency-Key": str(uuid.uuid4())}), 202)  # fmt: skip
    conforms(SPEC, "post", "/portfolios/orders", 202, placed)
    # 10 001 cents over 0.6 / 0.4: quotas of 6 000.6 and 4 000.4 cents; the leftover cent to the larger remainder.
    cents, weights = 10001, {"AAA": Fraction(6, 10), "BBB": Fraction(4, 10)}
    floors = {i: int(cents * w) for i, w in weights.items()}
    winner = max(weights, key=lambda i: cents * weights[i] - floors[i])
    (stage,) = placed["explanation"]["stages"]
    assert (stage["total"], stage["step"], stage["leftover_steps"]) == ("100.01", "0.01", 1)
    assert [(line["recipient"], line["won_step"], line["reason"]) for line in stage["lines"]] == [
        (i, i == winner, "LARGEST_REMAINDER" if i == winner else "SMALLER_REMAINDER") for i in weights
    ]
    assert [line["share"] for line in stage["lines"]] == [
        str(Decimal(floors[i] + (i == winner)).scaleb(-2)) for i in weights
    ]
    shown = body_of(api.alice.get(f"/portfolios/orders/{placed['id']}", params={"explain": "true"}), 200)
    conforms(SPEC, "get", "/portfolios/orders/{portfolio_order_id}", 200, shown)
    assert shown["explanation"] == placed["explanation"]


def test_a_portfolio_order_without_explain_true_has_no_explanation_field(api: Api) -> None:
    account_id = open_account(api, api.alice)
    order = buy(api, api.alice, account_id, "100.00", create_model(api, api.alice))
    assert "explanation" not in order
    path = f"/portfolios/orders/{order['id']}"
    explained = body_of(api.alice.get(path, params={"explain": "true"}), 200)
    for plain in (api.alice.get(path), api.alice.get(path, params={"explain": "false"})):
        assert body_of(plain, 200) == {k: v for k, v in explained.items() if k != "explanation"}
    listed = body_of(api.alice.get("/portfolios/orders"), 200)["data"]
    assert [("explanation" in o) for o in listed] == [False]


def test_a_liquidation_request_with_explain_true_has_a_null_explanation_since_nothing_is_apportioned(
    api: Api,
) -> None:
    account_id, _ = invested(api, api.alice)
    requested = api.alice.post(f"/portfolios/{account_id}/liquidation_request", json={},
                               params={"explain": "true"}, headers={"Idempotency-Key": "liquidate"})  # fmt: skip
    answer = body_of(requested, 202)
    assert (answer["type"], answer["explanation"]) == ("LIQUIDATION", None)


@pytest.mark.parametrize("value", ["yes", "1", "True", "TRUE", "", "true "])
def test_explain_with_any_value_but_true_or_false_is_400_and_does_not_use_up_the_key(
    api: Api, value: str
) -> None:
    key_id = equal_key(api)
    body = refused(place_block(api.alice, key_id, value, "block-1"), 400, "VALIDATION_ERROR")
    assert body["error"]["details"] == {"parameter": "explain", "value": value, "allowed": ["true", "false"]}
    assert list(body_of(place_block(api.alice, key_id, "true", "block-1"), 202)) == ["OrderId", "Explanation"]
    order = buy(api, api.alice, open_account(api, api.alice), "100.00", create_model(api, api.alice))
    refused(
        api.alice.get(f"/portfolios/orders/{order['id']}", params={"explain": value}), 400, "VALIDATION_ERROR"
    )


def test_explain_given_twice_is_400(api: Api) -> None:
    order = buy(api, api.alice, open_account(api, api.alice), "100.00", create_model(api, api.alice))
    twice = api.alice.get(f"/portfolios/orders/{order['id']}?explain=true&explain=true")
    assert refused(twice, 400, "VALIDATION_ERROR")["error"]["details"] == {"parameter": "explain"}


def test_another_tenants_portfolio_order_or_key_with_explain_true_is_404_like_a_missing_one(api: Api) -> None:
    order = buy(api, api.alice, open_account(api, api.alice), "100.00", create_model(api, api.alice))
    explain = {"explain": "true"}
    missing = refused(api.alice.get("/portfolios/orders/PO-404", params=explain), 404, "NOT_FOUND")
    for other in (api.bob, api.carol):
        hidden = refused(other.get(f"/portfolios/orders/{order['id']}", params=explain), 404, "NOT_FOUND")
        assert hidden == recase_id(missing, "PO-404", order["id"])
    key_id = equal_key(api)
    missing_key = refused(place_block(api.carol, "K-404", "true"), 404, "NOT_FOUND")
    hidden_key = refused(place_block(api.carol, key_id, "true"), 404, "NOT_FOUND")
    assert hidden_key == recase_id(missing_key, "K-404", key_id)
    assert hidden_key == refused(place_block(api.carol, key_id, None), 404, "NOT_FOUND")
