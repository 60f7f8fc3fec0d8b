"""Portfolio orders, liquidations and individual orders over HTTP, as the portfolio-order and account-liquidation
documents describe them: end to end on a real server, the venue stepped by ``POST /sandbox/market/run``, and a
webhook receiver on loopback checking every signature and the order of the events."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import httpx

from adapters.webhooks import new_secret, verify
from core.idempotency import request_key
from core.portfolio import OrderType
from core.tenants import Scope
from tests.http.conftest import Api
from tests.http.test_server_basics import recase_id
from tests.integration.receivers import Receiver, receiver

ACCOUNT = {"account_id": "ACC-1", "currency": "EUR", "cash": "1000.00"}
MODEL = {
    "name": "60/40",
    "lines": [{"instrument_id": "AAA", "weight": "0.6"}, {"instrument_id": "BBB", "weight": "0.4"}],
}
#: How long the webhook worker (a round every second) may take to deliver what a test waits for.
DELIVERY_DEADLINE = 15.0


# -- helpers --------------------------------------------------------------------------------------------------


def body_of(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    body: dict[str, Any] = body_of(response, status)
    assert body["error"]["code"] == code, body
    return body


def open_account(api: Api, client: httpx.Client, account: dict[str, str] = ACCOUNT) -> str:
    account_id: str = body_of(api.post(client, "/accounts", account), 201)["account"]["id"]
    return account_id


def create_model(api: Api, client: httpx.Client) -> str:
    model_id: str = body_of(api.post(client, "/models", MODEL), 201)["id"]
    return model_id


def place(api: Api, client: httpx.Client, body: dict[str, Any], key: str | None = None) -> httpx.Response:
    return api.post(client, "/portfolios/orders", body, key)


def buy(api: Api, client: httpx.Client, account_id: str, amount: str, model: str) -> dict[str, Any]:
    order: dict[str, Any] = body_of(
        place(api, client, {"account_id": account_id, "type": "BUY", "cash_amount": amount,
                            "allocation_id": model}),
        202,
    )  # fmt: skip
    return order


def run_market(api: Api) -> None:
    run = body_of(api.admin.post("/sandbox/market/run"), 200)
    assert run["failures"] == [], run


def invested(api: Api, client: httpx.Client) -> tuple[str, str]:
    """An account of the client's user holding 30 AAA and 10 BBB (a 500.00 buy of the 60/40 model, filled)."""
    account_id = open_account(api, client)
    model_id = create_model(api, client)
    buy(api, client, account_id, "500.00", model_id)
    run_market(api)
    return account_id, model_id


def positions(api: Api, client: httpx.Client, account_id: str) -> dict[str, str]:
    account = body_of(client.get(f"/accounts/{account_id}"), 200)["account"]
    return {p["instrument_id"]: p["quantity"] for p in account["positions"] if p["quantity"] != "0"}


def individual_orders(client: httpx.Client, parent: dict[str, Any]) -> list[dict[str, Any]]:
    return [body_of(client.get(f"/orders/{ref['id']}"), 200) for ref in parent["orders"]]


# -- the documents' flows -------------------------------------------------------------------------------------


def test_a_nominal_buy_of_a_model_portfolio_is_accepted_split_and_filled_by_a_market_run(api: Api) -> None:
    account_id = open_account(api, api.alice)
    model_id = create_model(api, api.alice)
    order = buy(api, api.alice, account_id, "500.00", model_id)
    assert (order["type"], order["cash_amount"], order["currency"]) == ("BUY", "500.00", "EUR")
    assert (order["account_id"], order["allocation_id"], order["user_id"]) == (account_id, model_id, "alice")
    assert order["state"] == "SUBMITTED"
    assert [(o["side"], o["state"]) for o in order["orders"]] == [("BUY", "NEW"), ("BUY", "NEW")]

    run_market(api)

    filled = body_of(api.alice.get(f"/portfolios/orders/{order['id']}"), 200)
    assert filled["state"] == "FILLED"
    assert [o["id"] for o in filled["orders"]] == [o["id"] for o in order["orders"]]
    children = individual_orders(api.alice, filled)
    assert {(o["instrument_id"], o["cash_amount"], o["state"]) for o in children} == {
        ("AAA", "300.00", "FILLED"), ("BBB", "200.00", "FILLED"),
    }  # fmt: skip
    assert {o["client_reference"] for o in children} == {order["id"]}
    assert positions(api, api.alice, account_id) == {"AAA": "30", "BBB": "10"}


def test_a_nominal_sell_is_taken_pro_rata_from_the_holdings_and_filled(api: Api) -> None:
    account_id, _ = invested(api, api.alice)
    sell = body_of(
        place(api, api.alice, {"user_id": "alice", "account_id": account_id, "type": "SELL", "cash_amount": "100.00"}),
        202,
    )  # fmt: skip
    assert (sell["type"], sell["state"], sell["allocation_id"]) == ("SELL", "SUBMITTED", None)
    assert {o["side"] for o in sell["orders"]} == {"SELL"}

    run_market(api)

    filled = body_of(api.alice.get(f"/portfolios/orders/{sell['id']}"), 200)
    assert filled["state"] == "FILLED"
    children = individual_orders(api.alice, filled)
    assert {(o["instrument_id"], o["cash_amount"]) for o in children} == {("AAA", "60.00"), ("BBB", "40.00")}
    assert {o["client_reference"] for o in children} == {sell["id"]}
    assert positions(api, api.alice, account_id) == {"AAA": "24", "BBB": "8"}


def test_a_sell_of_more_than_90_percent_of_the_portfolio_is_refused_and_creates_nothing(api: Api) -> None:
    account_id, _ = invested(api, api.alice)
    before = body_of(api.alice.get("/portfolios/orders", params={"account_id": account_id}), 200)["data"]

    too_much = place(api, api.alice, {"account_id": account_id, "type": "SELL", "cash_amount": "450.01"})

    details = refused(too_much, 422, "NAV_LIMIT_EXCEEDED")["error"]["details"]
    assert (details["nav"], details["max_allowed"]) == ("500.00", "450.00")
    after = body_of(api.alice.get("/portfolios/orders", params={"account_id": account_id}), 200)["data"]
    assert after == before
    assert positions(api, api.alice, account_id) == {"AAA": "30", "BBB": "10"}


def test_at_most_90_percent_of_the_portfolio_may_be_sold_nominally(api: Api) -> None:
    account_id, _ = invested(api, api.alice)
    sell = place(api, api.alice, {"account_id": account_id, "type": "SELL", "cash_amount": "450.00"})
    assert body_of(sell, 202)["state"] == "SUBMITTED"


def test_a_liquidation_request_sells_every_position_and_learns_its_cash_amount_once_filled(api: Api) -> None:
    account_id, _ = invested(api, api.alice)
    requested = api.post(api.alice, f"/portfolios/{account_id}/liquidation_request", {"user_id": "alice"})
    order = body_of(requested, 202)
    # Not known until every sell is filled: "" as the documents write it.
    assert (order["type"], order["state"], order["cash_amount"]) == ("LIQUIDATION", "SUBMITTED", "")
    children = individual_orders(api.alice, order)
    assert {(o["instrument_id"], o["side"], o["quantity"]) for o in children} == {
        ("AAA", "SELL", "30"), ("BBB", "SELL", "10"),
    }  # fmt: skip

    run_market(api)

    settled = body_of(api.alice.get(f"/portfolios/orders/{order['id']}"), 200)
    assert settled["state"] == "FILLED"
    assert (settled["cash_amount"], settled["management_fee"]) == ("500.00", "0.00")
    assert positions(api, api.alice, account_id) == {}


def test_an_account_liquidation_sells_every_position_and_fills_in_its_cash_amount_at_the_end(
    api: Api,
) -> None:
    account_id, _ = invested(api, api.alice)
    liquidation = body_of(
        api.post(api.alice, f"/accounts/{account_id}/liquidations", {"user_id": "alice"}), 202
    )
    assert (liquidation["account_id"], liquidation["state"], liquidation["cash_amount"]) == (
        account_id,
        "NEW",
        "",
    )
    children = individual_orders(api.alice, liquidation)
    assert {(o["instrument_id"], o["quantity"], o["client_reference"]) for o in children} == {
        ("AAA", "30", liquidation["id"]), ("BBB", "10", liquidation["id"]),
    }  # fmt: skip

    run_market(api)

    done = body_of(api.alice.get(f"/accounts/{account_id}/liquidations/{liquidation['id']}"), 200)
    assert done["state"] == "FILLED"
    assert (done["cash_amount"], done["management_fee"]) == ("500.00", "0.00")
    assert positions(api, api.alice, account_id) == {}


def test_a_portfolio_order_can_be_cancelled_before_it_is_processed_and_its_orders_with_it(api: Api) -> None:
    account_id = open_account(api, api.alice)
    order = buy(api, api.alice, account_id, "500.00", create_model(api, api.alice))

    cancelled = body_of(api.alice.delete(f"/portfolios/orders/{order['id']}"), 200)

    assert cancelled["state"] == "CANCELLED"
    assert {o["state"] for o in individual_orders(api.alice, cancelled)} == {"CANCELLED"}
    run_market(api)
    assert body_of(api.alice.get(f"/portfolios/orders/{order['id']}"), 200)["state"] == "CANCELLED"
    assert positions(api, api.alice, account_id) == {}


def test_a_portfolio_order_the_market_has_processed_cannot_be_cancelled(api: Api) -> None:
    account_id = open_account(api, api.alice)
    order = buy(api, api.alice, account_id, "500.00", create_model(api, api.alice))
    run_market(api)

    refused(api.alice.delete(f"/portfolios/orders/{order['id']}"), 409, "ILLEGAL_TRANSITION")

    assert body_of(api.alice.get(f"/portfolios/orders/{order['id']}"), 200)["state"] == "FILLED"


# -- what the body may say ------------------------------------------------------------------------------------


def test_a_buy_may_give_instrument_weights_instead_of_a_model_portfolio(api: Api) -> None:
    account_id = open_account(api, api.alice)
    weights = [{"instrument_id": "AAA", "weight": "0.5"}, {"instrument_id": "BBB", "weight": "0.5"}]
    order = body_of(
        place(api, api.alice, {"account_id": account_id, "type": "BUY", "cash_amount": "100.00", "allocation": weights}),
        202,
    )  # fmt: skip
    assert order["allocation_id"] is None
    children = individual_orders(api.alice, order)
    assert {(o["instrument_id"], o["cash_amount"]) for o in children} == {("AAA", "50.00"), ("BBB", "50.00")}


def test_instrument_weights_must_sum_to_one_and_not_come_with_a_model_portfolio(api: Api) -> None:
    account_id = open_account(api, api.alice)
    model_id = create_model(api, api.alice)
    order = {"account_id": account_id, "type": "BUY", "cash_amount": "100.00"}
    short = [{"instrument_id": "AAA", "weight": "0.5"}, {"instrument_id": "BBB", "weight": "0.4"}]
    refused(place(api, api.alice, order | {"allocation": short}), 400, "VALIDATION_ERROR")
    whole = [{"instrument_id": "AAA", "weight": "1"}]
    refused(
        place(api, api.alice, order | {"allocation": whole, "allocation_id": model_id}),
        400,
        "VALIDATION_ERROR",
    )
    assert body_of(api.alice.get("/portfolios/orders"), 200)["data"] == []


def test_a_user_id_that_is_not_the_accounts_user_answers_like_a_missing_account(api: Api) -> None:
    account_id = open_account(api, api.alice)
    model_id = create_model(api, api.alice)
    order = {"account_id": account_id, "type": "BUY", "cash_amount": "100.00", "allocation_id": model_id}
    missing = refused(place(api, api.alice, order | {"account_id": "ACC-404"}), 404, "NOT_FOUND")
    for client in (api.alice, api.admin):
        wrong = refused(place(api, client, order | {"user_id": "bob"}), 404, "NOT_FOUND")
        assert wrong == recase_id(missing, "ACC-404", account_id)
    refused(
        api.post(api.alice, f"/portfolios/{account_id}/liquidation_request", {"user_id": "bob"}),
        404,
        "NOT_FOUND",
    )
    refused(api.post(api.alice, f"/accounts/{account_id}/liquidations", {"user_id": "bob"}), 404, "NOT_FOUND")
    assert body_of(api.alice.get("/portfolios/orders"), 200)["data"] == []


def test_an_admin_key_places_an_order_for_any_user_naming_the_accounts_user(api: Api) -> None:
    account_id = open_account(api, api.alice)
    model_id = create_model(api, api.alice)
    order = {"user_id": "alice", "account_id": account_id, "type": "BUY", "cash_amount": "100.00",
             "allocation_id": model_id}  # fmt: skip
    placed = body_of(place(api, api.admin, order), 202)
    assert placed["user_id"] == "alice"
    assert [o["id"] for o in body_of(api.alice.get("/portfolios/orders"), 200)["data"]] == [placed["id"]]


def test_a_retried_order_with_the_same_idempotency_key_is_placed_once(api: Api) -> None:
    account_id = open_account(api, api.alice)
    model_id = create_model(api, api.alice)
    order = {"account_id": account_id, "type": "BUY", "cash_amount": "100.00", "allocation_id": model_id}
    first = place(api, api.alice, order, key="retry-1")
    again = place(api, api.alice, order, key="retry-1")
    assert (again.status_code, again.json()) == (first.status_code, first.json()) == (202, first.json())
    assert len(body_of(api.alice.get("/portfolios/orders"), 200)["data"]) == 1


def test_the_idempotency_key_of_the_request_is_the_use_cases_own_scoped_to_the_caller(api: Api) -> None:
    account_id = open_account(api, api.alice)
    model_id = create_model(api, api.alice)
    placed = body_of(
        place(api, api.alice, {"account_id": account_id, "type": "BUY", "cash_amount": "100.00",
                               "allocation_id": model_id}, key="K-1"),
        202,
    )  # fmt: skip
    # A retry that reaches the use case again (say after the first attempt's response was lost) gets the order.
    again = api.app.portfolio_orders.place(
        account_id, OrderType.BUY, Decimal("100.00"), model_id, idempotency_key=request_key(Scope.of_user("acme", "alice"), "K-1"),
        scope=Scope.of_user("acme", "alice"),
    )  # fmt: skip
    assert again.id == placed["id"]
    # Another client's same key is another key.
    carols = open_account(api, api.carol, ACCOUNT | {"account_id": "ACC-C"})
    liquidate = api.post(api.carol, f"/portfolios/{carols}/liquidation_request", {}, key="K-1")
    refused(liquidate, 422, "NOTHING_TO_TRADE")


def test_portfolio_orders_are_listed_a_page_at_a_time_and_by_account(api: Api) -> None:
    model_id = create_model(api, api.alice)
    first = open_account(api, api.alice)
    second = open_account(api, api.alice, ACCOUNT | {"account_id": "ACC-2"})
    placed = [buy(api, api.alice, account, "10.00", model_id)["id"] for account in (first, second, first)]

    page_one = body_of(api.alice.get("/portfolios/orders", params={"limit": 2}), 200)
    page_two = body_of(
        api.alice.get("/portfolios/orders", params={"limit": 2, "after": page_one["next"]}), 200
    )
    assert [o["id"] for o in page_one["data"] + page_two["data"]] == placed
    assert page_two["next"] is None
    of_first = body_of(api.alice.get("/portfolios/orders", params={"account_id": first}), 200)["data"]
    assert [o["id"] for o in of_first] == [placed[0], placed[2]]
    submitted = body_of(api.alice.get("/portfolios/orders", params={"state": "FILLED"}), 200)["data"]
    assert submitted == []


# -- tenants --------------------------------------------------------------------------------------------------


def test_another_users_or_clients_portfolio_orders_liquidations_and_orders_answer_404(api: Api) -> None:
    account_id, model_id = invested(api, api.alice)
    order = buy(api, api.alice, account_id, "100.00", model_id)
    liquidation = body_of(api.post(api.alice, f"/accounts/{account_id}/liquidations", {}), 202)
    child = order["orders"][0]["id"]
    mine = {
        "portfolio order": (f"/portfolios/orders/{order['id']}", "/portfolios/orders/PO-404", order["id"], "PO-404"),
        "order": (f"/orders/{child}", "/orders/O-404", child, "O-404"),
        "liquidation": (f"/accounts/{account_id}/liquidations/{liquidation['id']}",
                        f"/accounts/{account_id}/liquidations/L-404", liquidation["id"], "L-404"),
    }  # fmt: skip
    for other in (api.bob, api.carol):
        for path, missing_path, real_id, missing_id in mine.values():
            missing = refused(api.alice.get(missing_path), 404, "NOT_FOUND")
            hidden = refused(other.get(path), 404, "NOT_FOUND")
            assert hidden == recase_id(missing, missing_id, real_id)
        refused(other.delete(f"/portfolios/orders/{order['id']}"), 404, "NOT_FOUND")
        refused(other.get("/portfolios/orders", params={"account_id": account_id}), 404, "NOT_FOUND")
        sell = {"account_id": account_id, "type": "SELL", "cash_amount": "10.00"}
        refused(place(api, other, sell), 404, "NOT_FOUND")
        refused(api.post(other, f"/portfolios/{account_id}/liquidation_request", {}), 404, "NOT_FOUND")
        refused(api.post(other, f"/accounts/{account_id}/liquidations", {}), 404, "NOT_FOUND")
        assert body_of(other.get("/portfolios/orders"), 200)["data"] == []
    assert body_of(api.alice.get(f"/portfolios/orders/{order['id']}"), 200)["state"] == "SUBMITTED"
    assert body_of(api.admin.get(f"/orders/{child}"), 200)["id"] == child


def test_each_user_lists_only_their_own_portfolio_orders(api: Api) -> None:
    model_id = create_model(api, api.alice)
    alices = buy(api, api.alice, open_account(api, api.alice), "10.00", model_id)
    bobs = buy(api, api.bob, open_account(api, api.bob, ACCOUNT | {"account_id": "ACC-B"}), "10.00", model_id)
    carols_model = body_of(api.post(api.carol, "/models", MODEL | {"name": "globex 60/40"}), 201)["id"]
    carols = buy(
        api, api.carol, open_account(api, api.carol, ACCOUNT | {"account_id": "ACC-C"}), "10.00", carols_model
    )
    for client, own in ((api.alice, alices), (api.bob, bobs), (api.carol, carols)):
        assert [o["id"] for o in body_of(client.get("/portfolios/orders"), 200)["data"]] == [own["id"]]
    everyone = body_of(api.admin.get("/portfolios/orders"), 200)["data"]
    assert [o["id"] for o in everyone] == [alices["id"], bobs["id"], carols["id"]]


def test_a_liquidation_read_under_another_account_of_the_same_user_is_not_found(api: Api) -> None:
    account_id, _ = invested(api, api.alice)
    other_account = open_account(api, api.alice, ACCOUNT | {"account_id": "ACC-2"})
    liquidation = body_of(api.post(api.alice, f"/accounts/{account_id}/liquidations", {}), 202)
    refused(api.alice.get(f"/accounts/{other_account}/liquidations/{liquidation['id']}"), 404, "NOT_FOUND")


# -- webhooks -------------------------------------------------------------------------------------------------


@contextmanager
def subscribed(
    api: Api, client_id: str, topics: tuple[str, ...] = ("ORDER", "PORTFOLIO_ORDER")
) -> Iterator[tuple[Receiver, str]]:
    """A receiver on loopback subscribed, as the client, to the two topics the portfolio-order document names."""
    secret = new_secret()
    with receiver() as endpoint:
        api.app.webhooks.subscribe(
            f"{endpoint.base}/hooks", list(topics), secret,
            allow_private_network=True, scope=Scope.of_client(client_id),
            clients_reach_private=True,  # as on the sandbox server, whose receivers listen on loopback
        )  # fmt: skip
        yield endpoint, secret


def wait_for(endpoint: Receiver, done: Any) -> list[dict[str, Any]]:
    """The events received, once ``done(events)`` holds (within the deadline)."""
    deadline = time.monotonic() + DELIVERY_DEADLINE
    while True:
        events = [json.loads(r.body) for r in list(endpoint.received)]
        if done(events):
            return events
        assert time.monotonic() < deadline, f"webhooks not delivered in time: {[e['type'] for e in events]}"
        time.sleep(0.1)


def documented_trace(portfolio_order_id: str, order_ids: list[str]) -> list[tuple[str, str]]:
    """The portfolio-order document's "Tracing a portfolio order", for an order whose individual orders the venue
    executes one after another, each in full.

    Each webhook is sent *when* something happens, so it follows what it reports: NEW (no orders yet); the
    individual orders created (ORDER.NEW each); SUBMITTED "when all individual orders have been created";
    PROCESSING "when the first individual order ... changes from NEW to PROCESSING" — right after that order's
    ORDER.PROCESSING; then that order FILLED, and PROCESSING then FILLED for each next one ("steps a and b
    repeat"); FILLED "when the portfolio order is executed in its entirety", last. (The document lists the
    individual orders' events as sub-steps of PROCESSING; the account-liquidation document lists ORDER.NEW under
    its PROCESSING step too, so the sub-steps say what arrives in that phase, not that they come after it.)"""
    first, *others = order_ids
    return [
        ("PORTFOLIO_ORDER.NEW", portfolio_order_id),
        *(("ORDER.NEW", o) for o in order_ids),
        ("PORTFOLIO_ORDER.SUBMITTED", portfolio_order_id),
        ("ORDER.PROCESSING", first),
        ("PORTFOLIO_ORDER.PROCESSING", portfolio_order_id),
        ("ORDER.FILLED", first),
        *((f"ORDER.{state}", o) for o in others for state in ("PROCESSING", "FILLED")),
        ("PORTFOLIO_ORDER.FILLED", portfolio_order_id),
    ]


def test_the_webhooks_of_a_portfolio_order_are_signed_and_follow_the_documents_trace(api: Api) -> None:
    account_id = open_account(api, api.alice)
    model_id = create_model(api, api.alice)
    with subscribed(api, "acme") as (endpoint, secret):
        order = buy(api, api.alice, account_id, "500.00", model_id)
        run_market(api)
        expected = documented_trace(order["id"], [o["id"] for o in order["orders"]])
        events = wait_for(endpoint, lambda events: len(events) >= len(expected))
        time.sleep(1.5)  # one more delivery round: nothing beyond the trace arrives
        received = list(endpoint.received)

    assert [(e["type"], e["object"]["id"]) for e in events] == expected
    assert len(received) == len(expected)
    assert all(verify(secret, r.headers, r.body) for r in received)
    new, submitted = events[0]["object"], events[len(order["orders"]) + 1]["object"]
    assert new["orders"] == []
    assert [(o["id"], o["state"]) for o in submitted["orders"]] == [(o["id"], "NEW") for o in order["orders"]]
    children = [e["object"] for e in events if e["type"].startswith("ORDER.")]
    assert {o["client_reference"] for o in children} == {order["id"]}
    assert {e["webhook_id"] for e in events} != {None}


def test_the_webhooks_of_an_account_liquidation_are_signed_and_follow_the_documents_trace(api: Api) -> None:
    account_id, _ = invested(api, api.alice)
    with subscribed(api, "acme", ("ORDER", "ACCOUNT_LIQUIDATION")) as (endpoint, secret):
        liquidation = body_of(api.post(api.alice, f"/accounts/{account_id}/liquidations", {}), 202)
        run_market(api)
        first, second = (o["id"] for o in liquidation["orders"])
        # The account-liquidation document's trace: NEW with no orders; each order created; PROCESSING when the
        # first order is executed; each order PROCESSING then FILLED; FILLED once the account is empty.
        expected = [
            ("ACCOUNT_LIQUIDATION.NEW", liquidation["id"]),
            ("ORDER.NEW", first), ("ORDER.NEW", second),
            ("ORDER.PROCESSING", first), ("ACCOUNT_LIQUIDATION.PROCESSING", liquidation["id"]),
            ("ORDER.FILLED", first), ("ORDER.PROCESSING", second), ("ORDER.FILLED", second),
            ("ACCOUNT_LIQUIDATION.FILLED", liquidation["id"]),
        ]  # fmt: skip
        events = wait_for(endpoint, lambda events: len(events) >= len(expected))
        received = list(endpoint.received)

    assert [(e["type"], e["object"]["id"]) for e in events] == expected
    assert all(verify(secret, r.headers, r.body) for r in received)
    assert (events[0]["object"]["orders"], events[0]["object"]["cash_amount"]) == ([], "")
    assert events[-1]["object"]["cash_amount"] == "500.00"


def test_another_clients_subscription_receives_nothing_of_the_portfolio_order(api: Api) -> None:
    account_id = open_account(api, api.alice)
    model_id = create_model(api, api.alice)
    with subscribed(api, "globex") as (theirs, _), subscribed(api, "acme") as (ours, _):
        order = buy(api, api.alice, account_id, "500.00", model_id)
        run_market(api)
        wait_for(ours, lambda events: any(e["type"] == "PORTFOLIO_ORDER.FILLED" for e in events))
        time.sleep(1.5)  # one more delivery round
        assert theirs.received == []
    assert order["state"] == "SUBMITTED"


def test_the_callers_client_reference_is_kept_with_the_portfolio_order(api: Api) -> None:
    account_id = open_account(api, api.alice)
    model_id = create_model(api, api.alice)
    order = {"account_id": account_id, "type": "BUY", "cash_amount": "100.00", "allocation_id": model_id}
    placed = body_of(place(api, api.alice, order | {"client_reference": "my-ref-1"}), 202)
    assert placed["client_reference"] == "my-ref-1"
    shown = body_of(api.alice.get(f"/portfolios/orders/{placed['id']}"), 200)
    assert shown["client_reference"] == "my-ref-1"
    refused(place(api, api.alice, order | {"client_reference": " padded "}), 400, "VALIDATION_ERROR")


def test_a_client_reference_longer_than_255_characters_is_refused(api: Api) -> None:
    account_id = open_account(api, api.alice)
    model_id = create_model(api, api.alice)
    order = {"account_id": account_id, "type": "BUY", "cash_amount": "100.00", "allocation_id": model_id}
    refused(place(api, api.alice, order | {"client_reference": "r" * 256}), 400, "VALIDATION_ERROR")
    assert (
        body_of(place(api, api.alice, order | {"client_reference": "r" * 255}), 202)["client_reference"]
        == "r" * 255
    )


def test_an_order_not_from_a_block_is_traced_by_its_own_id_in_port_orders_as_its_position_is(
    api: Api,
) -> None:
    account_id, _ = invested(api, api.alice)
    orders = api.alice.get("/port/v1/orders", params={"AccountKey": account_id}).json()["Data"]
    positions = api.alice.get("/port/v1/positions", params={"AccountKey": account_id}).json()["Data"]
    assert len(orders) == 2
    assert [o["CorrelationKey"] for o in orders] == [o["OrderId"] for o in orders]
    assert {p["CorrelationKey"] for p in positions} == {o["OrderId"] for o in orders}
