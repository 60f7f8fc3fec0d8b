"""Running ``allot serve``: uvicorn serving the API, with the background workers beside it.

The webhook worker delivers due webhooks every ``WEBHOOK_INTERVAL`` seconds; with ``--sandbox`` the simulated
venue runs the market every ``market_interval`` seconds (and ``POST /sandbox/market/run`` steps it by hand). One
failed round is logged and the next round goes on: a bad endpoint or order never stops the workers. SIGTERM (or
Ctrl-C) stops accepting connections, lets the requests under way finish, stops the workers after the round under
way (each round has its own deadlines), and the process exits 0.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Final

import attrs
import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from core.errors import ValidationError
from core.webhooks import DEFAULT_TIMEOUT
from entrypoints.http.app import create_app
from entrypoints.http.routing import Settings
from ports.application import Application

#: Seconds between two rounds of webhook delivery.
WEBHOOK_INTERVAL: Final = 1.0
#: Seconds the workers get to finish their round on shutdown.
DRAIN_DEADLINE: Final = DEFAULT_TIMEOUT + 5.0

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


def config(starlette: Starlette) -> uvicorn.Config:
    return uvicorn.Config(
        starlette,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=30,
        lifespan="on",
    )


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
            listening.listen(2048)
        except OSError:
            listening.close()
            raise
        return listening
    except OSError as error:
        raise AddressUnavailable(
            f"cannot listen on {host}:{port}: {error.strerror or error}; choose another --host or --port",
            {"host": host, "port": port},
        ) from None


def run(starlette: Starlette, listening: socket.socket, ready: Callable[[], None] = lambda: None) -> None:
    """Serve on ``listening`` until SIGTERM or Ctrl-C. Uvicorn stops taking connections, finishes the requests
    under way, runs the shutdown (which stops the workers), and raises the signal again once done: SIGTERM is
    then ignored, so the process ends with status 0 (Ctrl-C ends it as an interruption, like every command).

    ``ready`` runs (to say where the server listens) once a SIGTERM would be honoured: one that comes before
    uvicorn has taken the signal over is handed to it, so the server stops as soon as it has started."""
    server = uvicorn.Server(config(starlette))
    previous = signal.signal(signal.SIGTERM, server.handle_exit)
    try:
        ready()
        server.run(sockets=[listening])
    finally:
        signal.signal(signal.SIGTERM, previous)
