"""Storage faults on real SQLite files, through the composition root as an embedding program would meet them: a
damaged file is refused when it is opened, a full disk writes nothing of the use case that met it, and new
database files are readable by their owner only."""

from __future__ import annotations

import contextlib
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.sqlite import SqliteDatabase
from core.errors import DatabaseCorrupt, DiskFull, ReadOnlyDatabase, ReadOnlyFolder
from core.instruments import AllocationLine, Instrument
from core.portfolio import OrderType
from entrypoints.bootstrap import sqlite_application
from tests.faults import mode_of, no_room_to_grow, read_only, truncate, zero_pages


def stocked(path: Path, accounts: int = 3) -> None:
    """A database with a model of five instruments and ``accounts`` funded accounts."""
    with sqlite_application(path) as app:
        for i in range(5):
            app.instruments.add(Instrument(f"I{i}", Decimal("10.00") + i, Decimal("0.001"), currency="EUR"))
        app.allocations.create("five", [AllocationLine(f"I{i}", Decimal("0.2")) for i in range(5)])
        for a in range(accounts):
            app.accounts.open("EUR", Decimal("100000.00"), account_id=f"A{a}")


def counts(path: Path) -> tuple[int, ...]:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return tuple(
            connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("records", "events", "journal", "postings")
        )


def test_opening_a_database_with_zeroed_pages_raises_database_corrupt_and_writes_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "a.db"
    stocked(path, accounts=40)
    zero_pages(path)
    before = path.read_bytes()
    with pytest.raises(DatabaseCorrupt, match=f"the database {path} is damaged") as raised:
        sqlite_application(path)
    assert "btreeInitPage" in raised.value.details["problems"][0]
    assert path.read_bytes() == before


def test_opening_a_truncated_database_raises_database_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    stocked(path)
    truncate(path)
    with pytest.raises(DatabaseCorrupt, match="restore it from a backup"):
        SqliteDatabase(path, create=False)


def test_a_full_disk_writes_nothing_of_the_use_case_that_met_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.db"
    stocked(path)
    no_room_to_grow(monkeypatch)
    with sqlite_application(path) as app, pytest.raises(DiskFull, match="is full") as raised:  # noqa: PT012
        for _ in range(1000):
            before = counts(path)
            app.portfolio_orders.place("A0", OrderType.BUY, Decimal("10.00"), "five")
    assert raised.value.details["sqlite_error"] == "SQLITE_FULL"
    assert counts(path) == before


def test_a_new_database_and_its_wal_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with sqlite_application(path) as app:
        app.accounts.open("EUR", Decimal("10.00"), account_id="A")
        assert {p.name: mode_of(p) for p in tmp_path.iterdir()} == {
            "new.db": 0o600,
            "new.db-wal": 0o600,
            "new.db-shm": 0o600,
        }
    assert mode_of(path) == 0o600


def test_an_existing_database_keeps_the_permissions_it_has(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    SqliteDatabase(path).close()
    path.chmod(0o640)
    with sqlite_application(path) as app:
        app.accounts.open("EUR", Decimal("10.00"), account_id="A")
    assert mode_of(path) == 0o640


def test_a_read_only_file_is_read_and_a_write_to_it_raises_read_only_database(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    stocked(path)
    with read_only(path), sqlite_application(path, create=False) as app:
        assert [a.id for a in app.accounts.all()] == ["A0", "A1", "A2"]
        with pytest.raises(ReadOnlyDatabase, match="read-only"):
            app.accounts.deposit("A0", Decimal("1.00"))


def test_a_new_database_in_a_read_only_folder_raises_read_only_folder(tmp_path: Path) -> None:
    with read_only(tmp_path), pytest.raises(ReadOnlyFolder, match=str(tmp_path)):
        SqliteDatabase(tmp_path / "new.db")
    assert list(tmp_path.iterdir()) == []
