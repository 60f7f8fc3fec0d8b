"""The store API: the storage port of one SQLite database, served over HTTP to the HTTP store of other processes.

``allot serve --store-api`` mounts ``store_app`` under ``/store/v1`` (``adapters.store_protocol.STORE_PATH``), so
that several engine processes share one database through one server: each runs the use cases itself and keeps
its state here (``allot --store URL ...``, or ``entrypoints.bootstrap.http_application``). Everything here
translates and delegates to the SQLite adapter; no rule of the business is decided.

Every request needs ``Authorization: Bearer <token>``, the store's own service token (not an API key: whoever holds
it reads and writes everything). Routes, relative to the mount point:

- ``GET /records/{table}/{id}``: the record, its version as the ``ETag``, its position in ``Allot-Position``; 404.
- ``GET /records/{table}?field=value&field=other``: the records matching (a repeated field: any of its values),
  oldest first, each with its version and position. ``GET /ids/{table}?...``: only their ids and positions.
- ``PUT /records/{table}/{id}``: ``If-Match: "<version>"`` replaces the record if it is still at that version (412
  ``STALE_VERSION`` otherwise); ``If-None-Match: *`` adds it (412 if it exists); one of the two is required (428).
- ``POST /commit``: a unit of work as one batch (``adapters.store_protocol.Batch``): written whole, or refused with
  409 ``CONCURRENT_UPDATE`` and nothing written when any read it made gives another answer now; a batch sent again
  with the same id is answered as the first time and not written twice.
- ``GET /journal/entries?ledger=KIND:NAME``, ``/journal/rows``, ``/journal/postings``, ``GET /events?after=&limit=
  &topic=...``: the journal and the events, each with the last sequence number when read; ``GET /events/{id}``.
- The delivery queue: ``GET /deliveries/due?now=&limit=``, ``POST /deliveries/claim``, ``POST /deliveries/attempts``,
  ``POST /deliveries/redeliver``, ``GET /deliveries/log?limit=``, ``POST /subscriptions/{id}/disable``.

Bodies are JSON through the one converter, decimals exact; at most ``MAX_BODY`` bytes (413). Every refusal is
``{"error": {"code", "message", "details"}}`` with the core's stable codes.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import re
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import attrs
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.serialization import compact_json, error_body, structure, unstructure
from adapters.sqlite import SqliteDatabase, SqliteDeliveryQueue, SqliteRepository
from adapters.store_protocol import (
    POSITION_HEADER,
    AttemptLog,
    AttemptsRequest,
    ClaimRequest,
    Deliveries,
    DisableRequest,
    EntriesPage,
    EntryPostingData,
    EntryRowsPage,
    EventsPage,
    IdAt,
    IdsPage,
    NumberedEvent,
    PostingsPage,
    RedeliverRequest,
    batch_from_data,
    stored_data,
    table_named,
)
from core.errors import (
    AllotError,
    AlreadyExists,
    ConcurrentUpdate,
    NotFound,
    Unauthorized,
    ValidationError,
)
from core.journal import LedgerAccount
from core.webhooks import EventQuery
from entrypoints.http.routing import PayloadTooLarge, internal_error, json_body, query_value, status_of

#: The largest request body read: a unit of work with its events and journal entries fits many times over.
MAX_BODY: Final = 16 * 1024 * 1024
#: What a filter may name: a field of a record.
_FIELD: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")

log = logging.getLogger("allot.store")


class StaleVersion(ConcurrentUpdate):
    """A conditional write named a version the record no longer has (``If-Match``): nothing was written."""

    code = "STALE_VERSION"


class PreconditionRequired(ValidationError):
    """A write to one record must say which version it replaces (``If-Match``) or that it adds (``If-None-Match``)."""

    code = "PRECONDITION_REQUIRED"


@attrs.frozen
class Answer:
    """A response: status, JSON data, and extra headers."""

    status: int
    body: Any
    headers: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen
class StoreCall:
    """What a handler gets: the path's parameters, the query (each name with its values), headers, the body."""

    path: Mapping[str, str]
    query: Mapping[str, Sequence[str]]
    headers: Headers
    body: Any

    def one(self, name: str) -> str | None:
        return query_value(self.query, name)

    def required(self, name: str) -> str:
        value = self.one(name)
        if value is None:
            raise ValidationError(f"the query parameter {name} is required", {"parameter": name})
        return value

    def whole(self, name: str) -> int:
        return _whole(name, self.required(name))


def _whole(name: str, text: str) -> int:
    if not re.fullmatch(r"-?[0-9]{1,18}", text):
        raise ValidationError(f"{name} must be a whole number, not {text[:40]!r}", {"parameter": name})
    return int(text)


def refusal(error: AllotError, status: int | None = None) -> Answer:
    """The error body with its status: the API's (``entrypoints.http.routing``), and the store API's own."""
    if status is None:
        own = {StaleVersion: 412, PreconditionRequired: 428}
        status = own.get(type(error)) or status_of(error)
    return Answer(status, error_body(error))


def respond(answer: Answer) -> Response:
    text = compact_json(answer.body)  # a ``Number`` field (a document's) as a JSON number
    headers = {"Cache-Control": "no-store", **answer.headers}
    return Response(text, status_code=answer.status, media_type="application/json", headers=headers)


async def read_body(request: Request) -> bytes:
    """The body, refused past ``MAX_BODY`` without reading the rest."""
    declared = request.headers.get("content-length")
    too_large = PayloadTooLarge(f"the request body is over {MAX_BODY} bytes", {"limit": MAX_BODY})
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def route(path: str, method: str, handler: Callable[[StoreCall], Answer], body: bool = False) -> Route:
    """A Starlette route: read and parse the body, run ``handler`` in a worker thread (SQLite blocks), answer
    JSON; every refusal in the one error body, a bug as ``INTERNAL_ERROR`` (logged, never sent)."""

    async def serve(request: Request) -> Response:
        try:
            raw = await read_body(request)
            call = StoreCall(
                path=dict(request.path_params),
                query={name: request.query_params.getlist(name) for name in request.query_params},
                headers=request.headers,
                body=json_body(raw) if body else None,
            )
            answer = await run_in_threadpool(handler, call)
        except AllotError as error:
            answer = refusal(error)
        except ClientDisconnect:
            log.info("%s %s: the client went away before its request was read", method, request.url.path)
            answer = Answer(400, {"error": {"code": "CLIENT_DISCONNECTED", "message": "the request was cut short",
                                            "details": {}}})  # fmt: skip
        except Exception:
            log.exception("%s %s failed", method, request.url.path)
            reply = internal_error()
            answer = Answer(reply.status, reply.body)
        return respond(answer)

    return Route(path, serve, methods=[method])


class BearerToken:
    """Every request needs ``Authorization: Bearer <token>``, compared in constant time; else 401."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope).getlist("authorization")
        kind, _, given = (headers[0] if len(headers) == 1 else "").partition(" ")
        if kind.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token):
            await self.app(scope, receive, send)
            return
        refused = Unauthorized(
            "the store API needs its service token: Authorization: Bearer <token> (ALLOT_STORE_TOKEN)", {}
        )
        answer = Answer(401, error_body(refused), {"WWW-Authenticate": 'Bearer realm="allot store"'})
        await respond(answer)(scope, receive, send)


async def no_route(request: Request, error: Exception) -> Response:
    """A path or method the store API does not have, in the same error body as every refusal."""
    status = error.status_code if isinstance(error, HTTPException) else 500
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(status, "HTTP_ERROR")
    message = f"the store API has no {request.method} {request.url.path}"
    return respond(Answer(status, {"error": {"code": code, "message": message, "details": {}}}))


def _where(call: StoreCall) -> dict[str, tuple[str, ...]]:
    """The filter of a list: every query parameter names a field, repeated for several values."""
    for name in call.query:
        if not _FIELD.fullmatch(name):
            raise ValidationError(f"{name[:64]!r} is not a field a list can filter on", {"field": name[:64]})
    return {name: tuple(values) for name, values in call.query.items()}


def _etag(version: int) -> str:
    return f'"{version}"'


def _version_in(header: str) -> int | None:
    """The version an ``If-Match`` names (``None`` for ``*``: whatever version the record has)."""
    text = header.strip()
    if text == "*":
        return None
    found = re.fullmatch(r'"([0-9]{1,18})"', text)
    if found is None:
        raise ValidationError(
            'If-Match takes one version as the ETag gave it ("3"), or *', {"if_match": text[:40]}
        )
    return int(found.group(1))


def _event_query(call: StoreCall) -> EventQuery:
    """An ``EventQuery`` from the query string: each of its fields by name, whole numbers where it takes them."""
    hints = typing.get_type_hints(EventQuery)
    data: dict[str, object] = {}
    for name in call.query:
        if name not in hints:
            raise ValidationError(f"events are not filtered by {name[:64]!r}", {"parameter": name[:64]})
        text = call.required(name)
        data[name] = _whole(name, text) if hints[name] is int else text
    return structure(data, EventQuery)


@attrs.frozen
class StoreApi:
    """The handlers, over one database (and its one delivery queue, which keeps recent events decoded)."""

    database: SqliteDatabase
    _queue: SqliteDeliveryQueue = attrs.field(
        init=False, default=attrs.Factory(lambda api: SqliteDeliveryQueue(api.database), takes_self=True)
    )

    def _repository(self, work: object, call: StoreCall) -> SqliteRepository[Any]:
        repository: SqliteRepository[Any] = getattr(work, table_named(call.path["table"]).name)
        return repository

    # -- records ---------------------------------------------------------------------------------------------

    def get_record(self, call: StoreCall) -> Answer:
        with self.database.unit_of_work() as work:
            found = self._repository(work, call).stored(call.path["id"])
        if found is None:
            table = table_named(call.path["table"])
            raise _not_found(table.noun, table.name, call.path["id"])
        headers = {"ETag": _etag(found.version), POSITION_HEADER: str(found.position)}
        return Answer(200, unstructure(found.record), headers)

    def list_records(self, call: StoreCall) -> Answer:
        where = _where(call)
        with self.database.unit_of_work() as work:
            found = self._repository(work, call).stored_list(**where)
            last = work.last_position()
        return Answer(200, {"records": [stored_data(stored) for stored in found], "last_position": last})

    def list_ids(self, call: StoreCall) -> Answer:
        where = _where(call)
        with self.database.unit_of_work() as work:
            found = self._repository(work, call).positions(**where)
            last = work.last_position()
        return Answer(200, unstructure(IdsPage(tuple(IdAt(i, p) for i, p in found), last)))

    def put_record(self, call: StoreCall) -> Answer:
        table = table_named(call.path["table"])
        record: Any = structure(call.body, table.record_type)
        record_id = call.path["id"]
        if getattr(record, table.id_field) != record_id:
            raise ValidationError(
                f"the record's {table.id_field} is not {record_id}, the id in the path", {"id": record_id}
            )
        if_match, if_none_match = call.headers.get("if-match"), call.headers.get("if-none-match")
        if (if_match is None) == (if_none_match is None):
            raise PreconditionRequired(
                'say which version this replaces (If-Match: "<version>") or that it adds (If-None-Match: *)',
                {},
            )
        with self.database.unit_of_work(writing=True) as work:
            repository = self._repository(work, call)
            if if_none_match is not None:
                if if_none_match.strip() != "*":
                    raise ValidationError("If-None-Match takes only *", {"if_none_match": if_none_match[:40]})
                try:
                    repository.add(record)
                except AlreadyExists as error:
                    return refusal(error, 412)
                version, status = 1, 201
            else:
                assert if_match is not None
                expected = _version_in(if_match)
                current = repository.version(record_id)
                if current is None:
                    raise _not_found(table.noun, table.name, record_id)
                if expected is not None and expected != current:
                    raise StaleVersion(
                        f"{table.noun} {record_id} is at version {current}, not {expected}: read it again",
                        {"table": table.name, "id": record_id, "version": current},
                    )
                repository.replace(record, current)
                version, status = current + 1, 200
            work.commit()
        return Answer(status, unstructure(record), {"ETag": _etag(version)})

    def commit(self, call: StoreCall) -> Answer:
        batch = batch_from_data(call.body)
        self.database.apply(batch, dt.datetime.now(dt.UTC))
        return Answer(200, {"id": batch.id, "committed": True})

    # -- the journal and the events --------------------------------------------------------------------------

    def journal_entries(self, call: StoreCall) -> Answer:
        text = call.one("ledger")
        ledger = None
        if text is not None:
            kind, _, name = text.partition(":")
            ledger = structure({"kind": kind, "name": name}, LedgerAccount)
        with self.database.unit_of_work() as work:
            entries, last = work.journal.entries(ledger), work.journal.last()
        return Answer(200, unstructure(EntriesPage(tuple(entries), last)))

    def journal_rows(self, call: StoreCall) -> Answer:
        with self.database.unit_of_work() as work:
            rows, last = work.journal.entry_rows(), work.journal.last()
        return Answer(200, unstructure(EntryRowsPage(tuple(rows), last)))

    def journal_postings(self, call: StoreCall) -> Answer:
        with self.database.unit_of_work() as work:
            postings, last = work.journal.postings(), work.journal.last()
        page = PostingsPage(
            tuple(EntryPostingData(entry_id, posting) for entry_id, posting in postings), last
        )
        return Answer(200, unstructure(page))

    def events(self, call: StoreCall) -> Answer:
        query = _event_query(call)
        with self.database.unit_of_work() as work:
            found, last = work.outbox.list(query), work.outbox.last()
        return Answer(200, unstructure(EventsPage(tuple(NumberedEvent(n, e) for n, e in found), last)))

    # -- the delivery queue ----------------------------------------------------------------------------------

    def event(self, call: StoreCall) -> Answer:
        found = self._queue.event(call.path["id"])
        if found is None:
            raise _not_found("event", "events", call.path["id"])
        return Answer(200, unstructure(NumberedEvent(*found)))

    def due(self, call: StoreCall) -> Answer:
        now = structure(call.required("now"), dt.datetime)
        found = self._queue.due(now, call.whole("limit"))
        return Answer(200, unstructure(Deliveries(tuple(found))))

    def claim(self, call: StoreCall) -> Answer:
        request = structure(call.body, ClaimRequest)
        taken = self._queue.claim(request.keys, request.now, request.lease)
        return Answer(200, unstructure(Deliveries(tuple(taken))))

    def record_attempts(self, call: StoreCall) -> Answer:
        request = structure(call.body, AttemptsRequest)
        self._queue.record(request.attempts, request.released, request.now)
        return Answer(200, {"recorded": len(request.attempts)})

    def disable(self, call: StoreCall) -> Answer:
        request = structure(call.body, DisableRequest)
        self._queue.disable(call.path["id"], request.reason)
        return Answer(200, {"disabled": True})

    def redeliver(self, call: StoreCall) -> Answer:
        request = structure(call.body, RedeliverRequest)
        self._queue.redeliver(request.sequence, request.subscription_ids, request.now)
        return Answer(200, {"pending": True})

    def log(self, call: StoreCall) -> Answer:
        return Answer(200, unstructure(AttemptLog(tuple(self._queue.log(call.whole("limit"))))))


def _not_found(noun: str, table: str, record_id: str) -> NotFound:
    return NotFound(f"{noun} {record_id} does not exist", {"table": table, "id": record_id})


def store_app(database: SqliteDatabase, token: str) -> Starlette:
    """The store API over ``database``, for requests that carry ``token``; its routes are relative, to be mounted
    (``Mount(STORE_PATH, app=store_app(...))``)."""
    if not token.strip():
        raise ValidationError("the store API needs a service token that is not empty", {})
    api = StoreApi(database)
    routes = [
        route("/records/{table}/{id:path}", "GET", api.get_record),
        route("/records/{table}/{id:path}", "PUT", api.put_record, body=True),
        route("/records/{table}", "GET", api.list_records),
        route("/ids/{table}", "GET", api.list_ids),
        route("/commit", "POST", api.commit, body=True),
        route("/journal/entries", "GET", api.journal_entries),
        route("/journal/rows", "GET", api.journal_rows),
        route("/journal/postings", "GET", api.journal_postings),
        route("/events", "GET", api.events),
        route("/events/{id:path}", "GET", api.event),
        route("/deliveries/due", "GET", api.due),
        route("/deliveries/claim", "POST", api.claim, body=True),
        route("/deliveries/attempts", "POST", api.record_attempts, body=True),
        route("/deliveries/redeliver", "POST", api.redeliver, body=True),
        route("/deliveries/log", "GET", api.log),
        route("/subscriptions/{id:path}/disable", "POST", api.disable, body=True),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(BearerToken, token=token)],
        exception_handlers={HTTPException: no_route},
    )
