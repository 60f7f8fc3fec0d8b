"""``allot serve`` as a process: it listens, answers, drains the request under way on SIGTERM and exits 0; a port
in use is a clear refusal. And the socket it listens on."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from entrypoints.http.server import listen

ALLOT = str(Path(sys.executable).parent / "allot")
START_DEADLINE = 20.0
STOP_DEADLINE = 15.0


def test_the_listening_socket_is_tcp_so_that_asyncio_turns_nagle_off_on_every_connection() -> None:
    # asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP; with proto 0 every keep-alive response
    # written in two parts waited ~40 ms for the client's delayed ACK.
    listening = listen("127.0.0.1", 0)
    try:
        assert listening.proto == socket.IPPROTO_TCP
        client = socket.create_connection(listening.getsockname()[:2], timeout=5)
        accepted, _ = listening.accept()
        with client, accepted:
            assert accepted.proto == socket.IPPROTO_TCP
    finally:
        listening.close()


def allot(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ALLOT, "--db", str(db), *args], capture_output=True, text=True, timeout=60)


class Served:
    """A running ``allot serve``: its process, its address, and what it printed on stderr (read in a thread, so
    that a full pipe never blocks it)."""

    def __init__(
        self, db: Path, *options: str, env: dict[str, str] | None = None, program: Sequence[str] = (ALLOT,)
    ) -> None:
        self.process = subprocess.Popen(
            [*program, "serve", "--db", str(db), "--port", "0", *options],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        self.lines: list[str] = []
        self.listening = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        if not self.listening.wait(START_DEADLINE):
            self.kill()
            pytest.fail(f"allot serve did not start within {START_DEADLINE} s: {self.stderr}")
        found = re.search(r"listening on http://127\.0\.0\.1:(\d+)", self.stderr)
        assert found is not None, self.stderr
        self.port = int(found.group(1))
        self.base_url = f"http://127.0.0.1:{self.port}"

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            if "listening on" in line:
                self.listening.set()
        self.listening.set()  # ended before listening: the wait above reports it

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def finish(self) -> int:
        """Its exit status, once it has ended (killed after ``STOP_DEADLINE``)."""
        try:
            status = self.process.wait(STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"allot serve did not stop within {STOP_DEADLINE} s after SIGTERM: {self.stderr}")
        self.close()
        return status

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(STOP_DEADLINE)
        self.close()

    def close(self) -> None:
        self.reader.join(STOP_DEADLINE)
        assert self.process.stderr is not None
        self.process.stderr.close()


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "serve.db"


@pytest.fixture
def served(database: Path) -> Iterator[Served]:
    running = Served(database)
    try:
        yield running
    finally:
        running.kill()


def user_key(db: Path) -> str:
    made = allot(db, "apikeys", "create", "--client", "acme", "--user", "alice")
    assert made.returncode == 0, made.stderr
    found = re.search(r"^\s+(allot_\S+)$", made.stdout, re.MULTILINE)
    assert found is not None, made.stdout
    return found.group(1)


def read_until(connection: socket.socket, marker: bytes) -> bytes:
    """What the connection sends, up to and including ``marker`` (the socket's timeout bounds each read)."""
    received = b""
    while marker not in received:
        chunk = connection.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def test_sigterm_lets_the_request_under_way_finish_then_the_process_exits_0(database: Path) -> None:
    key = user_key(database)
    served = Served(database)
    try:
        assert httpx.get(f"{served.base_url}/healthz", timeout=5).json() == {"status": "ok"}
        body = json.dumps({"account_id": "ACC-SLOW", "currency": "EUR", "cash": "100.00"}).encode()
        with socket.create_connection(("127.0.0.1", served.port), timeout=10) as slow:
            # A request whose body is still to come: "100 Continue" says the server is reading it.
            slow.sendall(
                f"POST /accounts HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
                f"Idempotency-Key: slow-1\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                "Expect: 100-continue\r\n\r\n".encode()
            )
            assert read_until(slow, b"\r\n\r\n").startswith(b"HTTP/1.1 100")
            served.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + STOP_DEADLINE
            while not refuses_connections(served.port):  # it has stopped taking new connections
                assert time.monotonic() < deadline, "the server still takes connections after SIGTERM"
                time.sleep(0.02)
            assert served.process.poll() is None, "the server ended with a request under way"
            slow.sendall(body)
            answer = read_until(slow, b"}}")
        status_line, _, rest = answer.partition(b"\r\n")
        assert status_line == b"HTTP/1.1 201 Created", answer
        assert json.loads(rest.split(b"\r\n\r\n", 1)[1])["account"]["id"] == "ACC-SLOW"
        started = time.monotonic()
        assert served.finish() == 0, served.stderr
        assert time.monotonic() - started < STOP_DEADLINE
        assert "allot serve: stopped" in served.stderr
        assert "Traceback" not in served.stderr
    finally:
        served.kill()


def test_sigterm_right_after_requests_exits_0_promptly(served: Served) -> None:
    with httpx.Client(base_url=served.base_url, timeout=5) as client:
        for _ in range(5):
            assert client.get("/healthz").status_code == 200
        assert client.get("/accounts").status_code == 401
    started = time.monotonic()
    served.process.send_signal(signal.SIGTERM)
    assert served.finish() == 0, served.stderr
    assert time.monotonic() - started < STOP_DEADLINE
    assert "Traceback" not in served.stderr


def test_sigterm_as_soon_as_it_says_it_is_listening_exits_0_promptly(database: Path) -> None:
    # A SIGTERM that came before the server was under way was swallowed: the process served on, never stopping.
    for _ in range(3):
        running = Served(database)
        running.process.send_signal(signal.SIGTERM)
        assert running.finish() == 0, running.stderr
        assert "Traceback" not in running.stderr


def test_a_port_in_use_is_exit_2_with_address_unavailable_and_no_traceback(database: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        ran = allot(database, "serve", "--port", str(port))
    assert ran.returncode == 2, ran.stderr
    assert "ADDRESS_UNAVAILABLE" in ran.stderr
    assert f"127.0.0.1:{port}" in ran.stderr
    assert "Traceback" not in ran.stderr


def test_serve_store_api_lets_another_engine_process_keep_its_state_on_the_server(database: Path) -> None:
    environment = {**os.environ, "ALLOT_STORE_TOKEN": "t" * 40}
    running = Served(database, "--store-api", env=environment)
    try:
        remote = [ALLOT, "--store", running.base_url, "--json"]
        opened = subprocess.run([*remote, "accounts", "create", "--currency", "EUR", "--cash", "250.00", "--id", "REMOTE-1"],
                                capture_output=True, text=True, timeout=60, env=environment)  # fmt: skip
        assert opened.returncode == 0, opened.stderr
        listed = allot(database, "--json", "accounts", "list")
        assert "REMOTE-1" in listed.stdout
        refused = subprocess.run([*remote, "accounts", "list"], capture_output=True, text=True, timeout=60,
                                 env={**environment, "ALLOT_STORE_TOKEN": "wrong" * 8})  # fmt: skip
        assert refused.returncode == 3
        assert "STORE_UNAUTHORIZED" in refused.stderr
        running.process.send_signal(signal.SIGTERM)
        assert running.finish() == 0
    finally:
        running.kill()


def test_serve_says_which_durability_it_commits_with_full_unless_told_normal(database: Path) -> None:
    for options, environment, durability in (
        ((), {}, "full"),
        (("--durability", "normal"), {}, "normal"),
        ((), {"ALLOT_DURABILITY": "normal"}, "normal"),
    ):
        running = Served(database, *options, env={**os.environ, **environment})
        try:
            assert f"listening on {running.base_url} (durability {durability})" in running.stderr
        finally:
            running.kill()


@pytest.mark.parametrize(
    ("token", "says"),
    [
        ("t" * 31, "at least 32"),
        ("x", "at least 32"),
        ("", "at least 32"),
        (" " + "t" * 40, "blanks"),
        ("t" * 40 + "\n", "blanks"),
    ],
)
def test_a_store_token_that_is_short_or_padded_is_refused_at_start_and_nothing_is_made(
    tmp_path: Path, token: str, says: str
) -> None:
    database = tmp_path / "never.db"
    ran = subprocess.run([ALLOT, "--db", str(database), "serve", "--store-api", "--port", "0"],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "ALLOT_STORE_TOKEN": token})  # fmt: skip
    assert ran.returncode == 2, ran.stderr
    assert "ALLOT_STORE_TOKEN" in ran.stderr
    assert says in ran.stderr
    assert "Traceback" not in ran.stderr
    assert not database.exists()
