"""How one HTTP route is declared and served: the table of operations, and the one request path they all share.

An ``Operation`` says everything about a route — method, path, the request body's type, its casing, what it answers,
who may call it, whether it creates work — and nothing else: the handler only calls one use case with the caller's
``Scope`` and turns its result into a ``Reply``. The same table is served by Starlette (``endpoint``) and described
by the OpenAPI document (``entrypoints.http.openapi``), so the two cannot disagree.

Every request goes the same way: authenticate the bearer key from the headers (401) and check that the key may call
the route (403) before a byte of the body is read; read the body (at most 1 MiB: else 413); parse it exactly
(decimals never through float; unknown or repeated fields, bad JSON, text that is no text and out-of-bounds
decimals: 400); run the handler in a worker thread; and answer JSON. A route that creates
work needs an ``Idempotency-Key``: the first response is kept and sent again for the same key and the same body
(``ports.requests``). Every refusal is ``{"error": {"code", "message", "details"}}`` with the core's stable code.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final

import attrs
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from adapters.serialization import (
    error_body,
    numbers_written,
    parse_json,
    structure,
    unstructure_answer,
    write_json,
)
from core import errors
from core.errors import AllotError, Forbidden, Unauthorized, ValidationError
from core.idempotency import request_key
from core.tenants import Scope, require_operator
from ports.application import Application
from ports.requests import Requests

#: The largest request body read.
MAX_BODY: Final = 1024 * 1024
#: Page sizes of every list.
DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 500

log = logging.getLogger("allot.http")


class PayloadTooLarge(ValidationError):
    code = "PAYLOAD_TOO_LARGE"


class Casing(enum.Enum):
    """How a route's JSON names fields: the portfolio-order documents use snake_case, the block-trading document
    PascalCase. Values are built in snake_case (the core's names) and recased at the edge."""

    SNAKE = "snake_case"
    PASCAL = "PascalCase"


class Access(enum.Enum):
    PUBLIC = "public"  #: no key needed (``/healthz``)
    TENANT = "tenant"  #: any valid key; the handler works within the key's scope
    ADMIN = "admin"  #: only an admin key (instruments, prices, clients)


@attrs.frozen
class Param:
    """A query parameter, for the OpenAPI document and for reading it."""

    name: str
    description: str
    required: bool = False
    schema: Mapping[str, Any] = attrs.field(factory=lambda: {"type": "string"})


@attrs.frozen
class Settings:
    """How the server was started, where a route's answer depends on it."""

    #: A sandbox (``--sandbox``): a development server, whose clients may send webhooks to private networks.
    sandbox: bool = False


@attrs.frozen
class Call:
    """What a handler gets: the application, who is calling, the path's parameters, the query and the body."""

    app: Application
    scope: Scope
    path: Mapping[str, str]
    query: Mapping[str, Sequence[str]]
    body: Any
    settings: Settings = Settings()
    #: For a route that creates work: the request's ``Idempotency-Key``, scoped to the caller's client, for a use
    #: case's own ``idempotency_key`` (so that a retry after a failed first attempt does not do the work twice).
    idempotency_key: str | None = None
    #: ``?explain=true`` on a route that takes it: the answer carries its ``explanation``.
    explain: bool = False

    def param(self, name: str) -> str | None:
        """A query parameter given once (a repeated one is refused)."""
        return query_value(self.query, name)

    def required(self, name: str) -> str:
        value = self.param(name)
        if value is None or not value.strip():
            raise ValidationError(f"the query parameter {name} is required", {"parameter": name})
        return value


def query_value(query: Mapping[str, Sequence[str]], name: str) -> str | None:
    """A query parameter given at most once: its value, or None; given twice, refused."""
    values = query.get(name, ())
    if len(values) > 1:
        raise ValidationError(f"give the query parameter {name} once", {"parameter": name})
    return values[0] if values else None


@attrs.frozen
class Reply:
    """A response: its status and its body as plain JSON data (already in the route's casing)."""

    status: int
    body: Any


@attrs.frozen
class Operation:
    method: str
    path: str
    handler: Callable[[Call], Reply]
    summary: str
    tag: str
    #: The type the JSON body is structured into (None: the route takes no body).
    body: type | None = None
    #: What a successful response carries, for the OpenAPI document (a type, or a JSON schema).
    response: Any = None
    status: int = 200
    casing: Casing = Casing.SNAKE
    access: Access = Access.TENANT
    #: A POST that creates work: it needs an ``Idempotency-Key``.
    creates_work: bool = False
    query: tuple[Param, ...] = ()
    #: Error codes this route answers besides the common ones, for the OpenAPI document.
    errors: tuple[int, ...] = ()
    #: A list: answers a page, with ``limit`` and ``after``.
    paged: bool = False
    #: Fields of the answer shown only once (a new key, a signing secret): an answer sent again for the same
    #: idempotency key leaves them out, and they are never stored.
    shown_once: tuple[str, ...] = ()


# -- casing ---------------------------------------------------------------------------------------------------

#: Names the block-trading document spells otherwise than plain PascalCase of allot's names.
_PASCAL_NAMES: Final = {"id": "Id"}


def pascal(name: str) -> str:
    return _PASCAL_NAMES.get(name) or "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def recase(data: Any, rename: Callable[[str], str]) -> Any:
    """JSON data with every object key renamed (values untouched)."""
    if isinstance(data, dict):
        return {rename(k) if isinstance(k, str) else k: recase(v, rename) for k, v in data.items()}
    if isinstance(data, list):
        return [recase(item, rename) for item in data]
    return data


def as_json(value: object, casing: Casing = Casing.SNAKE, explain: bool = False) -> Any:
    """A value (a record, a view, a list of them) as JSON data in the route's casing; its ``explanation`` (how its
    split came about, recorded when it was decided) only with ``explain``."""
    data = unstructure_answer(value, explain)
    return recase(data, pascal) if casing is Casing.PASCAL else data


# -- ?explain= ------------------------------------------------------------------------------------------------

EXPLAIN: Final = Param(
    "explain",
    "true: the answer also carries how each share came about (`explanation`, `Explanation` on PascalCase routes; "
    "null when none was recorded), stage by stage and recipient by recipient; false (the default): it does not.",
    schema={"type": "string", "enum": ["true", "false"], "default": "false"},
)


def explain_asked(query: Mapping[str, Sequence[str]]) -> bool:
    """``?explain=true`` or ``false`` (or none: false); any other value is refused."""
    value = query_value(query, EXPLAIN.name)
    if value is None or value == "false":
        return False
    if value == "true":
        return True
    raise ValidationError(
        f"explain must be true or false, not {value!r}",
        {"parameter": EXPLAIN.name, "value": value, "allowed": ["true", "false"]},
    )


# -- pagination -----------------------------------------------------------------------------------------------


def page(call: Call, items: Sequence[Any], key: Callable[[Any], str], casing: Casing = Casing.SNAKE) -> Reply:
    """One page of a list, oldest first: at most ``limit`` items after the one whose id is ``after``; ``next``
    is the ``after`` of the following page (null on the last). An empty ``after`` is bad input; one that names
    no item of the list (any more, or ever) is not found, like any other id that names nothing."""
    limit = _limit(call.param("limit"))
    after = call.param("after")
    start = 0
    if after is not None:
        ids = [key(item) for item in items]
        if not after:
            raise ValidationError(
                "after= needs a value: the next value of the previous page", {"after": after}
            )
        if after not in ids:
            raise errors.NotFound(
                f"after={after} is not in this list: give the next value of the previous page",
                {"after": after},
            )
        start = ids.index(after) + 1
    chosen = items[start : start + limit]
    more = start + limit < len(items)
    body = {"data": [as_json(item) for item in chosen], "next": key(chosen[-1]) if more and chosen else None}
    return Reply(200, recase(body, pascal) if casing is Casing.PASCAL else body)


def _limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    # ASCII digits only ("²".isdigit() is true, and int() refuses it), and few enough for int() to read.
    if (
        not (text.isascii() and text.isdigit())
        or len(text.lstrip("0")) > 3
        or not 1 <= int(text) <= MAX_LIMIT
    ):
        raise ValidationError(f"limit must be a whole number from 1 to {MAX_LIMIT}", {"limit": text})
    return int(text)


PAGING: Final = (
    Param("limit", f"At most this many items (1 to {MAX_LIMIT}, default {DEFAULT_LIMIT}).",
          schema={"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
    Param("after", "The `next` value of the previous page: the items after it (404 if it names none).",
          schema={"type": "string", "minLength": 1}),
)  # fmt: skip


# -- errors ---------------------------------------------------------------------------------------------------

#: The HTTP status of each kind of refusal; a business refusal not listed is 422.
_STATUS: Final[tuple[tuple[type[AllotError], int], ...]] = (
    (PayloadTooLarge, 413),
    (errors.NotFound, 404),
    (errors.UnknownInstrument, 404),
    (ValidationError, 400),
    (Unauthorized, 401),
    (Forbidden, 403),
    (errors.IllegalTransition, 409),
    (errors.LastAdminKey, 409),
    (errors.AlreadyExists, 409),
    (errors.ConcurrentUpdate, 409),
    (errors.RequestInFlight, 409),
    (errors.StorageError, 503),
)


def status_of(error: AllotError) -> int:
    return next((status for kind, status in _STATUS if isinstance(error, kind)), 422)


def refusal(error: AllotError) -> Reply:
    return Reply(status_of(error), error_body(error))


def internal_error() -> Reply:
    body = {"error": {"code": "INTERNAL_ERROR", "message": "allot failed unexpectedly; the server log says why",
                      "details": {}}}  # fmt: skip
    return Reply(500, body)


def respond(reply: Reply) -> Response:
    text = write_json(reply.body)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # text that has no UTF-8 form: the same JSON with escapes, never a 500
            text = numbers_written(json.dumps(reply.body, default=str))
    return json_response(reply.status, text)


def json_response(status: int, text: str) -> Response:
    headers = {"Cache-Control": "no-store"}
    return Response(text, status_code=status, media_type="application/json", headers=headers)


# -- the request path -----------------------------------------------------------------------------------------


async def read_body(request: Request) -> bytes:
    """The body, refused past ``MAX_BODY`` without reading the rest."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise PayloadTooLarge(f"the request body is over {MAX_BODY} bytes", {"limit": MAX_BODY})
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise PayloadTooLarge(f"the request body is over {MAX_BODY} bytes", {"limit": MAX_BODY})
        chunks.append(chunk)
    return b"".join(chunks)


def bearer(request: Request) -> str:
    given = request.headers.getlist("authorization")
    if len(given) > 1:
        raise Unauthorized("send one Authorization header, not several", {})
    header = given[0] if given else None
    if header is None:
        raise Unauthorized(
            "send an API key: Authorization: Bearer <key> (make one with allot apikeys create)", {}
        )
    kind, _, token = header.partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be: Bearer <key>", {})
    return token.strip()


def json_body(raw: bytes) -> Any:
    """A request body as exact JSON data: UTF-8, not empty."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("the request body is not UTF-8 text", {}) from None
    if not text.strip():
        raise ValidationError("this request needs a JSON body", {})
    return parse_json(text)


def parsed_body(operation: Operation, raw: bytes) -> Any:
    if operation.body is None:
        return None
    data = json_body(raw)
    if operation.casing is Casing.PASCAL:
        try:
            data = recase(data, from_pascal)
        except RecursionError:
            raise ValidationError("the request is nested too deeply to be read", {}) from None
    return structure(data, operation.body)


def from_pascal(name: str) -> str:
    """A field name of a PascalCase route in allot's own name; a name not written in PascalCase is not a field of
    the route (so that ``allocation_key_id`` cannot stand in for ``AllocationKeyId``, nor both be sent)."""
    if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", name):
        raise ValidationError(
            f"unknown field {name!r}: the fields of this route are written in PascalCase", {"field": name}
        )
    return snake(name)


def fingerprint(operation: Operation, request: Request, raw: bytes) -> str:
    """What makes two requests "the same" for an idempotency key: method, path and the body's JSON (key order
    and spacing aside)."""
    try:
        canonical = json.dumps(parse_json(raw.decode("utf-8")), sort_keys=True, default=str)
    except (AllotError, UnicodeDecodeError):
        canonical = raw.hex()
    text = f"{operation.method} {request.url.path}?{request.url.query}\n{canonical}"
    return hashlib.sha256(text.encode()).hexdigest()


def run_idempotent(call: Call, operation: Operation, key: str | None, request: str) -> Reply:
    """Run a request that creates work once per idempotency key; the same key and body get the first response."""
    requests = call.app.requests
    begun = requests.begin(call.scope, key, request)
    if begun.replay is not None:
        return Reply(begun.replay.status or 200, json.loads(begun.replay.body or "null"))
    assert key is not None  # begin refuses a request without one
    call = attrs.evolve(call, idempotency_key=request_key(call.scope, key))
    try:
        try:
            reply = operation.handler(call)
        except AllotError as error:
            reply = refusal(error)
        kept = without(reply.body, operation.shown_once)
        requests.finish(call.scope, key, reply.status, json.dumps(kept, ensure_ascii=False, default=str))
    except Exception:
        # Whatever failed (the work, or keeping its answer), the key is let go at once: a retry with it runs
        # again instead of being told for minutes that the request is still in flight.
        abandon(requests, call.scope, key)
        raise
    return reply


def abandon(requests: Requests, scope: Scope, key: str) -> None:
    """Mark a request that failed with a server error as over, so that its key may be used again."""
    try:
        requests.finish(scope, key, 500, json.dumps(internal_error().body))
    except Exception:
        log.exception("the request with Idempotency-Key %r could not be let go", key)


#: What an answer sent again shows in place of a field that was shown only once.
SHOWN_ONCE: Final = "shown only in the first answer"


def without(body: Any, fields: Sequence[str]) -> Any:
    """An answer as it is kept for sending again: the fields shown only once replaced by a note."""
    if not fields or not isinstance(body, dict):
        return body
    return {name: SHOWN_ONCE if name in fields else value for name, value in body.items()}


def endpoint(
    app: Application, operation: Operation, settings: Settings = Settings()
) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint of an operation: the one request path described in the module docstring.

    The key is checked from the headers, before any body is taken in: a caller without a valid key, or without
    the route's access, is refused without its body being read, and its connection is closed after the answer
    (so is any connection whose refusal leaves a body unread, such as a 413), so that a client without a key
    holds nothing. Authenticating reads the storage, so it runs in a worker thread: a request without a body
    takes one hop there, authorized and handled at once; a request with one takes two, before and after its
    body is read."""

    def authorize_and_handle(request: Request) -> Reply:
        return handle(app, operation, request, authorize(app, operation, request), b"", settings)

    async def serve(request: Request) -> Response:
        declared = request.headers.get("content-length", "")
        body_to_come = "transfer-encoding" in request.headers or (declared.isdigit() and int(declared) > 0)
        body_read = not body_to_come
        try:
            if body_to_come:
                scope = await run_in_threadpool(authorize, app, operation, request)
                raw = await read_body(request)
                body_read = True
                reply = await run_in_threadpool(handle, app, operation, request, scope, raw, settings)
            else:
                # One hop to a worker thread per request: each hop costs about as much as a simple handler.
                reply = await run_in_threadpool(authorize_and_handle, request)
        except AllotError as error:
            reply = refusal(error)
        except ClientDisconnect:
            log.info(
                "%s %s: the client went away before its request was read", operation.method, operation.path
            )
            reply = Reply(400, {"error": {"code": "CLIENT_DISCONNECTED", "message": "the request was cut short",
                                          "details": {}}})  # fmt: skip
        except Exception:
            log.exception("%s %s failed", operation.method, operation.path)
            reply = internal_error()
        response = respond(reply)
        if not body_read:
            response.headers["Connection"] = "close"
        return response

    return serve


def handle(
    app: Application, operation: Operation, request: Request, scope: Scope, raw: bytes, settings: Settings
) -> Reply:
    """For a caller already authorized (``scope``): read the body and ``?explain=`` (before any work begins: a
    bad value does not use up an Idempotency-Key), and run the handler (once per idempotency key if it creates
    work)."""
    query = {k: request.query_params.getlist(k) for k in request.query_params}
    call = Call(
        app=app,
        scope=scope,
        path=dict(request.path_params),
        query=query,
        body=parsed_body(operation, raw),
        settings=settings,
        explain=EXPLAIN in operation.query and explain_asked(query),
    )
    if operation.creates_work:
        key = idempotency_key(request)
        return run_idempotent(call, operation, key, fingerprint(operation, request, raw))
    return operation.handler(call)


def idempotency_key(request: Request) -> str | None:
    """The request's ``Idempotency-Key``: one header at most."""
    given = request.headers.getlist("idempotency-key")
    if len(given) > 1:
        raise ValidationError("send one Idempotency-Key header, not several", {"header": "Idempotency-Key"})
    return given[0] if given else None


def authorize(app: Application, operation: Operation, request: Request) -> Scope:
    """Who is calling, and whether they may call this route: from the headers alone (the body is not read yet)."""
    if operation.access is Access.PUBLIC:
        return Scope(None)
    scope = app.api_keys.authenticate(bearer(request))
    if operation.access is Access.ADMIN:
        require_operator(scope)
    return scope
