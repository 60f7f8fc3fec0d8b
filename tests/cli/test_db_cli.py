"""``allot db``: the full integrity check and an online backup, and the permissions of the files allot creates."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.sqlite import APPLICATION_ID, SCHEMA_VERSION
from entrypoints.bootstrap import sqlite_application
from tests.cli.conftest import Allot, run, setup_portfolio
from tests.cli.test_cli import SAMPLES
from tests.faults import mode_of, no_room_to_grow, read_only, truncate, zero_pages
from tests.integration.test_sqlite import first_release_database


def unindexed(path: Path) -> None:
    """Make the index on the records' state disagree with its table, a damage that only the full check sees: the
    index keeps its entries, the schema says it indexes another column."""
    with contextlib.closing(sqlite3.connect(path)) as connection, connection:
        connection.execute("PRAGMA writable_schema = ON")
        connection.execute(
            "UPDATE sqlite_master SET sql = 'CREATE INDEX records_state ON records (kind, id)' "
            "WHERE name = 'records_state'"
        )


def populated(allot: Allot, accounts: int = 40) -> None:
    """The portfolio set-up and ``accounts`` more accounts: enough pages that zeroing three of them leaves SQLite
    able to read the schema and list what is wrong."""
    setup_portfolio(allot)
    with sqlite_application(allot.database) as app:
        for number in range(accounts):
            app.accounts.open("EUR", Decimal("100.00"), account_id=f"A{number:02}")


def test_db_check_says_a_sound_database_is_sound(allot: Allot) -> None:
    setup_portfolio(allot)
    assert allot("db", "check").out == (
        f"the database {allot.database} is sound: the full integrity check found no problem\n"
    )
    assert allot.json("db", "check") == {"database": str(allot.database), "sound": True, "problems": []}


def test_db_check_names_the_damage_on_stdout_and_the_verdict_on_stderr_with_exit_status_1(
    allot: Allot,
) -> None:
    populated(allot)
    zero_pages(allot.database)
    before = allot.database.read_bytes()
    ran = allot("db", "check", "--json", expect=1)
    assert ran.data["sound"] is False
    assert "btreeInitPage() returns error code 11" in ran.data["problems"][-1]
    plain = allot("db", "check", expect=1)
    assert "btreeInitPage() returns error code 11" in plain.out
    assert plain.err == (
        f"allot: the database {allot.database} is damaged (3 problems found): restore it from a backup "
        "(DATABASE_CORRUPT)\n"
    )
    assert allot.database.read_bytes() == before


def test_db_check_finds_a_broken_index_that_the_quick_check_on_opening_lets_through(allot: Allot) -> None:
    setup_portfolio(allot)
    unindexed(allot.database)
    assert [a["id"] for a in allot.json("accounts", "list")] == ["ACC"]
    problems = allot("db", "check", "--json", expect=1).data["problems"]
    assert any("missing from index records_state" in p for p in problems), problems


def test_db_check_says_a_truncated_database_is_damaged(allot: Allot) -> None:
    setup_portfolio(allot)
    truncate(allot.database)
    ran = allot("db", "check", "--json", expect=1)
    assert ran.data["sound"] is False
    assert ran.data["problems"] == ["database disk image is malformed"]


def test_db_check_reads_a_read_only_database(allot: Allot) -> None:
    setup_portfolio(allot)
    with read_only(allot.database):
        assert allot.json("db", "check")["sound"] is True


def test_db_check_of_a_missing_database_creates_nothing(tmp_path: Path) -> None:
    ran = Allot(tmp_path / "typo.db")("db", "check", "--json", expect=3)
    assert ran.error["code"] == "DATABASE_NOT_FOUND"
    assert list(tmp_path.iterdir()) == []


def test_db_backup_writes_a_copy_allot_opens_with_the_same_records(allot: Allot, tmp_path: Path) -> None:
    setup_portfolio(allot)
    target = tmp_path / "copy.db"
    ran = allot("db", "backup", str(target))
    assert ran.out.startswith(f"backed up {allot.database} to {target}")
    copy = Allot(target)
    assert copy.state() == allot.state()
    assert copy.json("db", "check")["sound"] is True
    assert [a["id"] for a in copy.json("accounts", "list")] == ["ACC"]


def test_a_backup_is_readable_by_its_owner_only(allot: Allot, tmp_path: Path) -> None:
    setup_portfolio(allot)
    allot("db", "backup", str(tmp_path / "copy.db"))
    assert mode_of(tmp_path / "copy.db") == 0o600


def test_db_backup_refuses_to_overwrite_a_file_unless_forced(allot: Allot, tmp_path: Path) -> None:
    setup_portfolio(allot)
    target = tmp_path / "copy.db"
    target.write_text("keep me\n")
    target.chmod(0o644)
    ran = allot("db", "backup", str(target), "--json", expect=1)
    assert ran.error["code"] == "ALREADY_EXISTS"
    assert "--force" in ran.error["message"]
    assert target.read_text() == "keep me\n"
    allot("db", "backup", str(target), "--force")
    assert Allot(target).state() == allot.state()
    assert mode_of(target) == 0o600


def test_db_backup_copies_what_is_committed_while_another_writer_holds_its_transaction_open(
    allot: Allot, tmp_path: Path
) -> None:
    setup_portfolio(allot)
    committed = allot.state()
    with contextlib.closing(sqlite3.connect(allot.database, isolation_level=None)) as writer:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE records SET version = version + 1 WHERE kind = 'accounts'")
        allot("db", "backup", str(tmp_path / "copy.db"))
        writer.execute("COMMIT")
    assert Allot(tmp_path / "copy.db").state() == committed
    assert allot.state() != committed


def test_db_backup_of_a_damaged_database_is_refused_and_writes_no_file(allot: Allot, tmp_path: Path) -> None:
    setup_portfolio(allot)
    zero_pages(allot.database)
    ran = allot("db", "backup", str(tmp_path / "copy.db"), "--json", expect=3)
    assert ran.error["code"] == "DATABASE_CORRUPT"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ops.db"]


def test_db_backup_into_a_read_only_or_missing_folder_is_refused_in_one_sentence(
    allot: Allot, tmp_path: Path
) -> None:
    setup_portfolio(allot)
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    with read_only(shelf):
        ran = allot("db", "backup", str(shelf / "copy.db"), "--json", expect=3)
    assert (ran.error["code"], list(shelf.iterdir())) == ("READ_ONLY_FOLDER", [])
    ran = allot("db", "backup", str(tmp_path / "nowhere" / "copy.db"), "--json", expect=3)
    assert ran.error["code"] == "DATABASE_NOT_FOUND"
    assert "the folder" in ran.error["message"]


def test_a_full_disk_met_while_backing_up_leaves_no_partial_backup(
    allot: Allot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup_portfolio(allot)
    no_room_to_grow(monkeypatch)
    ran = allot("db", "backup", str(tmp_path / "copy.db"), "--json", expect=3)
    assert ran.error["code"] == "DISK_FULL"
    assert ran.error["message"].startswith(f"the disk holding {tmp_path / 'copy.db'} is full")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ops.db"]


def test_db_backup_will_not_replace_the_database_it_copies(allot: Allot) -> None:
    setup_portfolio(allot)
    before = allot.state()
    ran = allot("db", "backup", str(allot.database), "--force", "--json", expect=2)
    assert ran.error["code"] == "VALIDATION_ERROR"
    assert allot.state() == before


def test_a_new_database_made_by_a_command_is_readable_by_its_owner_only(allot: Allot) -> None:
    allot("accounts", "create", "--currency", "EUR")
    assert mode_of(allot.database) == 0o600


def test_db_info_shows_the_journal_mode_the_durability_the_schema_version_and_the_application_id(
    allot: Allot,
) -> None:
    setup_portfolio(allot)

    shown = allot("db", "info").out.splitlines()

    assert shown[0] == f"database        {allot.database}"
    assert shown[1] == "journal mode    WAL"
    assert shown[2].startswith(
        "durability      full (synchronous FULL): every commit is on disk before it returns"
    )
    assert shown[4] == f"schema version  {SCHEMA_VERSION} (this allot: {SCHEMA_VERSION})"
    assert shown[5] == f'application id  0x{APPLICATION_ID:08X} ("alot": an allot database)'
    assert allot.json("db", "info") == {
        "database": str(allot.database),
        "journal_mode": "WAL",
        "durability": "full",
        "synchronous": "FULL",
        "schema_version": SCHEMA_VERSION,
        "supported_schema": SCHEMA_VERSION,
        "application_id": APPLICATION_ID,
        "sqlite_version": sqlite3.sqlite_version,
    }


@pytest.mark.parametrize(
    ("arguments", "environment", "synchronous"),
    [
        (["--durability", "normal"], {}, "NORMAL"),
        (["--durability", "NORMAL"], {}, "NORMAL"),
        ([], {"ALLOT_DURABILITY": "normal"}, "NORMAL"),
        ([], {"ALLOT_DURABILITY": "Full"}, "FULL"),
        (["--durability", "full"], {"ALLOT_DURABILITY": "normal"}, "FULL"),
        ([], {"ALLOT_DURABILITY": ""}, "FULL"),
    ],
    ids=[
        "option",
        "option-in-capitals",
        "environment",
        "environment-full",
        "option-over-environment",
        "empty",
    ],
)
def test_the_durability_is_chosen_with_the_option_or_the_environment_and_db_info_says_which(
    allot: Allot, arguments: list[str], environment: dict[str, str | None], synchronous: str
) -> None:
    setup_portfolio(allot)

    ran = run(["--db", str(allot.database), *arguments, "db", "info", "--json"], 0, env=environment)

    assert (ran.data["durability"], ran.data["synchronous"]) == (synchronous.lower(), synchronous)


def test_an_unknown_durability_is_a_usage_error_and_creates_no_database(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    ran = run(["--db", str(path), "--durability", "fast", "--json", "accounts", "list"], 2)
    assert ran.error["code"] == "VALIDATION_ERROR"
    assert "'fast' is not one of 'full', 'normal'" in ran.error["message"]
    ran = run(["--db", str(path), "accounts", "create", "--currency", "EUR", "--id", "A"], 2,
              env={"ALLOT_DURABILITY": "none"})  # fmt: skip
    assert "ALLOT_DURABILITY is 'none': set it to full or normal, or unset it for full" in ran.err
    assert "--durability" not in ran.err
    assert not path.exists()


def test_a_bad_durability_variable_stops_only_what_opens_a_database_file_and_an_option_overrides_it(
    allot: Allot, tmp_path: Path
) -> None:
    setup_portfolio(allot)
    bad: dict[str, str | None] = {"ALLOT_DURABILITY": "bogus"}
    assert "--durability" in run(["--help"], 0, env=bad).out
    assert "--currency" in run(["accounts", "create", "--help"], 0, env=bad).out
    split = run(["--json", "split", str(SAMPLES / "buy.json")], 0, env=bad)
    assert split.data["orders"]
    ran = run(["--db", str(allot.database), "--json", "accounts", "list"], 2, env=bad)
    assert "ALLOT_DURABILITY is 'bogus'" in ran.error["message"]
    info = run(["--db", str(allot.database), "--durability", "normal", "db", "info", "--json"], 0, env=bad)
    assert info.data["durability"] == "normal"
    directory = tmp_path / "a-folder"  # opening it fails after the durability was accepted, before serving
    directory.mkdir()
    served = run(["--db", str(directory), "serve", "--durability", "full"], 3, env=bad)
    assert "NOT_AN_ALLOT_DATABASE" in served.err
    stored = run(["--store", "http://127.0.0.1:9", "--json", "accounts", "list"], None,
                 env={**bad, "ALLOT_STORE_TOKEN": "t"})  # fmt: skip
    assert stored.error["code"] == "STORE_UNREACHABLE"


def test_a_durability_option_with_store_is_refused_because_the_server_commits_with_its_own() -> None:
    for command in (["accounts", "list"], ["db", "info"]):
        ran = run(["--store", "http://127.0.0.1:9", "--durability", "normal", *command], 2,
                  env={"ALLOT_STORE_TOKEN": "t"})  # fmt: skip
        assert "--durability is for a database file, and --store names a server" in ran.err
        assert "allot serve --durability" in ran.err


def test_the_durability_variable_is_for_database_files_and_leaves_store_commands_alone() -> None:
    ran = run(["--store", "http://127.0.0.1:9", "--json", "accounts", "list"], None,
              env={"ALLOT_DURABILITY": "normal", "ALLOT_STORE_TOKEN": "t"})  # fmt: skip
    assert "durability" not in ran.err.lower()
    assert ran.error["code"] == "STORE_UNREACHABLE"  # it went on to the server


def test_serve_durability_on_the_command_line_wins_over_the_environment(tmp_path: Path) -> None:
    directory = tmp_path / "a-folder"  # opening it fails after the durability was accepted, before serving
    directory.mkdir()
    ran = run(
        ["--db", str(directory), "serve", "--durability", "full"], 3, env={"ALLOT_DURABILITY": "normal"}
    )
    assert "NOT_AN_ALLOT_DATABASE" in ran.err


def test_serve_takes_the_durability_after_the_command_too_but_not_a_different_one_before_it(
    allot: Allot,
) -> None:
    ran = allot("--durability", "full", "serve", "--durability", "normal", "--port", "0", expect=2)
    assert "--durability says full and serve --durability says normal: choose one durability" in ran.err


def test_db_info_of_a_missing_database_creates_nothing_and_of_another_programs_database_is_refused(
    tmp_path: Path,
) -> None:
    ran = Allot(tmp_path / "typo.db")("db", "info", "--json", expect=3)
    assert ran.error["code"] == "DATABASE_NOT_FOUND"
    assert list(tmp_path.iterdir()) == []
    other = tmp_path / "other.db"
    with contextlib.closing(sqlite3.connect(other)) as connection, connection:
        connection.execute("CREATE TABLE notes (text)")
    ran = Allot(other)("db", "info", "--json", expect=3)
    assert ran.error["code"] == "NOT_AN_ALLOT_DATABASE"


def test_db_info_shows_an_older_schema_as_it_is_and_leaves_it_to_be_migrated_by_the_next_command(
    tmp_path: Path,
) -> None:
    old = Allot(tmp_path / "old.db")
    first_release_database(old.database)

    info = old.json("db", "info")

    assert (info["schema_version"], info["application_id"]) == (1, 0)
    assert "application id  0x00000000 (none yet: set when allot next writes to it)" in old("db", "info").out
    old("accounts", "list")
    assert (old.json("db", "info")["schema_version"], old.json("db", "info")["application_id"]) == (
        SCHEMA_VERSION, APPLICATION_ID,
    )  # fmt: skip


def test_db_info_of_a_damaged_database_refuses_it_as_every_command_does(allot: Allot) -> None:
    populated(allot)
    zero_pages(allot.database)
    ran = allot("db", "info", "--json", expect=3)
    assert ran.error["code"] == "DATABASE_CORRUPT"


def test_a_database_whose_file_name_is_not_utf8_is_created_and_read_under_that_very_name(
    tmp_path: Path,
) -> None:
    named = Allot(tmp_path / os.fsdecode(b"ops\xff.db"))  # a byte no UTF-8 name has, as Linux allows
    named("accounts", "create", "--currency", "EUR", "--id", "ACC")
    assert [a["id"] for a in named.json("accounts", "list")] == ["ACC"]
    assert os.listdir(os.fsencode(tmp_path)) == [b"ops\xff.db"]


def test_a_database_truncated_to_nothing_is_not_taken_for_a_new_one_and_stays_as_it_is(allot: Allot) -> None:
    setup_portfolio(allot)
    allot.database.write_bytes(b"")  # what a failed copy or a full disk can leave
    for command in (["accounts", "deposit", "ACC", "10.00"], ["ledger", "verify"], ["accounts", "list"]):
        ran = allot(*command, "--json", expect=3)
        assert ran.error["code"] == "NOT_AN_ALLOT_DATABASE", command
        assert "may be a database that lost its contents" in ran.error["message"]
        assert allot.database.stat().st_size == 0, "nothing is written into it"
