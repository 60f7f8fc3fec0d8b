"""Whatever is wrong with the database file, the command says so in one sentence with a stable code (exit 3),
writes nothing, and never shows a traceback. Interruptions and bugs end the same clean way."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ports.market import Market
from tests.cli.conftest import Allot, setup_portfolio


def storage_error(allot: Allot, *args: str, code: str, says: str) -> None:
    ran = allot(*args, "--json", expect=3)
    assert (ran.error["code"], ran.out) == (code, "")
    assert says in ran.error["message"]
    plain = allot(*args, expect=3)
    assert plain.err.startswith("allot: "), plain.err
    assert plain.err.endswith(f"({code})\n"), plain.err


def test_a_database_in_a_folder_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    allot = Allot(tmp_path / "nonexistent" / "dir" / "x.db")
    storage_error(allot, "accounts", "list", code="DATABASE_NOT_FOUND", says="no allot database")
    storage_error(allot, "accounts", "create", "--currency", "EUR", code="DATABASE_NOT_FOUND",
                  says="folder")  # fmt: skip
    assert not (tmp_path / "nonexistent").exists()


def test_a_command_that_only_reads_never_creates_a_database(tmp_path: Path) -> None:
    allot = Allot(tmp_path / "typo.db")
    for command in (("accounts", "list"), ("orders", "list"), ("events", "list"), ("keys", "list")):
        storage_error(allot, *command, code="DATABASE_NOT_FOUND", says="check --db")
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_a_database_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    path.write_text("hi\n")
    allot = Allot(path)
    storage_error(allot, "accounts", "list", code="NOT_AN_ALLOT_DATABASE", says="not an allot database")
    storage_error(allot, "accounts", "create", "--currency", "EUR", code="NOT_AN_ALLOT_DATABASE", says="t.db")
    assert path.read_text() == "hi\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.db"]


def test_another_programs_database_gets_no_allot_tables(tmp_path: Path) -> None:
    path = tmp_path / "crm.db"
    with contextlib.closing(sqlite3.connect(path)) as connection, connection:
        connection.execute("CREATE TABLE customers (name TEXT)")
    before = path.read_bytes()
    storage_error(Allot(path), "accounts", "create", "--currency", "EUR", code="NOT_AN_ALLOT_DATABASE",
                  says="another program's")  # fmt: skip
    assert path.read_bytes() == before


def test_a_directory_is_not_a_database(tmp_path: Path) -> None:
    storage_error(Allot(tmp_path), "accounts", "list", code="NOT_AN_ALLOT_DATABASE", says="is a directory")


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make the file read-only for this process: permissions for an ordinary user; root ignores those, so for
    root the file is made immutable."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        yield
        path.chmod(0o644)
        return
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True, check=False)
    assert made.returncode == 0, f"this test needs chattr to protect a file from root: {made.stderr}"
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_read_only_database_refuses_writes_in_one_sentence_and_still_answers_reads(allot: Allot) -> None:
    setup_portfolio(allot)
    before = allot.state()
    with read_only(allot.database):
        storage_error(allot, "accounts", "deposit", "ACC", "10", code="STORAGE_ERROR", says="read-only")
        assert [a["id"] for a in allot.json("accounts", "list")] == ["ACC"]
    assert allot.state() == before


def test_ctrl_c_exits_130_without_a_traceback(allot: Allot, monkeypatch: pytest.MonkeyPatch) -> None:
    setup_portfolio(allot)

    def interrupted(self: Market, *args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Market, "run", interrupted)
    ran = allot("market", "run", expect=130)
    assert ran.err.strip().startswith("allot: interrupted")


def test_an_unexpected_failure_is_one_sentence_with_a_way_to_see_more(
    allot: Allot, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup_portfolio(allot)

    def broken(self: Market, *args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(Market, "run", broken)
    ran = allot("market", "run", "--json", expect=70)
    assert ran.error["code"] == "INTERNAL_ERROR"
    assert "ALLOT_DEBUG=1" in ran.error["message"]
