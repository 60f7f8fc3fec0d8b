"""Any JSON text to any route: never a server error, text that is no text is refused naming its field, and no key
is left in flight.

Hypothesis writes request bodies of arbitrary JSON — lone surrogates (``\\ud800``) and NULs among the text, in
values and in names, with the route's own field names mixed in so that the text reaches its fields — and sends each
to a route of the operation table, on a real server. The rule checked: every answer is JSON below 500 (an error
with its code, message and details); a body holding a lone surrogate or a NUL, sent to a route that reads a body,
is 400 ``VALIDATION_ERROR`` naming where it is; and the same Idempotency-Key sent again is never told that its
request is still in flight.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from entrypoints.http.app import OPERATIONS
from entrypoints.http.routing import Access, Casing, Operation, pascal
from tests.http.conftest import Api, running_api

#: Text of any code point: lone surrogates (category Cs, which Hypothesis leaves out unless asked) and NUL included.
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=6)
ATOMS = st.none() | st.booleans() | st.integers(-(10**20), 10**20) | ANY_TEXT


def json_values(names: list[str]) -> st.SearchStrategy[Any]:
    keys = st.sampled_from(names) | ANY_TEXT if names else ANY_TEXT
    return st.recursive(
        ATOMS,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=8,
    )


def field_names(operation: Operation) -> list[str]:
    """The names of the route's body fields (and of the objects in it), in the route's casing."""
    found: list[str] = []

    def walk(kind: type) -> None:
        for field in attrs.fields(attrs.resolve_types(kind)):
            found.append(pascal(field.name) if operation.casing is Casing.PASCAL else field.name)
            for argument in getattr(field.type, "__args__", ()):
                inner = getattr(argument, "__args__", (argument,))[0]
                if attrs.has(inner) and inner is not kind:
                    walk(inner)

    if operation.body is not None:
        walk(operation.body)
    return found


@st.composite
def requests(draw: st.DrawFn) -> tuple[Operation, dict[str, str], Any]:
    operation = draw(st.sampled_from(OPERATIONS))
    names = field_names(operation)
    body = draw(st.dictionaries(st.sampled_from(names) | ANY_TEXT if names else ANY_TEXT, json_values(names),
                                max_size=5) | json_values(names))  # fmt: skip
    path = {name: draw(st.from_regex(r"[A-Za-z0-9-]{1,12}", fullmatch=True))
            for name in re.findall(r"{(\w+)}", operation.path)}  # fmt: skip
    return operation, path, body


def not_text(data: Any) -> bool:
    """Whether JSON data holds, in a value or a name, a lone surrogate or a NUL (this test's own model)."""
    if isinstance(data, str):
        return any(c == "\0" or 0xD800 <= ord(c) <= 0xDFFF for c in data)
    if isinstance(data, dict):
        return any(not_text(k) or not_text(v) for k, v in data.items())
    if isinstance(data, list):
        return any(not_text(item) for item in data)
    return False


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with running_api(Path(tmp_path_factory.mktemp("any-text")) / "serve.db") as running:
        yield running


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(request=requests())
def test_any_json_to_any_route_is_answered_below_500_and_text_that_is_no_text_is_refused(
    api: Api, request: tuple[Operation, dict[str, str], Any]
) -> None:
    operation, path, body = request
    client = api.admin if operation.access is Access.ADMIN else api.alice
    # ensure_ascii: a lone surrogate travels as the escape \ud800, as any JSON writer sends it.
    content = json.dumps(body).encode()
    headers = {"Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/json"}
    url = operation.path.format(**path)
    answer = client.request(operation.method, url, content=content, headers=headers)
    assert answer.status_code < 500, answer.text
    assert answer.headers["content-type"].startswith("application/json"), answer.text
    if answer.status_code >= 400:
        assert set(answer.json()["error"]) == {"code", "message", "details"}
    if operation.body is not None and not_text(body):
        assert (answer.status_code, answer.json()["error"]["code"]) == (400, "VALIDATION_ERROR"), answer.text
        assert answer.json()["error"]["details"]["field"].startswith(("$", "a field name in $"))
    if operation.creates_work:
        again = client.request(operation.method, url, content=content, headers=headers)
        assert again.status_code < 500, again.text
        assert again.json().get("error", {}).get("code") != "REQUEST_IN_FLIGHT", again.text


def test_a_body_giving_a_field_twice_is_refused_and_nothing_is_made(api: Api) -> None:
    text = '{"account_id": "TWICE", "currency": "EUR", "cash": "1.00", "cash": "1000000.00"}'
    headers = {"Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/json"}
    answer = api.alice.post("/accounts", content=text.encode(), headers=headers)
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "INVALID_JSON")
    assert answer.json()["error"]["details"] == {"field": "$.cash"}
    assert api.alice.get("/accounts/TWICE").status_code == 404


@pytest.mark.parametrize(
    ("route", "text", "field"),
    [
        ("/models", '{"name": "m", "lines": [{"instrument_id": "AAA", "weight": "1", "weight": "0.5"}]}',
         "$.lines[0].weight"),
        ("/trade/v1/allocationkeys", '{"AllocationKeyName": "k", "ParticipatingAccountsInfo": [{"AccountKey": "A"}, '
         '{"AccountKey": "B", "UnitValue": 1, "UnitValue": 2}]}', "$.ParticipatingAccountsInfo[1].UnitValue"),
        ("/trade/v2/orders", '{"Uic": 1, "OrderDuration": {"DurationType": "DayOrder", "DurationType": "Day"}}',
         "$.OrderDuration.DurationType"),
    ],
)  # fmt: skip
def test_a_field_given_twice_deep_in_a_body_is_refused_naming_its_path_as_sent(
    api: Api, route: str, text: str, field: str
) -> None:
    headers = {"Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/json"}
    answer = api.alice.post(route, content=text.encode(), headers=headers)
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "INVALID_JSON"), answer.text
    assert answer.json()["error"]["details"] == {"field": field}
    assert field in answer.json()["error"]["message"]


def test_a_raw_control_character_in_a_body_is_invalid_json_saying_where_and_how_to_write_it(api: Api) -> None:
    text = '{"account_id": "RAW\x00NUL", "currency": "EUR", "cash": "1.00"}'
    headers = {"Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/json"}
    answer = api.alice.post("/accounts", content=text.encode(), headers=headers)
    refused = answer.json()["error"]
    assert (answer.status_code, refused["code"]) == (400, "INVALID_JSON")
    assert refused["details"] == {"line": 1, "column": 20}
    assert "at at" not in refused["message"]
    assert "\\u0000" in refused["message"]


def test_a_body_that_starts_with_a_byte_order_mark_is_invalid_json_saying_so_in_plain_words(api: Api) -> None:
    text = '\ufeff{"account_id": "BOM", "currency": "EUR", "cash": "1.00"}'
    headers = {"Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/json"}
    answer = api.alice.post("/accounts", content=text.encode(), headers=headers)
    refused = answer.json()["error"]
    assert (answer.status_code, refused["code"]) == (400, "INVALID_JSON")
    assert "byte order mark" in refused["message"]
    assert "utf-8-sig" not in refused["message"]
    assert api.alice.get("/accounts/BOM").status_code == 404


#: Percent-encoded bytes that are no text: a NUL (alone and inside), a byte no UTF-8 character starts with, a
#: sequence broken off, and a surrogate (which UTF-8 may not encode).
NOT_TEXT = ["%00", "a%00b", "%FF", "%C3%28", "%ED%A0%80"]
PATH_PARAMETERS = [pytest.param(operation, name, id=f"{operation.method} {operation.path} {name}")
                   for operation in OPERATIONS for name in re.findall(r"{(\w+)}", operation.path)]  # fmt: skip
QUERY_PARAMETERS = [pytest.param(operation, param.name, id=f"{operation.method} {operation.path} {param.name}")
                    for operation in OPERATIONS for param in operation.query]  # fmt: skip


def refused_naming(api: Api, operation: Operation, url: str, name: str) -> httpx.Response:
    """The answer to ``operation`` at ``url`` (by an admin where only one may call it), which must be 400
    ``VALIDATION_ERROR`` naming parameter ``name`` and nothing else."""
    client = api.admin if operation.access is Access.ADMIN else api.alice
    answer = client.request(operation.method, url)
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "VALIDATION_ERROR"), answer.text
    assert answer.json()["error"]["details"] == {"parameter": name}
    return answer


@pytest.mark.parametrize(("operation", "name"), PATH_PARAMETERS)
@pytest.mark.parametrize("sent", NOT_TEXT)
def test_a_path_parameter_that_is_no_text_is_400_naming_the_parameter_not_a_404(
    api: Api, operation: Operation, name: str, sent: str
) -> None:
    url = re.sub(r"{(\w+)}", lambda found: sent if found.group(1) == name else "x", operation.path)
    answer = refused_naming(api, operation, url, name)
    assert "\ufffd" not in answer.text


@pytest.mark.parametrize(("operation", "name"), QUERY_PARAMETERS)
@pytest.mark.parametrize("sent", NOT_TEXT)
def test_a_query_parameter_that_is_no_text_is_400_naming_the_parameter(
    api: Api, operation: Operation, name: str, sent: str
) -> None:
    url = re.sub(r"{\w+}", "x", operation.path) + f"?{name}={sent}"
    refused_naming(api, operation, url, name)


@pytest.mark.parametrize(
    ("sent", "shown"), [("%FF", "%FF"), ("a%C3%28b", "a%C3%28b"), ("caf%C3%A9%00", "caf%C3%A9%00")]
)
def test_a_query_parameters_name_that_is_no_text_is_400_naming_it_percent_encoded_as_sent(
    api: Api, sent: str, shown: str
) -> None:
    answer = api.alice.get(f"/accounts?{sent}=1")
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "VALIDATION_ERROR"), answer.text
    assert answer.json()["error"]["details"] == {"parameter": shown}
    assert shown in answer.json()["error"]["message"]
