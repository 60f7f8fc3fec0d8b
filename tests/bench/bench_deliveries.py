"""Benchmark: webhook delivery keeps up with the events the service makes, with a dead endpoint beside.

Not a test (pytest does not collect it). Run ``.venv/bin/python tests/bench/bench_deliveries.py [--orders 500]``.

On real SQLite (durability full) and a real HTTP receiver on loopback, it first places ``--orders`` BUY portfolio
orders (two ``PORTFOLIO_ORDER`` events each) and times how many events a second that makes. Then it delivers
every event to one healthy endpoint, beside a second endpoint that never answers (each of its attempts waits out
the deadline), by calling ``deliver_due`` as the server's worker does, and times how many events a second reach
the healthy endpoint. It prints both rates and their ratio, delivered / made: the target is at least 1 (delivery
keeps up); it exits 1 below it.
"""

from __future__ import annotations

import argparse
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


class Healthy(BaseHTTPRequestHandler):
    received = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path == "/dead":
            time.sleep(30)
            return
        with Healthy.lock:
            Healthy.received += 1
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=500, help="portfolio orders placed (two events each)")
    parser.add_argument("--timeout", type=float, default=1.0, help="each attempt's deadline, seconds")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Healthy)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
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
        started = time.perf_counter()
        while Healthy.received < 2 * args.orders:
            app.webhooks.deliver_due(limit=10_000, timeout=args.timeout)
        delivered = Healthy.received / (time.perf_counter() - started)
    server.shutdown()
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
