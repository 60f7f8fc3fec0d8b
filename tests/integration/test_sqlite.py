"""SQLite for real: schema versions, two processes writing at once, a process killed before its commit."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.sqlite import SCHEMA_VERSION, SqliteDatabase
from core.errors import SchemaTooNew
from core.instruments import AllocationLine, Instrument
from entrypoints.bootstrap import sqlite_engine


def test_a_new_database_gets_the_current_schema(tmp_path: Path) -> None:
    SqliteDatabase(tmp_path / "a.db").close()
    with sqlite3.connect(tmp_path / "a.db") as connection:
        assert connection.execute("SELECT max(version) FROM schema_version").fetchone() == (SCHEMA_VERSION,)
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_opening_a_database_twice_migrates_nothing_twice(tmp_path: Path) -> None:
    SqliteDatabase(tmp_path / "a.db").close()
    SqliteDatabase(tmp_path / "a.db").close()
    with sqlite3.connect(tmp_path / "a.db") as connection:
        assert connection.execute("SELECT count(*) FROM schema_version").fetchone() == (SCHEMA_VERSION,)


def test_a_database_written_by_a_newer_allot_is_refused_clearly(tmp_path: Path) -> None:
    SqliteDatabase(tmp_path / "a.db").close()
    with sqlite3.connect(tmp_path / "a.db") as connection:
        connection.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION + 1,))
    with pytest.raises(SchemaTooNew, match="newer allot"):
        SqliteDatabase(tmp_path / "a.db")


PLACE_500 = textwrap.dedent(
    """
    import sys
    from decimal import Decimal
    from core.portfolio import OrderType
    from entrypoints.bootstrap import sqlite_engine

    engine, database = sqlite_engine(sys.argv[1])
    account, allocation = sys.argv[2], sys.argv[3]
    for i in range(500):
        engine.place_portfolio_order(account, OrderType.BUY, Decimal("1.00"), allocation, idempotency_key=f"{account}-{i}")
    database.close()
    """
)


def test_two_processes_placing_500_orders_each_store_all_1000_and_none_twice(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    engine, database = sqlite_engine(path)
    for account_id in ("ACC-A", "ACC-B"):
        engine.create_account("EUR", Decimal("10000.00"), account_id=account_id)
    engine.add_instrument(Instrument("AAA", Decimal("10.00"), Decimal("0.001")))
    engine.add_instrument(Instrument("BBB", Decimal("20.00"), Decimal("0.001")))
    model = engine.create_allocation(
        "half", [AllocationLine("AAA", Decimal("0.5")), AllocationLine("BBB", Decimal("0.5"))]
    )
    database.close()
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", PLACE_500, str(path), account, model.id], stderr=subprocess.PIPE, text=True
        )
        for account in ("ACC-A", "ACC-B")
    ]
    errors = [worker.communicate(timeout=240)[1] for worker in workers]
    assert [w.returncode for w in workers] == [0, 0], errors
    assert not any("locked" in e for e in errors)
    engine, database = sqlite_engine(path)
    orders = engine.list_portfolio_orders()
    assert len(orders) == 1000
    assert len({o.id for o in orders}) == 1000
    assert {a: len(engine.list_portfolio_orders(account_id=a)) for a in ("ACC-A", "ACC-B")} == {
        "ACC-A": 500,
        "ACC-B": 500,
    }
    assert len(engine.list_events(limit=10_000, topic="PORTFOLIO_ORDER")) == 2000
    database.close()


KILL_BEFORE_COMMIT = textwrap.dedent(
    """
    import datetime as dt, os, signal, sys
    from decimal import Decimal
    from adapters.sqlite import SqliteDatabase
    from core.records import Account, Event

    database = SqliteDatabase(sys.argv[1])
    now = dt.datetime.now(dt.UTC)
    with database.unit_of_work() as work:
        work.accounts.add(Account("GHOST", "EUR", {"EUR": Decimal("1.00")}))
        work.outbox.add(Event("E-GHOST", now, "ACCOUNT.NEW", {"id": "GHOST"}))
        os.kill(os.getpid(), signal.SIGKILL)
        work.commit()
    """
)


def test_a_process_killed_between_a_state_change_and_its_commit_leaves_neither(tmp_path: Path) -> None:
    path = tmp_path / "killed.db"
    SqliteDatabase(path).close()
    result = subprocess.run([sys.executable, "-c", KILL_BEFORE_COMMIT, str(path)], timeout=60)
    assert result.returncode == -9
    engine, database = sqlite_engine(path)
    assert engine.list_accounts() == []
    assert engine.list_events() == []
    database.close()
