"""Benchmark: one market run executing and journaling 5 000 open orders on SQLite, against raw sqlite3.

Not a test (pytest does not collect it). Run ``.venv/bin/python tests/bench/bench_market_run.py [--orders 5000]``.

The service opens one account per 20 orders, each with a BUY portfolio order over a model of 20 instruments, and
times ``market.run()``: every order executed in its own transaction (read the order, its account, instrument,
parent and siblings; write the order, the account and the parent; one journal entry with its postings; the
events). In the same run, a raw ``sqlite3`` script performs the same reads and writes on the same schema and the
same number of rows, with bodies taken from what the service stored, and no decisions. It prints orders per
second for both and the ratio.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

from adapters.sqlite import connect
from core.instruments import AllocationLine, Instrument
from core.portfolio import OrderType
from entrypoints.bootstrap import sqlite_application

INSTRUMENTS = 20
COUNTED = ("events", "journal", "postings")


def count(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as connection:
        counts = {t: connection.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in COUNTED}
    connection.close()
    return counts


def sample(path: Path) -> dict[str, str]:
    """One stored body of each kind the run writes, to give the raw side rows of the same size."""
    with sqlite3.connect(path) as connection:
        bodies = {
            kind: connection.execute("SELECT body FROM records WHERE kind = ? LIMIT 1", (kind,)).fetchone()[0]
            for kind in ("accounts", "instruments", "portfolio_orders", "orders")
        }
        bodies["events"] = connection.execute(
            "SELECT body FROM events WHERE type = 'ORDER.FILLED' LIMIT 1"
        ).fetchone()[0]
    connection.close()
    return bodies


def service_run(path: Path, orders: int) -> tuple[float, dict[str, int]]:
    accounts = orders // INSTRUMENTS
    with sqlite_application(path) as app:
        for i in range(INSTRUMENTS):
            app.instruments.add(
                Instrument(f"I{i:02}", Decimal("10.00") + i, Decimal("0.000001"), currency="EUR")
            )
        model = app.allocations.create(
            "twenty", [AllocationLine(f"I{i:02}", Decimal("0.05")) for i in range(INSTRUMENTS)]
        )
        for a in range(accounts):
            app.accounts.open("EUR", Decimal("5000.00"), account_id=f"A{a:05}")
            app.portfolio_orders.place(f"A{a:05}", OrderType.BUY, Decimal("1000.00"), model.id)
        before = count(path)
        started = time.perf_counter()
        run = app.market.run()
        elapsed = time.perf_counter() - started
        if len(run.orders) != orders or run.failures:
            raise SystemExit(f"the run executed {len(run.orders)} of {orders} orders: {run.failures[:3]}")
        if not app.ledger.verify().balanced:
            raise SystemExit("the books do not balance after the run")
    after = count(path)
    return elapsed, {t: after[t] - before[t] for t in COUNTED}


def spread(total: int, parts: int, index: int) -> int:
    """The ``index``-th of ``parts`` near-equal integer shares of ``total``."""
    return total * (index + 1) // parts - total * index // parts


def raw_run(path: Path, orders: int, written: dict[str, int], bodies: dict[str, str]) -> float:
    accounts = orders // INSTRUMENTS
    connection = connect(path)
    insert = "INSERT INTO records (kind, id, version, account_id, state, parent_order_id, body) VALUES (?, ?, 1, ?, ?, ?, ?)"
    connection.execute("BEGIN")
    for i in range(INSTRUMENTS):
        connection.execute(insert, ("instruments", f"I{i:02}", None, None, None, bodies["instruments"]))
    for a in range(accounts):
        account = f"A{a:05}"
        connection.execute(insert, ("accounts", account, account, None, None, bodies["accounts"]))
        connection.execute(insert, ("portfolio_orders", f"P{a:05}", account, "PROCESSING", None, bodies["portfolio_orders"]))  # fmt: skip
        for i in range(INSTRUMENTS):
            connection.execute(insert, ("orders", f"O{a:05}-{i:02}", account, "NEW", f"P{a:05}", bodies["orders"]))  # fmt: skip
    connection.execute("COMMIT")
    get = "SELECT version, body FROM records WHERE kind = ? AND id = ?"
    update = "UPDATE records SET version = version + 1, state = ?, body = ? WHERE kind = ? AND id = ? AND version = ?"
    started = time.perf_counter()
    due = [row[0] for row in connection.execute("SELECT id FROM records WHERE kind = 'orders' AND state IN ('NEW', 'PROCESSING') ORDER BY rowid")]  # fmt: skip
    for n, order_id in enumerate(due):
        account, parent, instrument = (
            f"A{n // INSTRUMENTS:05}",
            f"P{n // INSTRUMENTS:05}",
            f"I{n % INSTRUMENTS:02}",
        )
        connection.execute("BEGIN")
        versions = [connection.execute(get, (kind, key)).fetchone()[0] for kind, key in (
            ("orders", order_id), ("accounts", account), ("instruments", instrument), ("portfolio_orders", parent),
        )]  # fmt: skip
        connection.execute(
            "SELECT id, version, body FROM records WHERE kind = 'orders' AND parent_order_id IN (?) ORDER BY rowid",
            (parent,),
        ).fetchall()
        connection.execute(
            "SELECT id, version, body FROM records WHERE kind = 'subscriptions' ORDER BY rowid"
        ).fetchall()
        for (kind, key), version in zip(
            (("orders", order_id), ("accounts", account), ("portfolio_orders", parent)),
            (versions[0], versions[1], versions[3]), strict=True,
        ):  # fmt: skip
            connection.execute(update, ("FILLED", bodies[kind], kind, key, version))
        entry = str(uuid.uuid4())
        connection.execute(
            "INSERT INTO journal (id, at, cause_kind, cause_id, memo) VALUES (?, '2026-11-22T00:00:00Z', 'FILL', ?, ?)",
            (entry, order_id, "bought 4.545454 I00 for 50.00 EUR"),
        )
        connection.executemany(
            "INSERT INTO postings (entry_seq, ledger, asset, amount) SELECT seq, ?, ?, ? FROM journal WHERE id = ?",
            [("CLIENT:" + account, "CASH:EUR", "-50.00", entry)] * spread(written["postings"], orders, n),
        )
        connection.executemany(
            "INSERT INTO events (id, type, topic, created_at, body) VALUES (?, 'ORDER.FILLED', 'ORDER', '2026-11-22T00:00:00Z', ?)",
            [(str(uuid.uuid4()), bodies["events"]) for _ in range(spread(written["events"], orders, n))],
        )
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=5000, help="open orders to execute (a multiple of 20)")
    args = parser.parse_args()
    if args.orders <= 0 or args.orders % INSTRUMENTS:
        parser.error(f"--orders must be a positive multiple of {INSTRUMENTS}")
    with tempfile.TemporaryDirectory(prefix="allot-bench-") as folder:
        service, written = service_run(Path(folder) / "service.db", args.orders)
        raw = raw_run(Path(folder) / "raw.db", args.orders, written, sample(Path(folder) / "service.db"))
    service_rate, raw_rate = args.orders / service, args.orders / raw
    per_order = ", ".join(f"{written[t] / args.orders:.1f} {t}" for t in COUNTED)
    print(
        f"market run: {args.orders} open orders executed and journaled, one transaction each ({per_order} per order)"
    )
    print(f"service  {service:8.2f} s  {service_rate:8.1f} orders/s")
    print(f"raw      {raw:8.2f} s  {raw_rate:8.1f} orders/s")
    print(f"service / raw = {service_rate / raw_rate:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
