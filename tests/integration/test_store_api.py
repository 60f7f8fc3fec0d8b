"""The store API on a real server on loopback: its protocol (conditional writes, the token, the batch commit sent
twice, bounded and malformed bodies), the HTTP store's behaviour when the server is away or refuses it, and two
engine processes sharing one server without losing an update."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from adapters.http_store import HttpStore, StoreUnauthorized, StoreUnreachable
from adapters.serialization import unstructure
from adapters.store_protocol import Batch, QueryRead, RecordRead, Write, batch_data
from core.errors import ConcurrentUpdate, NotFound
from core.instruments import AllocationLine, Instrument
from core.journal import FUNDING, Asset, Cause, CauseKind, JournalEntry, LedgerAccount, transfer
from core.records import Account
from entrypoints.bootstrap import http_application
from tests.store_server import RunningStore, store_server

NOW = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[RunningStore]:
    with store_server(tmp_path / "served.db") as server:
        yield server


@pytest.fixture
def api(served: RunningStore) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {served.token}"}
    with httpx.Client(base_url=served.api, headers=headers, timeout=10.0) as client:
        yield client


def account(account_id: str = "A1", cash: str = "100.00") -> Account:
    return Account(account_id, "EUR", {"EUR": Decimal(cash)}, created_at=NOW)


def deposit(entry_id: str, account_id: str = "A1") -> JournalEntry:
    return JournalEntry(
        id=entry_id,
        at=NOW,
        cause=Cause(CauseKind.DEPOSIT, account_id),
        postings=transfer(FUNDING, LedgerAccount.client(account_id), Asset.cash("EUR"), Decimal("1.00")),
        memo="a deposit",
    )


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


# -- records with versions -----------------------------------------------------------------------------------


def test_a_record_added_with_if_none_match_reads_back_with_its_version_as_etag(api: httpx.Client) -> None:
    added = api.put("/records/accounts/A1", json=unstructure(account()), headers={"If-None-Match": "*"})
    assert (added.status_code, added.headers["ETag"]) == (201, '"1"')
    read = api.get("/records/accounts/A1")
    assert (read.status_code, read.headers["ETag"], read.json()) == (200, '"1"', unstructure(account()))


def test_a_replace_at_a_stale_version_is_refused_with_412_and_changes_nothing(api: httpx.Client) -> None:
    api.put("/records/accounts/A1", json=unstructure(account()), headers={"If-None-Match": "*"})
    replaced = api.put(
        "/records/accounts/A1", json=unstructure(account(cash="90.00")), headers={"If-Match": '"1"'}
    )
    assert (replaced.status_code, replaced.headers["ETag"]) == (200, '"2"')
    stale = api.put(
        "/records/accounts/A1", json=unstructure(account(cash="80.00")), headers={"If-Match": '"1"'}
    )
    assert (stale.status_code, error_code(stale)) == (412, "STALE_VERSION")
    assert stale.json()["error"]["details"]["version"] == 2
    read = api.get("/records/accounts/A1")
    assert (read.headers["ETag"], read.json()["cash"]) == ('"2"', {"EUR": "90.00"})


def test_adding_a_record_that_exists_is_refused_with_412(api: httpx.Client) -> None:
    api.put("/records/accounts/A1", json=unstructure(account()), headers={"If-None-Match": "*"})
    again = api.put(
        "/records/accounts/A1", json=unstructure(account(cash="1.00")), headers={"If-None-Match": "*"}
    )
    assert (again.status_code, error_code(again)) == (412, "ALREADY_EXISTS")
    assert api.get("/records/accounts/A1").json()["cash"] == {"EUR": "100.00"}


def test_a_write_that_names_no_version_is_refused_with_428(api: httpx.Client) -> None:
    refused = api.put("/records/accounts/A1", json=unstructure(account()))
    assert (refused.status_code, error_code(refused)) == (428, "PRECONDITION_REQUIRED")


def test_a_missing_record_is_404_naming_it(api: httpx.Client) -> None:
    missing = api.get("/records/accounts/nobody")
    assert (missing.status_code, error_code(missing)) == (404, "NOT_FOUND")
    assert missing.json()["error"]["details"] == {"table": "accounts", "id": "nobody"}


def test_a_list_filters_like_a_repository_and_gives_each_record_its_version(api: httpx.Client) -> None:
    for account_id, currency in (("A1", "EUR"), ("A2", "USD"), ("A3", "CHF")):
        body = unstructure(Account(account_id, currency, {currency: Decimal(1)}, created_at=NOW))
        api.put(f"/records/accounts/{account_id}", json=body, headers={"If-None-Match": "*"})
    listed = api.get("/records/accounts", params=[("currency", "EUR"), ("currency", "CHF")]).json()
    assert [(r["record"]["id"], r["version"]) for r in listed["records"]] == [("A1", 1), ("A3", 1)]
    ids = api.get("/ids/accounts", params={"currency": "USD"}).json()
    assert [found["id"] for found in ids["ids"]] == ["A2"]


def test_an_unknown_table_is_refused_as_bad_input(api: httpx.Client) -> None:
    refused = api.get("/records/nothing/A1")
    assert (refused.status_code, error_code(refused)) == (400, "VALIDATION_ERROR")


# -- the token and the bodies --------------------------------------------------------------------------------


@pytest.mark.parametrize("authorization", [None, "Bearer not-the-token", "Basic c3RvcmU6dG9rZW4=", "Bearer"])
def test_a_request_without_the_service_token_is_refused_with_401(
    served: RunningStore, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    refused = httpx.get(served.api + "/records/accounts/A1", headers=headers, timeout=10.0)
    assert (refused.status_code, error_code(refused)) == (401, "UNAUTHORIZED")
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_body_over_16_mib_is_refused_with_413(api: httpx.Client) -> None:
    refused = api.post("/commit", content=b" " * (16 * 1024 * 1024 + 1))
    assert (refused.status_code, error_code(refused)) == (413, "PAYLOAD_TOO_LARGE")


def test_a_body_that_is_not_json_is_refused_with_400_and_the_error_body(api: httpx.Client) -> None:
    refused = api.post("/commit", content=b'{"id": "b1", "writes": [')
    assert refused.status_code == 400
    assert set(refused.json()["error"]) == {"code", "message", "details"}
    assert error_code(refused) == "INVALID_JSON"


def test_a_batch_with_a_record_that_is_not_one_is_refused_and_names_the_write(api: httpx.Client) -> None:
    body = {"id": "b1", "writes": [{"table": "accounts", "record": {"id": "A1"}}]}
    refused = api.post("/commit", json=body)
    assert (refused.status_code, error_code(refused)) == (400, "VALIDATION_ERROR")
    assert refused.json()["error"]["message"].startswith("writes[0]:")


def test_a_path_the_store_api_does_not_have_is_404_in_the_error_body(api: httpx.Client) -> None:
    missing = api.get("/nothing/here")
    assert (missing.status_code, error_code(missing)) == (404, "NOT_FOUND")


# -- the batch commit ----------------------------------------------------------------------------------------


def test_a_batch_sent_twice_gets_the_same_answer_and_is_written_once(api: httpx.Client) -> None:
    batch = Batch(
        id="batch-1",
        record_reads=(RecordRead("accounts", "A1", None),),
        writes=(Write("accounts", account()),),
        entries=(deposit("J1"),),
    )
    first = api.post("/commit", json=batch_data(batch))
    second = api.post("/commit", json=batch_data(batch))
    assert (first.status_code, first.json()) == (second.status_code, second.json()) == (
        200, {"id": "batch-1", "committed": True},
    )  # fmt: skip
    assert [e["id"] for e in api.get("/journal/entries").json()["entries"]] == ["J1"]
    assert api.get("/records/accounts/A1").headers["ETag"] == '"1"'


def test_a_batch_whose_reads_changed_is_refused_with_409_and_writes_nothing(api: httpx.Client) -> None:
    api.put("/records/accounts/A1", json=unstructure(account()), headers={"If-None-Match": "*"})
    api.put("/records/accounts/A1", json=unstructure(account(cash="5.00")), headers={"If-Match": '"1"'})
    stale = Batch(
        id="batch-2",
        query_reads=(QueryRead("accounts", {}, ("A1",), 1, (1,)),),
        writes=(Write("accounts", account("A2")),),
        entries=(deposit("J-lost", "A2"),),
    )
    refused = api.post("/commit", json=batch_data(stale))
    assert (refused.status_code, error_code(refused)) == (409, "CONCURRENT_UPDATE")
    assert api.get("/records/accounts/A2").status_code == 404
    assert api.get("/journal/entries").json()["entries"] == []


# -- the HTTP store when the server is away or refuses it ----------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_store_nobody_listens_at_is_store_unreachable_after_a_few_tries() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    store = HttpStore(url, "token", retry_delays=(0.01, 0.01))
    started = time.monotonic()

    def read() -> None:
        with store.unit_of_work() as work:
            work.accounts.get("A1")

    with pytest.raises(
        StoreUnreachable, match=r"the store at .* cannot be connected to .*tried 3 times"
    ) as raised:
        read()
    assert raised.value.code == "STORE_UNREACHABLE"
    assert time.monotonic() - started < 5
    store.close()


def test_a_token_the_store_refuses_is_store_unauthorized(served: RunningStore) -> None:
    store = HttpStore(served.url, "not-the-token")

    def read() -> None:
        with store.unit_of_work() as work:
            work.accounts.list()

    with pytest.raises(StoreUnauthorized, match="refused the service token") as raised:
        read()
    assert raised.value.code == "STORE_UNAUTHORIZED"
    store.close()


def test_an_address_where_no_store_api_answers_is_store_unreachable(served: RunningStore) -> None:
    store = HttpStore(served.url + "/elsewhere", served.token)
    with pytest.raises(StoreUnreachable, match="is not an allot store API"), store.unit_of_work() as work:
        work.accounts.get("A1")
    store.close()


class LosesTheFirstCommitsAnswer(httpx.BaseTransport):
    """Sends every request, but drops the answer to the first commit as a broken connection would."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.commits = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.url.path.endswith("/commit"):
            self.commits += 1
            if self.commits == 1:
                response.read()
                response.close()
                raise httpx.ReadError("the connection broke before the answer came", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


def test_a_commit_whose_answer_was_lost_is_sent_again_and_written_once(served: RunningStore) -> None:
    transport = LosesTheFirstCommitsAnswer()
    store = HttpStore(served.url, served.token, transport=transport, retry_delays=(0.01,))
    with store.unit_of_work() as work:
        work.accounts.add(account())
        work.journal.append(deposit("J1"))
        work.commit()
    assert transport.commits == 2
    with store.unit_of_work() as work:
        assert work.accounts.get("A1") == account()
        assert [e.id for e in work.journal.entries()] == ["J1"]
    store.close()


def test_a_refusal_decided_on_reads_that_changed_since_is_a_conflict(served: RunningStore) -> None:
    """A use case that refuses on what it read is run again if what it read changed before it ended: the
    refusal may rest on a state that no longer is (here, an account it found missing was added meanwhile)."""
    first, second = HttpStore(served.url, served.token), HttpStore(served.url, served.token)

    def refuse_while_another_adds_it() -> None:
        with first.unit_of_work() as work:
            assert work.accounts.get("A2") is None
            with second.unit_of_work() as other:
                other.accounts.add(account("A2"))
                other.commit()
            work.accounts.list()
            raise NotFound("account A2 does not exist", {"id": "A2"})

    with pytest.raises(ConcurrentUpdate):
        refuse_while_another_adds_it()
    first.close()
    second.close()


def test_a_refusal_decided_on_reads_that_still_hold_stands(served: RunningStore) -> None:
    store = HttpStore(served.url, served.token)

    def refuse() -> None:
        with store.unit_of_work() as work:
            assert work.accounts.get("A2") is None
            work.accounts.list()
            raise NotFound("account A2 does not exist", {"id": "A2"})

    with pytest.raises(NotFound):
        refuse()
    store.close()


# -- two engine processes on one server ----------------------------------------------------------------------

ENGINE = textwrap.dedent(
    """
    import sys, time
    from decimal import Decimal
    from pathlib import Path
    from core.portfolio import OrderType
    from entrypoints.bootstrap import http_application

    url, token, name, count, go = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), Path(sys.argv[5])
    deadline = time.monotonic() + 30
    while not go.exists():
        assert time.monotonic() < deadline, "never told to go"
        time.sleep(0.005)
    with http_application(url, token) as app:
        for i in range(count):
            app.accounts.deposit("ACC", Decimal("1.00"))
            app.portfolio_orders.place("ACC", OrderType.BUY, Decimal("1.00"), "all AAA",
                                       idempotency_key=f"{name}-{i}")
    """
)


def allot(served: RunningStore, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "ALLOT_STORE_TOKEN": served.token}
    environment.pop("ALLOT_DB", None)
    return subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", "--store", served.url, *args],
        env=environment, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_two_engine_processes_on_one_server_lose_no_deposit_and_no_order(
    served: RunningStore, tmp_path: Path
) -> None:
    per_process = 20
    with http_application(served.url, served.token) as app:
        app.accounts.open("EUR", Decimal("1000.00"), account_id="ACC")
        app.instruments.add(Instrument("AAA", Decimal("10.00"), Decimal("0.001"), currency="EUR"))
        app.allocations.create("all AAA", [AllocationLine("AAA", Decimal(1))])
    go = tmp_path / "go"
    engines = [
        subprocess.Popen(
            [sys.executable, "-c", ENGINE, served.url, served.token, name, str(per_process), str(go)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("one", "two")
    ]
    go.touch()
    problems = [engine.communicate(timeout=240)[1] for engine in engines]
    assert [engine.returncode for engine in engines] == [0, 0], problems
    with http_application(served.url, served.token) as app:
        assert app.accounts.get("ACC").cash == {"EUR": Decimal("1000.00") + 2 * per_process}
        placed = app.portfolio_orders.all()
        assert len(placed) == len({order.id for order in placed}) == 2 * per_process
    verified = allot(served, "ledger", "verify")
    assert verified.returncode == 0, verified.stderr
    ran = allot(served, "market", "run")
    assert ran.returncode == 0, ran.stderr
    with http_application(served.url, served.token) as app:
        assert app.accounts.get("ACC").cash == {"EUR": Decimal("1000.00")}
    assert allot(served, "ledger", "verify").returncode == 0


def test_two_authorization_headers_are_refused_even_if_one_holds_the_token(served: RunningStore) -> None:
    headers = [("Authorization", f"Bearer {served.token}"), ("Authorization", "Bearer x")]
    answer = httpx.get(f"{served.api}/records/accounts", headers=headers, timeout=10.0)
    assert answer.status_code == 401


def test_a_client_that_goes_away_mid_body_is_not_an_internal_error(
    served: RunningStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="allot.store")
    host, port = served.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10.0) as connection:
        connection.sendall(
            f"POST {served.api.removeprefix(served.url)}/commit HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {served.token}\r\nContent-Length: 1000\r\n\r\n{{".encode()
        )
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and not [r for r in caplog.records if r.name == "allot.store"]:
        time.sleep(0.02)
    logged = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "allot.store"]
    assert logged, "the server said nothing of the request cut short"
    assert all(level == "INFO" and "went away" in message for level, message in logged), logged
