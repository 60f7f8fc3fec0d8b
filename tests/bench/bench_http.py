"""Benchmark: requests per second of ``allot serve`` placing portfolio orders on SQLite, against its health check.

Not a test (pytest does not collect it). Run ``.venv/bin/python tests/bench/bench_http.py [--requests 2000]``.

It starts ``allot serve`` as its own process on a fresh SQLite database, adds ``--instruments`` instruments and a
model portfolio over them, and opens an account with enough cash. Then ``--clients`` clients, each on its own
kept-alive connection, send ``--requests`` requests in all: ``POST /portfolios/orders`` (a BUY of the model, a new
Idempotency-Key each; ``POST /accounts/{id}/deposits`` where the server has no portfolio orders yet), and in the
same run against the same server ``GET /healthz``, which does no work: the reference. Rounds of the two are
interleaved and the best of each counts. It prints both rates, their ratio (target ≥ 0.25) and the p50 / p99
latency of the POST. The clients write HTTP/1.1 by hand, so that the client's own cost stays small beside the
server's.
"""

from __future__ import annotations

import argparse
import decimal
import json
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

ALLOT = str(Path(sys.executable).parent / "allot")
DEADLINE = 30.0
TARGET = 0.25


class Connection:
    """One kept-alive HTTP/1.1 connection that sends a request and reads its answer (Content-Length bodies)."""

    def __init__(self, port: int) -> None:
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def send(self, request: bytes) -> tuple[int, bytes]:
        self.socket.sendall(request)
        while b"\r\n\r\n" not in self.buffer:
            self._more()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        found = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        length = int(found.group(1)) if found else 0
        while len(self.buffer) < length:
            self._more()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(head.split(b" ", 2)[1]), body

    def _more(self) -> None:
        chunk = self.socket.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk

    def close(self) -> None:
        self.socket.close()


def request(
    method: str, path: str, key: str | None = None, body: Any = None, idempotent: bool = False
) -> bytes:
    payload = b"" if body is None else json.dumps(body).encode()
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(payload)}"]
    if key:
        lines.append(f"Authorization: Bearer {key}")
    if body is not None:
        lines.append("Content-Type: application/json")
    if idempotent:
        lines.append(f"Idempotency-Key: {uuid.uuid4()}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


def measure(
    port: int, clients: int, requests: int, make: Callable[[], bytes], expected: int
) -> tuple[float, list[float]]:
    """``requests`` requests from ``clients`` connections at once: the seconds they took, and each latency."""
    connections = [Connection(port) for _ in range(clients)]
    latencies: list[float] = []
    failures: list[str] = []
    prepared = [[make() for _ in range(requests // clients)] for _ in range(clients)]
    start = threading.Barrier(clients + 1)

    def client(connection: Connection, mine: list[bytes]) -> None:
        start.wait(DEADLINE)
        for raw in mine:
            sent = time.perf_counter()
            status, body = connection.send(raw)
            latencies.append(time.perf_counter() - sent)
            if status != expected:
                failures.append(f"{status} {body[:300].decode(errors='replace')}")
                return

    threads = [
        threading.Thread(target=client, args=(c, p)) for c, p in zip(connections, prepared, strict=True)
    ]
    for thread in threads:
        thread.start()
    start.wait(DEADLINE)
    began = time.perf_counter()
    for thread in threads:
        thread.join(DEADLINE * 10)
    elapsed = time.perf_counter() - began
    for connection in connections:
        connection.close()
    if failures:
        raise SystemExit(f"expected {expected}, got {failures[0]}")
    return elapsed, latencies


def allot(db: Path, *args: str) -> str:
    ran = subprocess.run(
        [ALLOT, "--db", str(db), *args], capture_output=True, text=True, timeout=60, check=True
    )
    return ran.stdout


def new_key(db: Path, *args: str) -> str:
    found = re.search(r"^\s+(allot_\S+)$", allot(db, "apikeys", "create", *args), re.MULTILINE)
    assert found is not None
    return found.group(1)


def start_server(db: Path) -> tuple[subprocess.Popen[str], int]:
    server = subprocess.Popen(
        [ALLOT, "--db", str(db), "serve", "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert server.stderr is not None
    deadline = time.monotonic() + DEADLINE
    for line in server.stderr:  # the first lines: "listening on" comes within a second or two
        found = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if found:
            threading.Thread(target=server.stderr.read, daemon=True).start()  # keep the pipe drained
            return server, int(found.group(1))
        if time.monotonic() > deadline:
            break
    server.kill()
    raise SystemExit("allot serve did not start")


def arrange(base_url: str, admin: str, user: str, instruments: int) -> tuple[str, Callable[[], bytes]]:
    """Instruments, a model and a funded account; the POST to measure, and its name."""

    def post(client: httpx.Client, path: str, body: Any) -> Any:
        answered = client.post(path, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
        if answered.status_code >= 300:
            raise SystemExit(f"POST {path}: {answered.status_code} {answered.text}")
        return answered.json()

    with (
        httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {admin}"}, timeout=DEADLINE
        ) as operator,
        httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {user}"}, timeout=DEADLINE
        ) as alice,
    ):
        weight = (Decimal(1) / instruments).quantize(Decimal("0.000001"), rounding=decimal.ROUND_DOWN)
        lines = [{"instrument_id": f"I{i:02}", "weight": str(weight)} for i in range(instruments)]
        lines[0]["weight"] = str(1 - weight * (instruments - 1))
        for i in range(instruments):
            post(operator, "/instruments", {"instrument_id": f"I{i:02}", "price": f"{10 + i}.00",
                                             "quantity_step": "0.000001", "currency": "EUR"})  # fmt: skip
        model = post(alice, "/models", {"name": "bench", "lines": lines})
        post(alice, "/accounts", {"account_id": "ACC-BENCH", "currency": "EUR", "cash": "900000000.00"})
        paths = alice.get("/openapi.json").json()["paths"]
    if "post" in paths.get("/portfolios/orders", {}):
        order = {"user_id": "alice", "account_id": "ACC-BENCH", "type": "BUY", "allocation_id": model["id"],
                 "cash_amount": "100.00"}  # fmt: skip
        return "POST /portfolios/orders", lambda: request("POST", "/portfolios/orders", user, order, True)
    deposit = {"amount": "100.00"}
    return "POST /accounts/{id}/deposits", lambda: request(
        "POST", "/accounts/ACC-BENCH/deposits", user, deposit, True
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per round (of each kind)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of each kind, interleaved; the best counts"
    )
    parser.add_argument("--instruments", type=int, default=5, help="instruments in the model portfolio")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="allot-bench-http-") as folder:
        db = Path(folder) / "serve.db"
        admin, user = new_key(db, "--admin"), new_key(db, "--client", "acme", "--user", "alice")
        server, port = start_server(db)
        try:
            name, make_post = arrange(f"http://127.0.0.1:{port}", admin, user, args.instruments)
            health = request("GET", "/healthz")
            measure(port, args.clients, args.clients * 20, lambda: health, 200)  # warm up
            posts, checks, latencies = [], [], []
            for _ in range(args.rounds):
                elapsed, _ = measure(port, args.clients, args.requests, lambda: health, 200)
                checks.append(elapsed)
                elapsed, measured = measure(
                    port, args.clients, args.requests, make_post, 201 if "deposits" in name else 202
                )
                posts.append(elapsed)
                latencies.extend(measured)
        finally:
            server.terminate()
            status = server.wait(DEADLINE)
    sent = args.requests // args.clients * args.clients
    post_rate, health_rate = sent / min(posts), sent / min(checks)
    cuts = statistics.quantiles(latencies, n=100)
    print(f"allot serve on SQLite, {args.clients} clients on kept-alive connections, {sent} requests per round,"
          f" best of {args.rounds} rounds")  # fmt: skip
    about = f"   (a BUY over {args.instruments} instruments)" if "portfolios" in name else ""
    print(f"{name:30} {post_rate:8.1f} requests/s{about}")
    print(f"{'GET /healthz':30} {health_rate:8.1f} requests/s")
    print(f"{name} latency: p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms")
    ratio = post_rate / health_rate
    print(f"POST / healthz = {ratio:.2f}  (target ≥ {TARGET})")
    if status != 0:
        print(f"allot serve exited {status} on SIGTERM", file=sys.stderr)
        return 1
    if ratio < TARGET:
        print("below target", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
