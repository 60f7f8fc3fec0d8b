"""SQLite storage, the embedded default: records as JSON documents, a transactional outbox, webhook deliveries.

- WAL journal, ``BEGIN IMMEDIATE`` transactions (writers queue instead of failing), a busy timeout;
- a ``version`` column on every record for optimistic concurrency;
- events are written to the ``events`` table in the same transaction as the state change, and fanned out to
  a ``deliveries`` row per matching webhook subscription, so nothing is announced that was not committed and
  nothing committed goes unannounced;
- the schema is created and migrated here (``schema_version``); a database written by a newer allot is refused.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

from adapters.serialization import from_json, parse_json, timestamp, to_json
from core.errors import ConcurrentUpdate, NotFound, SchemaTooNew, ValidationError
from core.instruments import Instrument
from core.records import (
    Account,
    AccountLiquidation,
    BlockOrder,
    Event,
    IdempotencyRecord,
    ModelPortfolio,
    Order,
    PortfolioOrder,
    StoredKey,
    Subscription,
)
from ports.driven import REPOSITORIES, field_text, topic_of

T = TypeVar("T")

#: Columns that ``list(**where)`` can filter on through an index; other fields go through json_extract.
INDEXED = ("account_id", "state", "client_reference")

MIGRATIONS: tuple[str, ...] = (
    """
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
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def connect(path: str | Path) -> sqlite3.Connection:
    """Open (creating and migrating if needed) an allot database."""
    connection = sqlite3.connect(str(path), isolation_level=None, timeout=30.0, check_same_thread=False)
    connection.execute("PRAGMA busy_timeout = 30000")
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute("PRAGMA foreign_keys = ON")
    migrate(connection)
    return connection


def migrate(connection: sqlite3.Connection) -> None:
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = connection.execute("SELECT max(version) FROM schema_version").fetchone()
        current = row[0] or 0
        if current > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"this database was written by a newer allot (schema {current}, this allot knows {SCHEMA_VERSION}); "
                "upgrade allot to open it",
                {"database_schema": current, "supported_schema": SCHEMA_VERSION},
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[version - 1].split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


class SqliteRepository(Generic[T]):
    def __init__(self, uow: SqliteUnitOfWork, kind: str, record_type: type[T], id_field: str) -> None:
        self._uow = uow
        self._kind = kind
        self._type = record_type
        self._id_field = id_field

    def _load(self, record_id: str, version: int, body: str) -> T:
        self._uow.versions[(self._kind, record_id)] = version
        return from_json(body, self._type)

    def get(self, record_id: str) -> T | None:
        row = self._uow.connection.execute(
            "SELECT version, body FROM records WHERE kind = ? AND id = ?", (self._kind, record_id)
        ).fetchone()
        return None if row is None else self._load(record_id, row[0], row[1])

    def add(self, record: T) -> None:
        record_id = getattr(record, self._id_field)
        try:
            self._uow.writing().execute(
                "INSERT INTO records (kind, id, version, account_id, state, client_reference, body) "
                "VALUES (?, ?, 1, ?, ?, ?, ?)",
                (self._kind, record_id, *self._columns(record), self._uow.json_of(record)),
            )
        except sqlite3.IntegrityError:
            raise ValidationError(f"{self._kind} {record_id} already exists", {"id": record_id}) from None
        self._uow.versions[(self._kind, record_id)] = 1

    def update(self, record: T) -> None:
        record_id = getattr(record, self._id_field)
        expected = self._uow.versions.get((self._kind, record_id))
        if expected is None:
            row = self._uow.connection.execute(
                "SELECT version FROM records WHERE kind = ? AND id = ?", (self._kind, record_id)
            ).fetchone()
            if row is None:
                raise NotFound(f"{self._kind} {record_id} does not exist", {"id": record_id})
            expected = row[0]
        changed = (
            self._uow.writing()
            .execute(
                "UPDATE records SET version = version + 1, account_id = ?, state = ?, client_reference = ?, body = ? "
                "WHERE kind = ? AND id = ? AND version = ?",
                (*self._columns(record), self._uow.json_of(record), self._kind, record_id, expected),
            )
            .rowcount
        )
        if changed != 1:
            raise ConcurrentUpdate(
                f"{self._kind} {record_id} was changed by someone else since it was read; try again",
                {"kind": self._kind, "id": record_id},
            )
        self._uow.versions[(self._kind, record_id)] = expected + 1

    def list(self, **where: str) -> list[T]:
        sql = "SELECT id, version, body FROM records WHERE kind = ?"
        params: list[Any] = [self._kind]
        for name, value in where.items():
            if name in INDEXED:
                sql += f" AND {name} = ?"
            else:
                sql += " AND json_extract(body, ?) = ?"
                params.append(f"$.{name}")
            params.append(value)
        rows = self._uow.connection.execute(sql + " ORDER BY rowid", params).fetchall()
        return [self._load(row[0], row[1], row[2]) for row in rows]

    def _columns(self, record: T) -> tuple[str | None, str | None, str | None]:
        return (
            field_text(record, "account_id"),
            field_text(record, "state"),
            field_text(record, "client_reference"),
        )


class SqliteOutbox:
    def __init__(self, uow: SqliteUnitOfWork) -> None:
        self._uow = uow
        self._subscriptions: list[Subscription] | None = None

    def add(self, event: Event) -> None:
        connection = self._uow.writing()
        topic = topic_of(event.type)
        seq = connection.execute(
            "INSERT INTO events (id, type, topic, created_at, body) VALUES (?, ?, ?, ?, ?)",
            (event.id, event.type, topic, timestamp(event.created_at), self._envelope_json(event)),
        ).lastrowid
        if self._subscriptions is None:
            self._subscriptions = self._uow.subscriptions.list()
        for subscription in self._subscriptions:
            if subscription.disabled_reason is None and topic in subscription.topics:
                connection.execute(
                    "INSERT INTO deliveries (event_seq, subscription_id, status, next_attempt_at) VALUES (?, ?, 'PENDING', ?)",
                    (seq, subscription.id, timestamp(event.created_at)),
                )

    def _envelope_json(self, event: Event) -> str:
        head = json.dumps({"id": event.id, "created_at": timestamp(event.created_at), "type": event.type})
        return head[:-1] + ', "object": ' + self._uow.json_of(event.object) + "}"

    def list(self, after: int = 0, limit: int = 100, topic: str | None = None) -> list[tuple[int, Event]]:
        sql = "SELECT seq, body FROM events WHERE seq > ?"
        params: list[Any] = [after]
        if topic is not None:
            sql += " AND topic = ?"
            params.append(topic)
        rows = self._uow.connection.execute(sql + " ORDER BY seq LIMIT ?", [*params, limit]).fetchall()
        return [(seq, event_from_envelope(parse_json(body))) for seq, body in rows]


def event_from_envelope(body: dict[str, Any]) -> Event:
    created = dt.datetime.fromisoformat(body["created_at"].replace("Z", "+00:00"))
    return Event(body["id"], created, body["type"], body["object"])


class SqliteDatabase:
    """One connection to one database file, shared by the units of work of this process (one at a time)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.connection = connect(path)
        self.lock = threading.RLock()

    def unit_of_work(self) -> SqliteUnitOfWork:
        return SqliteUnitOfWork(self)

    def close(self) -> None:
        self.connection.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction outside the repositories (the webhook delivery queue)."""
        with self.lock:
            self.connection.execute("BEGIN IMMEDIATE")
            try:
                yield self.connection
            except BaseException:
                self.connection.execute("ROLLBACK")
                raise
            self.connection.execute("COMMIT")


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
    outbox: SqliteOutbox

    def __init__(self, database: SqliteDatabase) -> None:
        self.database = database
        self.connection = database.connection
        self.versions: dict[tuple[str, str], int] = {}
        #: JSON of records written in this transaction, so that their events reuse it (id → (record, json)).
        self.written: dict[int, tuple[object, str]] = {}
        for name, (record_type, id_field) in REPOSITORIES.items():
            setattr(self, name, SqliteRepository(self, name, record_type, id_field))
        self.outbox = SqliteOutbox(self)

    def json_of(self, record: object) -> str:
        """The record's JSON, computed once per transaction (a record and its event snapshot share it)."""
        found = self.written.get(id(record))
        if found is None or found[0] is not record:
            found = (record, to_json(record))
            self.written[id(record)] = found
        return found[1]

    def __enter__(self) -> Self:
        self.database.lock.acquire()
        self.connection.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            if self.connection.in_transaction:
                self.connection.execute("ROLLBACK")
        finally:
            self.database.lock.release()

    def commit(self) -> None:
        self.connection.execute("COMMIT")
        self.versions.clear()
        self.written.clear()
        self.outbox = SqliteOutbox(self)

    def writing(self) -> sqlite3.Connection:
        """The connection, inside a write transaction (a new one if this unit of work already committed)."""
        if not self.connection.in_transaction:
            self.connection.execute("BEGIN IMMEDIATE")
        return self.connection
