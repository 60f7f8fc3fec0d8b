"""Bad input to any route is a 400 that names the field as the client wrote it: in the route's casing (``Uic``,
``ParticipatingAccountsInfo``, not allot's ``uic`` or ``participants``), by the name of the route's request
(``lines`` of a model portfolio, not the core's ``allocation``), and a query parameter by its own name.

The routes and their fields come from the operation table: every field of every body, at every depth, is sent a
value of the wrong type; and Hypothesis sends well-typed bodies (blank texts, zero and negative amounts, sums that
do not add up) that reach the core's own rules. Whatever is refused names only the route's own fields.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import re
import types
import uuid
from collections.abc import Iterator, Mapping
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import attrs
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.instruments import AllocationLine
from core.investments import Suitability
from entrypoints.http.app import OPERATIONS
from entrypoints.http.openapi import CHECK
from entrypoints.http.routing import Access, Casing, Operation, pascal, sent_name
from tests.http.conftest import Api, running_api

BODIES = [operation for operation in OPERATIONS if operation.body is not None]
#: Each route with a body, and its body's type.
BODY_TYPES = [(operation, operation.body) for operation in OPERATIONS if operation.body is not None]


def label(operation: Operation) -> str:
    return f"{operation.method} {operation.path}"


def name_of(name: str, operation: Operation) -> str:
    return pascal(name) if operation.casing is Casing.PASCAL else name


def unwrapped(type_: Any) -> Any:
    """A field's type without ``None`` (``X | None`` is ``X``)."""
    if get_origin(type_) in (Union, types.UnionType):
        kept = [arg for arg in get_args(type_) if arg is not type(None)]
        if len(kept) == 1:
            return kept[0]
    return type_


def items_of(type_: Any) -> Any | None:
    """The type of each item of a list field (``tuple[X, ...]``), or None."""
    args = get_args(type_)
    if get_origin(type_) is tuple and len(args) == 2 and args[1] is Ellipsis:
        return args[0]
    return None


def wrongly_typed(kind: type, operation: Operation) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each field of ``kind``, at any depth: its path as the route writes it (``.ParticipatingAccountsInfo[0].
    UnitValue``) and an object holding a value of the wrong type there (and nothing else)."""
    for field in attrs.fields(attrs.resolve_types(kind)):
        name = name_of(field.name, operation)
        type_ = unwrapped(field.type)
        inner = items_of(type_)
        if attrs.has(type_):
            yield f".{name}", {name: "not an object"}
            for path, body in wrongly_typed(type_, operation):
                yield f".{name}{path}", {name: body}
        elif inner is not None:
            yield f".{name}", {name: "not an array"}
            if attrs.has(inner):
                for path, body in wrongly_typed(inner, operation):
                    yield f".{name}[0]{path}", {name: [body]}
        else:
            yield f".{name}", {name: [1]}


def route_names(operation: Operation) -> set[str]:
    """Every name the route's request has: its body's fields at any depth, its query's and its path's parameters."""
    found = {param.name for param in operation.query} | set(re.findall(r"{(\w+)}", operation.path))

    def walk(kind: type) -> None:
        for field in attrs.fields(attrs.resolve_types(kind)):
            found.add(name_of(field.name, operation))
            type_ = unwrapped(field.type)
            inner = items_of(type_) or type_
            if attrs.has(inner) and inner is not kind:
                walk(inner)

    if operation.body is not None:
        walk(operation.body)
    return found


def named_in(error: Mapping[str, Any]) -> list[str]:
    """Each name of a field or parameter an error body gives: in ``field`` (``$.Outer[0].Inner``, or
    ``Outer.Inner``), in ``parameter``, and in the paths of the converter's ``errors``."""
    details = error["details"]
    names: list[str] = []
    field = details.get("field")
    if isinstance(field, str):
        names += re.findall(r"\.([^.\[\]]+)", field) if field.startswith("$") else field.split(".")
    if isinstance(details.get("parameter"), str):
        names.append(details["parameter"])
    for problem in details.get("errors", []):
        _, _, path = problem.rpartition(" @ ")
        names += re.findall(r"\.([^.\[\]]+)", path)
    return names


def key(**changes: Any) -> dict[str, Any]:
    """An allocation key over alice's accounts, with ``changes``."""
    made = {
        "AllocationKeyName": "equal", "AllocationUnitType": "Unit", "MarginHandling": "Reject",
        "OwnerAccountKey": "ACC-1", "ErrorAccountKey": "ACC-2",
        "ParticipatingAccountsInfo": [{"AccountKey": "ACC-3", "UnitValue": 1}],
    }  # fmt: skip
    return made | changes


#: What the module's server holds, by the text that stands for it in a request (an id the server made).
MADE: dict[str, str] = {}
#: The texts that stand for what the server made: an allocation key of alice's, an investment of hers.
KEY, INVESTMENT = "<key>", "<investment>"


def send(api: Api, operation: Operation, body: Any) -> httpx.Response:
    """``body`` to the route, as alice (or the operator, on an operator's route), with ``MADE`` put in."""
    client = api.admin if operation.access is Access.ADMIN else api.alice
    values = {name: INVESTMENT if name == "investment_id" else "ACC-1"
              for name in re.findall(r"{(\w+)}", operation.path)}  # fmt: skip
    text = json.dumps(body)
    for stands, made in MADE.items():
        text = text.replace(json.dumps(stands), json.dumps(made))
    return client.request(operation.method, operation.path.format(**values).replace(INVESTMENT, MADE[INVESTMENT]),
                          content=text.encode(), headers={"Idempotency-Key": str(uuid.uuid4()),
                                                          "Content-Type": "application/json"})  # fmt: skip


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A server where alice has accounts ACC-1 to ACC-3, an allocation key over them, follows the leader ``x`` and
    has an investment with it, so that requests reach the rules of keys, blocks and investments."""
    with running_api(Path(tmp_path_factory.mktemp("bad-input")) / "serve.db") as running:
        for account_id in ("ACC-1", "ACC-2", "ACC-3"):
            body = {"account_id": account_id, "currency": "EUR", "cash": "100000.00"}
            assert running.post(running.alice, "/accounts", body).status_code == 201
        made = running.post(running.alice, "/trade/v1/allocationkeys", key())
        assert made.status_code == 201, made.text
        running.app.leaders.create("x", "X", "EUR", [AllocationLine("AAA", Decimal(1))],
                                   minimum_investment=Decimal(1), required_suitability=Suitability.LOW)  # fmt: skip
        follower = {
            "SuitabilityLevel": "High",
            "TermsAndConditionsAccepted": True,
            "LegalAssetTypes": ["Stock"],
        }
        assert running.alice.patch("/at/v3/tradefollowers/me", json=follower).status_code == 200
        started = running.post(running.alice, "/at/v3/investments",
                               {"TradeLeaderId": "x", "FundingAccountKey": "ACC-3", "Amount": "10.00"})  # fmt: skip
        assert started.status_code == 202, started.text
        MADE.update({KEY: made.json()["AllocationKeyId"], INVESTMENT: started.json()["InvestmentId"]})
        yield running


# -- the converter: a value of the wrong type, in every field of every route -----------------------------------


@pytest.mark.parametrize(
    ("operation", "path", "body"),
    [
        pytest.param(operation, f"${path}", body, id=f"{label(operation)} ${path}")
        for operation, kind in BODY_TYPES
        for path, body in wrongly_typed(kind, operation)
    ],
)
def test_a_field_of_the_wrong_type_is_refused_naming_it_and_every_other_field_as_the_route_writes_them(
    api: Api, operation: Operation, path: str, body: dict[str, Any]
) -> None:
    answer = send(api, operation, body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "VALIDATION_ERROR", answer.text
    assert any(problem.endswith(f" @ {path}") for problem in error["details"]["errors"]), answer.text
    assert set(named_in(error)) <= route_names(operation), answer.text
    for problem in error["details"]["errors"]:
        assert problem in error["message"]


@pytest.mark.parametrize("operation", [o for o in OPERATIONS if o.renamed], ids=label)
def test_what_a_route_renames_is_a_name_of_the_core_that_becomes_one_of_the_routes_own(
    operation: Operation,
) -> None:
    own = route_names(operation)
    fields = {field.name for field in attrs.fields(operation.body)} if operation.body is not None else set()
    for core_name in operation.renamed:
        assert set(sent_name(core_name, operation).split(".")) <= own, core_name
        assert core_name not in fields, f"{core_name} is the request's own name: it is never renamed"


# -- the core: well-typed bodies that break its rules ----------------------------------------------------------

TEXTS = st.sampled_from(
    ["", " ", " padded", "x", "ACC-1", "ACC-2", "ACC-3", "AAA", "BBB", "EUR", "https://example.com", KEY]
)
DECIMALS = st.sampled_from(["0", "-1", "-0.5", "0.001", "0.5", "1", "1.5", "10", "100", "1000000", 0, -3, 7])


def well_typed(type_: Any, metadata: Mapping[Any, Any], operation: Operation) -> st.SearchStrategy[Any]:
    """JSON of the type the converter reads into ``type_``, with values the core may refuse."""
    if get_origin(type_) in (Union, types.UnionType):
        choices = [well_typed(arg, metadata, operation) for arg in get_args(type_) if arg is not type(None)]
        nullable = type(None) in get_args(type_)
        return st.one_of(*choices, *([st.none()] if nullable else []))
    inner = items_of(type_)
    if inner is not None:
        return st.lists(well_typed(inner, metadata, operation), max_size=3)
    if attrs.has(type_):
        return objects(type_, operation)
    if isinstance(type_, type) and issubclass(type_, enum.Enum):
        return st.sampled_from([str(member.value) for member in type_])
    if type_ is bool:
        return st.booleans()
    if type_ is int:
        return st.sampled_from([0, -1, 1, 2, 3, 2**31])
    if type_ is str:
        check = metadata.get(CHECK)
        allowed = check.read.get("enum") if check is not None else None
        return st.sampled_from(allowed) | TEXTS if allowed else TEXTS
    if type_ is dt.date:
        return st.sampled_from(["2020-01-17", "2999-12-31"])
    if type_ is dt.datetime:
        return st.sampled_from(["2020-01-17T09:30:00Z"])
    if type_ is Fraction:
        return st.sampled_from(["1/3", "2"])
    return DECIMALS  # Decimal, Number


@st.composite
def objects(draw: st.DrawFn, kind: type, operation: Operation) -> dict[str, Any]:
    """An object of ``kind``: every field without a default, and some of the others."""
    made: dict[str, Any] = {}
    for field in attrs.fields(attrs.resolve_types(kind)):
        if field.default is attrs.NOTHING or draw(st.booleans()):
            made[name_of(field.name, operation)] = draw(well_typed(field.type, field.metadata, operation))
    return made


@st.composite
def bodies(draw: st.DrawFn) -> tuple[Operation, dict[str, Any]]:
    operation = draw(st.sampled_from(BODIES))
    assert operation.body is not None
    return operation, draw(objects(operation.body, operation))


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(request=bodies())
def test_a_well_typed_body_the_core_refuses_is_refused_naming_only_the_routes_own_fields(
    api: Api, request: tuple[Operation, dict[str, Any]]
) -> None:
    operation, body = request
    answer = send(api, operation, body)
    assert answer.status_code < 500, answer.text
    if answer.status_code == 400:
        assert set(named_in(answer.json()["error"])) <= route_names(operation), (
            label(operation),
            answer.text,
        )


# -- examples ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        (key(AllocationKeyName=" x"), "AllocationKeyName", "AllocationKeyName must not start or end with blanks"),
        (key(ParticipatingAccountsInfo=[]), "ParticipatingAccountsInfo", "at least one participant"),
        (key(OwnerAccountKey="ACC-3"), "ParticipatingAccountsInfo", "cannot also be a participant"),
        (key(ParticipatingAccountsInfo=[{"AccountKey": "ACC-3", "UnitValue": 1, "Priority": 0}]),
         "ParticipatingAccountsInfo.Priority", "ParticipatingAccountsInfo.Priority must be a whole number"),
        (key(ParticipatingAccountsInfo=[{"AccountKey": "ACC-3", "UnitValue": 1, "AcceptRemainderAmount": True}]),
         "ParticipatingAccountsInfo.Priority", "accepts remainders and so needs a priority"),
        (key(ParticipatingAccountsInfo=[{"AccountKey": " ", "UnitValue": 1}]),
         "ParticipatingAccountsInfo.AccountKey", "ParticipatingAccountsInfo.AccountKey must not"),
        (key(ParticipatingAccountsInfo=[{"AccountKey": "ACC-3", "UnitValue": "-1"}]),
         "ParticipatingAccountsInfo.UnitValue", "ParticipatingAccountsInfo.UnitValue must be greater than zero"),
        (key(AllocationUnitType="Percentage"), "ParticipatingAccountsInfo.UnitValue", "sum to exactly 100"),
    ],
)  # fmt: skip
def test_an_allocation_key_the_core_refuses_names_the_field_as_the_block_trading_document_does(
    api: Api, body: dict[str, Any], field: str, says: str
) -> None:
    answer = api.post(api.desk, "/trade/v1/allocationkeys", body)
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "VALIDATION_ERROR"), answer.text
    assert answer.json()["error"]["details"]["field"] == field
    assert says in answer.json()["error"]["message"]


def test_a_block_order_without_its_instrument_names_uic_as_the_client_writes_it(api: Api) -> None:
    answer = api.post(api.alice, "/trade/v2/orders", {"AllocationKeyId": "k", "BuySell": "Buy", "Amount": 1})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["details"] == {"errors": ["required field missing @ $.Uic"]}
    assert answer.json()["error"]["message"] == "the request is invalid: required field missing @ $.Uic"


def test_an_unknown_field_of_a_pascal_case_route_is_named_as_sent(api: Api) -> None:
    body = {"TradeLeaderId": "x", "FundingAccountKey": "ACC-1", "Amount": "1", "ShieldAmount": "1"}
    answer = api.post(api.alice, "/at/v3/investments", body)
    assert answer.json()["error"]["details"] == {"errors": ["extra fields found (ShieldAmount) @ $"]}


def test_a_model_portfolios_weights_are_named_lines_as_its_request_names_them(api: Api) -> None:
    body = {"name": "short", "lines": [{"instrument_id": "AAA", "weight": "0.9"}]}
    answer = api.post(api.alice, "/models", body)
    assert (answer.status_code, answer.json()["error"]["details"]["field"]) == (400, "lines"), answer.text


def test_a_whole_number_too_long_to_read_is_refused_naming_its_field_and_not_pythons_limit(api: Api) -> None:
    for route, text in (
        ("/accounts", '{"currency": "EUR", "cash": ' + "9" * 5000 + "}"),
        (
            "/trade/v2/orders",
            '{"AllocationKeyId": "k", "Uic": -' + "1" * 5000 + ', "BuySell": "Buy", "Amount": 1}',
        ),
    ):
        answer = api.alice.post(route, content=text.encode(), headers={"Idempotency-Key": str(uuid.uuid4())})
        assert (answer.status_code, answer.json()["error"]["code"]) == (400, "INVALID_JSON"), answer.text
        error = answer.json()["error"]
        assert error["details"] == {"field": "$.cash" if route == "/accounts" else "$.Uic", "digits": 5000}
        assert "of 5000 digits, a number allot cannot read" in error["message"]
        assert "sys" not in error["message"]
        assert "4300" not in error["message"]


def test_a_value_of_the_wrong_type_is_shown_as_the_client_wrote_it_and_a_decimal_may_be_a_number(
    api: Api,
) -> None:
    participant = {"AccountKey": "ACC-1", "UnitValue": True, "Priority": Decimal("1.5")}
    body = {"AllocationKeyName": "k", "AllocationUnitType": "Percentage", "OwnerAccountKey": "ACC-1",
            "MarginHandling": "Reject", "ParticipatingAccountsInfo": [participant]}  # fmt: skip
    text = json.dumps(body, default=float)
    answer = api.alice.post("/trade/v1/allocationkeys", content=text.encode(),
                            headers={"Idempotency-Key": str(uuid.uuid4())})  # fmt: skip
    assert answer.json()["error"]["details"]["errors"] == [
        'expected a decimal number (such as 10.5 or "10.5"), got true @ $.ParticipatingAccountsInfo[0].UnitValue',
        "expected a whole number, got 1.5 @ $.ParticipatingAccountsInfo[0].Priority",
    ]


def test_a_body_that_is_not_utf8_is_refused_saying_where_its_first_bad_byte_is(api: Api) -> None:
    headers = {"Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/json"}
    sent = b'{"account_id": "x\xff\xfe", "currency": "EUR"}'
    before = api.alice.get("/accounts").json()["data"]
    answer = api.alice.post("/accounts", content=sent, headers=headers)
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "VALIDATION_ERROR")
    assert answer.json()["error"]["details"] == {"field": "body", "position": sent.index(b"\xff")}
    assert "byte 17 (0xff)" in answer.json()["error"]["message"]
    assert api.alice.get("/accounts").json()["data"] == before
