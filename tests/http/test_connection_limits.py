"""What a client may hold of the server, on a real server on loopback: a key is checked before a body is read,
connections beyond the limit are refused, and clients that send too slowly, or idle too long, are cut off.

Raw sockets play the slow clients (httpx would send whole requests); every wait has a deadline, and the timeouts
are short so that the tests are too."""

from __future__ import annotations

import collections
import contextlib
import json
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from entrypoints.bootstrap import sqlite_application
from entrypoints.http.routing import Settings
from entrypoints.http.server import Limits
from tests.fakes import FixedJitter
from tests.http.conftest import Running, start
from tests.http.test_serve_process import ALLOT, Served

#: Seconds the server has to close a connection it should close (a deadline, not a performance target).
CLOSE_DEADLINE = 10.0
ACCOUNT = json.dumps({"account_id": "ACC-1", "currency": "EUR", "cash": "100.00"}).encode()


@attrs.frozen
class Limited:
    """A running server within its limits, with a user's key."""

    running: Running
    base_url: str
    port: int
    alice: str
    bob: str

    @property
    def connections(self) -> int:
        """How many connections the server holds now."""
        return len(self.running.server.server_state.connections)

    def get(self, path: str, key: str) -> httpx.Response:
        """A healthy client: a whole request with a key, on a new connection."""
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=self.base_url, headers=headers, timeout=CLOSE_DEADLINE) as client:
            return client.get(path)


@contextlib.contextmanager
def serving(database: Path, limits: Limits, settings: Settings = Settings()) -> Iterator[Limited]:
    with sqlite_application(database, jitter=FixedJitter()) as app:
        alice = app.api_keys.create("b" * 43, client="acme", user="alice").text
        bob = app.api_keys.create("c" * 43, client="acme", user="bob").text
        running, base_url = start(app, limits=limits, settings=settings)
        try:
            port = running.listening.getsockname()[1]
            yield Limited(running=running, base_url=base_url, port=port, alice=alice, bob=bob)
        finally:
            running.stop()


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + CLOSE_DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"not within {CLOSE_DEADLINE} s: {what}"
        time.sleep(0.01)


@contextlib.contextmanager
def sockets() -> Iterator[Callable[[int, bytes], socket.socket]]:
    """Opens raw connections (each sending its first bytes, if any), all closed at the end."""
    with contextlib.ExitStack() as opened:

        def connect(port: int, first: bytes = b"") -> socket.socket:
            connection = opened.enter_context(
                socket.create_connection(("127.0.0.1", port), timeout=CLOSE_DEADLINE)
            )
            if first:
                connection.sendall(first)
            return connection

        yield connect


def until_closed(connection: socket.socket, within: float = CLOSE_DEADLINE) -> bytes:
    """Everything the server sends until it closes the connection; fails if it has not ``within`` seconds."""
    received = b""
    deadline = time.monotonic() + within
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"the server did not close the connection within {within} s: {received!r}"
        connection.settimeout(remaining)
        try:
            chunk = connection.recv(65536)
        except TimeoutError:
            pytest.fail(f"the server did not close the connection within {within} s: {received!r}")
        if not chunk:
            return received
        received += chunk


def read_until(connection: socket.socket, marker: bytes) -> bytes:
    """What the server sends, up to and including ``marker`` (the socket's timeout bounds each read)."""
    received = b""
    while marker not in received:
        chunk = connection.recv(65536)
        assert chunk, f"the server closed the connection before {marker!r}: {received!r}"
        received += chunk
    return received


@attrs.frozen
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


def parsed(raw: bytes) -> Answer:
    """One whole HTTP/1.1 answer with a JSON body, as the server wrote it."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)
    }
    assert int(headers["content-length"]) == len(body), raw
    return Answer(int(status_line.split(" ")[1]), headers, json.loads(body))


def read_answer(connection: socket.socket) -> Answer:
    """The next answer on a connection that stays open: its head, then as many bytes as its Content-Length."""
    received = read_until(connection, b"\r\n\r\n")
    head = received.partition(b"\r\n\r\n")[0].lower()
    length = int(head.partition(b"content-length:")[2].partition(b"\r\n")[0])
    while len(received.partition(b"\r\n\r\n")[2]) < length:
        chunk = connection.recv(65536)
        assert chunk, f"the server closed the connection within an answer: {received!r}"
        received += chunk
    return parsed(received)


def request_head(method: str, path: str, key: str | None, length: int | None = None, *extra: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if key is not None:
        lines.append(f"Authorization: Bearer {key}")
    if length is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {length}"]
    return "\r\n".join([*lines, *extra, "", ""]).encode()


def test_more_slow_clients_than_the_limit_do_not_hold_off_a_healthy_client_and_are_closed(
    tmp_path: Path,
) -> None:
    limits = Limits(max_connections=4, header_timeout=2.0, body_timeout=2.0, keep_alive_timeout=30)
    with serving(tmp_path / "serve.db", limits) as server, sockets() as connect:
        slow_bodies = [slow_body(server, connect, number) for number in range(2)]
        slow_headers = [
            connect(server.port, b""),
            connect(server.port, b"GET /accounts HT"),
            connect(server.port, b"GET /accounts HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bea"),
        ]
        wait_until(lambda: server.connections == 4, "the server holds four slow clients, its limit")

        served = server.get("/accounts", server.alice)
        assert (served.status_code, served.json()["data"]) == (200, [])
        assert until_closed(slow_headers[0], within=1.0) == b"", (
            "the connection that waited longest for its headers is closed to make room, before its header timeout"
        )
        for _ in range(3):
            served = server.get("/accounts", server.alice)
            assert (served.status_code, served.json()["data"]) == (200, [])
        for connection in slow_headers[1:]:
            assert until_closed(connection) == b"", (
                "a client without its headers in is closed without an answer"
            )
        for connection in slow_bodies:
            raw = until_closed(connection)
            assert raw.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), raw
            late = parsed(raw)
            assert late.body["error"]["code"] == "REQUEST_TIMEOUT"
            assert set(late.body["error"]) == {"code", "message", "details"}
            assert late.headers["connection"] == "close"
        wait_until(lambda: server.connections == 0, "the server lets go of every slow client")

        served = server.get("/accounts", server.alice)
        assert (served.status_code, served.json()["data"]) == (200, []), "a body cut short opened no account"


def test_a_request_beyond_the_limit_is_refused_503_when_every_connection_is_sending_a_body(
    tmp_path: Path,
) -> None:
    limits = Limits(max_connections=2, header_timeout=30, body_timeout=30, keep_alive_timeout=30)
    with serving(tmp_path / "serve.db", limits) as server, sockets() as connect:
        for number in range(2):
            slow_body(server, connect, number)
        wait_until(lambda: server.connections == 2, "the server holds two clients sending their bodies")

        beyond = server.get("/accounts", server.alice)
        assert beyond.status_code == 503
        assert beyond.json()["error"]["code"] == "TOO_MANY_CONNECTIONS"
        assert set(beyond.json()["error"]) == {"code", "message", "details"}
        assert beyond.headers["connection"] == "close"
        assert beyond.headers["retry-after"] == "1"


def test_one_caller_sending_bodies_slowly_cannot_hold_every_connection_and_another_is_served(
    tmp_path: Path,
) -> None:
    limits = Limits(max_connections=6, header_timeout=30, body_timeout=30, keep_alive_timeout=30)
    with (
        serving(tmp_path / "serve.db", limits, Settings(max_bodies_per_caller=3)) as server,
        sockets() as connect,
    ):
        for number in range(3):
            slow_body(server, connect, number)
        head = request_head("POST", "/accounts", server.alice, len(ACCOUNT), "Idempotency-Key: one-more")
        beyond = connect(server.port, head)
        answer = parsed(until_closed(beyond))  # answered from its headers: its body is never asked for
        assert (answer.status, answer.body["error"]["code"]) == (429, "TOO_MANY_REQUESTS")
        assert (answer.headers["retry-after"], answer.headers["connection"]) == ("1", "close")
        assert answer.body["error"]["details"] == {"max_bodies_per_caller": 3}
        headers = {"Authorization": f"Bearer {server.bob}", "Idempotency-Key": "bobs"}
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=CLOSE_DEADLINE) as bob:
            opened = bob.post("/accounts", content=ACCOUNT.replace(b"ACC-1", b"BOB-1"))
        assert opened.status_code == 201, opened.text
        assert server.get("/accounts", server.alice).status_code == 200, "alice may still read"


#: Threads reopening connections at once: a burst of new connections comes before the closed ones are let go.
ATTACKERS = 4


def test_a_client_that_keeps_reopening_more_connections_than_the_limit_does_not_keep_out_a_healthy_one(
    tmp_path: Path,
) -> None:
    limits = Limits(max_connections=8, header_timeout=30, body_timeout=30, keep_alive_timeout=30)
    with serving(tmp_path / "serve.db", limits) as server:
        stop = threading.Event()
        opened = 0

        def flood() -> None:
            """Keep twice the limit of connections open that send part of a request line, replacing each one as
            soon as it is closed, until stopped."""
            nonlocal opened
            held: collections.deque[socket.socket] = collections.deque()
            try:
                while not stop.is_set():
                    with contextlib.suppress(OSError):
                        held.append(
                            socket.create_connection(("127.0.0.1", server.port), timeout=CLOSE_DEADLINE)
                        )
                        held[-1].sendall(b"GET / HTTP/1.1\r\n")
                        opened += 1
                    if len(held) > 2 * limits.max_connections:
                        held.popleft().close()
            finally:
                for connection in held:
                    connection.close()

        attackers = [threading.Thread(target=flood, daemon=True) for _ in range(ATTACKERS)]
        for attacker in attackers:
            attacker.start()
        try:
            wait_until(lambda: opened > 3 * limits.max_connections, "the attacker opens its connections")
            answers = [server.get("/accounts", server.alice).status_code for _ in range(20)]
        finally:
            stop.set()
            for attacker in attackers:
                attacker.join(CLOSE_DEADLINE)
        assert answers == [200] * 20, "every healthy request is served while the attacker reconnects"


def slow_body(server: Limited, connect: Callable[[int, bytes], socket.socket], number: int) -> socket.socket:
    """A client with a key that sends its headers, is asked for its body, and sends only part of it."""
    head = request_head("POST", "/accounts", server.alice, len(ACCOUNT), f"Idempotency-Key: slow-{number}",
                        "Expect: 100-continue")  # fmt: skip
    connection = connect(server.port, head)
    assert read_until(connection, b"\r\n\r\n").startswith(b"HTTP/1.1 100 Continue")
    connection.sendall(ACCOUNT[:10])
    return connection


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout_though_it_is_within_the_limit(
    tmp_path: Path,
) -> None:
    limits = Limits(max_connections=100, header_timeout=0.5, body_timeout=60, keep_alive_timeout=60)
    with serving(tmp_path / "serve.db", limits) as server, sockets() as connect:
        silent = connect(server.port, b"")
        wait_until(lambda: server.connections == 1, "the server holds the silent client")
        assert until_closed(silent) == b""
        wait_until(lambda: server.connections == 0, "the server lets go of the silent client")


def test_an_idle_kept_alive_connection_is_closed_after_the_keep_alive_timeout(tmp_path: Path) -> None:
    limits = Limits(max_connections=100, header_timeout=60, body_timeout=60, keep_alive_timeout=1)
    with serving(tmp_path / "serve.db", limits) as server, sockets() as connect:
        kept = connect(server.port, b"")
        for _ in range(2):  # the connection is kept alive: a second request is answered on it
            kept.sendall(request_head("GET", "/healthz", None))
            healthy = read_answer(kept)
            assert (healthy.status, healthy.body) == (200, {"status": "ok"})
            assert "connection" not in healthy.headers
        # Sooner than uvicorn's own 5 s: the option given is the one that closed it.
        assert until_closed(kept, within=4.0) == b"", (
            "an idle connection is closed after the keep-alive timeout"
        )
        wait_until(lambda: server.connections == 0, "the server lets go of the idle connection")


@pytest.mark.parametrize(
    ("path", "caller", "status", "code"),
    [
        ("/accounts", None, 401, "UNAUTHORIZED"),
        ("/accounts", "unknown", 401, "UNAUTHORIZED"),
        ("/instruments", "alice", 403, "FORBIDDEN"),
    ],
    ids=["no key", "an unknown key", "a user's key on an operator's route"],
)
def test_a_caller_without_a_valid_key_is_refused_from_its_headers_without_its_body_being_read(
    tmp_path: Path, path: str, caller: str | None, status: int, code: str
) -> None:
    # The body is announced (a megabyte, under the 1 MiB limit) but never sent, and the body timeout is long:
    # an answer within the deadline is an answer given without the body.
    limits = Limits(max_connections=100, header_timeout=60, body_timeout=60, keep_alive_timeout=60)
    with serving(tmp_path / "serve.db", limits) as server, sockets() as connect:
        key = {None: None, "unknown": "allot_" + "x" * 43, "alice": server.alice}[caller]
        head = request_head("POST", path, key, 1_000_000, "Idempotency-Key: big", "Expect: 100-continue")
        received = until_closed(connect(server.port, head))
        assert not received.startswith(b"HTTP/1.1 100"), "the client is never asked for its body"
        answer = parsed(received)
        assert (answer.status, answer.body["error"]["code"]) == (status, code)
        assert set(answer.body["error"]) == {"code", "message", "details"}
        assert answer.headers["connection"] == "close", "a body left unread is not kept waiting for"


def test_a_caller_with_a_key_whose_body_comes_in_pieces_within_the_body_timeout_is_served(
    tmp_path: Path,
) -> None:
    limits = Limits(max_connections=100, header_timeout=60, body_timeout=5, keep_alive_timeout=60)
    with serving(tmp_path / "serve.db", limits) as server, sockets() as connect:
        head = request_head("POST", "/accounts", server.alice, len(ACCOUNT), "Idempotency-Key: pieces")
        sending = connect(server.port, head + ACCOUNT[:10])
        time.sleep(0.2)
        sending.sendall(ACCOUNT[10:])
        created = read_answer(sending)
        assert (created.status, created.body["account"]["id"]) == (201, "ACC-1")
        assert "connection" not in created.headers, "a request served keeps its connection"
        assert server.get("/accounts/ACC-1", server.alice).json()["account"]["id"] == "ACC-1"


def test_a_header_with_a_byte_over_0x7f_is_refused_naming_the_header(tmp_path: Path) -> None:
    sent = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nIdempotency-Key: \xc3\xa9t\xc3\xa9\r\n\r\n"
    with serving(tmp_path / "serve.db", Limits()) as server, sockets() as connect:
        answer = parsed(until_closed(connect(server.port, sent)))
    assert (answer.status, answer.body["error"]["code"]) == (400, "INVALID_HTTP_REQUEST")
    assert answer.body["error"]["details"] == {"header": "idempotency-key"}


def test_a_request_with_both_a_content_length_and_a_chunked_body_is_refused_at_once(tmp_path: Path) -> None:
    # Read by Content-Length the body is 18 bytes; read as chunks it has not ended: the server must not guess.
    limits = Limits(max_connections=100, header_timeout=60, body_timeout=60, keep_alive_timeout=60)
    with serving(tmp_path / "serve.db", limits) as server, sockets() as connect:
        head = request_head("POST", "/accounts", server.alice, 18, "Transfer-Encoding: chunked")
        started = time.monotonic()
        answer = parsed(until_closed(connect(server.port, head + b'{"amount": "1.00"}')))
        assert time.monotonic() - started < 30, "answered without waiting for the body"
        assert server.get("/accounts", server.alice).json()["data"] == []
    assert (answer.status, answer.body["error"]["code"]) == (400, "INVALID_HTTP_REQUEST")
    assert answer.body["error"]["details"] == {"headers": ["Content-Length", "Transfer-Encoding"]}
    assert answer.headers["connection"] == "close"


def test_a_request_in_another_http_version_than_1_is_refused_with_505(tmp_path: Path) -> None:
    sent = b"GET /healthz HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n"
    with serving(tmp_path / "serve.db", Limits()) as server, sockets() as connect:
        answer = parsed(until_closed(connect(server.port, sent)))
    assert (answer.status, answer.body["error"]["code"]) == (505, "INVALID_HTTP_REQUEST")
    assert answer.body["error"]["details"] == {"http_version": "2.0"}


def test_allot_serve_takes_the_limits_as_options_and_refuses_values_out_of_range(tmp_path: Path) -> None:
    database = tmp_path / "serve.db"
    served = Served(database, "--max-connections", "1", "--header-timeout", "1")
    try:
        with sockets() as connect:
            silent = connect(served.port, b"")
            assert until_closed(silent) == b"", "closed by the header timeout"
            held = connect(served.port, b"")
            assert httpx.get(f"{served.base_url}/healthz", timeout=CLOSE_DEADLINE).status_code == 200
            assert until_closed(held, within=0.5) == b"", "closed to make room for the one connection served"
    finally:
        served.kill()
    for option, value in (("--max-connections", "0"), ("--header-timeout", "0"), ("--body-timeout", "-1"),
                          ("--keep-alive-timeout", "0.5"), ("--max-bodies-per-caller", "0")):  # fmt: skip
        ran = subprocess.run([ALLOT, "--db", str(database), "serve", option, value], capture_output=True,
                             text=True, timeout=60)  # fmt: skip
        assert ran.returncode == 2, (option, ran.stderr)
        assert option in ran.stderr
    shown = subprocess.run([ALLOT, "serve", "--help"], capture_output=True, text=True, timeout=60).stdout
    for option in ("--max-connections", "--header-timeout", "--body-timeout", "--keep-alive-timeout",
                   "--max-bodies-per-caller"):  # fmt: skip
        assert option in shown


@pytest.mark.parametrize(
    "sent",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /accounts/\xff HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"GET /accounts?after=\xc3\xa9 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Note: a\x00b\r\n\r\n",
        b"POST /accounts HTTP/1.1\r\nHost: 127.0.0.1\r\nIdempotency-Key: caf\xc3\xa9\r\nContent-Length: 2\r\n\r\n{}",
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Note: \xff\r\n\r\n",
    ],
    ids=[
        "no request line",
        "a raw byte in the path",
        "raw UTF-8 in the query",
        "a NUL in a header",
        "raw UTF-8 in an Idempotency-Key",
        "a byte over 0x7f in any header",
    ],
)
def test_bytes_that_are_not_an_http_request_are_answered_400_in_the_error_body_and_the_connection_closed(
    tmp_path: Path, sent: bytes
) -> None:
    with serving(tmp_path / "serve.db", Limits()) as server, sockets() as connect:
        raw = until_closed(connect(server.port, sent))
        assert raw.startswith(b"HTTP/1.1 400 Bad Request\r\n")
        answer = parsed(raw)
        assert answer.headers["content-type"] == "application/json"
        assert answer.body["error"]["code"] == "INVALID_HTTP_REQUEST"
        assert set(answer.body["error"]) == {"code", "message", "details"}
        assert answer.headers["connection"] == "close"
