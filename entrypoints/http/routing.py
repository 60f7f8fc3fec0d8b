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

import contextlib
import copy
import enum
import hashlib
import json
import logging
import re
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from decimal import Decimal
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
from core.numbers import PLAIN_DECIMAL, check_decimal
from core.tenants import SHOWN_ONCE, Scope, require_operator
from ports.application import Application

#: The largest request body read.
MAX_BODY: Final = 1024 * 1024
#: Request bodies one caller may be sending at once (``allot serve --max-bodies-per-caller``).
MAX_BODIES_PER_CALLER: Final = 32
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


#: Any text a request may hold, a query parameter's included (``query_of``): no NUL (nor a lone surrogate, which
#: no JSON text generated in UTF-8 holds).
NO_NUL: Final = r"^[^\x00]*$"


@attrs.frozen
class Param:
    """A query parameter, for the OpenAPI document and for reading it."""

    name: str
    description: str
    required: bool = False
    schema: Mapping[str, Any] = attrs.field(factory=lambda: {"type": "string", "pattern": NO_NUL})


@attrs.frozen
class Settings:
    """How the server was started, where a route's answer depends on it."""

    #: A sandbox (``--sandbox``): a development server, whose clients may send webhooks to private networks.
    sandbox: bool = False
    #: Request bodies one caller (one scope: a user, a client-wide caller, the operator) may be sending at once.
    max_bodies_per_caller: int = attrs.field(default=MAX_BODIES_PER_CALLER, validator=attrs.validators.ge(1))
    #: The bodies each caller is sending now (the server's own count, not part of how it was started).
    bodies: BodiesUnderWay = attrs.field(factory=lambda: BodiesUnderWay(), eq=False, repr=False)


class TooManyRequests(AllotError):
    """A caller is sending as many request bodies at once as it may."""

    code = "TOO_MANY_REQUESTS"


@attrs.define
class BodiesUnderWay:
    """How many request bodies each caller is sending at once. Counted on the event loop only, where every body
    is read, so no lock is needed."""

    counts: dict[Scope, int] = attrs.field(factory=dict)

    @contextlib.contextmanager
    def reading(self, caller: Scope, most: int) -> Iterator[None]:
        """One more body of ``caller`` while it is read; ``TooManyRequests`` if it sends ``most`` already, so
        that no caller, sending slowly, can hold every connection the server serves."""
        under_way = self.counts.get(caller, 0)
        if under_way >= most:
            raise TooManyRequests(
                f"this caller is sending {most} request bodies at once already, as many as it may; "
                "retry when one has arrived",
                {"max_bodies_per_caller": most},
            )
        self.counts[caller] = under_way + 1
        try:
            yield
        finally:
            left = self.counts[caller] - 1
            if left:
                self.counts[caller] = left
            else:
                del self.counts[caller]


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

    def one_of(self, name: str, allowed: Sequence[str]) -> str | None:
        """A query parameter that is one of ``allowed``, written as it is there (an empty value is none), or None
        when it is not given."""
        value = self.param(name)
        if value is None or value in allowed:
            return value
        raise ValidationError(
            f"the query parameter {name} must be one of {', '.join(allowed)}, not {value!r}",
            {"parameter": name, "value": value, "allowed": list(allowed)},
        )

    def decimal(self, name: str, default: Decimal | None = None) -> Decimal:
        """A query parameter that is a decimal written plainly, within the bounds of every decimal; ``default``
        when it is not given (none: it is required). An empty value is no decimal."""
        text = self.param(name) if default is not None else self.required(name)
        if text is None:
            assert default is not None
            return default
        shown = text if len(text) <= 40 else text[:37] + "..."
        if not PLAIN_DECIMAL.fullmatch(text):
            raise ValidationError(
                f"the query parameter {name} must be a decimal number written with digits 0-9 and an optional "
                f"point, e.g. 1000.50, not {shown!r}",
                {"parameter": name, "value": shown},
            )
        try:
            return check_decimal(Decimal(text), name)
        except ValidationError as error:
            raise ValidationError(
                f"the query parameter {error.message}", {"parameter": name, "value": shown}
            ) from None


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
    #: What the core calls a field of this route's request otherwise than the request does: the core's name →
    #: the request's, a body field by its snake_case name (``participating_accounts_info.priority``) or a query
    #: parameter by its own (``Amount``). A refusal names the field as the request does (``as_sent``).
    renamed: Mapping[str, str] = attrs.field(factory=dict)


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
                "after= needs a value: the next value of the previous page",
                {"parameter": "after", "value": after},
            )
        if after not in ids:
            raise errors.NotFound(
                f"after={after} is not in this list: give the next value of the previous page",
                {"parameter": "after", "value": after},
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
        raise ValidationError(
            f"limit must be a whole number from 1 to {MAX_LIMIT}", {"parameter": "limit", "value": text}
        )
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
    (errors.StorageError, 503),
    (TooManyRequests, 429),
)


def status_of(error: AllotError) -> int:
    return next((status for kind, status in _STATUS if isinstance(error, kind)), 422)


def refusal(error: AllotError) -> Reply:
    return Reply(status_of(error), error_body(error))


# -- a refusal in the request's names -------------------------------------------------------------------------

#: One of allot's names (``unit_value``): a PascalCase route writes it in PascalCase.
_ALLOTS_NAME: Final = re.compile(r"[a-z][a-z0-9_]*")
#: The names in a path of the body (``$.participating_accounts_info[0].unit_value``).
_PATH_NAMES: Final = re.compile(r"(?<=\.)[A-Za-z_][A-Za-z0-9_]*")
#: The fields a problem of the converter lists (``extra fields found (foo, bar)``).
_LISTED: Final = re.compile(r"(?<=^extra fields found \()[^()]*(?=\))")


def cased(name: str, casing: Casing) -> str:
    """One of allot's names in a route's casing; a name that is none of allot's (``account id``) as it is."""
    return pascal(name) if casing is Casing.PASCAL and _ALLOTS_NAME.fullmatch(name) else name


def sent_name(name: str, operation: Operation) -> str:
    """A field a refusal names, as the route's request names it: a path of the body (``$.lines[0].weight``, in
    allot's names of the body's fields) in the route's casing; a name of the core's (``name``,
    ``participants.priority``) through the route's ``renamed`` (the whole name, or else its first part), then in
    the route's casing."""
    if name.startswith("$"):
        return _PATH_NAMES.sub(lambda found: cased(found.group(), operation.casing), name)
    head, dot, rest = name.partition(".")
    renamed = operation.renamed.get(name) or operation.renamed.get(head, head) + dot + rest
    return ".".join(cased(part, operation.casing) for part in renamed.split("."))


def _sent_problem(problem: str, operation: Operation) -> str:
    """One problem the converter found (``extra fields found (foo) @ $.lines[0]``), in the request's names."""
    what, at, path = problem.rpartition(" @ ")
    if not at:
        return problem
    what = _LISTED.sub(
        lambda found: ", ".join(cased(n, operation.casing) for n in found.group().split(", ")), what
    )
    return f"{what} @ {sent_name(path, operation)}"


def as_sent(error: ValidationError, operation: Operation) -> ValidationError:
    """``error`` naming every field as the route's request does, in its details and its message: ``field`` (a
    query parameter's as ``parameter``, like every refusal of one), each of the converter's ``errors``. The same
    error when it names nothing otherwise. Only for what is read after the body was recased: a refusal of the JSON
    text itself (a name given twice, text that is no text) names what was sent already."""
    message, details = error.message, dict(error.details)
    field = details.get("field")
    if isinstance(field, str):
        sent = sent_name(field, operation)
        key = "parameter" if any(sent == param.name for param in operation.query) else "field"
        details = {(key if k == "field" else k): (sent if k == "field" else v) for k, v in details.items()}
        if sent != field and message.startswith(f"{field} "):
            message = sent + message[len(field) :]
    problems = details.get("errors")
    if isinstance(problems, list) and all(isinstance(problem, str) for problem in problems):
        sent_problems = [_sent_problem(problem, operation) for problem in problems]
        for problem, sent_problem in zip(problems, sent_problems, strict=True):
            message = message.replace(problem, sent_problem)
        details["errors"] = sent_problems
    if message == error.message and details == error.details:
        return error
    named = copy.copy(error)
    named.message, named.details, named.args = message, details, (message,)
    return named


def run_handler(operation: Operation, call: Call) -> Reply:
    """The handler's reply; a refusal of bad input names the fields as the route's request does (``as_sent``)."""
    try:
        return operation.handler(call)
    except ValidationError as error:
        named = as_sent(error, operation)
        if named is error:
            raise
        raise named from None


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
    except UnicodeDecodeError as error:
        raise ValidationError(
            f"the request body is not UTF-8 text: byte {error.start} (0x{raw[error.start]:02x}) is not; send JSON "
            "in UTF-8",
            {"field": "body", "position": error.start},
        ) from None
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
    try:
        return structure(data, operation.body)
    except ValidationError as error:
        raise as_sent(error, operation) from None


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
    """Run a request that creates work once per idempotency key; the same key and body get the first answer.
    The work itself is done at most once per key by its use case, which keeps the key in the work's transaction;
    the answer kept here is what a retry is sent."""
    requests = call.app.requests
    kept = requests.kept(call.scope, key, request)
    if kept is not None:
        return Reply(kept.status or 200, json.loads(kept.body or "null"))
    assert key is not None  # request_key refuses a request without one
    code: str | None = None
    try:
        reply = run_handler(operation, attrs.evolve(call, idempotency_key=request_key(call.scope, key)))
    except AllotError as error:
        reply, code = refusal(error), error.code
    body = json.dumps(without(reply.body, operation.shown_once), ensure_ascii=False, default=str)
    try:
        requests.keep(call.scope, key, request, reply.status, code, body)
    except Exception:
        # The work is done (or refused) and its answer stands; a retry is answered by the use case's own record.
        log.exception("the answer to the request with Idempotency-Key %r could not be kept", key)
    return reply


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
        retry_after = False
        try:
            if body_to_come:
                scope = await run_in_threadpool(authorize, app, operation, request)
                with settings.bodies.reading(scope, settings.max_bodies_per_caller):
                    raw = await read_body(request)
                body_read = True
                reply = await run_in_threadpool(handle, app, operation, request, scope, raw, settings)
            else:
                # One hop to a worker thread per request: each hop costs about as much as a simple handler.
                reply = await run_in_threadpool(authorize_and_handle, request)
        except AllotError as error:
            reply = refusal(error)
            retry_after = isinstance(error, TooManyRequests)
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
        if retry_after:
            response.headers["Retry-After"] = "1"
        return response

    return serve


def handle(
    app: Application, operation: Operation, request: Request, scope: Scope, raw: bytes, settings: Settings
) -> Reply:
    """For a caller already authorized (``scope``): read the body and ``?explain=`` (before any work begins: a
    bad value does not use up an Idempotency-Key), and run the handler (once per idempotency key if it creates
    work)."""
    query = query_of(request)
    call = Call(
        app=app,
        scope=scope,
        path=path_of(operation, request),
        query=query,
        body=parsed_body(operation, raw),
        settings=settings,
        explain=EXPLAIN in operation.query and explain_asked(query),
    )
    if operation.creates_work:
        key = idempotency_key(request)
        return run_idempotent(call, operation, key, fingerprint(operation, request, raw))
    return run_handler(operation, call)


def query_of(request: Request) -> dict[str, list[str]]:
    """The query's parameters, each with its values, read like any text allot reads: percent-decoded as UTF-8
    strictly (a byte that is not UTF-8 is refused, not read as U+FFFD), and without a NUL."""
    query: dict[str, list[str]] = {}
    raw: bytes = request.scope.get("query_string", b"")
    # Every byte as one character (latin-1), so that the bytes are decoded as UTF-8 here, strictly.
    pairs = urllib.parse.parse_qsl(raw.decode("latin-1"), keep_blank_values=True, encoding="latin-1")
    for name, value in pairs:
        # A name that is no text is named by its bytes, percent-encoded as sent (not with U+FFFD in them).
        named = _text_of(name, urllib.parse.quote(name.encode("latin-1"), safe=""), "query parameter")
        query.setdefault(named, []).append(_text_of(value, named, "query parameter"))
    return query


#: A parameter in a route's path (``{account_id}``).
_PATH_PARAMETER: Final = re.compile(r"{(\w+)(?::\w+)?}")


def path_of(operation: Operation, request: Request) -> dict[str, str]:
    """The path's parameters, each read like a query's (``query_of``) from the path as it was sent (the server
    reads a byte that is not UTF-8 as U+FFFD)."""
    found = dict(request.path_params)
    raw = request.scope.get("raw_path")
    if found and isinstance(raw, bytes):
        # From the end: the path as sent may start with where the application is mounted.
        for step, part in zip(reversed(raw.split(b"/")), reversed(operation.path.split("/")), strict=False):
            parameter = _PATH_PARAMETER.fullmatch(part)
            if parameter is not None and parameter.group(1) in found:
                sent = urllib.parse.unquote_to_bytes(step).decode("latin-1")
                _text_of(sent, parameter.group(1), "path parameter")
    for name, value in found.items():
        _text_of(value.encode("utf-8", "surrogatepass").decode("latin-1"), name, "path parameter")
    return found


def _text_of(sent: str, parameter: str, where: str) -> str:
    """A parameter's value from its bytes (``sent``, one character a byte): UTF-8 text without a NUL, else 400
    naming the parameter."""
    try:
        text = sent.encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError(
            f"the {where} {parameter} is not UTF-8 text: percent-encode the UTF-8 bytes of its characters",
            {"parameter": parameter},
        ) from None
    if "\0" in text:
        raise ValidationError(
            f"the {where} {parameter} holds a NUL (%00), which no text allot reads may hold",
            {"parameter": parameter},
        )
    return text


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
