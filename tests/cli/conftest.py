"""Running the ``allot`` command in-process on a real SQLite file, as an operator would."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner

from entrypoints.cli import main


@attrs.frozen
class Ran:
    code: int
    out: str
    err: str

    @property
    def data(self) -> Any:
        return json.loads(self.out)

    @property
    def error(self) -> dict[str, Any]:
        """The error body a run with ``--json`` printed on stderr."""
        body: dict[str, Any] = json.loads(self.err)["error"]
        return body


def run(
    arguments: list[str],
    expect: int | None,
    stdin: str | None = None,
    env: dict[str, str | None] | None = None,
) -> Ran:
    """Run ``allot`` with ``arguments``: never a traceback, and exit status ``expect`` unless it is None."""
    result = CliRunner(env=env).invoke(main, arguments, input=stdin)
    ran = Ran(result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    if expect is not None:
        assert ran.code == expect, (arguments, ran)
    return ran


@attrs.frozen
class Allot:
    """The command on one database file."""

    database: Path

    def __call__(self, *args: str, expect: int | None = 0, stdin: str | None = None) -> Ran:
        return run(["--db", str(self.database), *args], expect, stdin=stdin)

    def json(self, *args: str) -> Any:
        return self(*args, "--json").data

    def state(self) -> list[tuple[Any, ...]]:
        """Everything stored, to check that a refused command wrote nothing."""
        if not self.database.exists():
            return []
        with sqlite3.connect(self.database) as connection:
            rows = connection.execute("SELECT kind, id, version, body FROM records ORDER BY rowid").fetchall()
            rows += connection.execute("SELECT seq, id, body FROM events ORDER BY seq").fetchall()
        connection.close()
        return rows


@pytest.fixture
def allot(tmp_path: Path) -> Allot:
    return Allot(tmp_path / "ops.db")


def setup_portfolio(allot: Allot) -> None:
    allot("accounts", "create", "--currency", "EUR", "--cash", "5000.00", "--id", "ACC")
    allot("instruments", "create", "AAA", "--price", "10.00", "--step", "0.001")
    allot("instruments", "create", "BBB", "--price", "25.00")
    allot("allocations", "create", "60/40", "--line", "AAA=0.6", "--line", "BBB=0.4")


KEY = {
    "name": "half", "unit_type": "UNIT", "margin_handling": "REJECT", "one_time": False,
    "owner_account_id": "BLOCK", "error_account_id": "ERR",
    "participants": [{"account_id": "P1", "unit_value": "10"}, {"account_id": "P2", "unit_value": "20"}],
}  # fmt: skip


def setup_key(allot: Allot, key: dict[str, Any] = KEY) -> str:
    for account in ("BLOCK", "ERR", "P1", "P2"):
        allot("accounts", "create", "--currency", "EUR", "--cash", "100000.00", "--id", account)
    allot("instruments", "create", "FX", "--price", "1.00")
    return str(allot("keys", "create", "-", "--json", stdin=json.dumps(key)).data["id"])
