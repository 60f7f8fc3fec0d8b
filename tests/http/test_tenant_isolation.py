"""Tenant isolation of every route, found in the operation table: a route added later is covered without a new test.

Alice (client acme) makes one object of every kind the API knows. Carol (client globex) then calls every route
that takes an id in its path with alice's ids: each answers 404 exactly as it does for an id that does not exist
(403 for the operator's routes), and changes nothing. Every list carol reads — with a filter naming alice's
objects: 404; with her own — shows none of alice's objects.

A route whose path parameter or required query parameter is not known here fails with "add an example id for …":
make one such object in ``make_world`` and name its id there (or in ``ROUTE_IDS`` when a name such as ``id``
means different things on different routes).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from core.instruments import AllocationLine
from core.investments import Suitability
from core.portfolio import OrderType
from core.tenants import Scope
from entrypoints.http.app import OPERATIONS
from entrypoints.http.routing import Access, Operation
from tests.http.conftest import Api, running_api

ALICE = Scope.of_user("acme", "alice")
#: Alice's accounts: one she trades and liquidates, and the block account, error account and participant of her
#: client's allocation key (carol has one of her own).
ACCOUNT, LIQUIDATED, BLOCK, ERROR = "ALICE-TRADES", "ALICE-LIQUIDATES", "ALICE-BLOCK", "ALICE-ERROR"
#: The account alice funds her investment from, and the operator's trade leader she follows.
FUNDS, LEADER = "ALICE-FUNDS", "growth"
CAROLS_ACCOUNT = "CAROL-1"


@attrs.frozen
class World:
    """The running server, the id of each of alice's objects by path parameter name, and every id of hers."""

    api: Api
    ids: Mapping[str, str]
    alices: frozenset[str]


def created(response: httpx.Response) -> Any:
    assert response.status_code in (201, 202), response.text
    return response.json()


def make_world(api: Api) -> World:
    """One object of every kind, made by alice (over HTTP where a route exists, else with her scope)."""
    for account_id in (ACCOUNT, LIQUIDATED, BLOCK, ERROR, FUNDS):
        created(
            api.post(api.alice, "/accounts", {"account_id": account_id, "currency": "EUR", "cash": "5000.00"})
        )
    created(
        api.post(api.carol, "/accounts", {"account_id": CAROLS_ACCOUNT, "currency": "EUR", "cash": "10.00"})
    )
    model = created(api.post(api.alice, "/models", {"name": "alices-model",
                                                    "lines": [{"instrument_id": "AAA", "weight": "1"}]}))  # fmt: skip
    bought = api.app.portfolio_orders.place(
        LIQUIDATED, OrderType.BUY, Decimal("1000.00"), model["id"], scope=ALICE
    )
    api.app.market.run()
    liquidation = api.app.liquidations.create(LIQUIDATED, scope=ALICE)
    portfolio_order = api.app.portfolio_orders.place(
        ACCOUNT, OrderType.BUY, Decimal("100.00"), model["id"], scope=ALICE
    )
    key = created(api.post(api.alice, "/trade/v1/allocationkeys", {
        "AllocationKeyName": "alices-key", "AllocationUnitType": "Percentage", "MarginHandling": "Reject",
        "OwnerAccountKey": BLOCK, "ErrorAccountKey": ERROR,
        "ParticipatingAccountsInfo": [{"AccountKey": ACCOUNT, "UnitValue": 100}],
    }))["AllocationKeyId"]  # fmt: skip
    block = created(api.post(api.alice, "/trade/v2/orders", {"AllocationKeyId": key, "Uic": "AAA",
                                                             "BuySell": "Buy", "Amount": 10}))["OrderId"]  # fmt: skip
    subscription = created(api.post(api.alice, "/webhooks", {"url": "http://127.0.0.1:9/alice", "topics": ["ORDER"],
                                                             "allow_private_network": True}))["id"]  # fmt: skip
    order = api.app.queries.orders(parent_order_id=portfolio_order.id, scope=ALICE)[0].id
    api.app.leaders.create(LEADER, "Growth", "EUR", [AllocationLine("AAA", Decimal(1))],
                           minimum_investment=Decimal("500.00"), required_suitability=Suitability.LOW)  # fmt: skip
    follower = {"SuitabilityLevel": "High", "TermsAndConditionsAccepted": True, "LegalAssetTypes": ["Stock"]}
    assert api.alice.patch("/at/v3/tradefollowers/me", json=follower).status_code == 200
    investment = created(api.post(api.alice, "/at/v3/investments", {
        "TradeLeaderId": LEADER, "FundingAccountKey": FUNDS, "Amount": "1000.00"}))["InvestmentId"]  # fmt: skip
    api_key = next(k.id for k in api.app.api_keys.all() if k.user_id == "alice")
    ids = {
        "account_id": ACCOUNT,
        "model_id": model["id"],
        "portfolio_order_id": portfolio_order.id,
        "order_id": order,
        "liquidation_id": liquidation.id,
        "allocation_key_id": key,
        "block_id": block,
        "block_order_id": block,
        "subscription_id": subscription,
        "key_id": api_key,
        "instrument_id": "AAA",
        "investment_id": investment,
        "trade_leader_id": LEADER,
    }
    alices = {
        *ids.values(),
        bought.id,
        LIQUIDATED,
        BLOCK,
        ERROR,
        FUNDS,
        "alices-model",
        "alices-key",
    } - SHARED_VALUES
    return World(api, ids, frozenset(alices))


#: Path parameters that name reference data every tenant shares: carol reads what alice reads.
SHARED = {
    "instrument_id": "instruments and their prices are the operator's, shared by every client",
    "trade_leader_id": "trade leaders are the operator's, shown to every client",
}
SHARED_VALUES = frozenset({"AAA", LEADER})
#: Ids for a path parameter whose name means different things on different routes: {(path, name): kind}.
ROUTE_IDS: dict[tuple[str, str], str] = {}
#: Required query parameters: those that filter by one of alice's objects (carol: 404), and plain values.
QUERY_IDS = {"AccountKey": "account_id"}
QUERY_VALUES = {"Amount": "10"}
CAROLS_QUERY = {"AccountKey": CAROLS_ACCOUNT}
#: A valid body for each request type a route with an id takes, in the route's casing (so that the answer is about
#: the id, not the body).
BODIES: dict[str, Any] = {
    "Amount": {"amount": "1.00"},
    "Price": {"price": "1.00"},
    "Requester": {},
    "InvestmentChange": {},
    "Withdrawal": {"Amount": "1.00"},
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with running_api(Path(tmp_path_factory.mktemp("isolation")) / "serve.db") as api:
        yield make_world(api)


def names(operation: Operation) -> list[str]:
    return re.findall(r"{(\w+)}", operation.path)


def example_id(world: World, operation: Operation, name: str) -> str:
    kind = ROUTE_IDS.get((operation.path, name), name)
    assert kind in world.ids, (
        f"{operation.method} {operation.path}: add an example id for {name} to tests/http/test_tenant_isolation.py "
        "(make_world's ids by name, or ROUTE_IDS for this route), so that its tenant isolation is tested"
    )
    return world.ids[kind]


def required_query(operation: Operation, values: Mapping[str, str]) -> dict[str, str]:
    chosen = {}
    for param in (p for p in operation.query if p.required):
        assert param.name in values, (
            f"{operation.method} {operation.path}: add an example id for the query parameter {param.name} "
            "to tests/http/test_tenant_isolation.py (QUERY_IDS, QUERY_VALUES and CAROLS_QUERY)"
        )
        chosen[param.name] = values[param.name]
    return chosen


def call(api: Api, operation: Operation, path: Mapping[str, str], query: Mapping[str, str]) -> httpx.Response:
    body = None
    if operation.body is not None and operation.access is Access.TENANT:
        assert operation.body.__name__ in BODIES, (
            f"add an example body for {operation.body.__name__} in BODIES"
        )
        body = BODIES[operation.body.__name__]
    url = operation.path.format(**path)
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    return api.carol.request(operation.method, url, params=query, json=body, headers=headers)


WITH_IDS = [o for o in OPERATIONS if names(o)]
LISTS = [o for o in OPERATIONS if o.method == "GET" and not names(o) and o.access is not Access.PUBLIC]


def label(operation: Operation) -> str:
    return f"{operation.method} {operation.path}"


@pytest.mark.parametrize("operation", WITH_IDS, ids=label)
def test_another_clients_id_answers_exactly_like_a_missing_one(world: World, operation: Operation) -> None:
    alices = {name: example_id(world, operation, name) for name in names(operation)}
    query_values = {**QUERY_VALUES, **{name: world.ids[kind] for name, kind in QUERY_IDS.items()}}
    query = required_query(operation, query_values)
    hidden = call(world.api, operation, alices, query)
    if operation.access is Access.ADMIN:
        assert hidden.status_code == 403, hidden.text
        return
    if all(name in SHARED for name in alices):
        theirs = world.api.alice.request(operation.method, operation.path.format(**alices), params=query)
        assert (hidden.status_code, hidden.json()) == (theirs.status_code, theirs.json())
        return
    missing_ids = {name: f"missing-{name}" for name in alices}
    missing = call(world.api, operation, missing_ids, query)
    assert (hidden.status_code, missing.status_code) == (404, 404), hidden.text
    as_if_missing = json.dumps(hidden.json())
    for name, value in alices.items():
        as_if_missing = as_if_missing.replace(value, missing_ids[name])
    assert json.loads(as_if_missing) == missing.json()


@pytest.mark.parametrize("operation", LISTS, ids=label)
def test_a_list_shows_another_client_none_of_alices_objects(world: World, operation: Operation) -> None:
    filtered_by_alices = {name: world.ids[kind] for name, kind in QUERY_IDS.items()}
    if any(p.required and p.name in QUERY_IDS for p in operation.query):
        hidden = world.api.carol.get(operation.path, params=required_query(operation, filtered_by_alices))
        assert hidden.status_code == 404, hidden.text
    answer = world.api.carol.get(operation.path, params=required_query(operation, CAROLS_QUERY))
    if operation.access is Access.ADMIN:
        assert answer.status_code == 403, answer.text
        return
    assert answer.status_code == 200, answer.text
    shown = answer.text
    assert [i for i in world.alices if i in shown] == []


def test_alices_objects_are_unchanged_by_carols_calls(world: World) -> None:
    api = world.api
    assert api.alice.get(f"/accounts/{ACCOUNT}").json()["account"]["cash"] == {"EUR": "5000.00"}
    assert (
        api.alice.get(f"/trade/v1/allocationkeys/{world.ids['allocation_key_id']}").json()["Status"]
        == "Active"
    )
    assert api.alice.get(f"/webhooks/{world.ids['subscription_id']}").json()["disabled_reason"] is None
    investment = api.alice.get(f"/at/v3/investments/{world.ids['investment_id']}").json()
    assert (investment["StateName"], investment["PendingFunding"]) == ("New", "1000.00")
