"""Whatever is wrong with the database file, the command says so in one sentence with a stable code (exit 3),
writes nothing, and never shows a traceback. Interruptions and bugs end the same clean way."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ports.market import Market
from tests.cli.conftest import Allot, setup_key, setup_portfolio
from tests.faults import no_room_to_grow, read_only, truncate, zero_pages


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


def test_a_read_only_database_refuses_writes_in_one_sentence_and_still_answers_reads(allot: Allot) -> None:
    setup_portfolio(allot)
    before = allot.state()
    with read_only(allot.database):
        storage_error(allot, "accounts", "deposit", "ACC", "10", code="READ_ONLY_DATABASE", says="read-only")
        assert [a["id"] for a in allot.json("accounts", "list")] == ["ACC"]
    assert allot.state() == before


def test_a_database_in_a_read_only_folder_is_refused_in_one_sentence_and_left_as_it_was(allot: Allot) -> None:
    setup_portfolio(allot)
    before = allot.state()
    with read_only(allot.database.parent):
        storage_error(allot, "accounts", "deposit", "ACC", "10", code="READ_ONLY_FOLDER",
                      says=f"the folder {allot.database.parent} is read-only")  # fmt: skip
        storage_error(allot, "accounts", "list", code="READ_ONLY_FOLDER", says="-wal")
    assert allot.state() == before


def test_a_new_database_in_a_read_only_folder_is_refused_and_nothing_is_created(tmp_path: Path) -> None:
    folder = tmp_path / "shelf"
    folder.mkdir()
    allot = Allot(folder / "new.db")
    with read_only(folder):
        storage_error(
            allot, "accounts", "create", "--currency", "EUR", code="READ_ONLY_FOLDER", says=str(folder)
        )
    assert list(folder.iterdir()) == []


def test_a_database_with_zeroed_pages_is_refused_before_anything_is_written(allot: Allot) -> None:
    setup_portfolio(allot)
    zero_pages(allot.database)
    before = allot.database.read_bytes()
    for command in (
        ("accounts", "deposit", "ACC", "10"),
        ("orders", "create", "ACC", "--type", "BUY", "--amount", "100", "--allocation", "60/40"),
        ("accounts", "create", "--currency", "EUR"),
        ("accounts", "list"),
    ):
        storage_error(
            allot, *command, code="DATABASE_CORRUPT", says=f"the database {allot.database} is damaged"
        )
    assert allot.database.read_bytes() == before


def test_a_truncated_database_is_said_to_be_damaged_without_a_traceback(allot: Allot) -> None:
    setup_portfolio(allot)
    truncate(allot.database)
    before = allot.database.read_bytes()
    storage_error(allot, "accounts", "list", code="DATABASE_CORRUPT", says=str(allot.database))
    storage_error(allot, "accounts", "deposit", "ACC", "10", code="DATABASE_CORRUPT", says="backup")
    assert allot.database.read_bytes() == before


def test_a_full_disk_is_said_in_one_sentence_and_the_command_that_met_it_wrote_nothing(
    allot: Allot, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup_portfolio(allot)
    no_room_to_grow(monkeypatch)
    for number in range(500):
        before = allot.state()
        ran = allot("accounts", "create", "--currency", "EUR", "--cash", "10", "--id", f"N{number:03}", "--json",
                    expect=None)  # fmt: skip
        if ran.code:
            break
    assert (ran.code, ran.error["code"]) == (3, "DISK_FULL")
    assert "is full" in ran.error["message"]
    assert allot.state() == before
    monkeypatch.undo()
    allot("accounts", "create", "--currency", "EUR", "--cash", "10", "--id", f"N{number:03}")


def test_a_full_disk_met_while_creating_a_database_leaves_no_file_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_room_to_grow(monkeypatch)
    storage_error(Allot(tmp_path / "new.db"), "accounts", "create", "--currency", "EUR", code="DISK_FULL",
                  says=f"the disk holding {tmp_path / 'new.db'} is full")  # fmt: skip
    assert list(tmp_path.iterdir()) == []


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


def damage(allot: Allot, kind: str, record_id: str, body: str) -> None:
    with contextlib.closing(sqlite3.connect(allot.database)) as connection, connection:
        connection.execute("UPDATE records SET body = ? WHERE kind = ? AND id = ?", (body, kind, record_id))


@pytest.mark.parametrize(
    "body",
    ["{", '{"id": "ACC"}', '{"id": "ACC", "currency": "EUR", "cash": {"EUR": "5"}, "status": "BROKE"}'],
)
def test_a_damaged_record_is_a_storage_error_not_a_crash(allot: Allot, body: str) -> None:
    setup_portfolio(allot)
    damage(allot, "accounts", "ACC", body)
    storage_error(allot, "accounts", "list", code="STORAGE_ERROR", says="account ACC")


def test_a_damaged_block_does_not_stop_the_market_run_for_the_other_orders(allot: Allot) -> None:
    key = setup_key(allot)
    block = allot.json("blocks", "create", key, "FX", "--amount", "90")
    setup_portfolio(allot)
    allot("orders", "create", "ACC", "--type", "BUY", "--amount", "100", "--allocation", "60/40")
    with contextlib.closing(sqlite3.connect(allot.database)) as connection, connection:
        connection.execute(
            "UPDATE records SET body = json_set(body, '$.targets', json('null')) WHERE kind = 'blocks' AND id = ?",
            (block["id"],),
        )
    summary = allot("market", "run", expect=3).out  # the store failed for one block: the run says so
    assert "orders: 2 filled" in summary
    assert f"not executed {block['id']}: the stored block order {block['id']}" in summary


def test_a_damaged_order_does_not_stop_the_market_run_for_the_others_and_is_named(allot: Allot) -> None:
    setup_portfolio(allot)
    allot("orders", "create", "ACC", "--type", "BUY", "--amount", "100", "--allocation", "60/40")
    first, _ = allot.json("orders", "list", "--individual")  # its sibling is read with it, and waits with it
    allot("orders", "create", "ACC", "--type", "BUY", "--amount", "100", "--allocation", "60/40")
    *_, second = allot.json("orders", "list", "--individual")
    with contextlib.closing(sqlite3.connect(allot.database)) as connection, connection:
        connection.execute(
            "UPDATE records SET body = json_set(body, '$.side', 'SIDEWAYS') WHERE kind = 'orders' AND id = ?",
            (first["id"],),
        )
    ran = allot("market", "run", expect=3)
    assert f"not executed {first['id']}" in ran.out
    assert "orders: 2 filled" in ran.out  # the other portfolio order's
    assert allot.json("orders", "show", second["id"])["state"] == "FILLED"


def test_a_full_output_device_is_said_in_one_sentence(tmp_path: Path) -> None:
    allot_command = [str(Path(sys.executable).parent / "allot"), "--db", str(tmp_path / "x.db")]
    subprocess.run(
        [*allot_command, "accounts", "create", "--currency", "EUR"], check=True, capture_output=True
    )
    with open("/dev/full", "w") as full:
        ran = subprocess.run(
            [*allot_command, "accounts", "list"], stdout=full, stderr=subprocess.PIPE, text=True
        )
    assert ran.returncode == 74
    assert ran.stderr.startswith("allot: cannot write the output")
    assert "Traceback" not in ran.stderr


def test_a_closed_standard_input_is_unreadable_input(tmp_path: Path) -> None:
    allot_command = [str(Path(sys.executable).parent / "allot"), "split", "-"]
    ran = subprocess.run(allot_command, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    assert ran.returncode == 2
    closed = subprocess.run(
        ["bash", "-c", f"{allot_command[0]} split - <&-"], capture_output=True, text=True, check=False
    )
    assert (closed.returncode, json.loads(closed.stderr)["error"]["code"]) == (2, "UNREADABLE_INPUT")


def test_a_webhook_secret_is_shown_once_and_then_only_hinted_at(allot: Allot) -> None:
    created = allot.json(
        "webhooks", "create", "http://127.0.0.1:9/x", "--topic", "ORDER", "--allow-private-network"
    )
    secret = created["secret"]
    assert len(secret) > 30
    listed = allot.json("webhooks", "list")
    shown = allot.json("webhooks", "show", created["id"])
    assert [s["secret"] for s in listed] == [shown["secret"]] == [secret[:10] + "…"]
    assert secret not in allot("webhooks", "list").out


def test_a_market_run_that_meets_a_full_disk_says_so_with_exit_status_3_and_leaves_the_orders_open(
    allot: Allot, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup_portfolio(allot)
    allot("orders", "create", "ACC", "--type", "BUY", "--amount", "1000.00", "--allocation", "60/40")
    with sqlite3.connect(allot.database) as connection:  # no free page left: the run's first write needs one
        connection.execute("VACUUM")
    connection.close()
    no_room_to_grow(monkeypatch)
    ran = allot("market", "run", "--json", expect=3)
    assert {f["code"] for f in ran.data["failures"]} == {"DISK_FULL"}
    monkeypatch.undo()
    assert {o["state"] for o in allot.json("orders", "list", "--individual")} == {"NEW"}
    allot("market", "run")  # room again: the same orders are executed
    assert {o["state"] for o in allot.json("orders", "list", "--individual")} == {"FILLED"}
