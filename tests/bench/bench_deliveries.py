"""Benchmark: webhook delivery keeps up with the events the service makes, with a dead endpoint beside.

Not a test (pytest does not collect it). Run ``.venv/bin/python tests/bench/bench_deliveries.py [--orders 500]``.

On real SQLite (durability full) and a real HTTP receiver on loopback (in a process of its own), it first places ``--orders`` BUY portfolio
orders (two ``PORTFOLIO_ORDER`` events each) and times how many events a second that makes. Then it delivers
every event to one healthy endpoint, beside a second endpoint that never answers (each of its attempts waits out
the deadline), by calling ``deliver_due`` as the server's worker does, and times how many events a second reach
the healthy endpoint. It prints both rates and their ratio, delivered / made: the target is at least 1 (delivery
keeps up); it exits 1 below it.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

from adapters.webhooks import new_secret
from core.instruments import AllocationLine, Instrument
from core.portfolio import OrderType
from entrypoints.bootstrap import sqlite_application

TARGET: Final = 1.0


class Receiver(BaseHTTPRequestHandler):
    """The endpoints: ``/ok`` counts what it receives and answers 204 at once; ``/dead`` never answers."""

    protocol_version = "HTTP/1.1"
    received: Any = None  # the shared counter, set in the receiver's process

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path == "/dead":
            time.sleep(30)
            return
        with Receiver.received.get_lock():
            Receiver.received.value += 1
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def receive(received: Any, port: Any) -> None:
    """Serve the endpoints in a process of their own, as a real receiver is never in the deliverer's process
    (in the same one it would take the deliverer's interpreter lock for each request it answers)."""
    Receiver.received = received
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.daemon_threads = True
    port.value = server.server_address[1]
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=500, help="portfolio orders placed (two events each)")
    parser.add_argument("--timeout", type=float, default=1.0, help="each attempt's deadline, seconds")
    args = parser.parse_args()
    received, port = multiprocessing.Value("i", 0), multiprocessing.Value("i", 0)
    receiver = multiprocessing.Process(target=receive, args=(received, port), daemon=True)
    receiver.start()
    while port.value == 0:
        time.sleep(0.01)
    base = f"http://127.0.0.1:{port.value}"
    with tempfile.TemporaryDirectory() as folder, sqlite_application(Path(folder) / "bench.db") as app:
        app.accounts.open("EUR", Decimal(args.orders * 10), account_id="ACC")
        app.instruments.add(Instrument("AAA", Decimal("10.00")))
        model = app.allocations.create("all", [AllocationLine("AAA", Decimal(1))])
        for path in ("/ok", "/dead"):
            app.webhooks.subscribe(base + path, ["PORTFOLIO_ORDER"], new_secret(), allow_private_network=True)
        started = time.perf_counter()
        for _ in range(args.orders):
            app.portfolio_orders.place("ACC", OrderType.BUY, Decimal("10.00"), model.id)
        made = 2 * args.orders / (time.perf_counter() - started)
        stop = threading.Event()

        def worker() -> None:  # as the server's delivery worker: round after round until stopped
            while not stop.is_set():
                app.webhooks.deliver_due(limit=10_000, timeout=args.timeout, stop=stop)

        started = time.perf_counter()
        delivering = threading.Thread(target=worker)
        delivering.start()
        while received.value < 2 * args.orders:  # the clock stops when the last event has arrived
            time.sleep(0.001)
        delivered = received.value / (time.perf_counter() - started)
        stop.set()
        delivering.join()
    receiver.kill()
    ratio = delivered / made
    print(
        f"events made: {made:.0f}/s; delivered to the healthy endpoint beside a dead one: {delivered:.0f}/s"
    )
    print(f"delivered / made = {ratio:.2f} (target >= {TARGET:g})")
    if ratio < TARGET:
        print("FAIL: delivery does not keep up with the events made")
        sys.exit(1)
    print("OK")


if __name__ == "__main__":
    main()
