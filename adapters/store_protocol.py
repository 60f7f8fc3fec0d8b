"""The store API's messages: a unit of work as data, and what the reads and the delivery queue send and answer.

The store API (``entrypoints.http.store_api``, under ``STORE_PATH`` of ``allot serve --store-api``) serves the
storage port of one SQLite database to the HTTP store (``adapters.http_store``) of other processes. Records travel
as the one converter writes them (``adapters.serialization``); this module only adds the envelopes around them.

A unit of work as data: what it read and what it writes, so that a store can commit it in one go.

The HTTP store (``adapters.http_store``) reads through the store API one request at a time and, when its unit of
work commits, sends one ``Batch``; the store API has the SQLite adapter apply it in one write transaction
(``SqliteDatabase.apply``). The concurrency rule is optimistic, with read-set validation: a batch carries every
read its unit of work made —

- ``RecordRead``: a record's version, or that there was none;
- ``QueryRead``: which records a filter matched, in order (with their versions when the records themselves were
  read, not only their ids), and the position of the last record added to the store then: a unit of work that
  adds records to a table it listed is refused if anyone added one to that table since, matching or not (it may
  have listed to check that something was not there yet, as two writers opening "the" account would);
- ``LogRead``: the last journal or event sequence number when the journal or the events were read —

and the store runs each read again inside the write transaction: if any answer differs, someone committed in
between and what the unit of work decided may rest on what changed, so nothing is written and the answer is
``ConcurrentUpdate``. Versions only grow, sequence numbers only grow and records are never deleted, so a read
that went stale stays stale: a batch refused once is refused again, and one applied is remembered by its ``id``
(a repeated batch is answered as applied without writing twice), which makes sending one again safe.

Shared by the adapters like ``serialization``: values and their JSON form, no I/O.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, Final, Generic, TypeVar

import attrs

from adapters.serialization import structure, unstructure
from core.errors import ValidationError
from core.journal import EntryRow, JournalEntry, Posting
from core.records import Event
from core.webhooks import Attempt
from ports.driven import TABLES, Delivery, DeliveryKey, RecordedAttempt, Table

T = TypeVar("T")

#: Where ``allot serve --store-api`` serves the store API, under the server's address.
STORE_PATH: Final = "/store/v1"
#: The response header of ``GET /records/{table}/{id}`` that carries the record's position (its version is the
#: ``ETag``).
POSITION_HEADER: Final = "Allot-Position"


def table_named(name: str) -> Table:
    """The table of a repository by its name; another name is refused."""
    for table in TABLES:
        if table.name == name:
            return table
    known = ", ".join(table.name for table in TABLES)
    raise ValidationError(f"there is no table {name!r}; the tables are {known}", {"table": name})


@attrs.frozen
class Stored(Generic[T]):
    """A committed record with its version (1 when added, one more on every update) and its position (a number
    that sorts as the records were added: ``list`` answers in that order)."""

    record: T
    version: int
    position: int


@attrs.frozen
class RecordRead:
    """A ``get``: the version it saw, ``None`` if there was no such record."""

    table: str
    id: str
    version: int | None


@attrs.frozen
class QueryRead:
    """A ``list`` or ``ids``: the filter (a field: any of its values) and the ids it matched, oldest first; with
    the versions they had when the records were read (``list``), none when only their ids were (``ids``); and
    the position of the last record added to the store at that moment."""

    table: str
    where: dict[str, tuple[str, ...]]
    ids: tuple[str, ...]
    last_position: int
    versions: tuple[int, ...] | None = None


class Log(enum.Enum):
    """The append-only logs of a store."""

    JOURNAL = "JOURNAL"
    EVENTS = "EVENTS"


@attrs.frozen
class LogRead:
    """A read of the journal or of the events: the last sequence number committed at that moment (0: none)."""

    log: Log
    last: int


@attrs.frozen
class Write:
    """A record to store: a new one (``version`` None), or the new state of one read at ``version``."""

    table: str
    record: Any
    version: int | None = None


@attrs.frozen
class Batch:
    """Everything one unit of work commits, and everything it read. ``id`` names the batch so that sending it
    again (after a lost answer) does not write it twice."""

    id: str
    record_reads: tuple[RecordRead, ...] = ()
    query_reads: tuple[QueryRead, ...] = ()
    log_reads: tuple[LogRead, ...] = ()
    writes: tuple[Write, ...] = ()
    events: tuple[Event, ...] = ()
    entries: tuple[JournalEntry, ...] = ()

    @property
    def writes_anything(self) -> bool:
        return bool(self.writes or self.events or self.entries)


@attrs.frozen
class _WriteData:
    """A write as it travels: the record as JSON data, typed once its table is known."""

    table: str
    record: dict[str, Any]
    version: int | None = None


def batch_data(batch: Batch) -> Any:
    """A batch as JSON data (the converter unstructures each record by its own type)."""
    return unstructure(batch)


def batch_from_data(data: object) -> Batch:
    """A batch from JSON data, every record structured into its table's type (or ``ValidationError``)."""
    if not isinstance(data, dict):
        raise ValidationError("a batch is a JSON object", {})
    shell = structure({**data, "writes": []}, Batch)
    if not 1 <= len(shell.id) <= 200:
        raise ValidationError("a batch's id is 1 to 200 characters", {"field": "id"})
    raw_writes = data.get("writes", [])
    if not isinstance(raw_writes, list):
        raise ValidationError("writes is a JSON array", {"field": "writes"})
    writes: list[Write] = []
    for index, raw in enumerate(raw_writes):
        write = structure(raw, _WriteData)
        table = table_named(write.table)
        try:
            record: Any = structure(write.record, table.record_type)
        except ValidationError as error:
            raise ValidationError(
                f"writes[{index}]: {error.message}", {**error.details, "write": index}
            ) from None
        if write.version is not None and write.version < 1:
            raise ValidationError(f"writes[{index}]: a version is 1 or more", {"write": index})
        writes.append(Write(write.table, record, write.version))
    for read in shell.record_reads + shell.query_reads:
        table_named(read.table)
    return attrs.evolve(shell, writes=tuple(writes))


def stored_from_data(data: object, table: Table) -> Stored[Any]:
    """A record with its version and position from JSON data, the record structured into its table's type."""
    found = structure(data, _StoredData)
    return Stored(structure(found.record, table.record_type), found.version, found.position)


def stored_data(stored: Stored[Any]) -> Any:
    return {"record": unstructure(stored.record), "version": stored.version, "position": stored.position}


@attrs.frozen
class _StoredData:
    record: dict[str, Any]
    version: int
    position: int


# -- what the reads answer --------------------------------------------------------------------------------------


@attrs.frozen
class IdAt:
    """An id that a filter matched, with the record's position."""

    id: str
    position: int


@attrs.frozen
class IdsPage:
    """The ids a filter matched, and the position of the last record added to the store then."""

    ids: tuple[IdAt, ...]
    last_position: int


@attrs.frozen
class EntriesPage:
    """Journal entries, and the last journal sequence number when they were read (for a ``LogRead``)."""

    entries: tuple[JournalEntry, ...]
    last: int


@attrs.frozen
class EntryRowsPage:
    rows: tuple[EntryRow, ...]
    last: int


@attrs.frozen
class EntryPostingData:
    """A posting with its entry's id (``None``: its entry is gone)."""

    entry_id: str | None
    posting: Posting


@attrs.frozen
class PostingsPage:
    postings: tuple[EntryPostingData, ...]
    last: int


@attrs.frozen
class NumberedEvent:
    """A committed event with its sequence number."""

    sequence: int
    event: Event


@attrs.frozen
class EventsPage:
    """Events, and the last event sequence number when they were read (for a ``LogRead``)."""

    events: tuple[NumberedEvent, ...]
    last: int


# -- the delivery queue -----------------------------------------------------------------------------------------


@attrs.frozen
class Deliveries:
    deliveries: tuple[Delivery, ...]


@attrs.frozen
class ClaimRequest:
    keys: tuple[DeliveryKey, ...]
    now: dt.datetime
    lease: float


@attrs.frozen
class AttemptsRequest:
    attempts: tuple[RecordedAttempt, ...]
    released: tuple[DeliveryKey, ...]
    now: dt.datetime


@attrs.frozen
class DisableRequest:
    reason: str


@attrs.frozen
class RedeliverRequest:
    sequence: int
    subscription_ids: tuple[str, ...]
    now: dt.datetime


@attrs.frozen
class AttemptLog:
    attempts: tuple[Attempt, ...]
