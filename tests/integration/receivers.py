"""Real HTTP receivers on loopback for webhook tests: each path behaves differently."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs


@attrs.define
class Received:
    path: str
    headers: dict[str, str]
    body: str


@attrs.define
class Receiver:
    base: str
    received: list[Received] = attrs.field(factory=list)
    flaky_failures: int = 1
    hang_seconds: float = 3.0
    slow_seconds: float = 0.0

    def on(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]


@contextmanager
def receiver() -> Iterator[Receiver]:
    state = Receiver("")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
            with lock:
                state.received.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                seen = len(state.on(self.path))
            status = 204
            if self.path == "/flaky" and seen <= state.flaky_failures:
                status = 500
            elif self.path == "/gone":
                status = 410
            elif self.path == "/redirect":
                self.send_response(307)
                self.send_header("location", "/ok")
                self.end_headers()
                return
            elif self.path == "/hang":
                time.sleep(state.hang_seconds)
            elif self.path == "/slow":
                time.sleep(state.slow_seconds)
            elif self.path == "/busy":  # too many requests: come back in two minutes
                self.send_response(429)
                self.send_header("retry-after", "120")
                self.end_headers()
                return
            elif (
                self.path == "/endless"
            ):  # 200 at once, then a body that never ends (no length: read to close)
                self.send_response(200)
                self.send_header("connection", "close")
                self.end_headers()
                self.close_connection = True
                for _ in range(200):
                    try:
                        self.wfile.write(b"x")
                        self.wfile.flush()
                    except OSError:
                        return
                    time.sleep(0.05)
                return
            self.send_response(status)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with serving(Handler) as base:
        state.base = base
        yield state


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on a free loopback port in a thread; yields the base URL, stops the server after."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
