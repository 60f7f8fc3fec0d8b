"""In-memory storage: dicts behind a lock, for tests and for embedding the engine without a database.

A unit of work works on copies of the tables and swaps them in on commit, so an abandoned unit of work
leaves nothing behind, exactly like a rolled-back SQLite transaction. Units of work are serialised by a lock.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

from core.errors import ConcurrentUpdate, NotFound, ValidationError
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


class MemoryStore:
    """The shared state: one table per repository (id → (version, record)) and the committed events."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, tuple[int, Any]]] = {name: {} for name in REPOSITORIES}
        self.events: list[Event] = []
        self.lock = threading.RLock()

    def unit_of_work(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self)


class MemoryRepository(Generic[T]):
    def __init__(self, table: dict[str, tuple[int, T]], id_field: str, kind: str) -> None:
        self._table = table
        self._id_field = id_field
        self._kind = kind

    def get(self, record_id: str) -> T | None:
        found = self._table.get(record_id)
        return None if found is None else found[1]

    def add(self, record: T) -> None:
        record_id = getattr(record, self._id_field)
        if record_id in self._table:
            raise ValidationError(f"{self._kind} {record_id} already exists", {"id": record_id})
        self._table[record_id] = (1, record)

    def update(self, record: T) -> None:
        record_id = getattr(record, self._id_field)
        if record_id not in self._table:
            raise NotFound(f"{self._kind} {record_id} does not exist", {"id": record_id})
        version, _ = self._table[record_id]
        self._table[record_id] = (version + 1, record)

    def list(self, **where: str) -> list[T]:
        return [
            record
            for _, record in self._table.values()
            if all(field_text(record, name) == value for name, value in where.items())
        ]


class MemoryOutbox:
    def __init__(self, committed: list[Event], pending: list[Event]) -> None:
        self._committed = committed
        self._pending = pending

    def add(self, event: Event) -> None:
        self._pending.append(event)

    def list(self, after: int = 0, limit: int = 100, topic: str | None = None) -> list[tuple[int, Event]]:
        numbered = list(enumerate(self._committed, 1))[after:]
        return [(n, e) for n, e in numbered if topic is None or topic_of(e.type) == topic][:limit]


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
    outbox: MemoryOutbox

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._tables: dict[str, dict[str, tuple[int, Any]]] = {}
        self._pending: list[Event] = []

    def __enter__(self) -> Self:
        self._store.lock.acquire()
        self._begin()
        return self

    def _begin(self) -> None:
        self._tables = {name: dict(table) for name, table in self._store.tables.items()}
        self._pending = []
        for name, (_, id_field) in REPOSITORIES.items():
            setattr(self, name, MemoryRepository(self._tables[name], id_field, name))
        self.outbox = MemoryOutbox(self._store.events, self._pending)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._store.lock.release()

    def commit(self) -> None:
        for name, table in self._tables.items():
            committed = self._store.tables[name]
            for record_id, (version, _) in table.items():
                before = committed.get(record_id)
                if before is not None and before[0] >= version and table[record_id] is not before:
                    raise ConcurrentUpdate(f"{name} {record_id} changed since it was read", {"id": record_id})
        self._store.tables = self._tables
        self._store.events.extend(self._pending)
        self._begin()
