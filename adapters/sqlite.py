"""SQLite storage, the embedded default: records as JSON documents, a transactional outbox, the delivery queue.

- The file has an identity (``PRAGMA application_id``) and a schema version: another program's SQLite file, a file
  that is not SQLite at all, or a directory is refused untouched (``NOT_AN_ALLOT_DATABASE``); a database written by
  a newer allot is ``SCHEMA_TOO_NEW``; an older one is migrated. A missing file is created only when asked to
  (``create=True``), so a command that only reads never leaves an empty database behind a mistyped path.
- WAL journal and a busy timeout. Durability is chosen per connection (``Durability``): ``FULL``, the default,
  syncs the write-ahead log to disk at every commit, so a commit that returned survives a power cut or an
  operating-system crash; ``NORMAL`` syncs only at checkpoints, so it survives the process being killed but may
  lose the last commits to a power cut (for bulk loads and tests).
- A unit of work is one transaction that reads one snapshot; if another connection commits while it is open, its first write fails and it raises ``ConcurrentUpdate`` with nothing
  written (the application runs the use case again; that next transaction takes the write lock up front, so it
  waits its turn instead of conflicting again). A ``version`` column guards every update as well.
- Events are written to ``events`` in the same transaction as the state change and fanned out to a ``deliveries``
  row per active subscription of their topic: nothing is announced that was not committed, and nothing committed
  goes unannounced.
- Every SQLite error leaves as an ``AllotError`` with a stable code (``STORAGE_ERROR`` and its kinds), never raw.
- For the store API, ``SqliteDatabase.apply`` commits a unit of work of another process sent as data
  (``adapters.store_protocol``): its reads checked again and its writes made in one ``BEGIN IMMEDIATE``
  transaction, its id kept so that it is never written twice.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import enum
import errno
import itertools
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Generic, Self, TypeVar
from urllib.parse import quote

import attrs

from adapters.serialization import compact_json, from_data, from_json, structure, timestamp, to_json
from adapters.store_protocol import Batch, Log, QueryRead, RecordRead, Stored
from core.errors import (
    AllotError,
    AlreadyExists,
    ConcurrentUpdate,
    DatabaseCorrupt,
    DatabaseNotFound,
    DiskFull,
    NotAnAllotDatabase,
    NotFound,
    ReadOnlyDatabase,
    ReadOnlyFolder,
    SchemaTooNew,
    StorageError,
    ValidationError,
)
from core.instruments import Instrument
from core.journal import (
    FUNDING,
    VENUE,
    Asset,
    AssetKind,
    Cause,
    CauseKind,
    EntryPosting,
    EntryRow,
    JournalEntry,
    LedgerAccount,
    LedgerKind,
    Posting,
    post,
    transfer,
)
from core.lifecycle import OrderState
from core.numbers import ZERO, fmt, parse_decimal
from core.orders import carried_over
from core.records import (
    TYPE_OF_TOPIC,
    Account,
    AccountLiquidation,
    ApiKey,
    BlockOrder,
    Client,
    Event,
    IdempotencyRecord,
    Investment,
    ModelPortfolio,
    Order,
    ParentKind,
    PortfolioOrder,
    StoredKey,
    StoredResponse,
    Subscription,
    TradeFollower,
    TradeLeader,
    User,
    refs,
    topic_of,
)
from core.webhooks import Attempt, DeliveryOutcome, EventQuery, receives
from ports.driven import TABLES, Delivery, DeliveryKey, Match, RecordedAttempt, Table, field_text

T = TypeVar("T")
R = TypeVar("R")

#: ``PRAGMA application_id`` of an allot database: "alot" in ASCII.
APPLICATION_ID: Final = 0x616C6F74
#: Columns that ``list(**where)`` filters through an index; other fields go through json_extract.
INDEXED: Final = ("account_id", "state", "parent_order_id")
BUSY_TIMEOUT_MS: Final = 30_000
#: How long the id of an applied batch is remembered: far longer than a client goes on sending it again.
BATCHES_KEPT: Final = dt.timedelta(days=1)


class Durability(enum.Enum):
    """How far a commit is kept once it has returned (SQLite's ``PRAGMA synchronous``, in WAL mode).

    ``FULL`` (the default): the write-ahead log is synced to the disk at every commit, before the commit returns,
    so what allot acknowledged survives a crash of the process, of the operating system, and a power cut.
    ``NORMAL``: the log is synced only when it is checkpointed into the database; the database stays consistent
    after any failure and a commit survives the process being killed, but the last commits before a power cut or
    an operating-system crash may be lost. An explicit choice for bulk loads and tests.
    """

    FULL = "full"
    NORMAL = "normal"

    @classmethod
    def of(cls, value: Durability | str) -> Durability:
        """A durability, or its name in any case (``"normal"``, ``"FULL"``); anything else is a ``VALIDATION_ERROR``."""
        if isinstance(value, Durability):
            return value
        if isinstance(value, str) and value.lower() in {d.value for d in cls}:
            return cls(value.lower())
        raise ValidationError(
            f"durability must be full or normal, not {value!r}",
            {"field": "durability", "value": str(value), "allowed": [d.value for d in cls]},
        )

    @property
    def synchronous(self) -> str:
        """The ``PRAGMA synchronous`` value, as SQLite names it."""
        return self.name

    @property
    def promise(self) -> str:
        if self is Durability.FULL:
            return "every commit is on disk before it returns: it survives a crash and a power cut"
        return (
            "a commit survives the process being killed; the last ones before a power cut or a system crash may "
            "be lost"
        )


#: ``PRAGMA synchronous`` reads back as a number: 1 NORMAL, 2 FULL.
SYNCHRONOUS_LEVELS: Final = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}

SCHEMA_1: Final = """
    CREATE TABLE records (
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        version INTEGER NOT NULL,
        account_id TEXT,
        state TEXT,
        client_reference TEXT,
        body TEXT NOT NULL,
        UNIQUE (kind, id)
    );
    CREATE INDEX records_account ON records (kind, account_id);
    CREATE INDEX records_state ON records (kind, state);
    CREATE INDEX records_reference ON records (kind, client_reference);
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        topic TEXT NOT NULL,
        created_at TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX events_topic ON events (topic, seq);
    CREATE TABLE deliveries (
        event_seq INTEGER NOT NULL REFERENCES events (seq),
        subscription_id TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        PRIMARY KEY (event_seq, subscription_id)
    );
    CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
    CREATE TABLE delivery_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id TEXT NOT NULL,
        subscription_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        at TEXT NOT NULL,
        status_code INTEGER,
        error TEXT,
        duration_ms INTEGER NOT NULL,
        outcome TEXT NOT NULL
    );
"""


def _schema_1(connection: sqlite3.Connection) -> None:
    for statement in SCHEMA_1.split(";"):
        if statement.strip():
            connection.execute(statement)


def _schema_2(connection: sqlite3.Connection) -> None:
    """Orders name their parent in ``parent_order_id`` and ``parent_kind`` (the column follows); a block keeps
    the accounts it allocates to and the currency it books."""
    connection.execute("ALTER TABLE records ADD COLUMN parent_order_id TEXT")
    connection.execute(
        """
        UPDATE records SET parent_order_id = client_reference, body = json_set(body,
            '$.parent_order_id', client_reference,
            '$.parent_kind', (SELECT CASE p.kind WHEN 'portfolio_orders' THEN 'PORTFOLIO_ORDER'
                                                 WHEN 'liquidations' THEN 'ACCOUNT_LIQUIDATION'
                                                 ELSE 'BLOCK_ORDER' END
                              FROM records p WHERE p.id = records.client_reference
                              AND p.kind IN ('portfolio_orders', 'liquidations', 'blocks')))
        WHERE kind = 'orders' AND client_reference IS NOT NULL
        """
    )
    connection.execute("DROP INDEX records_reference")
    connection.execute("ALTER TABLE records DROP COLUMN client_reference")
    connection.execute("CREATE INDEX records_parent ON records (kind, parent_order_id)")
    blocks = connection.execute("SELECT id, body FROM records WHERE kind = 'blocks'").fetchall()
    for block_id, body in blocks:
        block = json.loads(body)
        key = json.loads(_body(connection, "keys", block["key_id"]))["key"]
        recipients = [p["account_id"] for p in key["participants"]] + [key["error_account_id"]]
        instrument = json.loads(_body(connection, "instruments", block["instrument_id"]))
        account = json.loads(_body(connection, "accounts", key["error_account_id"]))
        block["recipients"] = recipients
        block["currency"] = instrument.get("currency") or account["currency"]
        connection.execute(
            "UPDATE records SET body = ? WHERE kind = 'blocks' AND id = ?", (json.dumps(block), block_id)
        )


def _body(connection: sqlite3.Connection, kind: str, record_id: str) -> str:
    row = connection.execute(
        "SELECT body FROM records WHERE kind = ? AND id = ?", (kind, record_id)
    ).fetchone()
    return str(row[0]) if row is not None else "{}"


def _schema_3(connection: sqlite3.Connection) -> None:
    """The journal. Balances that existed before it are carried over as opening entries (cash from the house
    funding account, units from the venue), so that every cached balance equals its postings; open orders get
    what they hold back, and open blocks an order for what each account has still to receive."""
    connection.execute(
        "CREATE TABLE journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, at TEXT NOT NULL, "
        "cause_kind TEXT NOT NULL, cause_id TEXT NOT NULL, memo TEXT NOT NULL)"
    )
    connection.execute(
        "CREATE TABLE postings (entry_seq INTEGER NOT NULL REFERENCES journal (seq), ledger TEXT NOT NULL, "
        "asset TEXT NOT NULL, amount TEXT NOT NULL)"
    )
    connection.execute("CREATE INDEX postings_ledger ON postings (ledger, entry_seq)")
    now = dt.datetime.now(dt.UTC)
    writer = _JournalWriter()
    for account_id, body in connection.execute(
        "SELECT id, body FROM records WHERE kind = 'accounts'"
    ).fetchall():
        account = from_json(body, Account)
        opened = attrs.evolve(account, cash=dict.fromkeys(account.cash, ZERO), positions=())
        moved = [
            *(p for currency, amount in account.cash.items() for p in transfer(FUNDING, LedgerAccount.client(account_id), Asset.cash(currency), amount)),
            *(p for position in account.positions for p in transfer(VENUE, LedgerAccount.client(account_id), Asset.units(position.instrument_id), position.quantity)),
        ]  # fmt: skip
        if moved:
            entry = JournalEntry(
                id=str(uuid.uuid4()), at=now, cause=Cause(CauseKind.OPENING, account_id), postings=tuple(moved),
                memo="balance carried over when the journal was introduced",
            )  # fmt: skip
            writer.add(entry)
            opened = post(opened, entry)
        connection.execute(
            "UPDATE records SET body = ? WHERE kind = 'accounts' AND id = ?", (to_json(opened), account_id)
        )
    writer.write(connection)
    _carry_holds_over(connection)


def _carry_holds_over(connection: sqlite3.Connection) -> None:
    """Open blocks of an older store get an order for what each account has still to receive; then every open
    order holds back what it may still need, and every account exactly their sum (see ``orders.carried_over``)."""
    for block_id, body in connection.execute(
        "SELECT id, body FROM records WHERE kind = 'blocks' AND state IN ('NEW', 'PROCESSING')"
    ).fetchall():
        block = from_json(body, BlockOrder)
        parts = (*block.targets.participants, block.targets.error)
        children = [
            Order(
                id=str(uuid.uuid4()), account_id=account_id, instrument_id=block.instrument_id, side=block.side,
                cash_amount=None, quantity=part - received, state=OrderState.NEW, created_at=block.created_at,
                updated_at=block.updated_at, parent_kind=ParentKind.BLOCK_ORDER, parent_order_id=block.id,
                client_reference=block.id, correlation_key=block.id,
            )
            for account_id, part, received in zip(block.recipients, parts, block.allocated, strict=True)
            if part > received
        ]  # fmt: skip
        for child in children:
            connection.execute(
                "INSERT INTO records (kind, id, version, account_id, state, parent_order_id, body) "
                "VALUES ('orders', ?, 1, ?, 'NEW', ?, ?)",
                (child.id, child.account_id, block.id, to_json(child)),
            )
        opened = attrs.evolve(block, orders=block.orders + refs(children))
        connection.execute(
            "UPDATE records SET body = ? WHERE kind = 'blocks' AND id = ?", (to_json(opened), block_id)
        )
    instruments = {i.instrument_id: i for i in (
        from_json(body, Instrument) for (body,) in connection.execute("SELECT body FROM records WHERE kind = 'instruments'")
    )}  # fmt: skip
    for account_id, body in connection.execute(
        "SELECT id, body FROM records WHERE kind = 'accounts'"
    ).fetchall():
        open_orders = [from_json(b, Order) for (b,) in connection.execute(
            "SELECT body FROM records WHERE kind = 'orders' AND account_id = ? AND state IN ('NEW', 'PROCESSING') "
            "ORDER BY rowid", (account_id,),
        )]  # fmt: skip
        account, held = carried_over(from_json(body, Account), open_orders, instruments)
        connection.execute(
            "UPDATE records SET body = ? WHERE kind = 'accounts' AND id = ?", (to_json(account), account_id)
        )
        connection.executemany(
            "UPDATE records SET body = ? WHERE kind = 'orders' AND id = ?", [(to_json(o), o.id) for o in held]
        )


def _schema_4(connection: sqlite3.Connection) -> None:
    """The batches applied for the store API, by id, so that one sent again is not written twice (see
    ``SqliteDatabase.apply``); kept for ``BATCHES_KEPT``."""
    connection.execute("CREATE TABLE batches (id TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    connection.execute("CREATE INDEX batches_applied ON batches (applied_at)")


def _schema_5(connection: sqlite3.Connection) -> None:
    """Each investment's account says which investment manages it (``managed_by``), so that its owner can no
    longer move its money round the investment's rules. Written on the stored JSON itself, not through today's
    record classes, so that the migration reads old rows as they are."""
    connection.execute(
        "UPDATE records SET body = json_set(body, '$.managed_by', ("
        "  SELECT investment.id FROM records AS investment"
        "  WHERE investment.kind = 'investments' AND json_extract(investment.body, '$.account_id') = records.id"
        "  ORDER BY investment.rowid LIMIT 1)) "
        "WHERE kind = 'accounts' AND id IN ("
        "  SELECT json_extract(body, '$.account_id') FROM records WHERE kind = 'investments')"
    )


#: Each schema version's migration from the one before; the last one's number is the current schema.
MIGRATIONS: Final[tuple[Callable[[sqlite3.Connection], None], ...]] = (
    _schema_1,
    _schema_2,
    _schema_3,
    _schema_4,
    _schema_5,
)
SCHEMA_VERSION: Final = len(MIGRATIONS)


def translate(error: sqlite3.Error, path: Path) -> AllotError:
    """An SQLite error as an ``AllotError`` that says what went wrong and what to do."""
    name = getattr(error, "sqlite_errorname", "") or ""
    details = {"path": str(path), "sqlite_error": name or type(error).__name__}
    if name in ("SQLITE_BUSY_SNAPSHOT", "SQLITE_BUSY"):
        return ConcurrentUpdate("another writer changed the database at the same time; try again", details)
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN")) or name == "SQLITE_IOERR_LOCK":
        unwritable = _unwritable(path, details, file_too=name.startswith("SQLITE_READONLY"))
        if unwritable is not None:
            return unwritable
    if name.startswith("SQLITE_READONLY"):
        return StorageError(f"the database {path} cannot be written to here: {error}", details)
    if name == "SQLITE_FULL":
        return disk_full(path, details)
    if name == "SQLITE_NOTADB":
        return NotAnAllotDatabase(f"{path} is not an allot database (it is not an SQLite file)", details)
    if name.startswith("SQLITE_CORRUPT"):
        return DatabaseCorrupt(
            f"the database {path} is damaged ({error}): what was under way was not written; restore it from a "
            "backup ('allot db check' lists the damage)",
            details,
        )
    if name.startswith("SQLITE_CANTOPEN"):
        return StorageError(
            f"cannot open the database {path}: check that allot may read and write its folder", details
        )
    if name.startswith("SQLITE_IOERR"):
        return StorageError(
            f"reading or writing {path} failed (is the disk full or failing?): {error}", details
        )
    return StorageError(f"the database {path} could not be used: {error}", details)


def _unwritable(path: Path, details: dict[str, str], file_too: bool) -> StorageError | None:
    """The error for a database this process may not write, if that is what the file system says: its folder first
    (SQLite keeps its ``-wal`` and ``-shm`` files there, readers included), then, if ``file_too``, the file."""
    folder = path.parent
    if not os.access(folder, os.W_OK):
        return ReadOnlyFolder(
            f"the folder {folder} is read-only here: allot cannot create a database there, nor the -wal and -shm "
            "files SQLite keeps beside one; make the folder writable or move the database",
            {**details, "folder": str(folder)},
        )
    if file_too and path.exists() and not os.access(path, os.W_OK):
        return ReadOnlyDatabase(
            f"the database {path} is read-only here: commands that only read work, this one writes; "
            "make the file writable to run it",
            details,
        )
    return None


def disk_full(path: Path, details: dict[str, str]) -> DiskFull:
    return DiskFull(
        f"the disk holding {path} is full: what was under way was not written; free some space and run it again",
        details,
    )


def os_error(error: OSError, path: Path) -> StorageError:
    """An error of the operating system about ``path`` (a file allot creates itself) as an ``AllotError``."""
    details = {"path": str(path), "os_error": errno.errorcode.get(error.errno or 0, type(error).__name__)}
    if error.errno == errno.ENOSPC:
        return disk_full(path, details)
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        unwritable = _unwritable(path, details, file_too=True)
        if unwritable is not None:
            return unwritable
    return StorageError(f"cannot create {path}: {error.strerror or error}", details)


@contextlib.contextmanager
def storage_errors(path: Path) -> Iterator[None]:
    """Turn any SQLite error raised inside into an ``AllotError``."""
    try:
        yield
    except sqlite3.Error as error:
        raise translate(error, path) from error


def _check_location(path: Path, create: bool) -> None:
    """Refuse a path that cannot be a database before SQLite touches it: a directory, a missing file that is not
    to be created, a file in a folder that does not exist."""
    if path.is_dir():
        raise NotAnAllotDatabase(f"{path} is a directory, not a database file", {"path": str(path)})
    if not path.exists():
        if not create:
            raise DatabaseNotFound(
                f"there is no allot database at {path}: check --db (a command that changes something creates it)",
                {"path": str(path)},
            )
        if not path.parent.is_dir():
            raise DatabaseNotFound(
                f"the folder {path.parent} does not exist: create it or give --db another path",
                {"path": str(path)},
            )


def create_private(path: Path) -> bool:
    """Create ``path`` as an empty file that only its owner may read and write (0600), unless it exists already;
    returns whether it was created. SQLite gives the ``-wal`` and ``-shm`` files of a database the permissions of
    the database file, so they are private too; an existing file keeps the permissions it has."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return False
    except OSError as error:
        raise os_error(error, path) from error
    return True


def _open(path: Path, mode: str) -> sqlite3.Connection:
    uri = f"file:{quote(os.fsencode(path.resolve()))}?mode={mode}"  # the bytes: a name need not be UTF-8
    with storage_errors(path):
        connection = sqlite3.connect(
            uri, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
        )
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return connection


def _set_durability(connection: sqlite3.Connection, durability: Durability, path: Path) -> None:
    """Set ``PRAGMA synchronous`` for ``durability`` and read it back: a setting SQLite did not take is an error,
    never a weaker promise kept in silence. With ``FULL``, ``PRAGMA fullfsync`` too: on macOS a sync then also
    empties the drive's cache (F_FULLFSYNC); elsewhere it changes nothing. Every connection that writes gets it
    before its first write; SQLite reads the schema to set it, so a damaged file fails here as anywhere else."""
    connection.execute(f"PRAGMA synchronous = {durability.synchronous}")
    connection.execute(f"PRAGMA fullfsync = {'ON' if durability is Durability.FULL else 'OFF'}")
    level = SYNCHRONOUS_LEVELS.get(connection.execute("PRAGMA synchronous").fetchone()[0])
    if level != durability.synchronous:
        raise StorageError(
            f"SQLite did not take synchronous = {durability.synchronous} for {path} (it reads {level})",
            {"path": str(path), "durability": durability.value, "synchronous": str(level)},
        )


def synchronous(connection: sqlite3.Connection) -> str:
    """The connection's ``PRAGMA synchronous``, as SQLite names it (FULL, NORMAL, ...)."""
    value = connection.execute("PRAGMA synchronous").fetchone()[0]
    return SYNCHRONOUS_LEVELS.get(value, str(value))


def connect(
    path: str | Path, create: bool = True, durability: Durability = Durability.FULL
) -> sqlite3.Connection:
    """Open the allot database at ``path``: check what the file is and that it is not damaged (``PRAGMA
    quick_check``) before anything is written, create it (if ``create`` and it does not exist yet; readable by its
    owner only, its folder synced so that the new file's name is on disk too), migrate it to the current schema.
    Every commit on the connection is as durable as ``durability`` says."""
    path = Path(path)
    _check_location(path, create)
    fresh = create and create_private(path)
    if fresh:
        _sync_folder(path.parent)
    _align_side_files(path)
    connection = _open(path, "rwc" if create else "rw")
    try:
        with storage_errors(path):
            _identify_and_migrate(connection, path, fresh, durability)
            if (
                create
            ):  # a command that writes finds out now, before it does anything (such as send a webhook)
                _check_writable(connection)
            connection.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        connection.close()
        raise
    return connection


def _check_writable(connection: sqlite3.Connection) -> None:
    """Write nothing, but as a write would: a database that may only be read is ``READ_ONLY_DATABASE`` here."""
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute(f"PRAGMA user_version = {int(version)}")
    finally:
        connection.execute("ROLLBACK")


def _align_side_files(path: Path) -> None:
    """A read of a read-only database leaves its ``-wal`` and ``-shm`` files read-only too; once the database
    may be written again, they get its permissions back (else every write would fail on them)."""
    if not path.is_file() or not os.access(path, os.W_OK):
        return
    for side in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if side.is_file() and not os.access(side, os.W_OK):
            with contextlib.suppress(OSError):  # not ours to change: SQLite's own error will say so
                side.chmod(path.stat().st_mode & 0o777)


def _identify(connection: sqlite3.Connection, path: Path, fresh: bool) -> tuple[int, set[str]]:
    """The file's application id and tables; a file that is not an allot database is refused. An empty file is
    set up only if this very opening created it (``fresh``): an empty file found at the path may be a database
    that lost its contents (truncated to 0 bytes), and taking it for a new one would hide that — every later
    check would then find nothing missing."""
    application_id: int = connection.execute("PRAGMA application_id").fetchone()[0]
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    # Databases of the first allot release carried no application id; they are recognised by their tables.
    first_release = application_id == 0 and {"schema_version", "records", "events", "deliveries"} <= tables
    empty = application_id == 0 and not tables
    if empty and not fresh:
        raise NotAnAllotDatabase(
            f"{path} is an empty file, not an allot database: it may be a database that lost its contents, so "
            "allot left it untouched; restore it from a backup, or remove it to start a new database",
            {"path": str(path)},
        )
    if application_id != APPLICATION_ID and not (first_release or empty):
        raise NotAnAllotDatabase(
            f"{path} is another program's SQLite database, not an allot database; it was left untouched",
            {"path": str(path), "application_id": application_id},
        )
    return application_id, tables


def problems(connection: sqlite3.Connection, check: str) -> list[str]:
    """What ``PRAGMA quick_check`` or ``PRAGMA integrity_check`` finds, one problem a line; empty when sound."""
    lines = [
        line
        for (text,) in connection.execute(f"PRAGMA {check}")
        for line in str(text).splitlines()
        if not line.startswith("*** in database")
    ]
    return [] if lines == ["ok"] else lines


def _require_sound(connection: sqlite3.Connection, path: Path) -> None:
    """Refuse a damaged file before anything is written to it. ``quick_check`` reads every page and checks the
    structure of every table and index (not that each index agrees with its table: ``allot db check`` does); it
    stops at the first problem it finds."""
    found = problems(connection, "quick_check(1)")
    if found:
        raise DatabaseCorrupt(
            f"the database {path} is damaged, so allot refused it before writing anything: restore it from a "
            "backup ('allot db check' lists the damage)",
            {"path": str(path), "problems": found},
        )


def _identify_and_migrate(
    connection: sqlite3.Connection, path: Path, fresh: bool, durability: Durability
) -> None:
    application_id, tables = _identify(connection, path, fresh)
    current = 0
    if "schema_version" in tables:
        current = connection.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0
    if current > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"this database was written by a newer allot (schema {current}, this allot knows {SCHEMA_VERSION}); "
            "upgrade allot to open it",
            {"database_schema": current, "supported_schema": SCHEMA_VERSION},
        )
    _require_sound(connection, path)
    _set_durability(connection, durability, path)
    if current == SCHEMA_VERSION and application_id == APPLICATION_ID:
        return
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        current = connection.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0
        for version in range(current + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[version - 1](connection)
            connection.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


class SqliteRepository(Generic[T]):
    def __init__(self, uow: SqliteUnitOfWork, table: Table) -> None:
        self._uow = uow
        self._kind = table.name
        self._type: type[T] = table.record_type
        self._table = table

    def _load(self, record_id: str, version: int, body: str) -> T:
        record = decoded(body, self._type, f"{self._table.noun} {record_id}", self._uow.database.path)
        self._uow.rows[(self._kind, record_id)] = (version, record)
        return record

    def get(self, record_id: str) -> T | None:
        row = self._uow.read(
            "SELECT version, body FROM records WHERE kind = ? AND id = ?", (self._kind, record_id)
        ).fetchone()
        return None if row is None else self._load(record_id, row[0], row[1])

    def add(self, record: T) -> None:
        record_id = getattr(record, self._table.id_field)
        inserted = self._uow.write(
            "INSERT INTO records (kind, id, version, account_id, state, parent_order_id, body) "
            "VALUES (?, ?, 1, ?, ?, ?, ?) ON CONFLICT (kind, id) DO NOTHING",
            (self._kind, record_id, *self._columns(record), self._uow.json_of(record)),
        ).rowcount
        if inserted != 1:
            raise AlreadyExists(f"{self._table.noun} {record_id} already exists", {"id": record_id})
        self._uow.rows[(self._kind, record_id)] = (1, record)

    def update(self, record: T) -> None:
        record_id = getattr(record, self._table.id_field)
        known = self._uow.rows.get((self._kind, record_id))
        expected = known[0] if known is not None else self.version(record_id)
        if expected is None:
            raise NotFound(f"{self._table.noun} {record_id} does not exist", {"id": record_id})
        self.replace(record, expected)

    def replace(self, record: T, expected: int) -> None:
        """Replace the record if it is still at version ``expected``; else ``ConcurrentUpdate`` (``NotFound`` if
        there is no such record at all)."""
        record_id = getattr(record, self._table.id_field)
        columns = self._columns(record)
        known = self._uow.rows.get((self._kind, record_id))
        if known is not None and known[0] == expected and self._columns(known[1]) == columns:
            # The indexed columns stay as they are: setting them anyway would rewrite an entry in each index.
            changed = self._uow.write(
                "UPDATE records SET version = version + 1, body = ? WHERE kind = ? AND id = ? AND version = ?",
                (self._uow.json_of(record), self._kind, record_id, expected),
            ).rowcount
        else:
            changed = self._uow.write(
                "UPDATE records SET version = version + 1, account_id = ?, state = ?, parent_order_id = ?, "
                "body = ? WHERE kind = ? AND id = ? AND version = ?",
                (*columns, self._uow.json_of(record), self._kind, record_id, expected),
            ).rowcount
        if changed != 1:
            if self.version(record_id) is None:
                raise NotFound(f"{self._table.noun} {record_id} does not exist", {"id": record_id})
            raise ConcurrentUpdate(
                f"{self._table.noun} {record_id} was changed by someone else since it was read; try again",
                {"kind": self._kind, "id": record_id},
            )
        self._uow.rows[(self._kind, record_id)] = (expected + 1, record)

    def version(self, record_id: str) -> int | None:
        """The committed version of a record (``None``: there is none), without reading the record."""
        row = self._uow.read(
            "SELECT version FROM records WHERE kind = ? AND id = ?", (self._kind, record_id)
        ).fetchone()
        return None if row is None else int(row[0])

    def stored(self, record_id: str) -> Stored[T] | None:
        """The record with its version and position (for the store API)."""
        row = self._uow.read(
            "SELECT version, body, rowid FROM records WHERE kind = ? AND id = ?", (self._kind, record_id)
        ).fetchone()
        return None if row is None else Stored(self._load(record_id, row[0], row[1]), row[0], row[2])

    def stored_list(self, **where: Match) -> builtins.list[Stored[T]]:
        """``list`` with each record's version and position (for the store API)."""
        rows = self._select("id, version, body, rowid", where)
        return [Stored(self._load(row[0], row[1], row[2]), row[1], row[3]) for row in rows]

    def positions(self, **where: Match) -> builtins.list[tuple[str, int]]:
        """``ids`` with each record's position (for the store API)."""
        return [(row[0], row[1]) for row in self._select("id, rowid", where)]

    def versions(self, **where: Match) -> builtins.list[tuple[str, int]]:
        """The ids ``ids`` would return, each with its version (to check a read again)."""
        return [(row[0], row[1]) for row in self._select("id, version", where)]

    def list(self, **where: Match) -> list[T]:
        rows = self._select("id, version, body", where)
        return [self._load(row[0], row[1], row[2]) for row in rows]

    def ids(self, **where: Match) -> builtins.list[str]:
        return [row[0] for row in self._select("id", where)]

    def _select(self, columns: str, where: dict[str, Match]) -> builtins.list[tuple[Any, ...]]:
        sql = f"SELECT {columns} FROM records WHERE kind = ?"
        params: list[Any] = [self._kind]
        for name, wanted in where.items():
            values = wanted if isinstance(wanted, tuple) else (wanted,)
            marks = ", ".join("?" for _ in values)
            if name == self._table.id_field:
                sql += f" AND id IN ({marks})"
            elif name in INDEXED:
                sql += f" AND {name} IN ({marks})"
            else:
                sql += f" AND json_extract(body, ?) IN ({marks})"
                params.append(f"$.{name}")
            params.extend(values)
        return self._uow.read(sql + " ORDER BY rowid", params).fetchall()

    def _columns(self, record: object) -> tuple[str | None, str | None, str | None]:
        return (
            field_text(record, "account_id"),
            field_text(record, "state"),
            field_text(record, "parent_order_id"),
        )


class SqliteOutbox:
    """Events are kept until the unit of work commits, then written with their deliveries in two statements."""

    def __init__(self, uow: SqliteUnitOfWork) -> None:
        self._uow = uow
        self._subscriptions: list[Subscription] | None = None
        self._events: list[tuple[str, str, str, str, str]] = []
        self._deliveries: list[tuple[str, str, str]] = []

    def add(self, event: Event) -> None:
        topic = event.topic
        created = timestamp(event.created_at)
        self._events.append((event.id, event.type, topic, created, self._envelope_json(event)))
        if self._subscriptions is None:
            self._subscriptions = self._uow.subscriptions.list()
        for subscription in self._subscriptions:
            if receives(subscription, event):
                self._deliveries.append((subscription.id, sortable(event.created_at), event.id))

    def flush(self) -> None:
        """Write the events added so far, in order, and fan them out (called by the commit)."""
        if self._events:
            self._uow.write_many(
                "INSERT INTO events (id, type, topic, created_at, body) VALUES (?, ?, ?, ?, ?)", self._events
            )
        if self._deliveries:
            self._uow.write_many(
                "INSERT INTO deliveries (event_seq, subscription_id, status, next_attempt_at) "
                "SELECT seq, ?, 'PENDING', ? FROM events WHERE id = ?",
                self._deliveries,
            )
        self._events, self._deliveries = [], []

    def _envelope_json(self, event: Event) -> str:
        head = compact_json({"id": event.id, "created_at": timestamp(event.created_at), "type": event.type})
        return head[:-1] + ',"object":' + self._uow.json_of(event.object) + "}"

    def last(self) -> int:
        """The sequence number of the last committed event (0: none yet)."""
        return int(self._uow.read("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])

    def list(self, query: EventQuery) -> list[tuple[int, Event]]:
        sql = "SELECT seq, body FROM events WHERE seq > ?"
        params: list[Any] = [query.after]
        if query.topic is not None:
            sql += " AND topic = ?"
            params.append(query.topic)
        if query.client_id is not None:  # the rule of ``EventQuery.shows``, in SQL
            sql += " AND json_extract(body, '$.object.client_id') = ?"
            params.append(query.client_id)
        if query.user_id is not None:
            sql += " AND json_extract(body, '$.object.user_id') = ?"
            params.append(query.user_id)
        rows = self._uow.read(sql + " ORDER BY seq LIMIT ?", [*params, query.limit]).fetchall()
        return [(seq, event_from_envelope(body, self._uow.database.path)) for seq, body in rows]


def decoded(text: str, type_: type[T], what: str, path: Path) -> T:
    """A stored record from its JSON; one that cannot be read back is a damaged database, said so plainly."""
    try:
        return from_json(text, type_)
    except Exception as error:  # any way a stored document can be broken: bad JSON, a missing or wrong field
        raise damaged(what, path, error) from error


def damaged(what: str, path: Path, error: Exception) -> StorageError:
    return StorageError(
        f"the stored {what} in {path} is damaged and cannot be read: restore the database from a backup",
        {"path": str(path), "record": what, "problem": f"{type(error).__name__}: {error}"[:200]},
    )


def event_from_envelope(text: str, path: Path) -> Event:
    """An event from its stored envelope, its object as the record type of its topic."""
    try:
        envelope = json.loads(text, parse_float=Decimal)
        return Event(
            id=envelope["id"],
            created_at=structure(envelope["created_at"], dt.datetime),
            type=envelope["type"],
            object=from_data(envelope["object"], TYPE_OF_TOPIC[topic_of(envelope["type"])]),
        )
    except Exception as error:  # as in ``decoded``
        raise damaged("event", path, error) from error


def sortable(moment: dt.datetime) -> str:
    """A UTC time as text that sorts as the time does (always with microseconds): for due-time comparisons."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ledger_text(ledger: LedgerAccount) -> str:
    return f"{ledger.kind.value}:{ledger.name}"


def _asset_text(asset: Asset) -> str:
    return f"{asset.kind.value}:{asset.code}"


def _ledger_from(text: str) -> LedgerAccount:
    kind, _, name = text.partition(":")
    return LedgerAccount(LedgerKind(kind), name)


def _asset_from(text: str) -> Asset:
    kind, _, code = text.partition(":")
    return Asset(AssetKind(kind), code)


class _JournalWriter:
    """Journal entries waiting to be written: a row per entry, and its postings in their own table (the one
    place postings are kept, so that what ``verify`` adds up is what statements show)."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str, str, str, str]] = []
        self.postings: list[tuple[str, str, str, str]] = []

    def add(self, entry: JournalEntry) -> None:
        self.entries.append(
            (entry.id, timestamp(entry.at), entry.cause.kind.value, entry.cause.id, entry.memo)
        )
        self.postings += [
            (_ledger_text(p.ledger), _asset_text(p.asset), fmt(p.amount), entry.id) for p in entry.postings
        ]

    def write(self, connection: sqlite3.Connection) -> None:
        if self.entries:
            connection.executemany(
                "INSERT INTO journal (id, at, cause_kind, cause_id, memo) VALUES (?, ?, ?, ?, ?)",
                self.entries,
            )
            connection.executemany(
                "INSERT INTO postings (entry_seq, ledger, asset, amount) SELECT seq, ?, ?, ? FROM journal WHERE id = ?",
                self.postings,
            )
        self.entries, self.postings = [], []


_ENTRY_ROWS = (
    "SELECT j.id, j.at, j.cause_kind, j.cause_id, j.memo, p.ledger, p.asset, p.amount "
    "FROM journal j JOIN postings p ON p.entry_seq = j.seq {where} ORDER BY j.seq, p.rowid"
)


class SqliteJournal:
    """Entries are kept until the unit of work commits, then written with their postings."""

    def __init__(self, uow: SqliteUnitOfWork) -> None:
        self._uow = uow
        self._writer = _JournalWriter()

    def append(self, entry: JournalEntry) -> None:
        self._writer.add(entry)

    def flush(self) -> None:
        if self._writer.entries:
            self._uow.write_many_with(self._writer.write)

    def entries(self, ledger: LedgerAccount | None = None) -> list[JournalEntry]:
        if ledger is None:
            rows = self._uow.read(_ENTRY_ROWS.format(where="")).fetchall()
        else:
            rows = self._uow.read(
                _ENTRY_ROWS.format(where="WHERE j.seq IN (SELECT entry_seq FROM postings WHERE ledger = ?)"),
                (_ledger_text(ledger),),
            ).fetchall()
        return [self._entry(list(group)) for _, group in itertools.groupby(rows, key=lambda row: row[0])]

    def last(self) -> int:
        """The sequence number of the last committed entry (0: none yet)."""
        return int(self._uow.read("SELECT coalesce(max(seq), 0) FROM journal").fetchone()[0])

    def entry_rows(self) -> list[EntryRow]:
        rows = self._uow.read("SELECT id, cause_kind FROM journal ORDER BY seq").fetchall()
        return [EntryRow(entry_id, cause_kind) for entry_id, cause_kind in rows]

    def postings(self) -> list[EntryPosting]:
        # a LEFT JOIN: a posting whose journal row is gone is kept, with no entry id, for verify to report
        rows = self._uow.read(
            "SELECT j.id, p.ledger, p.asset, p.amount FROM postings p LEFT JOIN journal j ON j.seq = p.entry_seq "
            "ORDER BY j.seq IS NULL, p.entry_seq, p.rowid"
        ).fetchall()
        try:
            return [(entry_id, self._posting(*row)) for entry_id, *row in rows]
        except Exception as error:  # a posting changed behind allot's back into something that is not one
            raise damaged("journal posting", self._uow.database.path, error) from error

    @staticmethod
    def _posting(ledger: str, asset: str, amount: str) -> Posting:
        return Posting(_ledger_from(ledger), _asset_from(asset), parse_decimal(amount, "amount"))

    def _entry(self, rows: list[Any]) -> JournalEntry:
        entry_id, at, cause_kind, cause_id, memo = rows[0][:5]
        try:
            return JournalEntry(
                id=entry_id,
                at=structure(at, dt.datetime),
                cause=Cause(CauseKind(cause_kind), cause_id),
                postings=tuple(self._posting(*row[5:]) for row in rows),
                memo=memo,
            )
        except Exception as error:  # any way a stored entry can be broken, an unbalanced one included
            raise damaged(f"journal entry {entry_id}", self._uow.database.path, error) from error


class SqliteDatabase:
    """One connection to one database file, shared by the units of work of this process (one at a time)."""

    def __init__(
        self, path: str | Path, create: bool = True, durability: Durability | str = Durability.FULL
    ) -> None:
        self.path = Path(path)
        self.durability = Durability.of(durability)
        self.connection = connect(self.path, create, self.durability)
        self.lock = threading.RLock()
        #: Set when a unit of work lost a conflict: the next one takes the write lock up front.
        self.take_write_lock = False

    def unit_of_work(self, *, writing: bool = False) -> SqliteUnitOfWork:
        """A unit of work; ``writing`` takes the write lock when it begins (``BEGIN IMMEDIATE``), so that what it
        reads cannot change before it commits."""
        return SqliteUnitOfWork(self, writing)

    def apply(self, batch: Batch, now: dt.datetime) -> bool:
        """Commit a unit of work sent as data (``adapters.batch``) in one write transaction: every read it made is
        run again first, and if any answer differs it is ``ConcurrentUpdate`` and nothing is written; then its
        records, events (fanned out as ``outbox.add`` does) and journal entries are written together, with the
        batch's id. Returns whether it was written now: False for a batch already applied (sent again after its
        answer was lost), which is not written twice. A batch that writes nothing is only checked."""
        with self.unit_of_work(writing=True) as work:
            if (
                batch.writes_anything
                and work.read("SELECT 1 FROM batches WHERE id = ?", (batch.id,)).fetchone()
            ):
                return False
            work.check(batch)
            for write in batch.writes:
                repository: SqliteRepository[Any] = getattr(work, write.table)
                if write.version is None:
                    repository.add(write.record)
                else:
                    repository.replace(write.record, write.version)
            for event in batch.events:
                work.outbox.add(event)
            for entry in batch.entries:
                work.journal.append(entry)
            if batch.writes_anything:
                work.write("DELETE FROM batches WHERE applied_at < ?", (sortable(now - BATCHES_KEPT),))
                work.write("INSERT INTO batches (id, applied_at) VALUES (?, ?)", (batch.id, sortable(now)))
            work.commit()
        return True

    def close(self) -> None:
        with self.lock:
            self.connection.close()

    def run(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        try:
            return self.connection.execute(sql, params)
        except sqlite3.Error as error:
            raise translate(error, self.path) from error

    def guarded(self) -> contextlib.AbstractContextManager[None]:
        """Turn the SQLite errors raised inside into ``AllotError``s, as ``run`` does."""
        return storage_errors(self.path)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction outside the repositories (the delivery queue)."""
        with self.lock:
            self.run("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.run("ROLLBACK")
                raise
            self.run("COMMIT")


class SqliteUnitOfWork:
    accounts: SqliteRepository[Account]
    instruments: SqliteRepository[Instrument]
    allocations: SqliteRepository[ModelPortfolio]
    portfolio_orders: SqliteRepository[PortfolioOrder]
    orders: SqliteRepository[Order]
    liquidations: SqliteRepository[AccountLiquidation]
    keys: SqliteRepository[StoredKey]
    blocks: SqliteRepository[BlockOrder]
    subscriptions: SqliteRepository[Subscription]
    idempotency: SqliteRepository[IdempotencyRecord]
    clients: SqliteRepository[Client]
    users: SqliteRepository[User]
    api_keys: SqliteRepository[ApiKey]
    responses: SqliteRepository[StoredResponse]
    leaders: SqliteRepository[TradeLeader]
    followers: SqliteRepository[TradeFollower]
    investments: SqliteRepository[Investment]
    outbox: SqliteOutbox
    journal: SqliteJournal

    def __init__(self, database: SqliteDatabase, writing: bool = False) -> None:
        self.database = database
        self.connection = database.connection
        self.writing = writing
        #: The records read or written in this transaction, each with its version: what their rows hold now.
        self.rows: dict[tuple[str, str], tuple[int, object]] = {}
        #: JSON of records written in this transaction, so that their events reuse it (id → (record, json)).
        self.written: dict[int, tuple[object, str]] = {}
        for table in TABLES:
            setattr(self, table.name, SqliteRepository(self, table))
        self.outbox = SqliteOutbox(self)
        self.journal = SqliteJournal(self)

    def json_of(self, record: object) -> str:
        """The record's JSON, computed once per transaction (a record and its event snapshot share it)."""
        found = self.written.get(id(record))
        if found is None or found[0] is not record:
            found = (record, to_json(record))
            self.written[id(record)] = found
        return found[1]

    def __enter__(self) -> Self:
        self.database.lock.acquire()
        try:
            self._begin()
        except BaseException:
            self.database.lock.release()
            raise
        return self

    def _begin(self) -> None:
        immediate, self.database.take_write_lock = self.database.take_write_lock, False
        self.database.run("BEGIN IMMEDIATE" if immediate or self.writing else "BEGIN")

    def last_position(self) -> int:
        """The position of the last record added (0: none yet); records are never removed, so it only grows."""
        return int(self.read("SELECT coalesce(max(rowid), 0) FROM records").fetchone()[0])

    def added_since(self, table: str, position: int) -> bool:
        """Whether a record was added to ``table`` after ``position`` (a scan of the few rows added since)."""
        return (
            self.read(
                "SELECT 1 FROM records WHERE rowid > ? AND +kind = ? LIMIT 1", (position, table)
            ).fetchone()
            is not None
        )

    def check(self, batch: Batch) -> None:
        """Run every read of ``batch`` again; ``ConcurrentUpdate`` naming the first that gives another answer (and
        for a table the batch adds to, if a record was added to it after the batch listed it)."""
        adding = {write.table for write in batch.writes if write.version is None}
        for read in batch.record_reads:
            repository: SqliteRepository[Any] = getattr(self, read.table)
            if repository.version(read.id) != read.version:
                raise _stale(read, {"table": read.table, "id": read.id})
        for query in batch.query_reads:
            repository = getattr(self, query.table)
            now = repository.versions(**query.where)
            same_ids = tuple(record_id for record_id, _ in now) == query.ids
            if not same_ids or (query.versions is not None and tuple(v for _, v in now) != query.versions):
                raise _stale(query, {"table": query.table, "where": query.where})
            if query.table in adding and self.added_since(query.table, query.last_position):
                raise _stale(query, {"table": query.table, "added_after": query.last_position})
        for log in batch.log_reads:
            last = self.journal.last() if log.log is Log.JOURNAL else self.outbox.last()
            if last != log.last:
                raise _stale(log, {"log": log.log.value})

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            if self.connection.in_transaction:
                self.database.run("ROLLBACK")
        except StorageError:
            if error is None:
                raise  # with an error already on its way out, a failed rollback must not hide it
        finally:
            self.database.lock.release()

    def read(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        if not self.connection.in_transaction:
            self._begin()
        return self.database.run(sql, params)

    def write(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        """Run a write in this transaction; losing a race to another writer is ``ConcurrentUpdate``."""
        if not self.connection.in_transaction:
            self._begin()
        try:
            return self.database.run(sql, params)
        except ConcurrentUpdate:
            self.database.take_write_lock = True
            raise

    def write_many(self, sql: str, rows: Sequence[Any]) -> None:
        """Run one write for many rows in this transaction (as ``write``)."""
        self.write_many_with(lambda connection: connection.executemany(sql, rows))

    def write_many_with(self, write: Callable[[sqlite3.Connection], object]) -> None:
        """Run ``write`` on the connection in this transaction (as ``write``)."""
        if not self.connection.in_transaction:
            self._begin()
        try:
            with self.database.guarded():
                write(self.connection)
        except ConcurrentUpdate:
            self.database.take_write_lock = True
            raise

    def commit(self) -> None:
        self.journal.flush()
        self.outbox.flush()
        if self.connection.in_transaction:
            try:
                self.database.run("COMMIT")
            except ConcurrentUpdate:
                self.database.take_write_lock = True
                raise
        self.rows.clear()
        self.written.clear()
        self.outbox = SqliteOutbox(self)
        self.journal = SqliteJournal(self)


def _stale(read: object, details: dict[str, Any]) -> ConcurrentUpdate:
    what = {RecordRead: "a record it read", QueryRead: "records it listed"}.get(type(read), "the log it read")
    return ConcurrentUpdate(
        f"someone else changed {what} since this unit of work read it; nothing was written, try again",
        {"read": details},
    )


class SqliteDeliveryQueue:
    """The delivery queue kept in the same database as the outbox. A committed event never changes, so the
    events of recent deliveries are kept decoded (the queue is read again and again while they wait)."""

    #: How many decoded events are kept: about two rounds of deliveries.
    EVENTS_KEPT: Final = 4096

    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database
        self._events: dict[int, Event] = {}

    def _event(self, sequence: int, body: str) -> Event:
        event = self._events.get(sequence)
        if event is None:
            event = event_from_envelope(body, self._database.path)
            if len(self._events) >= self.EVENTS_KEPT:
                self._events.pop(next(iter(self._events)))
            self._events[sequence] = event
        return event

    _SELECT: Final = (
        "SELECT d.event_seq, d.attempts, e.body, s.body FROM deliveries d "
        "JOIN events e ON e.seq = d.event_seq "
        "JOIN records s ON s.kind = 'subscriptions' AND s.id = d.subscription_id "
    )

    def _delivery(self, row: tuple[Any, ...]) -> Delivery | None:
        path = self._database.path
        subscription = decoded(row[3], Subscription, "webhook subscription", path)
        if subscription.disabled_reason is not None:
            return None
        return Delivery(
            sequence=row[0],
            event=self._event(row[0], row[2]),
            subscription=subscription,
            attempts=row[1],
        )

    def due(self, now: dt.datetime, limit: int) -> list[Delivery]:
        with self._database.lock:
            rows = self._database.run(
                self._SELECT
                + "WHERE d.status = 'PENDING' AND d.next_attempt_at <= ? ORDER BY d.event_seq LIMIT ?",
                (sortable(now), limit),
            ).fetchall()
        return [d for d in (self._delivery(row) for row in rows) if d is not None]

    def claim(self, keys: Sequence[DeliveryKey], now: dt.datetime, lease: float) -> list[Delivery]:
        taken: list[Delivery] = []
        with self._database.transaction():
            for key in keys:
                row = self._database.run(
                    self._SELECT + "WHERE d.event_seq = ? AND d.subscription_id = ? AND d.status = 'PENDING' "
                    "AND d.next_attempt_at <= ?",
                    (key.sequence, key.subscription_id, sortable(now)),
                ).fetchone()
                claimed = None if row is None else self._delivery(row)
                if claimed is not None:
                    taken.append(claimed)
                    self._database.run(
                        "UPDATE deliveries SET next_attempt_at = ? WHERE event_seq = ? AND subscription_id = ?",
                        (sortable(now + dt.timedelta(seconds=lease)), key.sequence, key.subscription_id),
                    )
        return taken

    def record(
        self, attempts: Sequence[RecordedAttempt], released: Sequence[DeliveryKey], now: dt.datetime
    ) -> None:
        with self._database.transaction():
            for recorded in attempts:
                attempt, decision, key = recorded.attempt, recorded.decision, recorded.key
                self._database.run(
                    "INSERT INTO delivery_log (event_id, subscription_id, attempt, at, status_code, error, "
                    "duration_ms, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        attempt.event_id, attempt.subscription_id, attempt.attempt, timestamp(attempt.at),
                        attempt.status_code, attempt.error, attempt.duration_ms, attempt.outcome.value,
                    ),
                )  # fmt: skip
                self._database.run(
                    "UPDATE deliveries SET status = ?, attempts = ?, next_attempt_at = ? "
                    "WHERE event_seq = ? AND subscription_id = ?",
                    (
                        decision.delivery_status,
                        attempt.attempt,
                        sortable(attempt.at + dt.timedelta(seconds=decision.delay)),
                        key.sequence,
                        key.subscription_id,
                    ),
                )
                if decision.disable_reason is not None:
                    self._disable(key.subscription_id, decision.disable_reason)
            for key in released:
                self._database.run(
                    "UPDATE deliveries SET next_attempt_at = ? "
                    "WHERE event_seq = ? AND subscription_id = ? AND status = 'PENDING'",
                    (sortable(now), key.sequence, key.subscription_id),
                )

    def disable(self, subscription_id: str, reason: str) -> None:
        with self._database.transaction():
            self._disable(subscription_id, reason)

    def _disable(self, subscription_id: str, reason: str) -> None:
        row = self._database.run(
            "SELECT body FROM records WHERE kind = 'subscriptions' AND id = ?", (subscription_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"webhook subscription {subscription_id} does not exist", {"id": subscription_id})
        disabled = attrs.evolve(
            decoded(row[0], Subscription, "webhook subscription", self._database.path), disabled_reason=reason
        )
        self._database.run(
            "UPDATE records SET body = ?, version = version + 1 WHERE kind = 'subscriptions' AND id = ?",
            (to_json(disabled), subscription_id),
        )
        self._database.run(
            "UPDATE deliveries SET status = 'DROPPED' WHERE subscription_id = ? AND status = 'PENDING'",
            (subscription_id,),
        )

    def event(self, event_id: str) -> tuple[int, Event] | None:
        with self._database.lock:
            row = self._database.run("SELECT seq, body FROM events WHERE id = ?", (event_id,)).fetchone()
        return None if row is None else (row[0], event_from_envelope(row[1], self._database.path))

    def redeliver(self, sequence: int, subscription_ids: Sequence[str], now: dt.datetime) -> None:
        with self._database.transaction():
            for subscription_id in subscription_ids:
                self._database.run(
                    "INSERT INTO deliveries (event_seq, subscription_id, status, attempts, next_attempt_at) "
                    "VALUES (?, ?, 'PENDING', 0, ?) ON CONFLICT (event_seq, subscription_id) "
                    "DO UPDATE SET status = 'PENDING', attempts = 0, next_attempt_at = excluded.next_attempt_at",
                    (sequence, subscription_id, sortable(now)),
                )

    def log(self, limit: int) -> list[Attempt]:
        with self._database.lock:
            rows = self._database.run(
                "SELECT event_id, subscription_id, attempt, at, status_code, error, duration_ms, outcome "
                "FROM delivery_log ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            Attempt(
                event_id=event_id,
                subscription_id=subscription_id,
                attempt=number,
                at=structure(at, dt.datetime),
                status_code=code,
                error=error,
                duration_ms=duration,
                outcome=DeliveryOutcome(outcome),
            )
            for event_id, subscription_id, number, at, code, error, duration, outcome in rows
        ]


def remove_if_unused(path: Path) -> bool:
    """Delete a database file (and its WAL files) that holds no record and no event, or no table at all, as a
    command that created it and then failed leaves it; a database anyone wrote to is kept. Returns whether it was
    removed."""
    if not path.is_file():
        return False
    try:
        with contextlib.closing(_open(path, "rw")) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables:
                used = db.execute(
                    "SELECT (SELECT count(*) FROM records) + (SELECT count(*) FROM events)"
                ).fetchone()
                if used[0]:
                    return False
    except (sqlite3.Error, AllotError):
        return False
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)
    return True


@attrs.frozen
class IntegrityReport:
    """What SQLite's full check (``PRAGMA integrity_check``) found in one database: each problem as SQLite words
    it (at most 100), none when the database is sound."""

    database: str
    sound: bool
    problems: tuple[str, ...]


def integrity_check(path: str | Path) -> IntegrityReport:
    """Run the full integrity check on the allot database at ``path``, changing nothing: every page, every table
    and index, and that every index agrees with its table. (The file is opened for reading and writing, as every
    allot command does, so that the connection tidies the ``-wal`` and ``-shm`` files away when it closes; SQLite
    falls back to reading only when the file is read-only.) A file SQLite cannot even read as a database is reported as
    damaged with SQLite's message; a file that is not an allot database is refused (``NOT_AN_ALLOT_DATABASE``)."""
    path = Path(path)
    _check_location(path, create=False)
    with contextlib.closing(_open(path, "rw")) as connection:
        try:
            _identify(connection, path, fresh=False)
            found = problems(connection, "integrity_check")
        except sqlite3.Error as error:
            found = _damage(error, path)
            # The full check gives up on some damage that the quick check still describes page by page.
            with contextlib.suppress(sqlite3.Error):
                found = problems(connection, "quick_check") or found
    return IntegrityReport(database=str(path), sound=not found, problems=tuple(found))


def _damage(error: sqlite3.Error, path: Path) -> list[str]:
    """SQLite's message for a file it cannot read as a database; any other error is raised as an ``AllotError``."""
    if not (getattr(error, "sqlite_errorname", "") or "").startswith("SQLITE_CORRUPT"):
        raise translate(error, path) from error
    return [str(error)]


@attrs.frozen
class DatabaseInfo:
    """How a database file is set up, as ``allot db info`` shows it. ``synchronous`` is the setting of a connection
    opened with ``durability`` (SQLite keeps it per connection, not in the file: every process chooses its own);
    the rest is read from the file."""

    database: str
    journal_mode: str
    durability: Durability
    synchronous: str
    schema_version: int
    supported_schema: int
    application_id: int
    sqlite_version: str

    @property
    def is_allot(self) -> bool:
        return self.application_id == APPLICATION_ID


def describe(path: str | Path, durability: Durability = Durability.FULL) -> DatabaseInfo:
    """How the allot database at ``path`` is set up, changing nothing (an older schema is reported, not migrated);
    opened as in ``integrity_check``, with ``durability``. A file that is not an allot database is refused, and a
    damaged one (the quick check every command runs when it opens a database) is ``DATABASE_CORRUPT``."""
    path = Path(path)
    _check_location(path, create=False)
    with contextlib.closing(_open(path, "rw")) as connection, storage_errors(path):
        application_id, tables = _identify(connection, path, fresh=False)
        _require_sound(connection, path)
        _set_durability(connection, durability, path)
        version = 0
        if "schema_version" in tables:
            version = connection.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0
        return DatabaseInfo(
            database=str(path),
            journal_mode=str(connection.execute("PRAGMA journal_mode").fetchone()[0]).upper(),
            durability=durability,
            synchronous=synchronous(connection),
            schema_version=int(version),
            supported_schema=SCHEMA_VERSION,
            application_id=application_id,
            sqlite_version=sqlite3.sqlite_version,
        )


@attrs.frozen
class BackupReport:
    """A backup written by ``backup``: where from, where to, and its size."""

    database: str
    backup: str
    pages: int
    bytes: int


def backup(path: str | Path, target: str | Path, replace: bool = False) -> BackupReport:
    """Copy the allot database at ``path`` to the new file ``target`` with SQLite's online backup API: a consistent
    copy of what is committed, taken while other processes keep reading and writing. The source is only read, and
    must pass the quick check; the copy is written beside ``target`` under a temporary name, readable by its owner
    only, checked, and renamed to ``target`` only when complete, so a failure (a full disk) leaves no partial
    backup. An existing ``target`` is replaced only if ``replace``. (The source is opened as in ``integrity_check``.)"""
    path, target = Path(path), Path(target)
    _check_location(path, create=False)
    if target.exists() and target.resolve() == path.resolve():
        raise ValidationError(
            f"a backup cannot replace the database it copies ({path}): give another path",
            {"path": str(target)},
        )
    if target.is_dir():
        raise ValidationError(f"{target} is a directory: give the backup a file name", {"path": str(target)})
    if target.exists() and not replace:
        raise AlreadyExists(f"{target} exists already: nothing was written", {"path": str(target)})
    if not target.parent.is_dir():
        raise DatabaseNotFound(
            f"the folder {target.parent} does not exist: create it or give the backup another path",
            {"path": str(target)},
        )
    with contextlib.closing(_open(path, "rw")) as source:
        with storage_errors(path):
            _identify(source, path, fresh=False)
            _require_sound(source, path)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.partial")
        create_private(partial)
        try:
            pages = _copy(source, partial, target)
            os.replace(partial, target)
        finally:
            for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
                leftover.unlink(missing_ok=True)
    _sync_folder(target.parent)
    return BackupReport(database=str(path), backup=str(target), pages=pages, bytes=target.stat().st_size)


def _copy(source: sqlite3.Connection, partial: Path, target: Path) -> int:
    """Copy ``source`` into the empty file ``partial`` page by page and check the copy; returns its number of
    pages. The copy is a WAL database like its source; closing it leaves no ``-wal`` file beside it. Errors name
    ``target``, the file the operator asked for."""
    with storage_errors(target), contextlib.closing(_open(partial, "rw")) as copy:
        _set_durability(copy, Durability.FULL, target)
        source.backup(copy)
        found = problems(copy, "quick_check(1)")
        if found:
            raise DatabaseCorrupt(
                f"the backup written for {target} did not pass the quick check, so it was removed: try again",
                {"path": str(target), "problems": found},
            )
        pages: int = copy.execute("PRAGMA page_count").fetchone()[0]
    return pages


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where the system allows opening a folder)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
