"""Query parameters as clients send them: anything that is not what a route reads is a 400, never a 500."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from entrypoints.http.app import OPERATIONS
from entrypoints.http.openapi import DECIMAL_NON_NEGATIVE, DECIMAL_POSITIVE, DECIMAL_READ, DECIMAL_SHARE
from entrypoints.http.routing import Access, Operation
from tests.http.conftest import Api


@pytest.mark.parametrize("limit", ["²", "٣", "¹⁰", "1.0", "+1", "-1", "0x10", "", "1" * 5000])
def test_a_limit_that_is_not_ascii_digits_is_400(api: Api, limit: str) -> None:
    response = api.alice.get("/accounts", params={"limit": limit})
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"parameter": "limit", "value": limit}


DECIMALS = (DECIMAL_POSITIVE, DECIMAL_NON_NEGATIVE, DECIMAL_SHARE, DECIMAL_READ)


def query_parameters(kind: str) -> list[Any]:
    """Each query parameter of the operation table that is a decimal (``kind`` "decimal": its schema has one of
    the decimal patterns) or names values from a list (``kind`` "choice": an enum, or an array of one), on the
    routes without a body (on the others, the missing body is refused first)."""
    found = []
    for operation in (operation for operation in OPERATIONS if operation.body is None):
        for param in operation.query:
            schema = param.schema
            choice = "enum" in schema or "enum" in schema.get("items", {})
            decimal = schema.get("pattern") in DECIMALS
            if (kind == "choice" and choice) or (kind == "decimal" and decimal):
                found.append(
                    pytest.param(
                        operation, param.name, id=f"{operation.method} {operation.path} {param.name}"
                    )
                )
    return found


def url_of(operation: Operation) -> str:
    return re.sub(r"{\w+}", "ANY", operation.path)


def client_of(api: Api, operation: Operation) -> httpx.Client:
    return api.admin if operation.access is Access.ADMIN else api.alice


@pytest.mark.parametrize(("operation", "name"), query_parameters("decimal"))
@pytest.mark.parametrize("value", ["abc", "1e3", "1,5", "", " 1", "1" * 40, "0." + "1" * 13])
def test_a_decimal_query_parameter_that_is_no_decimal_is_400_naming_the_parameter(
    api: Api, operation: Operation, name: str, value: str
) -> None:
    given = {"Amount": "1", name: value}
    answer = client_of(api, operation).request(operation.method, url_of(operation), params=given)
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "VALIDATION_ERROR"), answer.text
    assert answer.json()["error"]["details"]["parameter"] == name
    assert name in answer.json()["error"]["message"]
    assert "value" not in answer.json()["error"]["message"]


def test_there_are_decimal_query_parameters_to_check() -> None:
    assert len(query_parameters("decimal")) >= 2


@pytest.mark.parametrize(
    ("amount", "step", "named"),
    [("0", None, "Amount"), ("-5", None, "Amount"), ("1.5", None, "Amount"), ("10", "0", "QuantityStep")],
)
def test_a_distribution_the_core_refuses_names_the_query_parameter_it_comes_from(
    api: Api, amount: str, step: str | None, named: str
) -> None:
    for account_id in ("ACC-1", "ACC-2", "ACC-3"):
        assert (
            api.post(api.alice, "/accounts", {"account_id": account_id, "currency": "EUR"}).status_code == 201
        )
    key = {"AllocationKeyName": "k", "AllocationUnitType": "Unit", "MarginHandling": "Reject",
           "OwnerAccountKey": "ACC-1", "ErrorAccountKey": "ACC-2",
           "ParticipatingAccountsInfo": [{"AccountKey": "ACC-3", "UnitValue": 1}]}  # fmt: skip
    key_id = api.post(api.alice, "/trade/v1/allocationkeys", key).json()["AllocationKeyId"]
    given = {"Amount": amount} | ({} if step is None else {"QuantityStep": step})
    answer = api.alice.get(f"/trade/v1/allocationkeys/{key_id}/distributions", params=given)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["details"]["parameter"] == named, answer.text
    assert "field" not in answer.json()["error"]["details"]


@pytest.mark.parametrize(("operation", "name"), query_parameters("choice"))
@pytest.mark.parametrize("value", ["", " ", "bogus"])
def test_an_empty_or_unknown_value_of_a_query_parameter_with_a_list_of_values_is_400_naming_it(
    api: Api, operation: Operation, name: str, value: str
) -> None:
    answer = client_of(api, operation).request(operation.method, url_of(operation), params={name: value})
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "VALIDATION_ERROR"), answer.text
    assert answer.json()["error"]["details"]["parameter"] == name


@pytest.mark.parametrize("statuses", ["Active,", ",Active", "Active,,Used", ","])
def test_a_list_of_statuses_with_an_empty_one_is_400_not_the_default_list(api: Api, statuses: str) -> None:
    answer = api.alice.get("/trade/v1/allocationkeys", params={"Statuses": statuses})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["details"] == {
        "parameter": "Statuses", "value": "", "allowed": ["Active", "OneTime", "Used", "Expired", "Deleted"]
    }  # fmt: skip
