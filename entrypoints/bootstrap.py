"""The one composition root: wires adapters to the service. Nothing happens at import time."""

from __future__ import annotations

import os
from pathlib import Path

from adapters.memory import MemoryStore
from adapters.sqlite import SqliteDatabase
from adapters.system import SystemClock, UuidGenerator
from adapters.venue import SimulatedVenue
from adapters.webhooks import check_webhook_url
from ports.driven import Clock, IdGenerator, UnitOfWorkFactory, Venue
from ports.service import Engine

DEFAULT_DB = "allot.db"


def database_path(option: str | None) -> Path:
    """``--db``, else ``ALLOT_DB``, else ``./allot.db``."""
    return Path(option or os.environ.get("ALLOT_DB") or DEFAULT_DB)


def sqlite_engine(
    path: str | Path,
    venue: Venue | None = None,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
) -> tuple[Engine, SqliteDatabase]:
    database = SqliteDatabase(path)
    return _engine(database.unit_of_work, venue, clock, ids), database


def memory_engine(
    venue: Venue | None = None, clock: Clock | None = None, ids: IdGenerator | None = None
) -> tuple[Engine, MemoryStore]:
    store = MemoryStore()
    return _engine(store.unit_of_work, venue, clock, ids), store


def _engine(
    uow: UnitOfWorkFactory, venue: Venue | None, clock: Clock | None, ids: IdGenerator | None
) -> Engine:
    return Engine(
        uow=uow,
        venue=venue or SimulatedVenue(),
        clock=clock or SystemClock(),
        ids=ids or UuidGenerator(),
        url_guard=check_webhook_url,
    )
