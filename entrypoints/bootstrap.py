"""The one composition root: wires adapters to the application. Nothing happens at import time.

::

    from entrypoints.bootstrap import sqlite_application

    with sqlite_application("allot.db") as app:
        app.accounts.open("EUR", Decimal("1000.00"), account_id="ACC-1")

Every commit is synced to the disk before it returns (``Durability.FULL``); a bulk load or a test that can afford
to lose its last commits to a power cut may choose ``sqlite_application(path, durability=Durability.NORMAL)``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from decimal import Decimal
from pathlib import Path

from adapters.back_office import SimulatedBackOffice
from adapters.http_store import DEFAULT_TIMEOUT, HttpDeliveryQueue, HttpStore
from adapters.memory import MemoryDeliveryQueue, MemoryStore
from adapters.sqlite import (
    BackupReport,
    DatabaseInfo,
    Durability,
    IntegrityReport,
    SqliteDatabase,
    SqliteDeliveryQueue,
    backup,
    describe,
    integrity_check,
    remove_if_unused,
)
from adapters.system import RandomJitter, SystemClock, UuidGenerator
from adapters.venue import SimulatedVenue
from adapters.webhooks import HttpWebhookSender, check_webhook_url
from core.numbers import ONE
from ports.application import Application
from ports.driven import BackOffice, Clock, DeliveryQueue, IdGenerator, Jitter, UnitOfWorkFactory, Venue
from ports.use_cases import DrivenPorts

__all__ = [
    "DEFAULT_DB",
    "Durability",
    "backup_database",
    "check_database",
    "database_path",
    "describe_database",
    "discard_if_unused",
    "http_application",
    "memory_application",
    "sqlite_application",
    "store_database",
    "store_token",
]

DEFAULT_DB = "allot.db"


def database_path(option: str | None) -> Path:
    """``--db``, else ``ALLOT_DB``, else ``./allot.db``."""
    return Path(option or os.environ.get("ALLOT_DB") or DEFAULT_DB)


def sqlite_application(
    path: str | Path,
    *,
    create: bool = True,
    partial_fill_ratio: Decimal = ONE,
    reject: Collection[str] = (),
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    jitter: Jitter | None = None,
    back_office: BackOffice | None = None,
    durability: Durability | str = Durability.FULL,
) -> Application:
    """The application on the SQLite database at ``path`` (created if missing, unless ``create`` is false).

    ``durability`` (a ``Durability``, or ``"full"`` / ``"normal"``): ``FULL`` syncs every commit to the disk before
    it returns, so it survives a power cut; ``NORMAL`` is faster but may lose the last commits to a power cut or a
    system crash (see ``Durability``).
    The simulated venue executes ``partial_fill_ratio`` of each order per market run and refuses the
    instruments in ``reject``. ``close()`` the application (or use it in a ``with`` block) when done.
    """
    venue = SimulatedVenue(
        partial_fill_ratio, frozenset(reject)
    )  # refuse bad settings before touching the file
    durability = Durability.of(durability)
    database = SqliteDatabase(path, create, durability)
    return _application(
        database.unit_of_work,
        SqliteDeliveryQueue(database),
        venue,
        clock,
        ids,
        jitter,
        on_close=database.close,
        back_office=back_office,
    )


def store_database(path: str | Path, durability: Durability | str = Durability.FULL) -> SqliteDatabase:
    """A second connection to the database at ``path``, for the store API that ``allot serve --store-api`` serves
    beside the public API (SQLite keeps the two consistent, as it does for two processes). ``close()`` it."""
    return SqliteDatabase(path, create=False, durability=durability)


def store_token() -> str | None:
    """The service token of the store API, from ``ALLOT_STORE_TOKEN`` (never an option: it would show in ``ps``).
    Set but empty is a token (and too short), not "unset": a mistyped export must not make a new token silently."""
    return os.environ.get("ALLOT_STORE_TOKEN")


def http_application(
    url: str,
    token: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    partial_fill_ratio: Decimal = ONE,
    reject: Collection[str] = (),
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    jitter: Jitter | None = None,
    back_office: BackOffice | None = None,
) -> Application:
    """The application on the store API of the allot server at ``url`` (``allot serve --store-api``), with its
    service ``token``: this process runs the use cases, the server keeps the state, and other processes may share
    it. ``timeout`` bounds the wait for each answer. ``close()`` the application when done."""
    venue = SimulatedVenue(partial_fill_ratio, frozenset(reject))
    store = HttpStore(url, token, timeout)
    return _application(
        store.unit_of_work,
        HttpDeliveryQueue(store),
        venue,
        clock,
        ids,
        jitter,
        on_close=store.close,
        back_office=back_office,
    )


def memory_application(
    store: MemoryStore | None = None,
    *,
    partial_fill_ratio: Decimal = ONE,
    reject: Collection[str] = (),
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    jitter: Jitter | None = None,
    back_office: BackOffice | None = None,
) -> Application:
    """The application on an in-memory store (a new one, or ``store`` to share it with another application)."""
    venue = SimulatedVenue(partial_fill_ratio, frozenset(reject))
    store = store or MemoryStore()
    return _application(
        store.unit_of_work, MemoryDeliveryQueue(store), venue, clock, ids, jitter, back_office=back_office
    )


def discard_if_unused(path: str | Path) -> bool:
    """Remove a database that a failed command created and left empty (see ``adapters.sqlite.remove_if_unused``)."""
    return remove_if_unused(Path(path))


def check_database(path: str | Path) -> IntegrityReport:
    """SQLite's full integrity check of the database at ``path``, reading only (see ``adapters.sqlite``)."""
    return integrity_check(path)


def describe_database(path: str | Path, durability: Durability | str = Durability.FULL) -> DatabaseInfo:
    """How the database at ``path`` is set up, and the durability a connection opened with ``durability`` has
    (see ``adapters.sqlite.describe``)."""
    return describe(path, Durability.of(durability))


def backup_database(path: str | Path, target: str | Path, *, replace: bool = False) -> BackupReport:
    """An online backup of the database at ``path`` to the new file ``target`` (see ``adapters.sqlite.backup``)."""
    return backup(path, target, replace)


def _application(
    unit_of_work: UnitOfWorkFactory,
    deliveries: DeliveryQueue,
    venue: Venue,
    clock: Clock | None,
    ids: IdGenerator | None,
    jitter: Jitter | None,
    on_close: Callable[[], None] = lambda: None,
    back_office: BackOffice | None = None,
) -> Application:
    ports = DrivenPorts(
        unit_of_work=unit_of_work,
        venue=venue,
        clock=clock or SystemClock(),
        ids=ids or UuidGenerator(),
        deliveries=deliveries,
        sender=HttpWebhookSender(),
        url_guard=check_webhook_url,
        jitter=jitter or RandomJitter(),
        back_office=back_office or SimulatedBackOffice(),
    )
    return Application(ports, on_close)
