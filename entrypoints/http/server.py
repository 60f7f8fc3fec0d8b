"""Running ``allot serve``: uvicorn serving the API, with the background workers beside it.

The webhook worker delivers due webhooks every ``WEBHOOK_INTERVAL`` seconds; with ``--sandbox`` the simulated
venue runs the market every ``market_interval`` seconds (and ``POST /sandbox/market/run`` steps it by hand). One
failed round is logged and the next round goes on: a bad endpoint or order never stops the workers. SIGTERM (or
Ctrl-C) stops accepting connections, lets the requests under way finish, stops the workers after the round under
way (each round has its own deadlines), and the process exits 0.

No client holds the server for long: ``Limits`` says how many connections are served at once and how long a
request's headers, its body and an idle kept-alive connection may take (``allot serve --max-connections``,
``--header-timeout``, ``--body-timeout``, ``--keep-alive-timeout``), and ``LimitedH11Protocol`` keeps the ones
uvicorn does not keep itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import signal
import socket
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Final

import attrs
import h11
import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import STATUS_PHRASES, H11Protocol
from uvicorn.server import ServerState

from adapters.serialization import error_body
from core.errors import AllotError, ValidationError
from core.webhooks import DEFAULT_TIMEOUT
from entrypoints.http.app import create_app
from entrypoints.http.routing import Settings
from ports.application import Application

#: Seconds between two rounds of webhook delivery.
WEBHOOK_INTERVAL: Final = 1.0
#: Seconds the workers get to finish their round on shutdown.
DRAIN_DEADLINE: Final = DEFAULT_TIMEOUT + 5.0

#: Connections served at once: a request on one more is answered 503 and its connection closed.
MAX_CONNECTIONS: Final = 1000
#: Seconds a connection has to send a request's line and headers, from when it opens or its previous answer.
HEADER_TIMEOUT: Final = 10.0
#: Seconds a request's body has to arrive in full, from the end of its headers.
BODY_TIMEOUT: Final = 30.0
#: Seconds a kept-alive connection may stay idle after an answer (whole seconds: uvicorn's unit).
KEEP_ALIVE_TIMEOUT: Final = 5
#: The most connections the system keeps waiting for the server to accept them.
MAX_BACKLOG: Final = 2048

log = logging.getLogger("allot.serve")


@attrs.define
class Worker:
    """A loop in a thread: ``work`` every ``interval`` seconds until stopped; a round that fails is logged."""

    name: str
    interval: float
    work: Callable[[threading.Event], object]
    stop: threading.Event = attrs.field(factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                self.work(self.stop)
            except Exception:
                log.exception("the %s round failed; the next one goes on", self.name)
            self.stop.wait(self.interval)

    def finish(self, deadline: float) -> bool:
        """Stop after the round under way; whether it ended within ``deadline`` seconds."""
        self.stop.set()
        if self.thread is None:
            return True
        self.thread.join(deadline)
        return not self.thread.is_alive()


def workers(app: Application, market_interval: float | None) -> list[Worker]:
    made = [Worker("webhook delivery", WEBHOOK_INTERVAL, lambda stop: app.webhooks.deliver_due(stop=stop))]
    if market_interval is not None:
        made.append(Worker("sandbox market", market_interval, lambda stop: app.market.run()))
    return made


def server_app(
    app: Application,
    market_interval: float | None,
    extra: Sequence[BaseRoute] = (),
    settings: Settings = Settings(),
) -> tuple[Starlette, list[Worker]]:
    """The API with its workers, started when the server starts and stopped when it stops."""
    running = workers(app, market_interval)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        for worker in running:
            worker.start()
        try:
            yield
        finally:
            for worker in running:
                if not worker.finish(DRAIN_DEADLINE):
                    log.warning("the %s worker did not stop within %.0f s", worker.name, DRAIN_DEADLINE)

    return create_app(app, extra=extra, lifespan=lifespan, settings=settings), running


@attrs.frozen
class Limits:
    """How much of the server its clients may hold, and for how long: a back-office API serves a few systems
    that send whole requests at once, so a client that sends slowly is cut off instead of waited for."""

    #: Connections served at once, idle kept-alive ones included.
    max_connections: int = attrs.field(default=MAX_CONNECTIONS, validator=attrs.validators.ge(1))
    header_timeout: float = attrs.field(default=HEADER_TIMEOUT, validator=attrs.validators.gt(0))
    body_timeout: float = attrs.field(default=BODY_TIMEOUT, validator=attrs.validators.gt(0))
    keep_alive_timeout: int = attrs.field(default=KEEP_ALIVE_TIMEOUT, validator=attrs.validators.ge(1))

    @property
    def backlog(self) -> int:
        """Connections the system may keep waiting to be accepted: no more than the server would serve."""
        return min(self.max_connections, MAX_BACKLOG)


DEFAULT_LIMITS: Final = Limits()


class TooManyConnections(AllotError):
    """The server serves its most connections at once already."""

    code = "TOO_MANY_CONNECTIONS"


class RequestTimeout(AllotError):
    """A request's body did not arrive in time."""

    code = "REQUEST_TIMEOUT"


class ServerConfig(uvicorn.Config):
    """uvicorn's configuration of ``allot serve``, with the limits its connections keep."""

    def __init__(self, starlette: Starlette, limits: Limits) -> None:
        super().__init__(
            starlette,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=30,
            lifespan="on",
            http=LimitedH11Protocol,
            # Not uvicorn's limit_concurrency: it answers in plain text, LimitedH11Protocol in the error body.
            limit_concurrency=None,
            timeout_keep_alive=limits.keep_alive_timeout,
            # asyncio listens again with this backlog when it starts serving the socket ``listen`` made.
            backlog=limits.backlog,
        )
        self.limits = limits


def config(starlette: Starlette, limits: Limits = DEFAULT_LIMITS) -> uvicorn.Config:
    return ServerConfig(starlette, limits)


class Waiting(enum.Enum):
    """What a connection waits for from its client, and so which deadline runs."""

    HEADERS = "headers"
    BODY = "body"


class LimitedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 connection, with the limits uvicorn does not keep itself (it keeps the keep-alive
    timeout):

    - a request's line and headers must be in within ``header_timeout`` seconds of the moment the connection is
      ready for them (when it opens, or when it has sent the previous answer); else the connection is closed
      without an answer, since there is no request to answer;
    - its body must be in within ``body_timeout`` seconds of its headers; else it is answered 408
      ``REQUEST_TIMEOUT`` (unless an answer is already on its way) and the connection is closed;
    - a connection that comes while the server holds ``max_connections`` already makes room: the connection that
      has waited longest for a request's headers (one that sends nothing, sends them slowly, or idles after an
      answer) is closed without an answer, so clients that hold connections open cannot keep out one that sends
      whole requests, however often they reconnect;
    - a request that comes while the server still holds more than ``max_connections`` connections (when none was
      waiting for headers: every other one is sending a body, which takes a valid key, or being answered), or
      while that many requests are under way already, is answered 503 ``TOO_MANY_CONNECTIONS`` and its
      connection closed.

    The deadline follows h11's state of the client's side after every event read: waiting for a request
    (``IDLE``) runs the header deadline, a body under way (``SEND_BODY``) the body deadline, anything else none:
    once a request is in, answering it takes as long as its handler takes."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = config.limits if isinstance(config, ServerConfig) else DEFAULT_LIMITS
        self.served = self.app
        self.app = self.within_limit
        self.waiting: Waiting | None = None
        #: When the connection began to wait for what it waits for (the loop's clock).
        self.waiting_since = 0.0
        self.deadline: asyncio.TimerHandle | None = None

    # H11Protocol takes a Transport where asyncio's Protocol takes any BaseTransport (with the same ignore): the
    # override keeps H11Protocol's signature, since a wider one could not be handed on to it.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.follow()
        if self.held() > self.limits.max_connections:
            self.make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self.wait_for(None)
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        self.follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.follow()

    def held(self) -> int:
        """The connections the server holds, not counting those it is closing (a burst of new ones may come before
        the closed ones are let go)."""
        return sum(1 for connection in self.connections if not connection.transport.is_closing())

    def make_room(self) -> None:
        """Close the connection, other than this one, that has waited longest for a request's headers."""
        waiting = [
            other
            for other in self.connections
            if isinstance(other, LimitedH11Protocol)
            and other is not self
            and other.waiting is Waiting.HEADERS
            and not other.transport.is_closing()
        ]
        if waiting:
            longest = min(waiting, key=lambda other: other.waiting_since)
            log.info("a connection waiting for headers was closed to make room for a new one")
            longest.headers_too_late()

    def follow(self) -> None:
        """Run the deadline of what the connection now waits for from its client."""
        state = self.conn.their_state
        if self.transport.is_closing():
            self.wait_for(None)
        elif state is h11.IDLE:
            self.wait_for(Waiting.HEADERS)
        elif state is h11.SEND_BODY:
            self.wait_for(Waiting.BODY)
        else:
            self.wait_for(None)

    def wait_for(self, waiting: Waiting | None) -> None:
        """Start the deadline of ``waiting`` (a deadline already running for it runs on)."""
        if waiting is self.waiting:
            return
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None
        self.waiting = waiting
        self.waiting_since = self.loop.time()
        if waiting is Waiting.HEADERS:
            self.deadline = self.loop.call_later(self.limits.header_timeout, self.headers_too_late)
        elif waiting is Waiting.BODY:
            self.deadline = self.loop.call_later(self.limits.body_timeout, self.body_too_late)

    def headers_too_late(self) -> None:
        """Close the connection without an answer: there is no request to answer."""
        self.wait_for(None)
        if not self.transport.is_closing():
            self.conn.send(h11.ConnectionClosed())
            self.transport.close()

    def body_too_late(self) -> None:
        self.deadline = None
        if self.transport.is_closing():
            return
        # The handler waiting for the body is told that the client has gone, and its answer is not written.
        self.cycle.disconnected = True
        self.cycle.message_event.set()
        if self.conn.our_state is not h11.SEND_RESPONSE:
            self.transport.close()
            return
        seconds = self.limits.body_timeout
        late = RequestTimeout(
            f"the request's body did not all arrive within {seconds:g} seconds of its headers; "
            "send the whole body at once",
            {"body_timeout_seconds": f"{seconds:g}"},
        )
        self.answer_and_close(408, late)

    def answer_and_close(self, status: int, error: AllotError) -> None:
        """Answer ``error`` in the error body every route answers in, then close the connection."""
        headers, body = connection_refusal(error)
        response = h11.Response(
            status_code=status,
            headers=[*self.server_state.default_headers, *headers],
            reason=STATUS_PHRASES[status],
        )
        for event in (response, h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to bytes h11 cannot read as a request (its ``msg`` replaced by a clearer message), in
        the error body rather than plain text."""
        self.wait_for(None)
        self.answer_and_close(400, not_http())

    async def within_limit(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The application, unless the request is framed in a way allot does not take (``framing_refusal``), or
        the server holds more connections or requests than it serves at once."""
        malformed = framing_refusal(scope)
        if malformed is not None:
            await refuse(send, *malformed)
            return
        most = self.limits.max_connections
        if self.held() > most:
            self.make_room()
        if self.held() <= most and len(self.tasks) <= most:
            await self.served(scope, receive, send)
            return
        log.warning("a request was refused: over %d connections or requests at once", most)
        busy = TooManyConnections(
            f"the server serves at most {most} connections at once; retry in a moment",
            {"max_connections": most},
        )
        await refuse(send, 503, busy, (b"retry-after", b"1"))


def framing_refusal(scope: Scope) -> tuple[int, InvalidHttpRequest] | None:
    """The status and error of a request h11 let through that allot does not take, if it is one: another HTTP
    version than 1.0 or 1.1 (505); a header holding a byte that is not ASCII (h11 lets bytes 0x80–0xFF through as
    obsolete text, which no header allot reads may hold); both ``Content-Length`` and ``Transfer-Encoding``
    (which says how long the body is would depend on who reads it: behind a proxy that reads the other one, a
    second request could be smuggled in the first one's body)."""
    version = str(scope.get("http_version", "1.1"))
    if version not in ("1.0", "1.1"):
        return 505, InvalidHttpRequest(
            f"HTTP/{version} is not spoken here; send the request as HTTP/1.1", {"http_version": version}
        )
    named = next((name for name, value in scope["headers"] if not value.isascii()), None)
    if named is not None:
        return 400, not_http(named.decode("ascii", "replace"))
    names = {name.lower() for name, _ in scope["headers"]}
    if b"content-length" in names and b"transfer-encoding" in names:
        return 400, InvalidHttpRequest(
            "a request may say how long its body is with Content-Length or with Transfer-Encoding, not both; "
            "send one of them",
            {"headers": ["Content-Length", "Transfer-Encoding"]},
        )
    return None


def not_http(header: str | None = None) -> InvalidHttpRequest:
    """What was sent is not an HTTP/1.1 request; ``header``: the header known to hold a byte over 0x7F."""
    if header is not None:
        return InvalidHttpRequest(
            f"what was sent is not an HTTP/1.1 request: header {header} holds a byte that is not printable ASCII",
            {"header": header},
        )
    return InvalidHttpRequest(
        "what was sent is not an HTTP/1.1 request: its request line or a header is malformed or holds a byte "
        "that is not printable ASCII (percent-encode other characters in the path and query)",
        {},
    )


async def refuse(send: Send, status: int, error: AllotError, *extra: tuple[bytes, bytes]) -> None:
    """Answer ``error`` from the connection (``connection_refusal``), with ``extra`` headers."""
    headers, body = connection_refusal(error)
    await send({"type": "http.response.start", "status": status, "headers": [*headers, *extra]})
    await send({"type": "http.response.body", "body": body})


def connection_refusal(error: AllotError) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The headers and body of a refusal made by the connection rather than a route, in the same error body
    as every other; the connection is closed after it."""
    body = json.dumps(error_body(error), ensure_ascii=False).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        (b"connection", b"close"),
    ]
    return headers, body


class InvalidHttpRequest(AllotError):
    """What a client sent is not an HTTP/1.1 request."""

    code = "INVALID_HTTP_REQUEST"


class AddressUnavailable(ValidationError):
    """The host and port cannot be listened on (in use, or not an address of this machine)."""

    code = "ADDRESS_UNAVAILABLE"


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (port 0: any free port).

    Made with the protocol number getaddrinfo gives (TCP), not 0: asyncio turns Nagle's algorithm off only on
    sockets it knows to be TCP, and with it on, every response on a kept-alive connection waits for the client's
    delayed acknowledgement (40 ms on Linux)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        listening = socket.socket(family, kind, proto)
        try:
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listening.bind(address)
            listening.listen(MAX_BACKLOG)
        except OSError:
            listening.close()
            raise
        return listening
    except OSError as error:
        raise AddressUnavailable(
            f"cannot listen on {host}:{port}: {error.strerror or error}; choose another --host or --port",
            {"host": host, "port": port},
        ) from None


def run(
    starlette: Starlette,
    listening: socket.socket,
    ready: Callable[[], None] = lambda: None,
    limits: Limits = DEFAULT_LIMITS,
) -> None:
    """Serve on ``listening`` until SIGTERM or Ctrl-C. Uvicorn stops taking connections, finishes the requests
    under way, runs the shutdown (which stops the workers), and raises the signal again once done: SIGTERM is
    then ignored, so the process ends with status 0 (Ctrl-C ends it as an interruption, like every command).

    ``ready`` runs (to say where the server listens) once a SIGTERM would be honoured: one that comes before
    uvicorn has taken the signal over is handed to it, so the server stops as soon as it has started."""
    server = uvicorn.Server(config(starlette, limits))
    previous = signal.signal(signal.SIGTERM, server.handle_exit)
    try:
        ready()
        server.run(sockets=[listening])
    finally:
        signal.signal(signal.SIGTERM, previous)
