"""The HTTP store: the storage ports over the store API of an ``allot serve --store-api`` (its client).

Several engine processes (``allot --store URL ...``, or ``entrypoints.bootstrap.http_application``) keep their
state in one server's database. A unit of work reads through the store API one request at a time, keeps what it
writes to itself (it reads its own writes), and commits in one request: ``POST /commit`` with a batch
(``adapters.store_protocol``) of its records, events and journal entries, and of every read it made. The server
applies the batch in one SQLite transaction only if every one of those reads still gives the same answer, so two
units of work that decided on the same state cannot both commit: the second gets ``ConcurrentUpdate`` and nothing
of it is written. A unit of work that wrote nothing but read twice or more is checked the same way when it commits,
so that what one use case read is one state. A refusal decided on reads that have since changed is reported as
``ConcurrentUpdate`` too (the application then runs the use case again on fresh data).

Requests have explicit timeouts (connect, read, write, pool). Reads and the commit are sent again after a
connection error or a timeout, a few times with a short pause: reads change nothing, and a commit carries an id
that the server remembers, so one sent twice is written once. The delivery queue's writes are sent once. A server
that cannot be reached is ``STORE_UNREACHABLE``, a token it refuses ``STORE_UNAUTHORIZED`` (both storage errors);
the server's own refusals come back as the same errors, with their codes.
"""

from __future__ import annotations

import builtins
import datetime as dt
import random
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Final, Generic, Protocol, Self, TypeVar
from urllib.parse import quote, urlsplit

import attrs
import httpx

from adapters.serialization import compact_json, parse_json, structure, timestamp, unstructure
from adapters.store_protocol import (
    POSITION_HEADER,
    STORE_PATH,
    AttemptLog,
    AttemptsRequest,
    Batch,
    ClaimRequest,
    Deliveries,
    DisableRequest,
    EntriesPage,
    EntryRowsPage,
    EventsPage,
    IdsPage,
    Log,
    LogRead,
    NumberedEvent,
    PostingsPage,
    QueryRead,
    RecordRead,
    RedeliverRequest,
    Stored,
    Write,
    batch_data,
    stored_from_data,
)
from core.errors import AllotError, AlreadyExists, ConcurrentUpdate, NotFound, StorageError, ValidationError
from core.journal import EntryPosting, EntryRow, JournalEntry, LedgerAccount
from core.records import Event
from core.webhooks import Attempt, EventQuery
from ports.driven import TABLES, Delivery, DeliveryKey, Match, RecordedAttempt, Table, matches

T = TypeVar("T")


class _LogPage(Protocol):
    """A page read from a log: it says the last sequence number committed when it was read."""

    @property
    def last(self) -> int: ...


PageT = TypeVar("PageT", bound=_LogPage)

#: Seconds to wait for an answer: longer than the server waits for the database's write lock (30 s).
DEFAULT_TIMEOUT: Final = 40.0
#: Seconds to wait for a connection.
CONNECT_TIMEOUT: Final = 5.0
#: Pauses before each new try of a read or a commit that met a connection error or a timeout.
RETRY_DELAYS: Final = (0.1, 0.3, 0.9)
#: After a conflict the next try waits a random pause up to this many seconds, doubled for each conflict in a row
#: (at most ``CONFLICT_PAUSE_MAX``), so that writers of one record stop colliding in step.
CONFLICT_PAUSE: Final = 0.01
CONFLICT_PAUSE_MAX: Final = 0.2


class StoreUnreachable(StorageError):
    """The store API cannot be reached: nothing answers at the address, it does not answer in time, or what
    answers there is not an allot store API."""

    code = "STORE_UNREACHABLE"


class StoreUnauthorized(StorageError):
    """The store API refused the service token (``ALLOT_STORE_TOKEN``)."""

    code = "STORE_UNAUTHORIZED"


def _error_classes() -> dict[str, type[AllotError]]:
    """Every error class allot knows, by its code (for the errors the server answers with)."""
    found: dict[str, type[AllotError]] = {}
    waiting: list[type[AllotError]] = [AllotError]
    while waiting:
        kind = waiting.pop()
        found.setdefault(kind.code, kind)
        waiting.extend(kind.__subclasses__())
    return found


def store_api_url(url: str) -> str:
    """The store API's root under the address of an allot server (``http://127.0.0.1:8000`` →
    ``http://127.0.0.1:8000/store/v1``); an address that already ends with it is kept."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(
            f"the store is the address of an allot server, such as http://127.0.0.1:8000, not {url!r}",
            {"url": url},
        )
    root = url.strip().rstrip("/")
    return root if root.endswith(STORE_PATH) else root + STORE_PATH


class HttpStore:
    """One connection pool to one store API; its units of work (``unit_of_work``) and its delivery queue
    (``HttpDeliveryQueue(store)``). Safe to use from several threads. ``close()`` when done."""

    def __init__(
        self,
        url: str,
        token: str,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = store_api_url(url)
        if not token.strip():
            raise StoreUnauthorized(
                f"the store at {self.url} needs its service token: set ALLOT_STORE_TOKEN", {"url": self.url}
            )
        self._client = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token.strip()}", "Accept": "application/json"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT)),
            follow_redirects=False,
            transport=transport,
        )
        self._retry_delays = tuple(retry_delays)
        self._errors = _error_classes()
        self._conflicts = 0
        self._lock = threading.Lock()

    def unit_of_work(self) -> HttpUnitOfWork:
        return HttpUnitOfWork(self)

    def close(self) -> None:
        self._client.close()

    # -- requests --------------------------------------------------------------------------------------------

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        body: object = None,
        retry: bool,
    ) -> httpx.Response:
        """Send one request; after a connection error or a timeout, again (``retry``) after each pause of
        ``retry_delays``. What cannot be sent is ``StoreUnreachable``; a refused token ``StoreUnauthorized``."""
        content = None if body is None else _json_bytes(body)
        headers = {} if content is None else {"Content-Type": "application/json"}
        delays = self._retry_delays if retry else ()
        for attempt in range(len(delays) + 1):
            try:
                response = self._client.request(
                    method, path, params=list(params), content=content, headers=headers
                )
                break
            except httpx.TransportError as error:
                if attempt < len(delays):
                    time.sleep(delays[attempt])
                    continue
                raise self._unreachable(error, method, sent_again=bool(delays)) from None
        if response.status_code == 401:
            raise StoreUnauthorized(
                f"the store at {self.url} refused the service token: check ALLOT_STORE_TOKEN",
                {"url": self.url},
            )
        return response

    def _unreachable(self, error: httpx.TransportError, method: str, sent_again: bool) -> StoreUnreachable:
        if isinstance(error, httpx.TimeoutException):
            problem = "did not answer in time"
        elif isinstance(error, httpx.ConnectError):
            problem = f"cannot be connected to ({error})"
        else:
            problem = f"cannot be used ({type(error).__name__}: {error})"
        tries = f", tried {len(self._retry_delays) + 1} times" if sent_again else ""
        unsure = "" if method == "GET" or sent_again else "; what was sent may have been carried out"
        return StoreUnreachable(
            f"the store at {self.url} {problem}{tries}: check the address (--store, ALLOT_STORE) and that "
            f"'allot serve --store-api' runs there{unsure}",
            {"url": self.url, "problem": type(error).__name__},
        )

    def answer(self, response: httpx.Response, kind: type[T]) -> T:
        """A successful response's body as ``kind``; any other response raised as the error it carries."""
        if not response.is_success:
            raise self.error_of(response)
        return self._structured(response, kind)

    def data(self, response: httpx.Response) -> Any:
        """A successful response's JSON data; any other response raised as the error it carries."""
        if not response.is_success:
            raise self.error_of(response)
        return self._parsed(response)

    def _structured(self, response: httpx.Response, kind: type[T]) -> T:
        data = self._parsed(response)
        try:
            return structure(data, kind)
        except ValidationError as error:
            raise self.not_a_store(response, error.message) from None

    def _parsed(self, response: httpx.Response) -> Any:
        try:
            return parse_json(response.text)
        except ValidationError as error:
            raise self.not_a_store(response, error.message) from None

    def error_of(self, response: httpx.Response) -> AllotError:
        """The error a refusal carries (``{"error": {"code", "message", "details"}}``), as the class of its code."""
        try:
            found = parse_json(response.text)["error"]
            code, message, details = found["code"], found["message"], found["details"]
        except (AllotError, KeyError, TypeError):
            return self.not_a_store(response, "the answer is not an allot error")
        if not (isinstance(code, str) and isinstance(message, str) and isinstance(details, dict)):
            return self.not_a_store(response, "the answer is not an allot error")
        if response.status_code in (404, 405) and code in ("NOT_FOUND", "METHOD_NOT_ALLOWED") and not details:
            return self.not_a_store(response, message)
        kind = self._errors.get(code)
        if kind is None:
            return StorageError(
                f"the store at {self.url} refused: {message} ({code})", {**details, "code": code}
            )
        error = kind.__new__(kind)
        AllotError.__init__(error, message, details)
        return error

    def not_a_store(self, response: httpx.Response, problem: str) -> StoreUnreachable:
        return StoreUnreachable(
            f"what answers at {self.url} is not an allot store API ({response.status_code} "
            f"{response.reason_phrase}: {problem[:200]}): check the address and that 'allot serve --store-api' "
            "runs there",
            {"url": self.url, "status": response.status_code},
        )

    # -- conflicts -------------------------------------------------------------------------------------------

    def lost_a_conflict(self) -> None:
        """Pause before the use case runs again: a random while, longer for each conflict in a row."""
        with self._lock:
            self._conflicts += 1
            ceiling = min(CONFLICT_PAUSE_MAX, CONFLICT_PAUSE * 2 ** min(self._conflicts, 16))
        time.sleep(random.uniform(0, ceiling))

    def committed(self) -> None:
        with self._lock:
            self._conflicts = 0


def _json_bytes(body: object) -> bytes:
    return compact_json(body).encode()  # as the store writes it: a ``Number`` field as a JSON number


def _path(*parts: str) -> str:
    return "/" + "/".join(quote(part, safe="") for part in parts)


def _filter(where: Mapping[str, Match]) -> dict[str, tuple[str, ...]]:
    return {name: wanted if isinstance(wanted, tuple) else (wanted,) for name, wanted in where.items()}


def _query(where: Mapping[str, tuple[str, ...]]) -> list[tuple[str, str]]:
    return [(name, value) for name, values in where.items() for value in values]


@attrs.define
class _Pending:
    """A record this unit of work writes: the version it replaces (``None``: a new record) and the position of the
    record it replaces."""

    version: int | None
    position: int | None
    record: Any


class HttpRepository(Generic[T]):
    """The records of one table, as one unit of work sees them: its own writes over what it read."""

    def __init__(self, uow: HttpUnitOfWork, table: Table) -> None:
        self._uow = uow
        self._table = table

    @property
    def _writes(self) -> dict[str, _Pending]:
        return self._uow.writes.setdefault(self._table.name, {})

    def get(self, record_id: str) -> T | None:
        pending = self._writes.get(record_id)
        if pending is not None:
            record: T = pending.record
            return record
        found = self._uow.committed(self._table, record_id)
        return None if found is None else found.record

    def add(self, record: T) -> None:
        record_id = getattr(record, self._table.id_field)
        if self.get(record_id) is not None:
            raise AlreadyExists(f"{self._table.noun} {record_id} already exists", {"id": record_id})
        self._writes[record_id] = _Pending(None, None, record)

    def update(self, record: T) -> None:
        record_id = getattr(record, self._table.id_field)
        pending = self._writes.get(record_id)
        if pending is not None:
            pending.record = record
            return
        found = self._uow.committed(self._table, record_id)
        if found is None:
            raise NotFound(f"{self._table.noun} {record_id} does not exist", {"id": record_id})
        self._writes[record_id] = _Pending(found.version, found.position, record)

    def list(self, **where: Match) -> list[T]:
        committed = self._uow.committed_list(self._table, _filter(where))
        id_field = self._table.id_field
        rows = [(getattr(s.record, id_field), s.position, s.record) for s in committed]
        return [record for _, record in self._merged(rows, where)]

    def ids(self, **where: Match) -> builtins.list[str]:
        committed = self._uow.committed_ids(self._table, _filter(where))
        rows = [(record_id, position, None) for record_id, position in committed]
        return [record_id for record_id, _ in self._merged(rows, where)]

    def _merged(
        self, committed: builtins.list[tuple[str, int, Any]], where: dict[str, Match]
    ) -> builtins.list[tuple[str, Any]]:
        """What the store matched — (id, position, what it gave) in its order — as this unit of work sees it:
        a record written here replaces the committed one if it still matches, one written here that matches only
        now joins at its position, and new records follow in the order added. Each row is (id, what the store
        gave, or the record written here)."""
        writes = self._writes
        rows: builtins.list[tuple[int, str, Any]] = []
        for record_id, position, given in committed:
            pending = writes.get(record_id)
            if pending is None:
                rows.append((position, record_id, given))
            elif matches(pending.record, where):
                rows.append((position, record_id, pending.record))
        listed = {record_id for record_id, _, _ in committed}
        for record_id, pending in writes.items():
            if pending.position is not None and record_id not in listed and matches(pending.record, where):
                rows.append((pending.position, record_id, pending.record))
        rows.sort(key=lambda row: row[0])
        added = [(i, p.record) for i, p in writes.items() if p.version is None and matches(p.record, where)]
        return [(record_id, item) for _, record_id, item in rows] + added


class HttpOutbox:
    def __init__(self, uow: HttpUnitOfWork) -> None:
        self._uow = uow

    def add(self, event: Event) -> None:
        self._uow.events.append(event)

    def list(self, query: EventQuery) -> list[tuple[int, Event]]:
        fields = unstructure(query)
        params = [(name, str(value)) for name, value in fields.items() if value is not None]
        page = self._uow.read(Log.EVENTS, "/events", params, EventsPage)
        return [(numbered.sequence, numbered.event) for numbered in page.events]


class HttpJournal:
    def __init__(self, uow: HttpUnitOfWork) -> None:
        self._uow = uow

    def append(self, entry: JournalEntry) -> None:
        self._uow.entries.append(entry)

    def entries(self, ledger: LedgerAccount | None = None) -> list[JournalEntry]:
        params = [] if ledger is None else [("ledger", f"{ledger.kind.value}:{ledger.name}")]
        return list(self._uow.read(Log.JOURNAL, "/journal/entries", params, EntriesPage).entries)

    def entry_rows(self) -> list[EntryRow]:
        return list(self._uow.read(Log.JOURNAL, "/journal/rows", [], EntryRowsPage).rows)

    def postings(self) -> list[EntryPosting]:
        page = self._uow.read(Log.JOURNAL, "/journal/postings", [], PostingsPage)
        return [(posting.entry_id, posting.posting) for posting in page.postings]


class HttpUnitOfWork:
    """One unit of work over the store API (see the module's docstring). Its repositories are attributes named
    after ``ports.driven.TABLES``, made when it is created: a table added there needs nothing here."""

    outbox: HttpOutbox
    journal: HttpJournal

    def __init__(self, store: HttpStore) -> None:
        self.store = store
        for table in TABLES:
            setattr(self, table.name, HttpRepository[Any](self, table))
        self.outbox = HttpOutbox(self)
        self.journal = HttpJournal(self)
        self._reset()

    def __getattr__(self, name: str) -> HttpRepository[Any]:
        """Only for the type checker: every repository is set in ``__init__``, so another name is no table."""
        raise AttributeError(f"a unit of work has no repository {name!r}")

    def _reset(self) -> None:
        #: What this unit of work read of each record (None: there was none), by (table, id).
        self.seen: dict[tuple[str, str], Stored[Any] | None] = {}
        self.record_reads: dict[tuple[str, str], int | None] = {}
        self.query_reads: list[QueryRead] = []
        self.log_reads: dict[Log, int] = {}
        #: How many requests read from the store: a unit of work that read once saw one state already.
        self.reads = 0
        self.writes: dict[str, dict[str, _Pending]] = {}
        self.events: list[Event] = []
        self.entries: list[JournalEntry] = []

    # -- reads -----------------------------------------------------------------------------------------------

    def committed(self, table: Table, record_id: str) -> Stored[Any] | None:
        """The committed record as this unit of work first read it (read now if it has not been)."""
        key = (table.name, record_id)
        if key in self.seen:
            return self.seen[key]
        response = self.store.send("GET", "/records" + _path(table.name, record_id), retry=True)
        self.reads += 1
        found: Stored[Any] | None = None
        if response.status_code == 404:
            error = self.store.error_of(response)
            if not (isinstance(error, NotFound) and error.details.get("id") == record_id):
                raise error
        else:
            record = self.store.data(response)
            try:
                version = int(response.headers["ETag"].strip('"'))
                position = int(response.headers[POSITION_HEADER])
                found = Stored(structure(record, table.record_type), version, position)
            except (KeyError, ValueError, AllotError) as problem:
                raise self.store.not_a_store(response, f"a record without its version: {problem}") from None
        self.seen[key] = found
        self.record_reads.setdefault(key, None if found is None else found.version)
        return found

    def committed_list(self, table: Table, where: dict[str, tuple[str, ...]]) -> list[Stored[Any]]:
        if any(not values for values in where.values()):
            return []  # a field that must equal one of no values: nothing matches, whatever is stored
        response = self.store.send("GET", "/records" + _path(table.name), params=_query(where), retry=True)
        self.reads += 1
        data = self.store.data(response)
        try:
            found = [stored_from_data(item, table) for item in data["records"]]
            last_position = structure(data["last_position"], int)
        except (KeyError, TypeError, AllotError) as problem:
            raise self.store.not_a_store(response, f"not a list of records: {problem}") from None
        for stored in found:
            self.seen.setdefault((table.name, getattr(stored.record, table.id_field)), stored)
        ids = tuple(getattr(s.record, table.id_field) for s in found)
        versions = tuple(s.version for s in found)
        self.query_reads.append(QueryRead(table.name, where, ids, last_position, versions))
        return found

    def committed_ids(self, table: Table, where: dict[str, tuple[str, ...]]) -> list[tuple[str, int]]:
        if any(not values for values in where.values()):
            return []
        response = self.store.send("GET", "/ids" + _path(table.name), params=_query(where), retry=True)
        self.reads += 1
        page = self.store.answer(response, IdsPage)
        ids = tuple(found.id for found in page.ids)
        self.query_reads.append(QueryRead(table.name, where, ids, page.last_position))
        return [(found.id, found.position) for found in page.ids]

    def read(self, log: Log, path: str, params: list[tuple[str, str]], kind: type[PageT]) -> PageT:
        """A read of the journal or the events, noting the last sequence number it saw."""
        response = self.store.send("GET", path, params=params, retry=True)
        self.reads += 1
        page = self.store.answer(response, kind)
        self.log_reads.setdefault(log, page.last)
        return page

    # -- the transaction -------------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self._reset()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        """Drop whatever was not committed. A refusal decided on reads that changed since is ``ConcurrentUpdate``
        instead, so that the use case runs again on what is there now."""
        try:
            if isinstance(error, AllotError) and not isinstance(error, ConcurrentUpdate) and self.reads > 1:
                try:
                    self._send(self._batch(reads_only=True))
                except ConcurrentUpdate as stale:
                    raise stale from error
                except AllotError:
                    pass  # the check itself failed: the refusal stands as it was
        finally:
            self._reset()

    def commit(self) -> None:
        try:
            batch = self._batch(reads_only=False)
            if batch.writes_anything or self.reads > 1:
                self._send(batch)
        finally:
            self._reset()

    def _batch(self, reads_only: bool) -> Batch:
        writes = [] if reads_only else [
            Write(name, pending.record, pending.version)
            for name, pending_writes in self.writes.items()
            for pending in pending_writes.values()
        ]  # fmt: skip
        return Batch(
            id=uuid.uuid4().hex,
            record_reads=tuple(RecordRead(t, i, v) for (t, i), v in self.record_reads.items()),
            query_reads=tuple(self.query_reads),
            log_reads=tuple(LogRead(log, last) for log, last in self.log_reads.items()),
            writes=tuple(writes),
            events=() if reads_only else tuple(self.events),
            entries=() if reads_only else tuple(self.entries),
        )

    def _send(self, batch: Batch) -> None:
        response = self.store.send("POST", "/commit", body=batch_data(batch), retry=True)
        if response.is_success:
            self.store.committed()
            return
        error = self.store.error_of(response)
        if isinstance(error, ConcurrentUpdate):
            self.store.lost_a_conflict()
        raise error


class HttpDeliveryQueue:
    """The delivery queue of the store's database, over the store API."""

    def __init__(self, store: HttpStore) -> None:
        self._store = store

    def due(self, now: dt.datetime, limit: int) -> list[Delivery]:
        params = [("now", timestamp(now)), ("limit", str(limit))]
        response = self._store.send("GET", "/deliveries/due", params=params, retry=True)
        return list(self._store.answer(response, Deliveries).deliveries)

    def claim(self, keys: Sequence[DeliveryKey], now: dt.datetime, lease: float) -> list[Delivery]:
        body = unstructure(ClaimRequest(tuple(keys), now, lease))
        response = self._store.send("POST", "/deliveries/claim", body=body, retry=False)
        return list(self._store.answer(response, Deliveries).deliveries)

    def record(
        self, attempts: Sequence[RecordedAttempt], released: Sequence[DeliveryKey], now: dt.datetime
    ) -> None:
        body = unstructure(AttemptsRequest(tuple(attempts), tuple(released), now))
        self._store.data(self._store.send("POST", "/deliveries/attempts", body=body, retry=False))

    def disable(self, subscription_id: str, reason: str) -> None:
        path = "/subscriptions" + _path(subscription_id) + "/disable"
        self._store.data(
            self._store.send("POST", path, body=unstructure(DisableRequest(reason)), retry=False)
        )

    def event(self, event_id: str) -> tuple[int, Event] | None:
        response = self._store.send("GET", "/events" + _path(event_id), retry=True)
        if response.status_code == 404:
            error = self._store.error_of(response)
            if isinstance(error, NotFound) and error.details.get("id") == event_id:
                return None
            raise error
        found = self._store.answer(response, NumberedEvent)
        return found.sequence, found.event

    def redeliver(self, sequence: int, subscription_ids: Sequence[str], now: dt.datetime) -> None:
        body = unstructure(RedeliverRequest(sequence, tuple(subscription_ids), now))
        self._store.data(self._store.send("POST", "/deliveries/redeliver", body=body, retry=False))

    def log(self, limit: int) -> list[Attempt]:
        response = self._store.send("GET", "/deliveries/log", params=[("limit", str(limit))], retry=True)
        return list(self._store.answer(response, AttemptLog).attempts)
