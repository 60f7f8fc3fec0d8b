"""In-memory storage: for tests and for embedding the engine without a database.

The store keeps committed state as immutable snapshots: a commit replaces the tables it changed with new copies,
so a unit of work reads one consistent state from the moment it began, like a SQLite read transaction. Writes
stay in the unit of work until it commits; the commit checks, under a lock, that nothing was committed since the
unit of work began (else ``ConcurrentUpdate`` and nothing is written: first committer wins, as on SQLite), then
swaps in the new state, appends the events and fans each one out to the active subscriptions of its topic.
The delivery queue of those events is kept here too.
"""

from __future__ import annotations

import builtins
import datetime as dt
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import attrs

from core.errors import AlreadyExists, ConcurrentUpdate, NotFound
from core.instruments import Instrument
from core.journal import EntryPosting, EntryRow, JournalEntry, LedgerAccount, postings_of, rows_of
from core.records import (
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
    PortfolioOrder,
    StoredKey,
    StoredResponse,
    Subscription,
    TradeFollower,
    TradeLeader,
    User,
)
from core.webhooks import Attempt, EventQuery, receives
from ports.driven import TABLES, Delivery, DeliveryKey, Match, RecordedAttempt, Table, matches

T = TypeVar("T")
#: One table: record id → (version, record), in insertion order.
Rows = dict[str, tuple[int, Any]]


@attrs.define
class DeliveryState:
    status: str
    attempts: int
    next_attempt_at: dt.datetime


class MemoryStore:
    """The committed state: one table per repository, the events in commit order, the delivery queue."""

    def __init__(self) -> None:
        self.tables: dict[str, Rows] = {table.name: {} for table in TABLES}
        self.events: list[Event] = []
        self.journal: list[JournalEntry] = []
        self.deliveries: dict[tuple[int, str], DeliveryState] = {}
        self.attempts: list[Attempt] = []
        self.lock = threading.RLock()

    def unit_of_work(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self)

    def commit(
        self,
        snapshot: dict[str, Rows],
        writes: dict[str, dict[str, tuple[int | None, Any]]],
        events: list[Event],
        entries: list[JournalEntry],
    ) -> None:
        """Apply a unit of work's writes (``None`` version: an insert) and events, unless anything was committed
        after it took ``snapshot``: what it decided may rest on what it read, so it must run again on fresh data
        (first committer wins, as with SQLite)."""
        with self.lock:
            if not writes and not events and not entries:
                return
            if self.tables is not snapshot:
                changed = sorted(f"{name} {record_id}" for name, rows in writes.items() for record_id in rows)
                raise ConcurrentUpdate(
                    "someone else wrote to the store since this unit of work read it; try again",
                    {"writes": changed[:10]},
                )
            tables = dict(self.tables)
            for name, rows in writes.items():
                table = dict(tables[name])
                for record_id, (read_version, record) in rows.items():
                    table[record_id] = ((read_version or 0) + 1, record)
                tables[name] = table
            self.tables = tables
            self.journal.extend(entries)
            subscriptions = [s for _, s in tables["subscriptions"].values() if s.disabled_reason is None]
            for event in events:
                self.events.append(event)
                for subscription in subscriptions:
                    if receives(subscription, event):
                        key = (len(self.events), subscription.id)
                        self.deliveries[key] = DeliveryState("PENDING", 0, event.created_at)

    def replace(self, name: str, record_id: str, record: Any) -> None:
        """Replace a committed record outside a unit of work (the delivery queue disabling a subscription)."""
        with self.lock:
            table = dict(self.tables[name])
            version, _ = table[record_id]
            table[record_id] = (version + 1, record)
            self.tables = {**self.tables, name: table}


class MemoryRepository(Generic[T]):
    def __init__(self, uow: MemoryUnitOfWork, table: Table) -> None:
        self._uow = uow
        self._table = table

    @property
    def _base(self) -> Rows:
        return self._uow.snapshot[self._table.name]

    @property
    def _writes(self) -> dict[str, tuple[int | None, Any]]:
        return self._uow.writes.setdefault(self._table.name, {})

    def get(self, record_id: str) -> T | None:
        written = self._uow.writes.get(self._table.name, {}).get(record_id)
        if written is not None:
            record: T = written[1]
            return record
        found = self._base.get(record_id)
        return None if found is None else found[1]

    def add(self, record: T) -> None:
        record_id = getattr(record, self._table.id_field)
        if self.get(record_id) is not None:
            raise AlreadyExists(f"{self._table.noun} {record_id} already exists", {"id": record_id})
        self._writes[record_id] = (None, record)

    def update(self, record: T) -> None:
        record_id = getattr(record, self._table.id_field)
        written = self._writes.get(record_id)
        if written is not None:
            self._writes[record_id] = (written[0], record)
            return
        found = self._base.get(record_id)
        if found is None:
            raise NotFound(f"{self._table.noun} {record_id} does not exist", {"id": record_id})
        self._writes[record_id] = (found[0], record)

    def list(self, **where: Match) -> list[T]:
        writes = self._uow.writes.get(self._table.name, {})
        merged = [writes.get(record_id, row)[1] for record_id, row in self._base.items()]
        merged += [record for record_id, (_, record) in writes.items() if record_id not in self._base]
        return [r for r in merged if matches(r, where)]

    def ids(self, **where: Match) -> builtins.list[str]:
        return [getattr(r, self._table.id_field) for r in self.list(**where)]


class MemoryOutbox:
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    def add(self, event: Event) -> None:
        self._uow.events.append(event)

    def list(self, query: EventQuery) -> list[tuple[int, Event]]:
        committed = self._uow.store.events[query.after : self._uow.event_count]
        numbered = enumerate(committed, query.after + 1)
        chosen = [(n, e) for n, e in numbered if query.shows(e)]
        return chosen[: query.limit]


class MemoryJournal:
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    def append(self, entry: JournalEntry) -> None:
        self._uow.entries.append(entry)

    def entries(self, ledger: LedgerAccount | None = None) -> list[JournalEntry]:
        committed = self._uow.store.journal[: self._uow.entry_count]
        return [e for e in committed if ledger is None or e.touches(ledger)]

    def entry_rows(self) -> list[EntryRow]:
        return rows_of(self.entries())

    def postings(self) -> list[EntryPosting]:
        return postings_of(self.entries())


class MemoryUnitOfWork:
    accounts: MemoryRepository[Account]
    instruments: MemoryRepository[Instrument]
    allocations: MemoryRepository[ModelPortfolio]
    portfolio_orders: MemoryRepository[PortfolioOrder]
    orders: MemoryRepository[Order]
    liquidations: MemoryRepository[AccountLiquidation]
    keys: MemoryRepository[StoredKey]
    blocks: MemoryRepository[BlockOrder]
    subscriptions: MemoryRepository[Subscription]
    idempotency: MemoryRepository[IdempotencyRecord]
    clients: MemoryRepository[Client]
    users: MemoryRepository[User]
    api_keys: MemoryRepository[ApiKey]
    responses: MemoryRepository[StoredResponse]
    leaders: MemoryRepository[TradeLeader]
    followers: MemoryRepository[TradeFollower]
    investments: MemoryRepository[Investment]
    outbox: MemoryOutbox
    journal: MemoryJournal

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.snapshot: dict[str, Rows] = store.tables
        #: How many events were committed when this unit of work began (the event list only grows).
        self.event_count = 0
        self.entry_count = 0
        self.writes: dict[str, dict[str, tuple[int | None, Any]]] = {}
        self.events: list[Event] = []
        self.entries: list[JournalEntry] = []
        for table in TABLES:
            setattr(self, table.name, MemoryRepository(self, table))
        self.outbox = MemoryOutbox(self)
        self.journal = MemoryJournal(self)

    def __enter__(self) -> Self:
        self._begin()
        return self

    def _begin(self) -> None:
        with self.store.lock:
            self.snapshot = self.store.tables
            self.event_count = len(self.store.events)
            self.entry_count = len(self.store.journal)
        self.writes = {}
        self.events = []
        self.entries = []

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.writes = {}
        self.events = []
        self.entries = []

    def commit(self) -> None:
        try:
            self.store.commit(self.snapshot, self.writes, self.events, self.entries)
        finally:
            self._begin()


class MemoryDeliveryQueue:
    """The delivery queue of a ``MemoryStore``."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def _delivery(self, key: tuple[int, str], state: DeliveryState) -> Delivery | None:
        found = self._store.tables["subscriptions"].get(key[1])
        if found is None or found[1].disabled_reason is not None or state.status != "PENDING":
            return None
        return Delivery(key[0], self._store.events[key[0] - 1], found[1], state.attempts)

    def due(self, now: dt.datetime, limit: int) -> list[Delivery]:
        with self._store.lock:
            ready = sorted(
                key
                for key, state in self._store.deliveries.items()
                if state.status == "PENDING" and state.next_attempt_at <= now
            )
            found = [self._delivery(key, self._store.deliveries[key]) for key in ready]
        return [d for d in found if d is not None][:limit]

    def claim(self, keys: Sequence[DeliveryKey], now: dt.datetime, lease: float) -> list[Delivery]:
        taken: list[Delivery] = []
        with self._store.lock:
            for key in keys:
                state = self._store.deliveries.get((key.sequence, key.subscription_id))
                if state is None or state.next_attempt_at > now:
                    continue
                claimed = self._delivery((key.sequence, key.subscription_id), state)
                if claimed is not None:
                    taken.append(claimed)
                    state.next_attempt_at = now + dt.timedelta(seconds=lease)
        return taken

    def record(
        self, attempts: Sequence[RecordedAttempt], released: Sequence[DeliveryKey], now: dt.datetime
    ) -> None:
        with self._store.lock:
            for recorded in attempts:
                attempt, decision = recorded.attempt, recorded.decision
                self._store.attempts.append(attempt)
                state = self._store.deliveries[(recorded.key.sequence, recorded.key.subscription_id)]
                state.attempts = attempt.attempt
                state.status = decision.delivery_status
                state.next_attempt_at = attempt.at + dt.timedelta(seconds=decision.delay)
                if decision.disable_reason is not None:
                    self.disable(recorded.key.subscription_id, decision.disable_reason)
            for key in released:
                state = self._store.deliveries[(key.sequence, key.subscription_id)]
                if state.status == "PENDING":
                    state.next_attempt_at = now

    def disable(self, subscription_id: str, reason: str) -> None:
        with self._store.lock:
            _, subscription = self._store.tables["subscriptions"][subscription_id]
            self._store.replace(
                "subscriptions", subscription_id, attrs.evolve(subscription, disabled_reason=reason)
            )
            for (_, owner), state in self._store.deliveries.items():
                if owner == subscription_id and state.status == "PENDING":
                    state.status = "DROPPED"

    def event(self, event_id: str) -> tuple[int, Event] | None:
        with self._store.lock:
            return next(((n, e) for n, e in enumerate(self._store.events, 1) if e.id == event_id), None)

    def redeliver(self, sequence: int, subscription_ids: Sequence[str], now: dt.datetime) -> None:
        with self._store.lock:
            for subscription_id in subscription_ids:
                self._store.deliveries[(sequence, subscription_id)] = DeliveryState("PENDING", 0, now)

    def log(self, limit: int) -> list[Attempt]:
        with self._store.lock:
            return list(reversed(self._store.attempts))[:limit]
