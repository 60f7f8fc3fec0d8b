"""Tenant isolation of every route, found in the operation table: a route added later is covered without a new test.

Alice (client acme) makes one object of every kind the API knows. Two intruders then call every route with her
ids — carol (another client, globex) and bob (another user of alice's own client, acme) — in the path, in the
query and in the body, directly (alice's account) and through another record (alice's key, which names her
accounts; an investment funded from her account; a portfolio order on her model). Each call answers exactly as
the same call naming an id that does not exist (403 for the operator's routes), and nothing of alice's changes.
Every list an intruder reads — with a filter naming alice's objects: 404; with its own — shows none of them.

A route whose path parameter or required query parameter is not known here fails with "add an example id for …":
make one such object in ``make_world`` and name its id there (or in ``ROUTE_IDS`` when a name such as ``id``
means different things on different routes). A route whose body names records fails the same way until
``BODY_IDS`` has bodies for it that name alice's records.
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
#: A model portfolio the operator made: every client may use it.
HOUSE_MODEL = "house"
INTRUDERS = ("carol", "bob")


@attrs.frozen
class World:
    """The running server, the id of each of alice's objects by path parameter name, every id of hers, and what
    she sees of her objects before any intruder calls (``ALICES_VIEWS``)."""

    api: Api
    ids: Mapping[str, str]
    alices: frozenset[str]
    before: Mapping[str, Any]


#: What alice reads of her own objects: none of it may change through an intruder's calls.
ALICES_VIEWS = {
    "accounts": "/accounts",
    "portfolio orders": "/portfolios/orders",
    "keys": "/trade/v1/allocationkeys?Statuses=Active,OneTime,Used,Expired,Deleted",
    "investments": "/at/v3/investments",
    "webhooks": "/webhooks",
    "trade account orders": f"/port/v1/orders?AccountKey={ACCOUNT}",
    "block account positions": f"/port/v1/positions?AccountKey={ACCOUNT}",
}


def created(response: httpx.Response) -> Any:
    assert response.status_code in (201, 202), response.text
    return response.json()


def make_world(api: Api) -> World:
    """One object of every kind, made by alice (over HTTP where a route exists, else with her scope)."""
    for account_id in (ACCOUNT, LIQUIDATED, BLOCK, ERROR, FUNDS):
        created(
            api.post(api.alice, "/accounts", {"account_id": account_id, "currency": "EUR", "cash": "5000.00"})
        )
    for intruder in INTRUDERS:
        make_intruders_own_objects(api, intruder)
    api.app.allocations.create(HOUSE_MODEL, [AllocationLine("AAA", Decimal(1))])
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
    investment = follow(api, api.alice, FUNDS)
    for intruder in INTRUDERS:
        follow(api, getattr(api, intruder), own(intruder, "FUNDS"), "own-investment-of-" + intruder)
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
    return World(api, ids, frozenset(alices), {i: api.alice.get(p).json() for i, p in ALICES_VIEWS.items()})


def own(intruder: str, name: str) -> str:
    """The id of one of the intruder's own accounts."""
    return f"{intruder.upper()}-{name}"


def make_intruders_own_objects(api: Api, intruder: str) -> None:
    for name in ("1", "2", "FUNDS"):
        body = {"account_id": own(intruder, name), "currency": "EUR", "cash": "5000.00"}
        created(api.post(getattr(api, intruder), "/accounts", body))


def follow(api: Api, user: httpx.Client, funding_account: str, alias: str = "") -> str:
    """The user's follower profile and an investment in the operator's leader funded from ``funding_account``."""
    follower = {"SuitabilityLevel": "High", "TermsAndConditionsAccepted": True, "LegalAssetTypes": ["Stock"]}
    assert user.patch("/at/v3/tradefollowers/me", json=follower).status_code == 200
    body = {"TradeLeaderId": LEADER, "FundingAccountKey": funding_account, "Amount": "1000.00"}
    investment: str = created(api.post(user, "/at/v3/investments", body))["InvestmentId"]
    if alias:
        OWN_IDS[alias] = investment
    return investment


#: The ids of the intruders' own objects made by ``make_world`` (their investments), by alias.
OWN_IDS: dict[str, str] = {}


#: Path parameters that name reference data every tenant shares: an intruder reads what alice reads.
SHARED = {
    "instrument_id": "instruments and their prices are the operator's, shared by every client",
    "trade_leader_id": "trade leaders are the operator's, shown to every client",
}
#: What the users of one client share besides: bob reads these as alice does (carol does not).
SHARED_WITHIN_CLIENT = {
    "model_id": "model portfolios are the client's reference data, used by all of its users",
}
SHARED_VALUES = frozenset({"AAA", LEADER})
#: Ids for a path parameter whose name means different things on different routes: {(path, name): kind}.
ROUTE_IDS: dict[tuple[str, str], str] = {("/trade/v2/orders/{order_id}", "order_id"): "block_order_id"}
#: Required query parameters: those that filter by one of alice's objects (carol: 404), and plain values.
QUERY_IDS = {"AccountKey": "account_id"}
QUERY_VALUES = {"Amount": "10"}
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
            "to tests/http/test_tenant_isolation.py (QUERY_IDS, QUERY_VALUES and own_query)"
        )
        chosen[param.name] = values[param.name]
    return chosen


def own_query(intruder: str) -> dict[str, str]:
    """The required query parameters naming the intruder's own objects."""
    return {**QUERY_VALUES, "AccountKey": own(intruder, "1")}


def request(
    api: Api,
    intruder: str,
    operation: Operation,
    path: Mapping[str, str],
    query: Mapping[str, str],
    body: Any,
) -> httpx.Response:
    url = operation.path.format(**path)
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    caller: httpx.Client = getattr(api, intruder)
    return caller.request(operation.method, url, params=query, json=body, headers=headers)


def example_body(operation: Operation) -> Any:
    if operation.body is None or operation.access is not Access.TENANT:
        return None
    assert operation.body.__name__ in BODIES, f"add an example body for {operation.body.__name__} in BODIES"
    return BODIES[operation.body.__name__]


WITH_IDS = [o for o in OPERATIONS if names(o)]
LISTS = [o for o in OPERATIONS if o.method == "GET" and not names(o) and o.access is not Access.PUBLIC]


def label(operation: Operation) -> str:
    return f"{operation.method} {operation.path}"


def shared_with(intruder: str) -> Mapping[str, str]:
    return {**SHARED, **(SHARED_WITHIN_CLIENT if intruder == "bob" else {})}


def assert_answered_as_missing(
    hidden: httpx.Response, missing: httpx.Response, replaced: Mapping[str, str]
) -> None:
    """``hidden`` named alice's ids, ``missing`` the same request with ids that do not exist (``replaced``: each of
    alice's ids by its stand-in): both 404, with the same body once the ids are swapped."""
    assert (hidden.status_code, missing.status_code) == (404, 404), hidden.text
    assert_same_answer(hidden, missing, replaced)


def assert_same_answer(answer: httpx.Response, other: httpx.Response, replaced: Mapping[str, str]) -> None:
    """Both answers have the same status and, once each id in ``answer`` is swapped for its stand-in, body."""
    assert answer.status_code == other.status_code, (answer.text, other.text)
    swapped_ids = answer.text
    for alices, stand_in in replaced.items():
        swapped_ids = swapped_ids.replace(alices, stand_in)
    assert json.loads(swapped_ids) == other.json()


@pytest.mark.parametrize("intruder", INTRUDERS)
@pytest.mark.parametrize("operation", WITH_IDS, ids=label)
def test_another_tenants_id_in_the_path_answers_exactly_like_a_missing_one(
    world: World, operation: Operation, intruder: str
) -> None:
    alices = {name: example_id(world, operation, name) for name in names(operation)}
    query_values = {**QUERY_VALUES, **{name: world.ids[kind] for name, kind in QUERY_IDS.items()}}
    query = required_query(operation, query_values)
    body = example_body(operation)
    hidden = request(world.api, intruder, operation, alices, query, body)
    if operation.access is Access.ADMIN:
        assert hidden.status_code == 403, hidden.text
        return
    if all(name in shared_with(intruder) for name in alices):
        theirs = world.api.alice.request(operation.method, operation.path.format(**alices), params=query)
        assert (hidden.status_code, hidden.json()) == (theirs.status_code, theirs.json())
        return
    missing_ids = {name: f"missing-{name}" for name in alices}
    missing = request(world.api, intruder, operation, missing_ids, query, body)
    assert_answered_as_missing(hidden, missing, {alices[name]: missing_ids[name] for name in alices})


@pytest.mark.parametrize("intruder", INTRUDERS)
@pytest.mark.parametrize("operation", LISTS, ids=label)
def test_a_list_shows_an_intruder_none_of_alices_objects(
    world: World, operation: Operation, intruder: str
) -> None:
    client = getattr(world.api, intruder)
    filtered_by_alices = {**QUERY_VALUES, **{name: world.ids[kind] for name, kind in QUERY_IDS.items()}}
    if any(p.required and p.name in QUERY_IDS for p in operation.query):
        hidden = client.get(operation.path, params=required_query(operation, filtered_by_alices))
        assert hidden.status_code == 404, hidden.text
    answer = client.get(operation.path, params=required_query(operation, own_query(intruder)))
    if operation.access is Access.ADMIN:
        assert answer.status_code == 403, answer.text
        return
    assert answer.status_code == 200, answer.text
    shared = {world.ids[kind] for kind in shared_with(intruder) if kind in world.ids}
    shared |= {"alices-model"} if intruder == "bob" else set()
    assert [i for i in world.alices - shared if i in answer.text] == []


# -- ids in bodies --------------------------------------------------------------------------------------------


def body_ids(kind: type) -> list[str]:
    """The fields of a request body (and of the objects in it) that name a record: ``…_id``, ``…_key`` and the
    model an order names (``allocation``)."""
    found: list[str] = []
    for field in attrs.fields(attrs.resolve_types(kind)):
        if re.search(r"(_id|_key)$", field.name) or field.name == "allocation":
            found.append(field.name)
        for argument in getattr(field.type, "__args__", ()):
            inner = getattr(argument, "__args__", (argument,))[0]
            if attrs.has(inner):
                found.extend(f"{field.name}.{name}" for name in body_ids(inner))
    return found


def alices_bodies(world: World, intruder: str) -> dict[str, list[tuple[str, Any]]]:
    """For each request type that names records: bodies the intruder sends, each naming alice's records where an
    intruder would name its own, with what each names of hers (a label)."""
    mine1, mine2 = own(intruder, "1"), own(intruder, "2")
    key = {"AllocationKeyName": "k", "AllocationUnitType": "Percentage", "MarginHandling": "Reject",
           "OwnerAccountKey": mine1, "ErrorAccountKey": mine2}  # fmt: skip

    def participants(*accounts: str) -> list[dict[str, Any]]:
        return [{"AccountKey": a, "UnitValue": 100 // len(accounts)} for a in accounts]

    order = {"type": "BUY", "cash_amount": "10.00"}
    bodies: dict[str, list[tuple[str, Any]]] = {
        "NewPortfolioOrder": [
            ("her account", order | {"account_id": ACCOUNT, "allocation_id": HOUSE_MODEL}),
            (
                "her account and her user",
                order | {"account_id": ACCOUNT, "user_id": "alice", "allocation_id": HOUSE_MODEL},
            ),
            (
                "her account, given weights",
                order | {"account_id": ACCOUNT, "allocation": [{"instrument_id": "AAA", "weight": "1"}]},
            ),
        ],
        "NewAllocationKey": [
            ("her participant", key | {"ParticipatingAccountsInfo": participants(ACCOUNT)}),
            (
                "her participant beside the intruder's",
                key | {"ParticipatingAccountsInfo": participants(own(intruder, "FUNDS"), ACCOUNT)},
            ),
            (
                "her block account",
                key | {"OwnerAccountKey": BLOCK, "ParticipatingAccountsInfo": participants(mine1)},
            ),
            (
                "her error account",
                key | {"ErrorAccountKey": ERROR, "ParticipatingAccountsInfo": participants(mine2)},
            ),
        ],
        "NewBlockOrder": [
            (
                "her key",
                {
                    "AllocationKeyId": world.ids["allocation_key_id"],
                    "Uic": "AAA",
                    "BuySell": "Buy",
                    "Amount": 10,
                },
            ),
            (
                "her key and her block account",
                {
                    "AllocationKeyId": world.ids["allocation_key_id"],
                    "Uic": "AAA",
                    "BuySell": "Sell",
                    "Amount": 10,
                    "AccountKey": BLOCK,
                },
            ),
        ],
        "NewInvestment": [
            (
                "her funding account",
                {"TradeLeaderId": LEADER, "FundingAccountKey": FUNDS, "Amount": "1000.00"},
            ),
        ],
        "InvestmentChange": [
            ("her funding account", {"PendingFunding": "10.00", "FundingAccountKey": FUNDS}),
        ],
        "Requester": [("her user, with the intruder's account", {"user_id": "alice"})],
    }
    if intruder == "carol":  # model portfolios are shared by the users of one client, not across clients
        bodies["NewPortfolioOrder"].append(
            ("her model", order | {"account_id": mine1, "allocation_id": world.ids["model_id"]})
        )
        bodies["NewPortfolioOrder"].append(
            ("her model by name", order | {"account_id": mine1, "allocation_id": "alices-model"})
        )
    return bodies


def own_path_id(intruder: str, name: str) -> str:
    """The intruder's own record for a path parameter of a route whose body is tried with alice's ids."""
    return {
        "investment_id": OWN_IDS.get(f"own-investment-of-{intruder}", ""),
        "account_id": own(intruder, "1"),
    }[name]


def stand_ins(world: World) -> dict[str, str]:
    """The stand-in for each of alice's ids (her user id too) in the request that names missing ones instead."""
    mine = {
        ACCOUNT,
        LIQUIDATED,
        BLOCK,
        ERROR,
        FUNDS,
        "alices-model",
        "alice",
        *world.ids.values(),
    } - SHARED_VALUES
    return {value: f"missing-{number}" for number, value in enumerate(sorted(mine, key=len, reverse=True))}


def swapped(body: Any, replaced: Mapping[str, str]) -> Any:
    text = json.dumps(body)
    for alices, stand_in in replaced.items():
        text = text.replace(f'"{alices}"', f'"{stand_in}"')
    return json.loads(text)


BODY_ROUTES = [o for o in OPERATIONS if o.body is not None and o.access is Access.TENANT and body_ids(o.body)]


@pytest.mark.parametrize("intruder", INTRUDERS)
@pytest.mark.parametrize("operation", BODY_ROUTES, ids=label)
def test_a_body_naming_another_tenants_record_directly_or_through_another_answers_like_a_missing_one(
    world: World, operation: Operation, intruder: str
) -> None:
    assert operation.body is not None
    bodies = alices_bodies(world, intruder)
    kind = operation.body.__name__
    assert (
        kind in bodies or not {name.split(".")[-1] for name in body_ids(operation.body)} - NAMES_NO_RECORD
    ), (
        f"{label(operation)} names records in its body ({', '.join(body_ids(operation.body))}): add bodies "
        f"for {kind} to alices_bodies in tests/http/test_tenant_isolation.py"
    )
    path = {name: own_path_id(intruder, name) for name in names(operation)}
    replaced = stand_ins(world)
    for what, body in bodies.get(kind, []):
        hidden = request(world.api, intruder, operation, path, {}, body)
        missing = request(world.api, intruder, operation, path, {}, swapped(body, replaced))
        assert hidden.status_code == 404, f"{what}: {hidden.text}"
        assert_answered_as_missing(hidden, missing, replaced)


#: Body fields that look like ids but name no record another tenant could own: a new account's own id (ids are
#: unique across the server), a leader and an instrument (the operator's, shared by every client).
NAMES_NO_RECORD = frozenset({"account_id", "trade_leader_id", "instrument_id"})


def test_alices_objects_are_unchanged_by_the_intruders_calls(world: World) -> None:
    api = world.api
    assert api.alice.get(f"/accounts/{ACCOUNT}").json()["account"]["cash"] == {"EUR": "5000.00"}
    assert (
        api.alice.get(f"/trade/v1/allocationkeys/{world.ids['allocation_key_id']}").json()["Status"]
        == "Active"
    )
    assert api.alice.get(f"/webhooks/{world.ids['subscription_id']}").json()["disabled_reason"] is None
    investment = api.alice.get(f"/at/v3/investments/{world.ids['investment_id']}").json()
    assert (investment["StateName"], investment["PendingFunding"]) == ("New", "1000.00")
    assert {view: api.alice.get(path).json() for view, path in ALICES_VIEWS.items()} == world.before


@pytest.mark.parametrize("intruder", INTRUDERS)
def test_no_one_takes_the_error_account_id_of_another_tenants_block_account_before_its_key_opens_it(
    api: Api, intruder: str
) -> None:
    for account_id in ("ALICE-BLOCK", "ALICE-TRADES"):
        created(api.post(api.alice, "/accounts", {"account_id": account_id, "currency": "EUR"}))
    squatter = getattr(api, intruder)
    squatted = api.post(squatter, "/accounts", {"account_id": "ALICE-BLOCK-ERROR", "currency": "EUR"})
    taken = api.post(squatter, "/accounts", {"account_id": "ALICE-TRADES", "currency": "EUR"})
    assert squatted.status_code == 409
    assert_same_answer(squatted, taken, {"ALICE-BLOCK-ERROR": "ALICE-TRADES"})

    key = created(api.post(api.alice, "/trade/v1/allocationkeys", {
        "AllocationKeyName": "alices-key", "AllocationUnitType": "Percentage", "MarginHandling": "Reject",
        "OwnerAccountKey": "ALICE-BLOCK",
        "ParticipatingAccountsInfo": [{"AccountKey": "ALICE-TRADES", "UnitValue": 100}],
    }))["AllocationKeyId"]  # fmt: skip
    assert api.alice.get(f"/trade/v1/allocationkeys/{key}").json()["ErrorAccountKey"] == "ALICE-BLOCK-ERROR"
    assert api.alice.get("/accounts/ALICE-BLOCK-ERROR").status_code == 200
    assert squatter.get("/accounts/ALICE-BLOCK-ERROR").status_code == 404


@pytest.mark.parametrize("intruder", INTRUDERS)
def test_an_account_whose_error_account_id_another_tenant_holds_is_refused_as_taken(
    api: Api, intruder: str
) -> None:
    created(api.post(getattr(api, intruder), "/accounts", {"account_id": "DESK-ERROR", "currency": "EUR"}))
    created(api.post(api.alice, "/accounts", {"account_id": "ALICE-TRADES", "currency": "EUR"}))
    refused = api.post(api.alice, "/accounts", {"account_id": "DESK", "currency": "EUR"})
    taken = api.post(api.alice, "/accounts", {"account_id": "ALICE-TRADES", "currency": "EUR"})
    assert refused.status_code == 409
    assert_same_answer(refused, taken, {"DESK": "ALICE-TRADES"})


@pytest.mark.parametrize("intruder", INTRUDERS)
def test_no_one_takes_an_id_further_down_the_error_account_chain_of_another_tenants_account(
    api: Api, intruder: str
) -> None:
    for account_id in ("ALICE-BLOCK", "ALICE-TRADES"):
        created(api.post(api.alice, "/accounts", {"account_id": account_id, "currency": "EUR"}))
    squatted = api.post(
        getattr(api, intruder), "/accounts", {"account_id": "ALICE-BLOCK-ERROR-ERROR", "currency": "EUR"}
    )
    taken = api.post(getattr(api, intruder), "/accounts", {"account_id": "ALICE-TRADES", "currency": "EUR"})
    assert squatted.status_code == 409
    assert_same_answer(squatted, taken, {"ALICE-BLOCK-ERROR-ERROR": "ALICE-TRADES"})


def test_an_id_down_the_chain_taken_before_the_block_account_existed_does_not_stop_its_key(api: Api) -> None:
    created(api.post(api.carol, "/accounts", {"account_id": "EARLY-ERROR-ERROR", "currency": "EUR"}))
    for account_id in ("EARLY", "ALICE-TRADES"):
        created(api.post(api.alice, "/accounts", {"account_id": account_id, "currency": "EUR"}))
    key = api.post(api.alice, "/trade/v1/allocationkeys", {
        "AllocationKeyName": "alices-key", "AllocationUnitType": "Percentage", "MarginHandling": "Reject",
        "OwnerAccountKey": "EARLY", "ParticipatingAccountsInfo": [{"AccountKey": "ALICE-TRADES", "UnitValue": 100}],
    })  # fmt: skip
    assert key.status_code == 201, key.text
    assert api.alice.get("/accounts/EARLY-ERROR").status_code == 200
