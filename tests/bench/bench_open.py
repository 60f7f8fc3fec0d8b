"""Benchmark: what the integrity checks cost when a database is opened, on a database of a few thousand orders.

Not a test (pytest does not collect it). Run ``.venv/bin/python tests/bench/bench_open.py [--orders 5000]``.

It builds a database as a busy day would leave it: one account per 20 orders, each with a BUY portfolio order over
a model of 20 instruments, all executed and journaled (records, events, journal entries and postings). Then it
times, best and median of several runs with the file in the page cache: opening the database as every command
does (identity, schema version, ``PRAGMA quick_check``), ``PRAGMA quick_check`` alone, and the full
``PRAGMA integrity_check`` that ``allot db check`` runs. Both checks read every page, so their cost grows with the
size of the file; the figures per megabyte say what a larger database would pay.
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from adapters.sqlite import connect
from core.instruments import AllocationLine, Instrument
from core.portfolio import OrderType
from entrypoints.bootstrap import sqlite_application

INSTRUMENTS = 20


def build(path: Path, orders: int) -> None:
    with sqlite_application(path) as app:
        for i in range(INSTRUMENTS):
            app.instruments.add(
                Instrument(f"I{i:02}", Decimal("10.00") + i, Decimal("0.000001"), currency="EUR")
            )
        model = app.allocations.create(
            "twenty", [AllocationLine(f"I{i:02}", Decimal("0.05")) for i in range(INSTRUMENTS)]
        )
        for a in range(orders // INSTRUMENTS):
            app.accounts.open("EUR", Decimal("5000.00"), account_id=f"A{a:05}")
            app.portfolio_orders.place(f"A{a:05}", OrderType.BUY, Decimal("1000.00"), model.id)
        app.market.run()


def timed(action: Callable[[], object], runs: int) -> tuple[float, float]:
    """Best and median wall time of ``action`` in milliseconds."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return min(times), statistics.median(times)


def pragma(path: Path, check: str) -> Callable[[], object]:
    def run() -> object:
        with contextlib.closing(sqlite3.connect(path)) as connection:
            return connection.execute(f"PRAGMA {check}").fetchall()

    return run


def identity_only(path: Path) -> Callable[[], object]:
    """What opening read before the quick check was added: the identity and the schema version."""

    def run() -> object:
        with contextlib.closing(sqlite3.connect(path)) as connection:
            connection.execute("PRAGMA application_id").fetchone()
            connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
            return connection.execute("SELECT max(version) FROM schema_version").fetchone()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        build(path, args.orders)
        with contextlib.closing(sqlite3.connect(path)) as connection:
            orders = connection.execute("SELECT count(*) FROM records WHERE kind = 'orders'").fetchone()[0]
            events = connection.execute("SELECT count(*) FROM events").fetchone()[0]
            postings = connection.execute("SELECT count(*) FROM postings").fetchone()[0]
        megabytes = path.stat().st_size / 1_000_000
        print(f"database: {orders} orders, {events} events, {postings} postings, {megabytes:.1f} MB")
        measured = {
            "open without a check (identity only)": timed(identity_only(path), args.runs),
            "open (identity + quick_check)": timed(lambda: connect(path, create=False).close(), args.runs),
            "PRAGMA quick_check alone": timed(pragma(path, "quick_check"), args.runs),
            "PRAGMA integrity_check (db check)": timed(pragma(path, "integrity_check"), args.runs),
        }
        for name, (best, median) in measured.items():
            print(
                f"{name:36} best {best:7.1f} ms  median {median:7.1f} ms  ({median / megabytes:.2f} ms per MB)"
            )


if __name__ == "__main__":
    main()
