"""A real ``allot serve`` for the HTTP tests: uvicorn on a free loopback port, over a fresh SQLite database, with
API keys for the operator and for users of two clients. Started per test, stopped after it (with a deadline)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import uvicorn

from core.instruments import Instrument
from entrypoints.bootstrap import sqlite_application
from entrypoints.http.routing import Settings
from entrypoints.http.sandbox import sandbox_routes
from entrypoints.http.server import DEFAULT_LIMITS, Limits, config, listen, server_app
from ports.application import Application
from tests.fakes import FixedJitter

START_DEADLINE = 10.0


@attrs.frozen
class Api:
    """One running server: its address, its application (to arrange data directly), and a client per key."""

    base_url: str
    app: Application
    admin: httpx.Client
    desk: httpx.Client  #: client acme as a whole (a client-wide key: every one of its users' records)
    alice: httpx.Client  #: client acme, user alice
    bob: httpx.Client  #: client acme, user bob
    carol: httpx.Client  #: client globex, user carol
    anonymous: httpx.Client

    def post(self, client: httpx.Client, path: str, body: Any, key: str | None = None) -> httpx.Response:
        """POST with a new idempotency key (or ``key``)."""
        return client.post(path, json=body, headers={"Idempotency-Key": key or str(uuid.uuid4())})


@attrs.define
class Running:
    server: uvicorn.Server
    thread: threading.Thread
    listening: socket.socket

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(START_DEADLINE)
        self.listening.close()
        assert not self.thread.is_alive(), "the server did not stop in time"


def start(
    app: Application, sandbox: bool = False, limits: Limits = DEFAULT_LIMITS, settings: Settings | None = None
) -> tuple[Running, str]:
    """Serve ``app`` within ``limits`` on a free loopback port in a thread; returns once it accepts connections."""
    chosen = Settings(sandbox=sandbox) if settings is None else settings
    starlette, _ = server_app(app, None, sandbox_routes(app) if sandbox else [], chosen)
    listening = listen("127.0.0.1", 0)
    port = listening.getsockname()[1]
    server = uvicorn.Server(config(starlette, limits))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_DEADLINE
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start in time"
        assert thread.is_alive(), "the server stopped while starting"
        time.sleep(0.01)
    return Running(server, thread, listening), f"http://127.0.0.1:{port}"


def client(base_url: str, key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=base_url, headers=headers, timeout=10.0)


@contextlib.contextmanager
def running_api(database: Path, sandbox: bool = True) -> Iterator[Api]:
    """A server over a fresh database at ``database``, with the instruments and keys described above (a sandbox
    server unless ``sandbox`` is false)."""
    with sqlite_application(database, jitter=FixedJitter()) as app:
        app.instruments.add(Instrument("AAA", Decimal("10.00")))
        app.instruments.add(Instrument("BBB", Decimal("20.00")))
        keys = {
            "admin": app.api_keys.create("a" * 43, admin=True).text,
            "desk": app.api_keys.create("e" * 43, client="acme").text,
            "alice": app.api_keys.create("b" * 43, client="acme", user="alice").text,
            "bob": app.api_keys.create("c" * 43, client="acme", user="bob").text,
            "carol": app.api_keys.create("d" * 43, client="globex", user="carol").text,
        }
        running, base_url = start(app, sandbox=sandbox)
        clients = {name: client(base_url, key) for name, key in keys.items()}
        clients["anonymous"] = client(base_url, None)
        try:
            yield Api(base_url, app, **clients)
        finally:
            for opened in clients.values():
                opened.close()
            running.stop()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with running_api(tmp_path / "serve.db") as running:
        yield running
