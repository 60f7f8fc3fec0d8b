"""The OpenAPI document: valid OpenAPI 3.1, describing exactly the routes served, in each route's casing, and
true of what the server answers — checked by schemathesis against a real server with an admin and a user key."""

from __future__ import annotations

import datetime as dt
import enum
import html
import json
import re
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import jsonschema_rs
import pytest
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import positive_data_acceptance
from schemathesis.specs.openapi.definitions import OPENAPI_31
from starlette.routing import Route

from adapters.serialization import spelled
from core.errors import ValidationError
from core.lifecycle import OrderState
from core.numbers import check_non_negative, check_positive, parse_decimal
from core.records import TOPICS
from core.tenants import Scope
from core.validators import check_id, check_text
from core.webhooks import parse_url
from entrypoints.bootstrap import sqlite_application
from entrypoints.http.app import OPERATIONS, create_app
from entrypoints.http.openapi import (
    DECIMAL_NON_NEGATIVE,
    DECIMAL_POSITIVE,
    DECIMAL_READ,
    DECIMAL_SHARE,
    document,
    http_url_pattern,
)
from entrypoints.http.routing import EXPLAIN, NO_NUL, Access, Call, Casing, Operation, Reply
from entrypoints.http.sandbox import OPERATIONS as SANDBOX
from entrypoints.http.sandbox import sandbox_routes
from tests.http.conftest import Api

SPEC = document((*OPERATIONS, *SANDBOX))


def schemas_in(node: Any) -> Iterator[Mapping[str, Any]]:
    """Every JSON schema in the document: components, bodies, responses and parameters."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "schema" or (key == "schemas" and isinstance(value, Mapping) and "Error" in value):
                yield from [value] if key == "schema" else value.values()
            else:
                yield from schemas_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from schemas_in(item)


def refs_in(node: Any) -> Iterator[str]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "$ref":
                yield value
            yield from refs_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs_in(item)


def test_the_document_is_valid_openapi_3_1_with_valid_json_schemas_and_no_dangling_reference() -> None:
    jsonschema_rs.Draft202012Validator(OPENAPI_31).validate(SPEC)  # the meta-schema schemathesis bundles
    for schema in schemas_in(SPEC):
        jsonschema_rs.meta.validate(dict(schema))
    for ref in refs_in(SPEC):
        node: Any = SPEC
        for part in ref.removeprefix("#/").split("/"):
            assert part in node, f"{ref} points nowhere"
            node = node[part]
    json.dumps(SPEC)  # plain JSON data all the way down


def served(routes: list[Any]) -> set[tuple[str, str]]:
    return {
        (route.path, method.lower())
        for route in routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }


def test_every_route_the_app_serves_is_described_and_every_described_route_is_served(tmp_path: Path) -> None:
    with sqlite_application(tmp_path / "a.db") as app:
        starlette = create_app(app, extra=sandbox_routes(app))
    described = {(path, method) for path, methods in SPEC["paths"].items() for method in methods}
    assert served(starlette.routes) == described


def test_the_served_document_describes_the_sandbox_routes_when_they_are_served(api: Api) -> None:
    answered = api.anonymous.get("/openapi.json")
    assert answered.status_code == 200
    assert answered.json() == SPEC


def test_every_keyed_route_names_the_bearer_scheme_and_the_health_check_needs_none() -> None:
    assert SPEC["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": SPEC["components"]["securitySchemes"]["bearer"]["description"]
    }  # fmt: skip
    for operation in (*OPERATIONS, *SANDBOX):
        described = SPEC["paths"][operation.path][operation.method.lower()]
        needs_key = operation.access is not Access.PUBLIC
        assert ("security" in described) == needs_key, operation.path
        assert ("401" in described["responses"]) == needs_key
        assert ("403" in described["responses"]) == (
            operation.access is Access.ADMIN or 403 in operation.errors
        )
    assert "security" not in SPEC["paths"]["/healthz"]["get"]


def test_a_route_that_creates_work_requires_an_idempotency_key_header_and_others_do_not() -> None:
    for operation in (*OPERATIONS, *SANDBOX):
        described = SPEC["paths"][operation.path][operation.method.lower()]
        headers = [p for p in described.get("parameters", []) if p["in"] == "header"]
        if operation.creates_work:
            assert [(p["name"], p["required"]) for p in headers] == [("Idempotency-Key", True)]
        else:
            assert headers == []


def test_a_request_body_refuses_unknown_fields_and_requires_the_fields_without_a_default() -> None:
    new_account = SPEC["components"]["schemas"]["NewAccountInput"]
    assert new_account["additionalProperties"] is False
    assert new_account["required"] == ["currency"]
    assert set(new_account["properties"]) == {"currency", "account_id", "cash"}
    assert new_account["properties"]["account_id"] == {
        "anyOf": [{"$ref": "#/components/schemas/Id"}, {"type": "null"}]
    }
    assert new_account["properties"]["cash"] == {"$ref": "#/components/schemas/NonNegativeDecimalInput"}
    body = SPEC["paths"]["/accounts"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/NewAccountInput"}
    assert set(SPEC["paths"]["/accounts"]["post"]["responses"]) == {
        "201",
        "400",
        "401",
        "409",
        "413",
        "422",
        "429",
        "503",
    }


def test_a_response_schema_requires_every_field_since_the_converter_writes_them_all() -> None:
    account = SPEC["components"]["schemas"]["Account"]
    assert account["required"] == list(account["properties"])
    assert account["properties"]["cash"] == {
        "type": "object", "additionalProperties": {"$ref": "#/components/schemas/Decimal"}
    }  # fmt: skip
    assert account["properties"]["status"] == {"type": "string", "enum": ["ACTIVE", "CLOSED"]}
    assert account["properties"]["positions"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Position"},
    }
    assert account["properties"]["created_at"] == {
        "anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]
    }  # fmt: skip


def test_a_paged_list_answers_data_and_next_and_every_error_is_the_one_error_body() -> None:
    listed = SPEC["paths"]["/accounts"]["get"]["responses"]
    page = listed["200"]["content"]["application/json"]["schema"]
    assert page["required"] == ["data", "next"]
    assert page["properties"]["data"]["items"] == {"$ref": "#/components/schemas/Account"}
    assert [p["name"] for p in SPEC["paths"]["/accounts"]["get"]["parameters"]] == ["limit", "after"]
    for status in ("400", "401", "409", "422", "503"):
        response = SPEC["components"]["responses"][listed[status]["$ref"].rsplit("/", 1)[1]]
        assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_explain_is_described_where_it_is_read_and_an_answers_explanation_is_not_required() -> None:
    explained = {(o.method.lower(), o.path) for o in OPERATIONS if EXPLAIN in o.query}
    assert explained == {
        ("post", "/trade/v2/orders"),
        ("post", "/portfolios/orders"),
        ("get", "/portfolios/orders/{portfolio_order_id}"),
        ("post", "/portfolios/{account_id}/liquidation_request"),
    }
    for method, path in explained:
        (param,) = [p for p in SPEC["paths"][path][method]["parameters"] if p["name"] == "explain"]
        assert (param["in"], param["required"], param["schema"]["enum"]) == (
            "query",
            False,
            ["true", "false"],
        )
    order = SPEC["components"]["schemas"]["PortfolioOrder"]
    assert order["properties"]["explanation"] == {
        "anyOf": [{"$ref": "#/components/schemas/Explanation"}, {"type": "null"}]
    }
    assert order["required"] == [name for name in order["properties"] if name != "explanation"]
    placed = SPEC["components"]["schemas"]["OrderPlacedPascal"]
    assert (list(placed["properties"]), placed["required"]) == (["OrderId", "Explanation"], ["OrderId"])
    assert list(SPEC["components"]["schemas"]["LinePascal"]["properties"])[:3] == [
        "Recipient",
        "Claim",
        "Quota",
    ]


# -- a route of another module, in PascalCase, described from the table alone ----------------------------------


class Status(enum.Enum):
    ACTIVE = "ACTIVE"
    EXPIRED = "EXPIRED"


@attrs.frozen
class Participant:
    account_key: str
    weight: Decimal


@attrs.frozen(kw_only=True)
class NewKey:
    """An allocation key."""

    key_name: str
    participants: tuple[Participant, ...]
    status: Status = Status.ACTIVE
    expires: dt.date | None = None
    limits: Mapping[str, Decimal] = attrs.field(factory=dict)


def nothing(call: Call) -> Reply:
    return Reply(201, {})


PASCAL = (
    Operation("POST", "/trade/v1/allocationkeys", nothing, "Create a key", "block trading", body=NewKey,
              response={"type": "object", "properties": {"AllocationKeyId": {"type": "string"}}}, status=201,
              casing=Casing.PASCAL, creates_work=True),
    Operation("GET", "/trade/v1/allocationkeys/{key_id}/participants", nothing, "Its participants",
              "block trading", response=Participant, casing=Casing.PASCAL, paged=True),
)  # fmt: skip


def test_a_pascal_case_route_is_described_in_pascal_case_from_its_table_alone() -> None:
    spec = document(PASCAL)
    schemas = spec["components"]["schemas"]
    key = schemas["NewKeyPascalInput"]
    assert list(key["properties"]) == ["KeyName", "Participants", "Status", "Expires", "Limits"]
    assert key["required"] == ["KeyName", "Participants"]
    assert key["description"] == "An allocation key."
    assert key["properties"]["Participants"]["items"] == {
        "$ref": "#/components/schemas/ParticipantPascalInput"
    }
    assert key["properties"]["Expires"] == {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]}
    assert list(schemas["ParticipantPascal"]["properties"]) == ["AccountKey", "Weight"]
    page = spec["paths"]["/trade/v1/allocationkeys/{key_id}/participants"]["get"]
    assert page["responses"]["200"]["content"]["application/json"]["schema"]["required"] == ["Data", "Next"]
    assert page["parameters"][0] == {"name": "key_id", "in": "path", "required": True,
                                     "schema": {"type": "string", "minLength": 1, "pattern": NO_NUL}}  # fmt: skip
    assert "404" in page["responses"]
    jsonschema_rs.Draft202012Validator(OPENAPI_31).validate(spec)


def test_a_type_the_document_cannot_describe_is_named_rather_than_guessed() -> None:
    @attrs.frozen
    class Odd:
        handle: complex

    odd = Operation("POST", "/odd", nothing, "Odd", "odd", body=Odd)
    with pytest.raises(TypeError, match="complex"):
        document([odd])


def test_two_body_classes_of_one_name_get_two_schemas() -> None:
    @attrs.frozen
    class Participant:  # another module's class of the same name
        name: str

    twins = (*PASCAL, Operation("POST", "/twins", nothing, "Twins", "twins", body=Participant))
    schemas = document(twins)["components"]["schemas"]
    assert list(schemas["ParticipantPascalInput"]["properties"]) == ["AccountKey", "Weight"]
    others = [name for name in schemas if name.endswith("ParticipantInput")]
    assert len(others) == 1
    assert list(schemas[others[0]]["properties"]) == ["name"]
    assert schemas[others[0]]["title"] == others[0]


# -- decimals: the pattern is parse_decimal's syntax, exactly ----------------------------------------------------

DECIMAL_TEXT = jsonschema_rs.Draft202012Validator({"type": "string", "pattern": DECIMAL_READ})


def parses(text: str) -> bool:
    try:
        parse_decimal(text, "value")
    except ValidationError:
        return False
    return True


@given(
    st.from_regex(r"-?0{0,3}[0-9]{0,21}(\.[0-9]{0,15})?", fullmatch=True)
    | st.text(alphabet="0123456789.-+eE ٣\n", max_size=24)
)
def test_the_decimal_pattern_accepts_exactly_the_strings_parse_decimal_accepts(text: str) -> None:
    assert DECIMAL_TEXT.is_valid(text) == parses(text), text


@pytest.mark.parametrize(
    ("text", "accepted"),
    [("400.00", True), ("-0", True), ("0000123456789012345678.5", True), ("1" * 18, True), ("1" * 19, False),
     ("1." + "0" * 12, True), ("1." + "0" * 13, False), ("1e3", False), (".5", False), ("5.", False),
     ("1\n", False)],
)  # fmt: skip
def test_the_decimal_pattern_at_its_bounds(text: str, accepted: bool) -> None:
    assert DECIMAL_TEXT.is_valid(text) is accepted is parses(text)


# -- what the server checks, in the schema ---------------------------------------------------------------------


def schema_validator(schema: Mapping[str, Any]) -> Any:
    return jsonschema_rs.Draft202012Validator(dict(schema) | {"components": SPEC["components"]})


def check_passes(check: Any, text: str) -> bool:
    try:
        check(parse_decimal(text, "value"), "value")
    except ValidationError:
        return False
    return True


DECIMAL_TEXTS = st.from_regex(r"-?0{0,3}[0-9]{0,20}(\.[0-9]{0,14})?", fullmatch=True) | st.sampled_from(
    [
        "0",
        "-0",
        "-0.000",
        "0.000000000001",
        "0.0000000000001",
        "1",
        "1.000000000000",
        "1.000000000001",
        "00.5",
    ]
)


@given(DECIMAL_TEXTS)
def test_the_positive_non_negative_and_share_patterns_accept_exactly_what_the_core_checks_accept(
    text: str,
) -> None:
    def share(value: Decimal, field: str) -> None:
        check_non_negative(value, field)
        if value > 1:
            raise ValidationError("above 1")

    for pattern, check in ((DECIMAL_POSITIVE, check_positive), (DECIMAL_NON_NEGATIVE, check_non_negative),
                           (DECIMAL_SHARE, share)):  # fmt: skip
        matched = jsonschema_rs.Draft202012Validator({"type": "string", "pattern": pattern}).is_valid(text)
        assert matched == check_passes(check, text), (pattern, text)


def text_passes(check: Any, text: str) -> bool:
    try:
        check(text, "name")
    except ValidationError:
        return False
    return True


@given(
    st.text(max_size=6)
    | st.sampled_from(["a", " a", "a\u3000", "\u200b", "é", "😀", ".", "..", "a/b", "x" * 129])
)
def test_the_text_and_id_schemas_accept_exactly_what_check_text_and_check_id_accept(text: str) -> None:
    assert schema_validator({"$ref": "#/components/schemas/Text"}).is_valid(text) == text_passes(
        check_text, text
    )
    assert schema_validator({"$ref": "#/components/schemas/Id"}).is_valid(text) == text_passes(check_id, text)


URL_PATTERN = jsonschema_rs.Draft202012Validator({"type": "string", "pattern": http_url_pattern()})


def url_passes(url: str) -> bool:
    try:
        parse_url(url)
    except ValidationError:
        return False
    return True


URL_PIECES = st.sampled_from(
    ["http://", "hTtPs://", "ftp://", "http:", "[", "]", "::", ":", "1", "0", "fF", "v1.", "V1.", "%", "%25",
     "@", "/", "?", "#", "\u2100", "\uff1a", "é", "1.2.3.4", "01.2.3.4", "::ffff:", "1:2:3:4:5:6:7:8", ":80",
     ":0", ":65535", ":65536", ":00080", "x y", "host"]
)  # fmt: skip


@given(st.lists(URL_PIECES, max_size=8).map("".join))
def test_the_webhook_url_pattern_accepts_only_urls_parse_url_accepts(url: str) -> None:
    if URL_PATTERN.is_valid(url) and text_passes(check_text, url):
        assert url_passes(url), url


@pytest.mark.parametrize(
    ("url", "accepted"),
    [("http://example.com", True), ("hTtPs://example.com:0443/a?b#c", True), ("http://host:", True),
     ("http://[::1]", True), ("http://[fe80::1%eth0]:8080", True), ("http://[::ffff:1.2.3.4]", True),
     ("http://[v1.x]", True), ("http://é/", True), ("hTtP://[deD29F1]", False), ("http://[1.2.3.4]", False),
     ("http://[::01.2.3.4]", False), ("http://[1::2::3]", False), ("http://[V1.x]", False), ("http://a:0", False),
     ("http://a:65536", False), ("http://user@a", False), ("http://a\u2100b", False), ("ftp://a", False),
     ("http://", False)],
)  # fmt: skip
def test_the_webhook_url_pattern_at_its_edges(url: str, accepted: bool) -> None:
    assert URL_PATTERN.is_valid(url) is accepted is url_passes(url)


def test_a_core_value_objects_validators_and_a_request_types_checks_are_in_its_schema() -> None:
    schemas = SPEC["components"]["schemas"]
    instrument = schemas["InstrumentInput"]["properties"]
    assert instrument["instrument_id"] == {"$ref": "#/components/schemas/Text"}
    assert instrument["price"] == {
        "anyOf": [{"$ref": "#/components/schemas/PositiveDecimalInput"}, {"type": "null"}]
    }
    assert instrument["min_order_amount"] == {"$ref": "#/components/schemas/NonNegativeDecimalInput"}
    assert schemas["PolicyInput"]["properties"]["sell_nav_limit"] == {
        "$ref": "#/components/schemas/ShareInput"
    }
    assert schemas["AmountInput"]["properties"]["amount"] == {
        "$ref": "#/components/schemas/PositiveDecimalInput"
    }
    assert schemas["NewAccountInput"]["properties"]["currency"] == {"$ref": "#/components/schemas/Currency"}
    block = schemas["NewBlockOrderPascalInput"]["properties"]
    assert block["BuySell"] == {"type": "string", "enum": ["Buy", "Sell"]}
    assert block["OrderType"] == {"type": "string", "enum": ["Market"]}
    assert schemas["PortOrderPascal"]["properties"]["Status"]["enum"] == [
        spelled(state) for state in OrderState
    ]
    assert schemas["NewSubscriptionInput"]["properties"]["topics"]["items"]["enum"] == list(TOPICS)
    statuses = next(
        p for p in SPEC["paths"]["/trade/v1/allocationkeys"]["get"]["parameters"] if p["name"] == "Statuses"
    )
    assert statuses["schema"]["items"]["enum"] == ["Active", "OneTime", "Used", "Expired", "Deleted"]
    after = next(p for p in SPEC["paths"]["/accounts"]["get"]["parameters"] if p["name"] == "after")
    assert after["schema"] == {"type": "string", "minLength": 1, "pattern": NO_NUL}
    assert "404" in SPEC["paths"]["/accounts"]["get"]["responses"]  # an after that names nothing


@pytest.mark.parametrize(
    ("body", "valid"),
    [({"currency": "EUR", "cash": "10.50"}, True), ({"currency": "EUR", "cash": "10.500"}, True),
     ({"currency": "EUR", "cash": "10.505"}, False), ({"currency": "JPY", "cash": "10.5"}, False),
     ({"currency": "JPY", "cash": 10}, True), ({"currency": "KWD", "cash": "0.125"}, True),
     ({"currency": "EUR", "cash": "-1"}, False), ({"currency": "XXX"}, False), ({"currency": "EUR", "x": 1}, False)],
)  # fmt: skip
def test_a_rule_over_several_fields_is_in_the_schema_too(body: dict[str, Any], valid: bool) -> None:
    assert schema_validator({"$ref": "#/components/schemas/NewAccountInput"}).is_valid(body) is valid


@pytest.mark.parametrize(
    ("body", "valid"),
    [({"account_id": "A", "type": "SELL", "cash_amount": "5"}, True), ({"account_id": "A", "cash_amount": "5"}, False),
     ({"account_id": "A", "side": "SELL", "type": "SELL", "cash_amount": "5"}, True),
     ({"account_id": "A", "side": "SELL", "type": "BUY", "cash_amount": "5", "allocation_id": "m"}, False),
     ({"account_id": "A", "type": "BUY", "cash_amount": "5"}, False),
     ({"account_id": "A", "type": "REBALANCING", "allocation_id": "m"}, True),
     ({"account_id": "A", "type": "REBALANCING", "allocation_id": "m", "allocation": []}, False),
     ({"account_id": "A", "type": "SELL", "cash_amount": "5.125"}, True),
     ({"account_id": "A", "type": "SELL", "cash_amount": "5.125", "currency": "EUR"}, False),
     ({"account_id": "A", "type": "SELL", "cash_amount": "5.120", "currency": "EUR"}, True),
     ({"account_id": "A", "type": "SELL", "cash_amount": "5.125", "currency": "KWD"}, True),
     ({"account_id": "A", "type": "SELL", "cash_amount": "5.5", "currency": "JPY"}, False),
     ({"account_id": "A", "type": "REBALANCING", "allocation_id": "m", "currency": "JPY"}, True),
     ({"account_id": "A", "type": "REBALANCING", "allocation_id": "m", "cash_amount": "5"}, False),
     ({"account_id": "A", "side": "LIQUIDATION"}, True), ({"account_id": "A", "side": "LIQUIDATION", "cash_amount": 5}, False),
     ({"account_id": "A", "type": "LIQUIDATION", "allocation_id": "m"}, False)],
)  # fmt: skip
def test_a_portfolio_orders_type_side_allocation_and_cash_rules_are_in_its_schema(
    body: dict[str, Any], valid: bool
) -> None:
    assert schema_validator({"$ref": "#/components/schemas/NewPortfolioOrderInput"}).is_valid(body) is valid


KEY = {"AllocationKeyName": "k", "AllocationUnitType": "Unit", "MarginHandling": "Reject", "OwnerAccountKey": "B",
       "ParticipatingAccountsInfo": [{"AccountKey": "A", "UnitValue": 1}]}  # fmt: skip


@pytest.mark.parametrize(
    ("schema", "body", "valid"),
    [("NewModelInput", {"name": "m", "lines": [{"instrument_id": "AAA", "weight": "1"}]}, True),
     ("NewModelInput", {"name": "m", "lines": []}, False),
     ("NewModelInput", {"name": "m", "lines": [{"instrument_id": " AAA", "weight": "1"}]}, False),
     ("NewAllocationKeyPascalInput", KEY, True),
     ("NewAllocationKeyPascalInput", KEY | {"ParticipatingAccountsInfo": []}, False),
     ("NewAllocationKeyPascalInput", KEY | {"AllocationKeyName": "k\x1c"}, False),
     ("NewAllocationKeyPascalInput", KEY | {"OwnerAccountKey": ""}, False),
     ("NewAllocationKeyPascalInput", KEY | {"ErrorAccountKey": ""}, False),
     ("NewAllocationKeyPascalInput", KEY | {"ErrorAccountKey": "E "}, False),
     ("NewAllocationKeyPascalInput", KEY | {"ParticipatingAccountsInfo": [
         {"AccountKey": "A", "UnitValue": 1, "AcceptRemainderAmount": True}]}, False),
     ("NewAllocationKeyPascalInput", KEY | {"ParticipatingAccountsInfo": [
         {"AccountKey": "A", "UnitValue": 1, "AcceptRemainderAmount": True, "Priority": 1}]}, True),
     ("NewSubscriptionInput", {"url": "https://example.com", "topics": []}, False),
     ("NewBlockOrderPascalInput", {"AllocationKeyId": "k", "Uic": 1, "BuySell": "Buy", "Amount": "0"}, False),
     ("NewInvestmentPascalInput", {"TradeLeaderId": "l", "FundingAccountKey": "A", "Amount": "-1"}, False),
     ("InvestmentChangePascalInput", {"FundingAccountKey": "A"}, False),
     ("InvestmentChangePascalInput", {"FundingAccountKey": "A", "PendingFunding": "10"}, True),
     ("InvestmentChangePascalInput", {"IsActive": False, "PendingFunding": "10"}, False),
     ("InvestmentChangePascalInput", {"IsActive": False, "InvestmentShieldAmount": None}, True),
     ("WithdrawalPascalInput", {"Amount": "0.00"}, False)],
)  # fmt: skip
def test_non_empty_lists_checked_texts_and_the_rules_of_keys_and_investments_are_in_their_schemas(
    schema: str, body: dict[str, Any], valid: bool
) -> None:
    assert schema_validator({"$ref": f"#/components/schemas/{schema}"}).is_valid(body) is valid


def test_a_method_a_path_does_not_serve_is_405_with_allow_listing_the_paths_methods_in_the_error_body(
    api: Api,
) -> None:
    refused = api.alice.put("/accounts")
    assert refused.status_code == 405
    assert refused.headers["Allow"] == "GET, HEAD, POST"
    assert refused.json() == {"error": {"code": "METHOD_NOT_ALLOWED", "message": "PUT is not allowed here",
                                        "details": {"allowed": ["GET", "HEAD", "POST"]}}}  # fmt: skip
    assert api.alice.request("TRACE", "/portfolios/orders/x").headers["Allow"] == "DELETE, GET, HEAD"
    assert "Allow" not in api.alice.get("/no/such/route").headers


# -- the page ------------------------------------------------------------------------------------------------


def test_the_docs_page_lists_every_operation_and_fetches_nothing_from_elsewhere(api: Api) -> None:
    answered = api.anonymous.get("/docs")
    assert answered.status_code == 200
    assert answered.headers["content-type"].startswith("text/html")
    page = answered.text
    for operation in (*OPERATIONS, *SANDBOX):
        assert f"<span class=m>{operation.method}</span> <code>{operation.path}</code>" in page
        assert html.escape(operation.summary) in page
    assert "<code>Idempotency-Key</code>" in page
    assert re.search(r"<(script|link|img|iframe)\b|url\(|https?://", page) is None


# -- what the server answers matches the document -------------------------------------------------------------


def conforms(spec: Mapping[str, Any], method: str, path: str, status: int, body: Any) -> None:
    """``body`` is valid against the documented response of ``method path`` with ``status``."""
    response = spec["paths"][path][method]["responses"][str(status)]
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    schema = response["content"]["application/json"]["schema"]
    validator = jsonschema_rs.Draft202012Validator(schema | {"components": spec["components"]})
    errors = [e.message for e in validator.iter_errors(body)]
    assert errors == [], f"{method.upper()} {path} {status}: {errors}"


def test_the_answers_of_a_nominal_session_match_the_document(api: Api) -> None:
    def check(method: str, path: str, response: Any, template: str | None = None) -> Any:
        conforms(SPEC, method, template or path, response.status_code, response.json())
        return response.json()

    check("post", "/accounts", api.post(api.alice, "/accounts", {"currency": "EUR", "cash": 1000}))
    opened = check(
        "post", "/accounts", api.post(api.alice, "/accounts", {"account_id": "A-1", "currency": "EUR"})
    )
    assert opened["account"]["cash"] == {"EUR": "0.00"}
    check("post", "/accounts/A-1/deposits", api.post(api.alice, "/accounts/A-1/deposits", {"amount": "250.50"}),
          "/accounts/{account_id}/deposits")  # fmt: skip
    check("get", "/accounts", api.alice.get("/accounts", params={"limit": 1}))
    check("get", "/accounts/A-1", api.alice.get("/accounts/A-1"), "/accounts/{account_id}")
    check("get", "/accounts/A-1", api.carol.get("/accounts/A-1"), "/accounts/{account_id}")
    model = {"name": "sixty-forty", "lines": [{"instrument_id": "AAA", "weight": "0.6"},
                                              {"instrument_id": "BBB", "weight": "0.4"}]}  # fmt: skip
    made = check("post", "/models", api.post(api.alice, "/models", model))
    check("get", "/models/x", api.alice.get(f"/models/{made['id']}"), "/models/{model_id}")
    check("get", "/models", api.alice.get("/models"))
    option = {"instrument_id": "OPT", "price": "1.5", "asset_type": "STOCK_OPTION", "expiry": "2030-01-17"}
    check("post", "/instruments", api.post(api.admin, "/instruments", option))
    check("put", "/instruments/x/price", api.admin.put("/instruments/AAA/price", json={"price": 11}),
          "/instruments/{instrument_id}/price")  # fmt: skip
    check("get", "/instruments", api.alice.get("/instruments"))
    check("post", "/instruments", api.post(api.alice, "/instruments", option))
    check("post", "/clients", api.post(api.admin, "/clients", {"client_id": "initech"}))
    issued = check(
        "post", "/apikeys", api.post(api.admin, "/apikeys", {"client_id": "initech", "user_id": "p"})
    )
    check("get", "/apikeys", api.admin.get("/apikeys"))
    check("delete", "/apikeys/x", api.admin.delete(f"/apikeys/{issued['id']}"), "/apikeys/{key_id}")
    check("post", "/sandbox/market/run", api.admin.post("/sandbox/market/run"))
    check("get", "/accounts", api.anonymous.get("/accounts"))
    check("post", "/accounts", api.alice.post("/accounts", content=b"{", headers={"Idempotency-Key": "k"}))


# -- schemathesis against the real server ---------------------------------------------------------------------

#: Values that let generated requests get past the first refusal now and then (instruments, an account of alice's,
#: amounts), so that successful answers are checked too, not only refusals. A value is put in place of a generated
#: one without looking at the rest of the body, so each must keep any body valid: amounts are whole numbers, which
#: every currency allows, and no currency is put in place of another (``in_minor_units``).
DICTIONARIES = {
    "instruments": {"values": ["AAA", "BBB"]},
    "accounts": {"values": ["ACC-1"]},
    "amounts": {"values": ["10", "1000", "1"]},
    "weights": {"values": ["1", "1.0"]},
}
BINDINGS = {
    "body.lines[*].instrument_id": ("instruments", 0.8),
    "body.lines[*].weight": ("weights", 0.8),
    "body.amount": ("amounts", 0.7),
    "body.cash": ("amounts", 0.7),
    "body.price": ("amounts", 0.7),
    "path.instrument_id": ("instruments", 0.7),
    "path.account_id": ("accounts", 0.7),
    "body.account_id": ("accounts", 0.5),
}
#: ``positive_data_acceptance`` (ST202) is run as ``positive_data_acceptance_but_unstatable_rules`` (below).
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "positive_data_acceptance_but_unstatable_rules",  # ST202: a request the document accepts is not refused
    "negative_data_rejection",  # ST201: a request it refuses is refused
    "missing_required_header",  # ST203: no Idempotency-Key, no key: refused
    "unsupported_method",  # ST204: a method the path does not serve is 405 with Allow
    "allow_header_conformance",  # ST205: Allow lists the path's methods
)
#: What a request the document accepts may be answered: done, or refused for what no schema can know — an id that
#: names nothing (404), a state that does not allow it (409), a business rule (422).
ACCEPTED_ANSWERS = ["2xx", "401", "403", "404", "409", "422"]


@attrs.frozen
class Unstatable:
    """A rule of an operation's body that JSON Schema cannot state, which the server refuses as bad input (400):
    known by its error's code and by a detail that only that rule's error carries (and ``when``, if given, holds
    of the request's body and the error's details). Any other 400 to a request the document accepts is a failure."""

    operation: str
    rule: str
    code: str
    detail: str
    when: Callable[[Mapping[str, Any], Mapping[str, Any]], bool] | None = None

    def explains(self, operation: str, body: Any, error: Mapping[str, Any]) -> bool:
        details = error.get("details")
        return (
            operation == self.operation
            and error.get("code") == self.code
            and isinstance(details, Mapping)
            and self.detail in details
            and (self.when is None or (isinstance(body, Mapping) and self.when(body, details)))
        )


def no_currency(body: Mapping[str, Any], details: Mapping[str, Any]) -> bool:
    return body.get("currency") is None


def not_a_priority(body: Mapping[str, Any], details: Mapping[str, Any]) -> bool:
    """The error is not about priorities (a participant that accepts remainders has one: the schema says so)."""
    return not str(details.get("field", "")).lower().endswith("priority")


def no_private_network(body: Mapping[str, Any], details: Mapping[str, Any]) -> bool:
    return body.get("allow_private_network") is not True


UNSTATABLE_RULES = (
    Unstatable("POST /models", "the weights sum to exactly 1", "VALIDATION_ERROR", "sum"),
    Unstatable("POST /models", "each instrument once", "VALIDATION_ERROR", "duplicates"),
    Unstatable("POST /portfolios/orders", "the weights given with the order sum to 1", "VALIDATION_ERROR", "sum"),
    Unstatable("POST /portfolios/orders", "each instrument once", "VALIDATION_ERROR", "duplicates"),
    Unstatable("POST /portfolios/orders", "the cash amount in the minor units of the account's currency, when "
               "the order names none", "VALIDATION_ERROR", "decimals", no_currency),
    Unstatable("POST /accounts/{account_id}/deposits", "the amount in the minor units of the account's currency",
               "VALIDATION_ERROR", "decimals"),
    Unstatable("POST /accounts/{account_id}/withdrawals", "the amount in the minor units of the account's "
               "currency", "VALIDATION_ERROR", "decimals"),
    Unstatable("GET /trade/v1/allocationkeys/{allocation_key_id}/distributions", "the amount a whole number of "
               "QuantityStep", "NOT_A_MULTIPLE_OF_STEP", "step"),
    Unstatable("POST /trade/v2/orders", "the amount a whole number of the instrument's quantity steps",
               "NOT_A_MULTIPLE_OF_STEP", "step"),
    Unstatable("POST /at/v3/investments", "the amount in the minor units of the leader's currency",
               "VALIDATION_ERROR", "decimals"),
    Unstatable("PATCH /at/v3/investments/{investment_id}", "the pending funding and the shield in the minor "
               "units of the investment's currency", "VALIDATION_ERROR", "decimals"),
    Unstatable("PUT /at/v3/investments/{investment_id}/withdraw", "the amount in the minor units of the "
               "investment's currency", "VALIDATION_ERROR", "decimals"),
    Unstatable("POST /trade/v1/allocationkeys", "percentages sum to exactly 100", "VALIDATION_ERROR", "sum"),
    Unstatable("POST /trade/v1/allocationkeys", "each account takes part once", "VALIDATION_ERROR", "accounts"),
    Unstatable("POST /trade/v1/allocationkeys", "those that accept remainders have different priorities",
               "VALIDATION_ERROR", "priorities"),
    Unstatable("POST /trade/v1/allocationkeys", "the block and error accounts are not participants",
               "VALIDATION_ERROR", "account_id", not_a_priority),
    Unstatable("POST /webhooks", "the URL's host resolves (to public addresses only, unless "
               "allow_private_network)", "UNSAFE_WEBHOOK_URL", "host"),
    Unstatable("POST /webhooks", "an address in the URL is public, unless allow_private_network",
               "UNSAFE_WEBHOOK_URL", "addresses", no_private_network),
)  # fmt: skip


def unstatable_rule(operation: str, body: Any, response: Any) -> Unstatable | None:
    """The rule of ``UNSTATABLE_RULES`` a 400 answer refused the request by, if any."""
    if response.status_code != 400:
        return None
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return None
    return next((rule for rule in UNSTATABLE_RULES if rule.explains(operation, body, error)), None)


@schemathesis.check
def positive_data_acceptance_but_unstatable_rules(ctx: Any, response: Any, case: Any) -> bool | None:
    """ST202 (``positive_data_acceptance``): a request the document accepts is not refused as bad input — but for
    a 400 by a rule of ``UNSTATABLE_RULES``."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        if unstatable_rule(case.operation.label, case.body, response) is None:
            raise
        return None


def test_an_unstatable_rule_excuses_only_its_own_error() -> None:
    class Answer:
        def __init__(self, status_code: int, error: Any) -> None:
            self.status_code, self.error = status_code, error

        def json(self) -> Any:
            return {"error": self.error}

    summed = {"code": "VALIDATION_ERROR", "message": "", "details": {"field": "lines", "sum": "2"}}
    assert unstatable_rule("POST /models", {}, Answer(400, summed)) is UNSTATABLE_RULES[0]
    assert unstatable_rule("POST /accounts", {}, Answer(400, summed)) is None
    assert unstatable_rule("POST /models", {}, Answer(422, summed)) is None
    assert unstatable_rule("POST /models", {}, Answer(400, summed | {"code": "NOT_FOUND"})) is None
    empty = {"code": "VALIDATION_ERROR", "message": "", "details": {"field": "lines"}}
    assert unstatable_rule("POST /models", {}, Answer(400, empty)) is None
    decimals = {"code": "VALIDATION_ERROR", "message": "", "details": {"currency": "EUR", "decimals": 2}}
    assert unstatable_rule("POST /portfolios/orders", {}, Answer(400, decimals)) is not None
    assert unstatable_rule("POST /portfolios/orders", {"currency": "EUR"}, Answer(400, decimals)) is None
    priority = {"code": "VALIDATION_ERROR", "message": "", "details": {"field": "participants.priority",
                                                                          "account_id": "A"}}  # fmt: skip
    assert unstatable_rule("POST /trade/v1/allocationkeys", {}, Answer(400, priority)) is None
    private = {
        "code": "UNSAFE_WEBHOOK_URL",
        "message": "",
        "details": {"url": "http://[::1]", "addresses": []},
    }
    assert unstatable_rule("POST /webhooks", {}, Answer(400, private)) is not None
    assert unstatable_rule("POST /webhooks", {"allow_private_network": True}, Answer(400, private)) is None
    assert unstatable_rule("POST /webhooks", {}, Answer(400, private | {"details": {"url": "x"}})) is None
    off_step = {"code": "NOT_A_MULTIPLE_OF_STEP", "message": "", "details": {"field": "amount", "step": "1"}}
    assert unstatable_rule("POST /trade/v2/orders", {}, Answer(400, off_step)) is not None
    assert unstatable_rule("POST /portfolios/orders", {}, Answer(400, off_step)) is None


@attrs.frozen
class Run:
    """One schemathesis run against a fresh server: its seed, whose key it sends and its phases — ``examples``,
    ``coverage`` (each schema's edges, the same whatever the seed), ``fuzzing`` (random requests, by the seed) and
    ``stateful`` (sequences of calls that feed one answer's ids into the next request: an account opened, then
    paid into, a key made, then read and deleted)."""

    seed: int
    caller: str
    phases: tuple[str, ...]


#: Two fixed seeds (not the deterministic mode, which ignores the seed), so that a failure is found again by the
#: same run: the operator's key over the coverage phase (which reaches every handler, the operator's included)
#: and fuzzing; a user's key over fuzzing and the stateful phase. About 2 minutes in all on two cores.
RUNS = (
    Run(20260131, "admin", ("examples", "coverage", "fuzzing")),
    Run(7, "alice", ("examples", "fuzzing", "stateful")),
)
PHASES = ("examples", "coverage", "fuzzing", "stateful")


def schemathesis_config(base_url: str, key: str, run: Run) -> SchemathesisConfig:
    phases: dict[str, Any] = {phase: {"enabled": phase in run.phases} for phase in PHASES}
    phases["stateful"] |= {"max-steps": 25, "generation": {"max-examples": 8}}
    return SchemathesisConfig.from_dict({
        "seed": run.seed,
        "base-url": base_url,
        "headers": {"Authorization": f"Bearer {key}"},
        "request-timeout": 10,
        "generation": {"max-examples": 15},
        "phases": phases,
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS},
                   "positive_data_acceptance": {"enabled": False, "expected-statuses": ACCEPTED_ANSWERS}},
        "dictionaries": DICTIONARIES,
        "parameters": {where: {"dictionary": name, "probability": p} for where, (name, p) in BINDINGS.items()},
    })  # fmt: skip


@pytest.mark.parametrize("run", RUNS, ids=lambda run: f"{run.caller}-{run.seed}-{'-'.join(run.phases)}")
def test_schemathesis_finds_no_server_error_no_answer_off_the_document_and_no_request_refused_off_it(
    api: Api, run: Run
) -> None:
    api.app.accounts.open("EUR", Decimal("1000.00"), account_id="ACC-1", scope=Scope.of_user("acme", "alice"))
    key = str(getattr(api, run.caller).headers["Authorization"]).removeprefix("Bearer ")
    served_spec = api.anonymous.get("/openapi.json").json()
    schema = schemathesis.openapi.from_dict(served_spec, config=schemathesis_config(api.base_url, key, run))
    failures: list[str] = []
    responses = 0
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            responses += sum(i.response is not None for i in event.recorder.interactions.values())
            failures += [
                f"{event.recorder.label}: {check.failure_info.failure.code} {check.name}: "
                f"{check.failure_info.failure.title}\n"
                f"{check.failure_info.code_sample}"
                for checks in event.recorder.checks.values()
                for check in checks
                if check.failure_info is not None
            ]
        elif isinstance(event, events.NonFatalError | events.FatalError):
            failures.append(f"schemathesis could not run: {event!r}")
        elif isinstance(event, events.EngineFinished):
            assert event.stop_reason == "completed"
    assert failures == []
    assert responses > 20 * len(served_spec["paths"])  # it did test every operation, many times


def test_a_decimal_written_as_a_json_number_is_marked_exact_so_a_client_knows_not_to_read_a_float() -> None:
    position = SPEC["components"]["schemas"]["PortPositionPascal"]["properties"]["Amount"]
    assert (position["type"], position["format"]) == ("number", "decimal")
    assert "parse_float=Decimal" in position["description"]
