"""A commit that allot acknowledged is kept: a writer process killed with SIGKILL mid-work loses nothing it was told
was done, in either durability; and with ``full`` (the default) every acknowledgement comes after the write-ahead
log was synced to the disk, which is what carries a commit through a power cut, while ``normal`` acknowledges
commits that are not synced yet.

The writer is ``tests/durability/writer.py``, a real process on a real SQLite file. A power cut cannot be
staged in a test, so what survives one is shown by the order of events: the sync spy (``syncspy.c``, built
here with the C compiler and preloaded into the writer) logs every ``fsync``/``fdatasync`` that returned, in one
file with the writer's acknowledgements.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapters.sqlite import Durability, SqliteDatabase
from core.errors import ValidationError
from core.lifecycle import ParentState
from entrypoints import bootstrap
from entrypoints.bootstrap import describe_database, sqlite_application, store_database

ROOT = Path(__file__).resolve().parents[2]
ALLOT = str(Path(sys.executable).parent / "allot")
SPY_SOURCE = Path(__file__).with_name("syncspy.c")
DEADLINE = 60.0
#: Placements acknowledged before the writer is killed: enough for several market runs.
PLACED_BEFORE_KILL = 40


@pytest.fixture(scope="module")
def sync_spy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    library = tmp_path_factory.mktemp("spy") / "syncspy.so"
    built = subprocess.run(
        ["gcc", "-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o", str(library), str(SPY_SOURCE), "-ldl"],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    assert built.returncode == 0, f"the sync spy did not build: {built.stderr}"
    return library


class Killed:
    """What a writer acknowledged before it was killed: its log, line by line."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def acknowledged(self, what: str) -> list[str]:
        return [line.split()[1] for line in self.lines if line.startswith(f"{what} ")]

    def before_each(self, what: str) -> list[str]:
        """The line logged right before each acknowledgement of ``what``."""
        return [previous for previous, line in itertools.pairwise(self.lines) if line.startswith(f"{what} ")]


def run_and_kill(database: Path, durability: Durability, log: Path, spy: Path | None = None) -> Killed:
    """Start the writer, wait until it has acknowledged ``PLACED_BEFORE_KILL`` placements, and SIGKILL it while it
    goes on writing."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    if spy is not None:
        environment |= {"LD_PRELOAD": str(spy), "SYNC_SPY_LOG": str(log)}
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.durability.writer", str(database), durability.value, str(log)],
        cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + DEADLINE
        while _placed(log) < PLACED_BEFORE_KILL:
            assert writer.poll() is None, f"the writer stopped by itself: {writer.communicate()[1]}"
            assert time.monotonic() < deadline, "the writer did not acknowledge enough in time"
            time.sleep(0.01)
        writer.send_signal(signal.SIGKILL)
        assert writer.wait(DEADLINE) == -signal.SIGKILL
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait(DEADLINE)
        assert writer.stderr is not None
        writer.stderr.close()
    return Killed(log.read_text().splitlines())


def _placed(log: Path) -> int:
    return log.read_text().count("\nplaced ") if log.exists() else 0


@pytest.mark.parametrize("durability", list(Durability), ids=lambda d: d.value)
def test_every_commit_acknowledged_before_the_writer_was_killed_is_there_when_the_database_is_opened_again(
    tmp_path: Path, durability: Durability
) -> None:
    database = tmp_path / "killed.db"
    killed = run_and_kill(database, durability, tmp_path / "acknowledged.log")
    placed, filled = killed.acknowledged("placed"), killed.acknowledged("filled")
    assert len(placed) >= PLACED_BEFORE_KILL
    assert filled

    with sqlite_application(database, create=False) as app:  # opening runs the quick check
        kept = {order.id: order.state for order in app.portfolio_orders.all()}
        audit = app.ledger.verify()

    assert set(placed) <= set(kept)
    assert all(kept[order_id] is ParentState.FILLED for order_id in filled)
    assert audit.balanced, audit.discrepancies


def test_with_full_durability_every_acknowledgement_comes_right_after_a_sync_to_the_disk(
    tmp_path: Path, sync_spy: Path
) -> None:
    database = tmp_path / "full.db"
    killed = run_and_kill(database, Durability.FULL, tmp_path / "events.log", sync_spy)
    synced = {f"synced {database}-wal", f"synced {database}"}  # the log, or the database after a checkpoint

    before_each_placement = killed.before_each("placed")

    assert len(before_each_placement) >= PLACED_BEFORE_KILL
    assert set(before_each_placement) <= synced


def test_with_normal_durability_commits_are_acknowledged_before_they_are_synced(
    tmp_path: Path, sync_spy: Path
) -> None:
    database = tmp_path / "normal.db"
    killed = run_and_kill(database, Durability.NORMAL, tmp_path / "events.log", sync_spy)
    wal_syncs = killed.lines.count(f"synced {database}-wal")

    unsynced = [previous for previous in killed.before_each("placed") if not previous.startswith("synced ")]

    assert len(unsynced) > len(killed.acknowledged("placed")) // 2
    assert wal_syncs < len(killed.acknowledged("placed"))


@pytest.mark.parametrize("durability", list(Durability), ids=lambda d: d.value)
def test_a_database_opened_with_a_durability_commits_with_that_synchronous_setting(
    tmp_path: Path, durability: Durability
) -> None:
    database = SqliteDatabase(tmp_path / "a.db", durability=durability)
    try:
        setting = database.connection.execute("PRAGMA synchronous").fetchone()[0]
    finally:
        database.close()

    assert setting == {Durability.NORMAL: 1, Durability.FULL: 2}[durability]


def test_full_is_the_durability_of_a_database_opened_without_choosing_one(tmp_path: Path) -> None:
    database = SqliteDatabase(tmp_path / "a.db")
    try:
        assert database.connection.execute("PRAGMA synchronous").fetchone()[0] == 2
    finally:
        database.close()


def wal_syncs_of_a_deposit(
    database: Path, spy: Path, arguments: list[str], environment: dict[str, str]
) -> int:
    """How often one ``allot accounts deposit`` process syncs the write-ahead log of ``database``."""
    log = database.with_suffix(".syncs")
    log.unlink(missing_ok=True)
    ran = subprocess.run(
        [ALLOT, "--db", str(database), *arguments, "accounts", "deposit", "ACC", "1.00"],
        env={**os.environ, **environment, "LD_PRELOAD": str(spy), "SYNC_SPY_LOG": str(log)},
        capture_output=True, text=True, timeout=DEADLINE, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    return log.read_text().splitlines().count(f"synced {database}-wal")


def test_the_command_syncs_its_commit_unless_told_normal_by_the_option_or_the_environment(
    tmp_path: Path, sync_spy: Path
) -> None:
    database = tmp_path / "cli.db"
    with sqlite_application(database) as app:
        app.accounts.open("EUR", Decimal("10.00"), account_id="ACC")

    full = wal_syncs_of_a_deposit(database, sync_spy, [], {})
    by_option = wal_syncs_of_a_deposit(database, sync_spy, ["--durability", "normal"], {})
    by_environment = wal_syncs_of_a_deposit(database, sync_spy, [], {"ALLOT_DURABILITY": "normal"})

    # Both sync the log when the last connection closes (a checkpoint); full syncs it at the commit too.
    assert by_option == by_environment < full


@pytest.mark.parametrize("named", ["normal", "NORMAL", Durability.NORMAL])
def test_an_embedding_application_may_name_the_durability_in_any_case(tmp_path: Path, named: str) -> None:
    with sqlite_application(tmp_path / "a.db", durability=named) as app:
        app.accounts.open("EUR", Decimal("1.00"), account_id="ACC")
    database = SqliteDatabase(tmp_path / "a.db", durability=named)
    try:
        assert database.durability is Durability.NORMAL
        assert database.connection.execute("PRAGMA synchronous").fetchone()[0] == 1
    finally:
        database.close()


@pytest.mark.parametrize("named", ["fast", "", None, 2])
def test_an_unknown_durability_is_refused_before_the_file_is_touched(tmp_path: Path, named: object) -> None:
    with pytest.raises(ValidationError, match="durability must be full or normal"):
        sqlite_application(tmp_path / "a.db", durability=named)  # type: ignore[arg-type]  # what a caller might pass
    assert not (tmp_path / "a.db").exists()


def synchronous_of(database: SqliteDatabase) -> int:
    return int(database.connection.execute("PRAGMA synchronous").fetchone()[0])


def test_an_embedded_application_and_the_store_apis_connection_are_full_unless_told_normal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.db"
    opened: list[SqliteDatabase] = []

    class Recorded(SqliteDatabase):
        """The real database, noted as the composition root opens it."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            opened.append(self)

    monkeypatch.setattr(bootstrap, "SqliteDatabase", Recorded)
    with sqlite_application(path):
        assert [synchronous_of(engine) for engine in opened] == [2]
    monkeypatch.undo()
    for durability, expected in ((Durability.FULL, 2), ("normal", 1)):
        store = (
            store_database(path, durability) if durability is not Durability.FULL else store_database(path)
        )
        try:
            assert synchronous_of(store) == expected
        finally:
            store.close()


@pytest.mark.parametrize(("named", "synchronous"), [(Durability.FULL, "FULL"), ("Normal", "NORMAL")])
def test_describing_a_database_takes_the_durability_as_text_too(
    tmp_path: Path, named: Durability | str, synchronous: str
) -> None:
    with sqlite_application(tmp_path / "a.db"):
        pass
    assert describe_database(tmp_path / "a.db", named).synchronous == synchronous
    with pytest.raises(ValidationError, match="durability must be full or normal"):
        describe_database(tmp_path / "a.db", "bogus")
