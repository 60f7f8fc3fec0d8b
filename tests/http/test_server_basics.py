"""The request path every route shares: keys, scopes, idempotency, limits and errors, on a real server."""

from __future__ import annotations

import concurrent.futures
import json
import socket
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from entrypoints.http.routing import MAX_BODY
from tests.http.conftest import Api

ACCOUNT = {"account_id": "ACC-1", "currency": "EUR", "cash": "1000.00"}


def test_the_health_check_needs_no_key(api: Api) -> None:
    response = api.anonymous.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_a_route_without_a_key_answers_401_with_the_error_body(api: Api) -> None:
    response = api.anonymous.get("/accounts")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHORIZED"


def test_a_revoked_key_stops_working_at_once(api: Api) -> None:
    issued = api.app.api_keys.create("e" * 43, client="acme", user="dave")
    headers = {"Authorization": f"Bearer {issued.text}"}
    assert api.anonymous.get("/accounts", headers=headers).status_code == 200
    api.app.api_keys.revoke(issued.key.id)
    assert api.anonymous.get("/accounts", headers=headers).status_code == 401


def test_a_user_key_may_not_manage_instruments(api: Api) -> None:
    response = api.post(api.alice, "/instruments", {"instrument_id": "CCC", "price": "1.00"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "FORBIDDEN"


def test_an_account_opened_by_a_user_is_hidden_from_other_clients_and_other_users(api: Api) -> None:
    assert api.post(api.alice, "/accounts", ACCOUNT).status_code == 201
    assert api.alice.get("/accounts/ACC-1").status_code == 200
    really_missing = api.alice.get("/accounts/ACC-404").json()
    for other in (api.bob, api.carol):
        hidden = other.get("/accounts/ACC-1")
        assert hidden.status_code == 404
        assert hidden.json() == recase_id(really_missing, "ACC-404", "ACC-1")
        assert other.get("/accounts").json()["data"] == []
    assert [a["id"] for a in api.admin.get("/accounts").json()["data"]] == ["ACC-1"]


def recase_id(body: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """An error body as it would read for another id."""
    result: dict[str, Any] = json.loads(json.dumps(body).replace(old, new))
    return result


def test_the_same_key_and_body_get_the_first_response_again(api: Api) -> None:
    key = str(uuid.uuid4())
    first = api.post(api.alice, "/accounts", ACCOUNT, key)
    again = api.post(api.alice, "/accounts", ACCOUNT, key)
    assert (again.status_code, again.json()) == (first.status_code, first.json()) == (201, first.json())
    assert len(api.alice.get("/accounts").json()["data"]) == 1


def test_the_same_key_with_another_body_is_422_and_changes_nothing(api: Api) -> None:
    key = str(uuid.uuid4())
    api.post(api.alice, "/accounts", ACCOUNT, key)
    other = api.post(api.alice, "/accounts", ACCOUNT | {"account_id": "ACC-2"}, key)
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert api.alice.get("/accounts/ACC-2").status_code == 404


def test_a_request_refused_as_bad_input_leaves_its_key_for_the_corrected_request(api: Api) -> None:
    key = str(uuid.uuid4())
    refused = api.post(api.alice, "/accounts", ACCOUNT | {"cash": "-1.00"}, key)
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "VALIDATION_ERROR")
    corrected = api.post(api.alice, "/accounts", ACCOUNT, key)
    assert corrected.status_code == 201, corrected.text
    assert api.post(api.alice, "/accounts", ACCOUNT, key).json() == corrected.json(), "kept once it is done"


def test_a_request_that_creates_work_without_a_key_is_400(api: Api) -> None:
    response = api.alice.post("/accounts", json=ACCOUNT)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "IDEMPOTENCY_KEY_MISSING"


def test_keys_are_scoped_per_client(api: Api) -> None:
    key = str(uuid.uuid4())
    assert api.post(api.alice, "/accounts", ACCOUNT, key).status_code == 201
    theirs = api.post(api.carol, "/accounts", ACCOUNT | {"account_id": "ACC-9"}, key)
    assert theirs.status_code == 201
    assert theirs.json()["account"]["id"] == "ACC-9"


def test_concurrent_requests_with_one_key_do_the_work_once_and_are_all_answered_with_it(api: Api) -> None:
    key = str(uuid.uuid4())
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: api.post(api.alice, "/accounts", ACCOUNT, key), range(4)))
    assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
    assert {a.json()["account"]["id"] for a in answers} == {ACCOUNT["account_id"]}
    assert len(api.alice.get("/accounts").json()["data"]) == 1


def test_a_request_whose_work_fails_unexpectedly_lets_its_key_go_and_changes_nothing(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = str(uuid.uuid4())

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(type(api.app.accounts), "open", broken)
    assert api.post(api.alice, "/accounts", ACCOUNT, key).status_code == 500
    monkeypatch.undo()
    again = api.post(api.alice, "/accounts", ACCOUNT, key)
    assert again.status_code == 201, "the retry with the same key runs the work"
    assert len(api.alice.get("/accounts").json()["data"]) == 1


def test_a_request_done_whose_answer_cannot_be_kept_is_answered_and_a_retry_does_not_do_it_twice(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = api.post(api.alice, "/accounts", ACCOUNT)
    assert created.status_code == 201
    key = str(uuid.uuid4())

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the answer could not be stored")

    monkeypatch.setattr(type(api.app.requests), "keep", failing)
    deposit = api.post(api.alice, f"/accounts/{ACCOUNT['account_id']}/deposits", {"amount": "10.00"}, key)
    assert deposit.status_code == 201, "the deposit is made: its answer stands"
    monkeypatch.undo()
    again = api.post(api.alice, f"/accounts/{ACCOUNT['account_id']}/deposits", {"amount": "10.00"}, key)
    assert again.status_code == 201, again.text
    cash = api.alice.get(f"/accounts/{ACCOUNT['account_id']}").json()["account"]["cash"]["EUR"]
    assert Decimal(cash) == Decimal(ACCOUNT["cash"]) + Decimal("10.00"), "deposited once"
    other = api.post(api.alice, f"/accounts/{ACCOUNT['account_id']}/deposits", {"amount": "99.00"}, key)
    assert (other.status_code, other.json()["error"]["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")


def test_a_body_over_one_mebibyte_is_413(api: Api) -> None:
    response = api.alice.post(
        "/accounts", content=b"{" + b" " * MAX_BODY + b"}", headers={"Idempotency-Key": "big"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_malformed_json_unknown_fields_and_huge_decimals_are_400(api: Api) -> None:
    bodies = [b"{", b'{"currency": "EUR", "surprise": 1}', b'{"currency": "EUR", "cash": "1e30"}', b"[]"]
    for body in bodies:
        response = api.alice.post("/accounts", content=body, headers={"Idempotency-Key": str(uuid.uuid4())})
        assert response.status_code == 400, body
        assert set(response.json()["error"]) == {"code", "message", "details"}


def test_lists_come_in_pages_with_a_cursor(api: Api) -> None:
    for number in range(5):
        api.post(api.alice, "/accounts", ACCOUNT | {"account_id": f"ACC-{number}"})
    first = api.alice.get("/accounts", params={"limit": 2}).json()
    second = api.alice.get("/accounts", params={"limit": 2, "after": first["next"]}).json()
    last = api.alice.get("/accounts", params={"limit": 2, "after": second["next"]}).json()
    ids = [a["id"] for p in (first, second, last) for a in p["data"]]
    assert ids == [f"ACC-{n}" for n in range(5)]
    assert last["next"] is None
    assert api.alice.get("/accounts", params={"limit": 0}).status_code == 400


@pytest.mark.parametrize(("path", "params", "named"), [
    ("/accounts", {"limit": "0"}, "limit"),
    ("/accounts", {"after": ""}, "after"),
    ("/accounts", {"after": "NOT-AN-ACCOUNT"}, "after"),
    ("/events", {"limit": "501"}, "limit"),
    ("/events", {"after": "x"}, "after"),
])  # fmt: skip
def test_a_bad_page_parameter_is_named_as_a_parameter_like_every_other(
    api: Api, path: str, params: dict[str, str], named: str
) -> None:
    refused = api.alice.get(path, params=params).json()["error"]
    assert refused["details"]["parameter"] == named
    assert refused["details"]["value"] == params[named]


def test_the_admin_issues_a_key_over_http_that_works_at_once_and_is_never_listed_in_full(api: Api) -> None:
    assert api.post(api.admin, "/clients", {"client_id": "initech"}).status_code == 201
    issued = api.post(api.admin, "/apikeys", {"client_id": "initech", "user_id": "peter"}).json()
    peter = {"Authorization": f"Bearer {issued['key']}"}
    assert api.anonymous.get("/accounts", headers=peter).status_code == 200
    listed = api.admin.get("/apikeys").json()["data"]
    assert issued["key"] not in json.dumps(listed)
    assert all("secret_sha256" not in k for k in listed)
    assert api.admin.delete(f"/apikeys/{issued['id']}").status_code == 200
    assert api.anonymous.get("/accounts", headers=peter).status_code == 401
    assert api.alice.get("/clients").status_code == 403


def test_another_user_sending_the_same_key_and_body_is_not_answered_with_the_first_users_response(
    api: Api,
) -> None:
    api.post(api.alice, "/accounts", ACCOUNT)
    deposit = {"amount": "1.00"}
    assert api.post(api.alice, "/accounts/ACC-1/deposits", deposit, "dep-xyz").status_code == 201
    bobs = api.post(api.bob, "/accounts/ACC-1/deposits", deposit, "dep-xyz")
    assert bobs.status_code == 404
    assert "cash" not in bobs.text


def test_a_pascal_case_route_refuses_deep_nesting_and_snake_case_names_as_bad_requests(api: Api) -> None:
    deep = b"[" * 600 + b"]" * 600
    for body in (deep, b'{"allocation_key_id": "x", "Uic": "AAA", "BuySell": "Buy", "Amount": 10}'):
        answer = api.alice.post(
            "/trade/v2/orders", content=body, headers={"Idempotency-Key": str(uuid.uuid4())}
        )
        assert answer.status_code == 400, answer.text
        assert set(answer.json()["error"]) == {"code", "message", "details"}


def test_two_authorization_headers_are_refused(api: Api) -> None:
    headers = [
        ("Authorization", api.carol.headers["Authorization"]),
        ("Authorization", api.alice.headers["Authorization"]),
    ]
    answer = httpx.get(f"{api.base_url}/accounts", headers=headers)
    assert answer.status_code == 401


def test_a_path_with_a_trailing_slash_is_no_route_not_a_redirect(api: Api) -> None:
    answer = api.alice.get("/models/")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "NOT_FOUND"


def test_a_clients_key_cannot_reach_into_its_users_idempotency_keys(api: Api) -> None:
    acme = api.app.api_keys.create("f" * 43, client="acme").text
    whole_client = httpx.Client(
        base_url=api.base_url, headers={"Authorization": f"Bearer {acme}"}, timeout=10.0
    )
    with whole_client:
        api.post(api.bob, "/accounts", ACCOUNT | {"account_id": "BOB-1"})
        assert (
            api.post(
                whole_client, "/accounts/BOB-1/deposits", {"amount": "5.00"}, "user:alice::Z"
            ).status_code
            == 201
        )
    alices = api.post(api.alice, "/accounts/BOB-1/deposits", {"amount": "5.00"}, "Z")
    assert alices.status_code == 404
    assert "cash" not in alices.text


def test_two_idempotency_key_headers_are_refused(api: Api) -> None:
    headers = [("Idempotency-Key", "a1"), ("Idempotency-Key", "a2")]
    answer = api.alice.post("/accounts", json=ACCOUNT, headers=headers)
    assert answer.status_code == 400
    assert api.alice.get("/accounts").json()["data"] == []


def test_an_unknown_state_filter_is_a_bad_request(api: Api) -> None:
    assert api.alice.get("/portfolios/orders", params={"state": "bogus"}).status_code == 400
    assert api.alice.get("/portfolios/orders", params={"state": "CANCELLED"}).status_code == 200


@pytest.mark.parametrize("account_id", [".", ".."])
def test_an_account_id_may_not_be_a_path_step(api: Api, account_id: str) -> None:
    assert api.post(api.alice, "/accounts", ACCOUNT | {"account_id": account_id}).status_code == 400


def test_the_last_admin_key_cannot_be_revoked_and_another_can_once_a_second_exists(api: Api) -> None:
    admins = [k for k in api.admin.get("/apikeys").json()["data"] if k["admin"]]
    assert len(admins) == 1
    refused = api.admin.delete(f"/apikeys/{admins[0]['id']}")
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "LAST_ADMIN_KEY")
    assert api.admin.get("/apikeys").status_code == 200  # still in force
    second = api.post(api.admin, "/apikeys", {"admin": True})
    assert second.status_code == 201, second.text
    assert api.admin.delete(f"/apikeys/{admins[0]['id']}").status_code == 200
    assert api.admin.get("/apikeys").status_code == 401


def test_a_chunked_body_over_one_mebibyte_is_413_and_nothing_is_made(api: Api) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"currency": "EUR", "account_id": "BIG", "x": "'
        for _ in range(MAX_BODY // 65536 + 1):
            yield b"a" * 65536
        yield b'"}'

    response = api.alice.post("/accounts", content=chunks(), headers={"Idempotency-Key": "big-chunked"})
    assert "content-length" not in {k.lower() for k in response.request.headers}, "sent chunked"
    assert (response.status_code, response.json()["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE")
    assert api.alice.get("/accounts/BIG").status_code == 404


def test_a_body_declared_over_one_mebibyte_is_413_before_it_is_sent(api: Api) -> None:
    with socket.create_connection(
        ("127.0.0.1", int(api.base_url.rsplit(":", 1)[1])), timeout=10
    ) as connection:
        key = str(api.alice.headers["Authorization"])
        connection.sendall(
            f"POST /accounts HTTP/1.1\r\nHost: x\r\nAuthorization: {key}\r\nIdempotency-Key: big-declared\r\n"
            f"Content-Type: application/json\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n".encode()
        )  # and no byte of the body
        answer = b""
        while chunk := connection.recv(65536):  # the server closes the connection after its answer
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"PAYLOAD_TOO_LARGE" in answer
