"""Benchmark: placing BUY portfolio orders through the service on SQLite, against raw sqlite3, in both durabilities.

Not a test (pytest does not collect it). Run ``.venv/bin/python tests/bench/bench_throughput.py [--orders 2000]``.

The service places ``--orders`` BUY orders of 20 instruments each, every order in its own transaction with
its outbox events. Then a raw ``sqlite3`` script writes the very rows the service wrote (read back from its
database beforehand: the idempotency record, the portfolio order, its 20 orders, the account, 22 events) with the
service's statements, one transaction an order, into the same schema, on a connection with the same durability
(``PRAGMA synchronous``). Both run with ``full`` (every commit synced to the disk, the default) and with
``normal``, in ``--rounds`` interleaved rounds. It prints the median orders per second of each, the ratio
service / raw for each durability (taken round by round, since a round's two sides run one right after the
other; the median counts, target ≥ 0.5 in both, and each round's is shown), what ``full`` costs the service
against ``normal``, and, for reference, how many one-row commits raw sqlite3 makes per second in each.

The files are written under ``--folder`` (default: the system's temporary folder): give a folder on the disk
the database will live on, since a folder in memory (tmpfs) makes a sync cost nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from adapters.sqlite import Durability, connect
from core.instruments import AllocationLine, Instrument
from core.portfolio import OrderType
from entrypoints.bootstrap import sqlite_application

INSTRUMENTS = 20


def service_run(folder: Path, orders: int, durability: Durability) -> float:
    with sqlite_application(folder / "service.db", durability=durability) as app:
        app.accounts.open("EUR", Decimal(orders) * 1000, account_id="ACC")
        for i in range(INSTRUMENTS):
            app.instruments.add(
                Instrument(f"I{i:02}", Decimal("10.00") + i, Decimal("0.000001"), currency="EUR")
            )
        weights = [Decimal("0.05")] * INSTRUMENTS
        model = app.allocations.create(
            "twenty", [AllocationLine(f"I{i:02}", w) for i, w in enumerate(weights)]
        )
        started = time.perf_counter()
        for n in range(orders):
            app.portfolio_orders.place(
                "ACC", OrderType.BUY, Decimal("1000.00"), model.id, idempotency_key=f"bench-{n}"
            )
        return time.perf_counter() - started


Rows = list[tuple[Any, ...]]


def service_writes(folder: Path, orders: int) -> list[tuple[Rows, str, Rows]]:
    """What the service wrote for each order, read back from its database: the records it added (the
    idempotency record, the portfolio order, its orders), the account's body, and the events."""
    with contextlib.closing(sqlite3.connect(folder / "service.db")) as service:
        records = service.execute(
            "SELECT kind, id, account_id, state, parent_order_id, body FROM records "
            "WHERE kind IN ('idempotency', 'portfolio_orders', 'orders') ORDER BY rowid"
        ).fetchall()
        (account,) = service.execute("SELECT body FROM records WHERE kind = 'accounts'").fetchone()
        events = service.execute(
            "SELECT id, type, topic, created_at, body FROM events WHERE type LIKE '%ORDER.%' ORDER BY seq"
        ).fetchall()
    per_order, events_per_order = INSTRUMENTS + 2, INSTRUMENTS + 2
    assert len(records) == orders * per_order, "the service wrote other records than the raw side replays"
    assert len(events) == orders * events_per_order, "the service announced other events than expected"
    return [
        (
            records[n * per_order : (n + 1) * per_order],
            account,
            events[n * events_per_order : (n + 1) * events_per_order],
        )
        for n in range(orders)
    ]


def raw_run(folder: Path, orders: int, durability: Durability) -> float:
    """Raw sqlite3 writing the very rows the service wrote (``service_writes``, prepared beforehand) with the
    service's statements, one transaction an order, on a connection of the same durability: the floor for the
    same work, without reading, deciding or serialising anything."""
    writes = service_writes(folder, orders)
    connection = connect(folder / "raw.db", durability=durability)
    connection.execute(
        "INSERT INTO records (kind, id, version, body) VALUES ('accounts', 'ACC', 1, ?)", (writes[0][1],)
    )
    started = time.perf_counter()
    for version, (records, account, events) in enumerate(writes, start=1):
        connection.execute("BEGIN IMMEDIATE")
        for record in records:
            connection.execute(
                "INSERT INTO records (kind, id, version, account_id, state, parent_order_id, body) "
                "VALUES (?, ?, 1, ?, ?, ?, ?) ON CONFLICT (kind, id) DO NOTHING",
                record,
            )
        connection.execute(
            "UPDATE records SET version = version + 1, body = ? WHERE kind = ? AND id = ? AND version = ?",
            (account, "accounts", "ACC", version),
        )
        connection.executemany(
            "INSERT INTO events (id, type, topic, created_at, body) VALUES (?, ?, ?, ?, ?)", events
        )
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


def commits_run(folder: Path, commits: int, durability: Durability) -> float:
    """One-row commits on raw sqlite3 (WAL, the given durability): what the disk allows at all."""
    connection = connect(folder / "commits.db", durability=durability)
    connection.execute("CREATE TABLE t (n INTEGER)")
    started = time.perf_counter()
    for n in range(commits):
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("INSERT INTO t VALUES (?)", (n,))
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument(
        "--rounds", type=int, default=5, help="runs of each side, interleaved; the median counts"
    )
    parser.add_argument("--folder", type=Path, default=None, help="where the databases are written")
    args = parser.parse_args()
    elapsed: dict[tuple[str, Durability], list[float]] = {}
    sides = {"service": service_run, "raw": raw_run, "commits": commits_run}
    for round_ in range(args.rounds):  # interleaved, so that a busy moment of the machine hits every side
        for durability in Durability:
            with tempfile.TemporaryDirectory(prefix=f"allot-bench-{round_}-", dir=args.folder) as folder:
                for side, run in sides.items():  # raw replays what the service wrote in this folder
                    elapsed.setdefault((side, durability), []).append(
                        run(Path(folder), args.orders, durability)
                    )
    rates = {key: [args.orders / seconds for seconds in runs] for key, runs in elapsed.items()}
    rate = {key: statistics.median(runs) for key, runs in rates.items()}
    # Each round's service and raw ran one right after the other, on the same machine's moment: the ratio is
    # taken round by round, and its median counts.
    ratios = {
        durability: [
            s / r for s, r in zip(rates["service", durability], rates["raw", durability], strict=True)
        ]
        for durability in Durability
    }
    print(
        f"{args.orders} BUY orders of {INSTRUMENTS} instruments, one transaction each; "
        f"median of {args.rounds} interleaved rounds"
    )
    print(
        f"{'durability':<11}{'service':>12}{'raw sqlite3':>14}{'service/raw':>13}{'raw commits/s':>15}  rounds"
    )
    met = True
    for durability in Durability:
        ratio = statistics.median(ratios[durability])
        met = met and ratio >= 0.5
        print(
            f"{durability.value:<11}{rate['service', durability]:>8.1f} o/s{rate['raw', durability]:>10.1f} o/s"
            f"{ratio:>13.2f}{rate['commits', durability]:>15.0f}  "
            + " ".join(f"{r:.2f}" for r in ratios[durability])
        )
    cost = 1 - rate["service", Durability.FULL] / rate["service", Durability.NORMAL]
    print(
        f"full costs the service {cost:.1%} of its throughput with normal; target service/raw ≥ 0.5 in both"
    )
    if not met:
        print("below target", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
