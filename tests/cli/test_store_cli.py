"""``allot --store URL``: every command keeps its state on an allot server's store API instead of a file, and
the commands that work on the database file itself refuse cleanly."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from tests.cli.conftest import Ran, run
from tests.store_server import RunningStore, store_server


@attrs.frozen
class Remote:
    """The command on one store API (and no database file in the working folder)."""

    url: str
    token: str | None

    def __call__(self, *args: str, expect: int | None = 0, env: dict[str, str | None] | None = None) -> Ran:
        environment = {"ALLOT_DB": None, "ALLOT_STORE": None, "ALLOT_STORE_TOKEN": self.token, **(env or {})}
        return run(["--store", self.url, *args], expect, env=environment)

    def json(self, *args: str) -> Any:
        return self(*args, "--json").data


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningStore]:
    monkeypatch.chdir(tmp_path)
    with store_server(tmp_path / "served.db") as server:
        yield server


@pytest.fixture
def remote(served: RunningStore) -> Remote:
    return Remote(served.url, served.token)


def test_the_commands_of_a_portfolio_order_run_against_a_store_server(
    remote: Remote, served: RunningStore, tmp_path: Path
) -> None:
    remote("accounts", "create", "--currency", "EUR", "--cash", "5000.00", "--id", "ACC")
    remote("instruments", "create", "AAA", "--price", "10.00", "--step", "0.001")
    remote("instruments", "create", "BBB", "--price", "25.00")
    remote("allocations", "create", "60/40", "--line", "AAA=0.6", "--line", "BBB=0.4")
    placed = remote.json(
        "orders", "create", "ACC", "--type", "BUY", "--amount", "1000", "--allocation", "60/40"
    )
    assert placed["state"] == "SUBMITTED"
    remote("market", "run")
    listed = remote.json("orders", "list")
    assert [(o["id"], o["state"]) for o in listed] == [(placed["id"], "FILLED")]
    assert remote.json("accounts", "show", "ACC")["available_cash"] == "4000.00"
    verified = remote("ledger", "verify")
    assert verified.code == 0
    assert not (tmp_path / "allot.db").exists()  # the state is on the server, not in the working folder
    with served.database.unit_of_work() as work:
        assert work.accounts.get("ACC") is not None


def test_a_refusal_on_a_store_server_exits_as_it_does_on_a_file(remote: Remote) -> None:
    remote("accounts", "create", "--currency", "EUR", "--cash", "10.00", "--id", "ACC")
    refused = remote("accounts", "withdraw", "ACC", "20", "--json", expect=1)
    assert refused.error["code"] == "INSUFFICIENT_FUNDS"
    missing = remote("accounts", "show", "NOBODY", "--json", expect=2)
    assert missing.error["code"] == "NOT_FOUND"


@pytest.mark.parametrize("command", [("db", "check"), ("db", "backup", "copy.db")])
def test_the_commands_of_the_database_file_refuse_a_store_server_as_a_usage_error(
    remote: Remote, command: tuple[str, ...], tmp_path: Path
) -> None:
    refused = remote(*command, expect=2)
    assert "works on a SQLite database file" in refused.err
    assert "--db PATH" in refused.err
    assert json.loads(remote(*command, "--json", expect=2).err)["error"]["code"] == "USAGE_ERROR"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["served.db", "served.db-shm", "served.db-wal"]


def test_a_store_server_nobody_listens_at_exits_3_as_store_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    ran = Remote(url, "token")("accounts", "list", "--json", expect=3)
    assert ran.error["code"] == "STORE_UNREACHABLE"
    assert url in ran.error["message"]


def test_a_token_the_store_server_refuses_exits_3_as_store_unauthorized(served: RunningStore) -> None:
    ran = Remote(served.url, "wrong")("accounts", "list", "--json", expect=3)
    assert ran.error["code"] == "STORE_UNAUTHORIZED"


def test_a_store_server_without_a_token_is_a_usage_error(served: RunningStore) -> None:
    ran = Remote(served.url, None)("accounts", "list", expect=2)
    assert "ALLOT_STORE_TOKEN" in ran.err


def test_a_store_address_that_is_not_one_is_bad_input(served: RunningStore) -> None:
    ran = Remote("ftp://example.com", "token")("accounts", "list", "--json", expect=2)
    assert ran.error["code"] == "VALIDATION_ERROR"


def test_db_and_store_given_together_are_a_usage_error(remote: Remote) -> None:
    ran = remote("--db", "other.db", "accounts", "list", expect=2)
    assert "--db and --store both given" in ran.err


def test_a_store_given_on_the_command_line_wins_over_allot_db_in_the_environment(
    remote: Remote, tmp_path: Path
) -> None:
    remote(
        "accounts", "create", "--currency", "EUR", "--cash", "1.00", "--id", "ACC", env={"ALLOT_DB": "env.db"}
    )
    assert not (tmp_path / "env.db").exists()
    assert [a["id"] for a in remote.json("accounts", "list")] == ["ACC"]
