"""A server killed after a request's work is committed but before its answer is kept: the retry with the same
Idempotency-Key, on the restarted server, is answered at once (no 409 for minutes) and does not do the work again.

Every route that creates work is tried (the table below must name them all). The kill is real: ``allot serve`` in
its own process, made to ``os._exit`` the moment it would keep the answer, over a real SQLite file. What the retry
may change is the kept answer alone: every record, event, journal entry and posting is as the killed server left it.
"""

from __future__ import annotations

import sqlite3
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from entrypoints.http.app import OPERATIONS
from tests.http.conftest import Api, running_api
from tests.http.test_copy_trading_api import (
    FUNDS,
    become_follower,
    create_growth,
    open_funds,
    run_until,
    start,
)
from tests.http.test_portfolio_api import invested
from tests.http.test_serve_process import STOP_DEADLINE, Served
from tests.http.test_trade_api import FIRST, block_order, create_key, open_accounts, remainder_key

#: ``allot serve`` that dies, as a killed process does (no cleanup, no answer), when it would keep an answer.
DIES_BEFORE_KEEPING = (
    "import os, sys\n"
    "import ports.requests\n"
    "ports.requests.Requests.keep = lambda *args, **kwargs: os._exit(137)\n"
    "from entrypoints.cli import main\n"
    "sys.argv[0] = 'allot'\n"
    "main()\n"
)


@attrs.frozen
class Prepared:
    """A database where every route that creates work has something to work on, and the keys to call it with."""

    database: Path
    keys: dict[str, str]
    ids: dict[str, str]


@attrs.frozen
class Route:
    method: str
    path: str
    caller: str
    body: Callable[[dict[str, str]], Any]


ROUTES = [
    Route("POST", "/accounts", "alice", lambda _: {"account_id": "NEW-1", "currency": "EUR", "cash": "10.00"}),
    Route("POST", "/accounts/{FIRST}/deposits", "alice", lambda _: {"amount": "10.00"}),
    Route("POST", "/accounts/{FIRST}/withdrawals", "alice", lambda _: {"amount": "10.00"}),
    Route("POST", "/instruments", "admin", lambda _: {"instrument_id": "CCC", "price": "5.00"}),
    Route("POST", "/models", "alice", lambda _: {"name": "all AAA", "lines": [{"instrument_id": "AAA", "weight": "1"}]}),
    Route("POST", "/clients", "admin", lambda _: {"client_id": "initech"}),
    Route("POST", "/apikeys", "admin", lambda _: {"client_id": "acme", "user_id": "dave"}),
    Route("POST", "/portfolios/orders", "alice",
          lambda ids: {"account_id": ids["invested"], "type": "BUY", "cash_amount": "100.00",
                       "allocation_id": ids["model"]}),
    Route("POST", "/portfolios/{invested}/liquidation_request", "alice", lambda _: {"user_id": "alice"}),
    Route("POST", "/accounts/{invested}/liquidations", "alice", lambda _: {"user_id": "alice"}),
    Route("POST", "/trade/v1/allocationkeys", "desk", lambda _: remainder_key(one_time=False)),
    Route("POST", "/trade/v2/orders", "desk", lambda ids: block_order(ids["key"], 6000)),
    Route("POST", "/at/v3/investments", "bob",
          lambda _: {"TradeLeaderId": "growth", "FundingAccountKey": "BOB-FUNDS", "Amount": "1000.00"}),
    Route("PUT", "/at/v3/investments/{investment}/withdraw", "alice", lambda _: {"Amount": "100.00"}),
    Route("POST", "/webhooks", "admin",
          lambda _: {"url": "http://127.0.0.1:9/hook", "topics": ["FUNDING"], "allow_private_network": True}),
]  # fmt: skip


def test_the_table_names_every_route_that_creates_work() -> None:
    creating = {(operation.method, operation.path) for operation in OPERATIONS if operation.creates_work}
    assert {(route.method, template(route.path)) for route in ROUTES} == creating
    assert len(ROUTES) == len(creating)


def template(path: str) -> str:
    """A route's path as the operation table writes it."""
    for ours, theirs in (
        ("FIRST", "account_id"),
        ("invested", "account_id"),
        ("investment", "investment_id"),
    ):
        path = path.replace(f"{{{ours}}}", f"{{{theirs}}}")
    return path


def key_of(client: httpx.Client) -> str:
    return client.headers["Authorization"].removeprefix("Bearer ")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    database = tmp_path_factory.mktemp("prepared") / "prepared.db"
    with running_api(database) as api:
        open_accounts(api)
        invested_account, model_id = invested(api, api.alice)
        key_id = create_key(api, remainder_key(one_time=False))
        investment_id = following(api)
        keys = {name: key_of(getattr(api, name)) for name in ("admin", "desk", "alice", "bob")}
    ids = {"FIRST": FIRST, "invested": invested_account, "model": model_id, "key": key_id,
           "investment": investment_id}  # fmt: skip
    return Prepared(database, keys, ids)


def following(api: Api) -> str:
    """An investment of alice's in the operator's leader, Ready to withdraw from; and bob, a follower with funds."""
    create_growth(api)
    for client, funds in ((api.alice, FUNDS), (api.bob, "BOB-FUNDS")):
        open_funds(api, client, funds)
        become_follower(api, client)
    started = start(api)
    assert started.status_code == 202, started.text
    investment_id: str = started.json()["InvestmentId"]
    run_until(api, investment_id, "Ready")
    return investment_id


def copied(prepared: Prepared, folder: Path) -> Path:
    database = folder / "allot.db"
    with sqlite3.connect(prepared.database) as source, sqlite3.connect(database) as target:
        source.backup(target)
    return database


def everything_but_kept_answers(database: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every record but the kept answers, every event, journal entry and posting, as stored."""
    with sqlite3.connect(database) as connection:
        return {
            "records": connection.execute(
                "SELECT kind, id, version, body FROM records WHERE kind != 'responses' ORDER BY kind, id"
            ).fetchall(),
            **{table: connection.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
               for table in ("events", "journal", "postings")},
        }  # fmt: skip


def label(route: Route) -> str:
    return f"{route.method} {route.path}"


@pytest.mark.parametrize("route", ROUTES, ids=label)
def test_a_retry_after_the_server_died_between_the_work_and_its_answer_is_answered_at_once_and_does_nothing_again(
    prepared: Prepared, tmp_path: Path, route: Route
) -> None:
    database = copied(prepared, tmp_path)
    before = everything_but_kept_answers(database)
    path, body = route.path.format(**prepared.ids), route.body(prepared.ids)
    headers = {"Authorization": f"Bearer {prepared.keys[route.caller]}", "Idempotency-Key": str(uuid.uuid4())}

    dying = Served(database, program=(sys.executable, "-c", DIES_BEFORE_KEEPING))
    try:
        with pytest.raises(httpx.TransportError):
            httpx.request(route.method, dying.base_url + path, json=body, headers=headers, timeout=30)
        assert dying.process.wait(STOP_DEADLINE) == 137, dying.stderr
    finally:
        dying.kill()
    worked = everything_but_kept_answers(database)
    assert worked != before, "the killed server had done the work"

    restarted = Served(database)
    try:
        again = httpx.request(route.method, restarted.base_url + path, json=body, headers=headers, timeout=30)
    finally:
        restarted.process.terminate()
        restarted.finish()
    assert 200 <= again.status_code < 300, again.text
    assert everything_but_kept_answers(database) == worked, "the retry did the work again"
