"""SQLite for real: the file's identity, schema versions and migration, two processes writing at once, a process
killed before its commit, and every kind of file that is not an allot database."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from adapters.sqlite import APPLICATION_ID, SCHEMA_1, SCHEMA_VERSION, SqliteDatabase, SqliteUnitOfWork
from core.errors import AccountManaged, DatabaseNotFound, NotAnAllotDatabase, SchemaTooNew
from core.instruments import AllocationLine, AssetType, Instrument, Side
from core.investments import Suitability
from core.journal import CauseKind
from core.lifecycle import OrderState
from core.numbers import ZERO
from core.records import Order, ParentKind
from core.webhooks import EventQuery
from entrypoints.bootstrap import sqlite_application


def test_a_new_database_gets_the_current_schema_and_allots_identity(tmp_path: Path) -> None:
    SqliteDatabase(tmp_path / "a.db").close()
    with sqlite3.connect(tmp_path / "a.db") as connection:
        assert connection.execute("SELECT max(version) FROM schema_version").fetchone() == (SCHEMA_VERSION,)
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert connection.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)


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


def test_another_programs_sqlite_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "theirs.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE customers (name TEXT)")
        connection.execute("INSERT INTO customers VALUES ('Ada')")
    connection.close()
    before = path.read_bytes()
    with pytest.raises(NotAnAllotDatabase, match="another program's SQLite database"):
        SqliteDatabase(path)
    assert path.read_bytes() == before
    assert not Path(str(path) + "-wal").exists()


def test_a_file_that_is_not_sqlite_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    path.write_text("hi\n")
    with pytest.raises(NotAnAllotDatabase, match="not an allot database"):
        SqliteDatabase(path)
    assert path.read_text() == "hi\n"


def test_a_directory_is_not_a_database(tmp_path: Path) -> None:
    with pytest.raises(NotAnAllotDatabase, match="is a directory"):
        SqliteDatabase(tmp_path)


def test_a_database_that_only_reads_is_never_created(tmp_path: Path) -> None:
    with pytest.raises(DatabaseNotFound, match="no allot database"):
        SqliteDatabase(tmp_path / "typo.db", create=False)
    assert not (tmp_path / "typo.db").exists()


def test_a_database_in_a_missing_folder_is_refused_before_anything_is_created(tmp_path: Path) -> None:
    with pytest.raises(DatabaseNotFound, match="does not exist"):
        SqliteDatabase(tmp_path / "nowhere" / "x.db")
    assert not (tmp_path / "nowhere").exists()


def test_an_empty_file_allot_did_not_create_is_refused_to_a_reader_and_a_writer_alike(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.write_bytes(b"")  # a database truncated to nothing looks just like this
    for create in (False, True):
        with pytest.raises(NotAnAllotDatabase, match="may be a database that lost its contents"):
            SqliteDatabase(path, create=create)
    assert path.stat().st_size == 0
    path.unlink()
    SqliteDatabase(path).close()  # a file allot creates itself is set up
    SqliteDatabase(path, create=False).close()


def first_release_database(path: Path) -> None:
    """A database as the first allot release wrote it: schema 1, no application id, parents in client_reference."""

    def body(**fields: object) -> str:
        return json.dumps(fields)

    with sqlite3.connect(path) as connection:
        connection.executescript(SCHEMA_1)
        connection.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        connection.execute("INSERT INTO schema_version VALUES (1)")
        now = "2026-11-20T09:30:00Z"
        rows = [
            ("accounts", "ACC", "ACC", None, None, body(id="ACC", currency="USD", cash={"USD": "10.00"})),
            ("instruments", "FX", None, None, None, body(instrument_id="FX", price="1.00")),
            ("portfolio_orders", "P1", "ACC", "SUBMITTED", None, body(
                id="P1", account_id="ACC", type="BUY", currency="USD", cash_amount="5.00", allocation_id=None,
                state="SUBMITTED", created_at=now, updated_at=now)),
            ("orders", "O1", "ACC", "NEW", "P1", body(
                id="O1", account_id="ACC", instrument_id="FX", side="BUY", cash_amount="5.00", quantity=None,
                state="NEW", created_at=now, updated_at=now, client_reference="P1")),
        ]  # fmt: skip
        connection.executemany(
            "INSERT INTO records (kind, id, version, account_id, state, client_reference, body) "
            "VALUES (?, ?, 1, ?, ?, ?, ?)",
            rows,
        )
    connection.close()


def test_a_database_of_the_first_release_is_migrated_with_its_orders_linked_to_their_parents(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    first_release_database(path)
    with sqlite_application(path, create=False) as app:
        order = app.queries.order("O1")
        assert (order.parent_kind, order.parent_order_id, order.state) == (
            ParentKind.PORTFOLIO_ORDER, "P1", OrderState.NEW,
        )  # fmt: skip
        assert [o.id for o in app.portfolio_orders.orders_of("P1")] == ["O1"]
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)


PLACE_500 = textwrap.dedent(
    """
    import sys
    from decimal import Decimal
    from core.portfolio import OrderType
    from entrypoints.bootstrap import sqlite_application

    with sqlite_application(sys.argv[1]) as app:
        account = sys.argv[2]
        for i in range(500):
            app.portfolio_orders.place(account, OrderType.BUY, Decimal("1.00"), "half", idempotency_key=f"{account}-{i}")
    """
)


def test_two_processes_placing_500_orders_each_store_all_1000_and_none_twice(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    with sqlite_application(path) as app:
        for account_id in ("ACC-A", "ACC-B"):
            app.accounts.open("EUR", Decimal("10000.00"), account_id=account_id)
        app.instruments.add(Instrument("AAA", Decimal("10.00"), Decimal("0.001"), currency="EUR"))
        app.instruments.add(Instrument("BBB", Decimal("20.00"), Decimal("0.001"), currency="EUR"))
        app.allocations.create(
            "half", [AllocationLine("AAA", Decimal("0.5")), AllocationLine("BBB", Decimal("0.5"))]
        )
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", PLACE_500, str(path), account], stderr=subprocess.PIPE, text=True
        )
        for account in ("ACC-A", "ACC-B")
    ]
    errors = [worker.communicate(timeout=240)[1] for worker in workers]
    assert [w.returncode for w in workers] == [0, 0], errors
    with sqlite_application(path, create=False) as app:
        orders = app.portfolio_orders.all()
        assert len(orders) == 1000
        assert len({o.id for o in orders}) == 1000
        assert {a: len(app.portfolio_orders.all(account_id=a)) for a in ("ACC-A", "ACC-B")} == {
            "ACC-A": 500,
            "ACC-B": 500,
        }
        assert len(app.queries.events(EventQuery(limit=10_000, topic="PORTFOLIO_ORDER"))) == 2000
        assert {a: app.accounts.show(a).available_cash for a in ("ACC-A", "ACC-B")} == {
            "ACC-A": Decimal("9500.00"),
            "ACC-B": Decimal("9500.00"),
        }


KILL_BEFORE_COMMIT = textwrap.dedent(
    """
    import datetime as dt, os, signal, sys
    from decimal import Decimal
    from adapters.sqlite import SqliteDatabase
    from core.records import Account, Event, Order
    from core.instruments import Side
    from core.lifecycle import OrderState

    database = SqliteDatabase(sys.argv[1])
    now = dt.datetime.now(dt.UTC)
    with database.unit_of_work() as work:
        work.accounts.add(Account("GHOST", "EUR", {"EUR": Decimal("1.00")}))
        order = Order("O", "GHOST", "X", Side.BUY, Decimal("1.00"), None, OrderState.NEW, now, now)
        work.outbox.add(Event("E-GHOST", now, "ORDER.NEW", order))
        os.kill(os.getpid(), signal.SIGKILL)
        work.commit()
    """
)


def test_a_process_killed_between_a_state_change_and_its_commit_leaves_neither(tmp_path: Path) -> None:
    path = tmp_path / "killed.db"
    SqliteDatabase(path).close()
    result = subprocess.run([sys.executable, "-c", KILL_BEFORE_COMMIT, str(path)], timeout=60)
    assert result.returncode == -9
    with sqlite_application(path, create=False) as app:
        assert app.accounts.all() == []
        assert app.queries.events() == []


def test_a_database_of_the_first_release_gets_opening_entries_and_its_books_balance(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    first_release_database(path)
    with sqlite3.connect(path) as connection:
        connection.execute(
            'UPDATE records SET body = json_set(body, \'$.positions\', json(\'[{"instrument_id": "FX", '
            '"quantity": "3"}]\')) WHERE kind = \'accounts\''
        )
    connection.close()
    with sqlite_application(path, create=False) as app:
        assert app.ledger.verify().balanced
        account = app.accounts.get("ACC")
        assert (account.cash_in("USD"), account.quantity_of("FX")) == (Decimal("10.00"), Decimal(3))
        opening = app.ledger.statement("ACC")
        assert [(line.cause.kind, line.asset.code, line.amount) for line in opening] == [
            (CauseKind.OPENING, "USD", Decimal("10.00")),
            (CauseKind.OPENING, "FX", Decimal(3)),
        ]
        # the open buy of the first release now holds back what it may spend
        assert (app.queries.order("O1").held_cash, account.reserved_in("USD")) == (Decimal("5.00"),) * 2
        app.market.run()
        assert app.ledger.verify().balanced
        assert app.accounts.get("ACC").cash_in("USD") == Decimal("5.00")


def test_an_older_database_holds_exactly_what_its_open_orders_need_after_the_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    first_release_database(path)
    now = "2026-11-20T09:30:00Z"
    with sqlite3.connect(path) as connection:
        # the older release reserved the open buy's 5.00 on the account itself, and held nothing for sells
        connection.execute(
            "UPDATE records SET body = json_set(body, '$.reserved', json('{\"USD\": \"5.00\"}'), '$.positions', "
            'json(\'[{"instrument_id": "FX", "quantity": "3"}]\')) WHERE kind = \'accounts\''
        )
        connection.execute(
            "INSERT INTO records (kind, id, version, account_id, state, client_reference, body) "
            "VALUES ('orders', 'O2', 1, 'ACC', 'NEW', 'P1', ?)",
            (json.dumps({
                "id": "O2", "account_id": "ACC", "instrument_id": "FX", "side": "SELL", "cash_amount": "1.50",
                "quantity": None, "state": "NEW", "created_at": now, "updated_at": now, "client_reference": "P1",
            }),),
        )  # fmt: skip
    connection.close()
    with sqlite_application(path, create=False) as app:
        account = app.accounts.get("ACC")
        # the buy holds its 5.00, once; the cash sell of 1.50 at 1.00 holds 2 units (rounded up to the step)
        assert (account.reserved_in("USD"), account.held_of("FX")) == (Decimal("5.00"), Decimal(2))
        assert (app.queries.order("O2").held_cash, app.queries.order("O2").held_units) == (ZERO, Decimal(2))
        app.market.run()
        after = app.accounts.get("ACC")
        assert (after.reserved_in("USD"), after.held_units) == (ZERO, {})
        assert app.ledger.verify().balanced


NOON = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)


def an_order(state: OrderState = OrderState.NEW) -> Order:
    return Order(
        id="O1", account_id="ACC", instrument_id="X", side=Side.BUY, cash_amount=Decimal("10.00"), quantity=None,
        state=state, created_at=NOON, updated_at=NOON, parent_kind=ParentKind.PORTFOLIO_ORDER, parent_order_id="P1",
    )  # fmt: skip


def pages_written(database: SqliteDatabase, change: Callable[[SqliteUnitOfWork], None]) -> int:
    """How many pages one committed unit of work wrote to the log."""
    database.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with database.unit_of_work() as uow:
        change(uow)
        uow.commit()
    log = database.path.with_name(database.path.name + "-wal")
    page_size = int(database.connection.execute("PRAGMA page_size").fetchone()[0])
    return (log.stat().st_size - 32) // (page_size + 24)  # a 32-byte header, then a 24-byte header per page


def test_an_update_that_keeps_a_records_indexed_fields_rewrites_only_the_record(tmp_path: Path) -> None:
    database = SqliteDatabase(tmp_path / "a.db")
    with database.unit_of_work() as uow:
        uow.orders.add(an_order())
        uow.commit()

    def note(uow: SqliteUnitOfWork) -> None:
        order = uow.orders.get("O1")
        assert order is not None
        uow.orders.update(attrs.evolve(order, reason="a note"))

    def cancel(uow: SqliteUnitOfWork) -> None:
        order = uow.orders.get("O1")
        assert order is not None
        uow.orders.update(attrs.evolve(order, state=OrderState.CANCELLED))

    assert pages_written(database, note) == 1
    assert pages_written(database, cancel) > 1  # the state's index entry moves
    database.close()


def test_a_records_new_state_account_and_parent_are_what_its_row_is_found_by(tmp_path: Path) -> None:
    database = SqliteDatabase(tmp_path / "a.db")
    with database.unit_of_work() as uow:
        uow.orders.add(an_order())
        uow.orders.update(attrs.evolve(an_order(), state=OrderState.PROCESSING))  # added and changed at once
        uow.commit()
    with database.unit_of_work() as uow:
        order = uow.orders.get("O1")
        assert order is not None
        uow.orders.update(attrs.evolve(order, reason="kept"))
        uow.orders.update(
            attrs.evolve(order, state=OrderState.CANCELLED, parent_order_id="P2", reason="moved")
        )
        uow.commit()
    with database.unit_of_work() as uow:
        assert [o.reason for o in uow.orders.list(state=OrderState.CANCELLED.value)] == ["moved"]
        assert uow.orders.list(state=OrderState.PROCESSING.value) == []
        assert [o.id for o in uow.orders.list(parent_order_id="P2")] == ["O1"]
        assert uow.orders.list(parent_order_id="P1") == []
    row = database.connection.execute("SELECT version, state, parent_order_id FROM records WHERE id = 'O1'")
    assert row.fetchone() == (4, "CANCELLED", "P2")
    database.close()


def test_an_investments_account_of_an_older_database_is_marked_as_the_investments_by_the_upgrade(
    tmp_path: Path,
) -> None:
    database = tmp_path / "old.db"
    with sqlite_application(database) as app:
        app.instruments.add(Instrument("AAA", Decimal("10.00")))
        app.leaders.create("lead", "Lead", "EUR", [AllocationLine("AAA", Decimal(1))],
                           minimum_investment=Decimal("100.00"), required_suitability=Suitability.LOW)  # fmt: skip
        app.accounts.open("EUR", Decimal("500.00"), account_id="CASH")
        app.followers.set(
            "f", suitability=Suitability.LOW, terms_accepted=True, asset_types=[AssetType.STOCK]
        )
        investment = app.investments.start("lead", "CASH", Decimal("200.00"), follower_id="f")
        for _ in range(10):
            app.market.run()
        account_id = app.investments.get(investment.id).account_id
        assert account_id is not None
    with sqlite3.connect(database) as connection:  # as schema 4 wrote it: no account says whose it is
        connection.execute(
            "UPDATE records SET body = json_remove(body, '$.managed_by') WHERE kind = 'accounts'"
        )
        connection.execute("DELETE FROM schema_version WHERE version = 5")
    connection.close()
    with sqlite_application(database) as app:
        assert app.accounts.get(account_id).managed_by == investment.id
        assert app.accounts.get("CASH").managed_by is None
        with pytest.raises(AccountManaged):
            app.accounts.withdraw(account_id, Decimal("1.00"))
