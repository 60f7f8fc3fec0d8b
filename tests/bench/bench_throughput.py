"""Benchmark: placing BUY portfolio orders through the service on SQLite, against raw sqlite3.

Not a test (pytest does not collect it). Run ``.venv/bin/python tests/bench/bench_throughput.py [--orders 2000]``.

The service places ``--orders`` BUY orders of 20 instruments each, every order in its own transaction with
its outbox events. In the same run, a raw ``sqlite3`` script writes the same rows (the portfolio order, 20
orders, the account, 22 events) with the same transaction pattern into the same schema, with bodies
prepared beforehand. It prints orders per second for both and the ratio. Target: service ≥ 0.5 × raw.
"""

from __future__ import annotations

import argparse
import json
import sys
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


def service_run(folder: Path, orders: int) -> float:
    with sqlite_application(folder / "service.db") as app:
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


def raw_run(folder: Path, orders: int) -> float:
    connection = connect(folder / "raw.db")
    body = json.dumps(
        {"id": "x", "account_id": "ACC", "state": "NEW", "cash_amount": "50.00", "padding": "p" * 300}
    )
    event = json.dumps({"id": "e", "type": "ORDER.NEW", "object": json.loads(body)})
    connection.execute(
        "INSERT INTO records (kind, id, version, body) VALUES ('accounts', 'ACC', 1, ?)", (body,)
    )
    started = time.perf_counter()
    for n in range(orders):
        connection.execute("BEGIN IMMEDIATE")
        ids = [str(uuid.uuid4()) for _ in range(INSTRUMENTS + 1)]
        connection.execute(
            "INSERT INTO records (kind, id, version, account_id, state, parent_order_id, body) VALUES (?, ?, 1, ?, ?, ?, ?)",
            ("idempotency", f"bench-{n}", None, None, None, body),
        )
        connection.execute(
            "INSERT INTO records (kind, id, version, account_id, state, parent_order_id, body) VALUES (?, ?, 1, ?, ?, ?, ?)",
            ("portfolio_orders", ids[0], "ACC", "SUBMITTED", None, body),
        )
        for child in ids[1:]:
            connection.execute(
                "INSERT INTO records (kind, id, version, account_id, state, parent_order_id, body) VALUES (?, ?, 1, ?, ?, ?, ?)",
                ("orders", child, "ACC", "NEW", ids[0], body),
            )
        connection.execute(
            "UPDATE records SET version = version + 1, body = ? WHERE kind = 'accounts' AND id = 'ACC'",
            (body,),
        )
        for _ in range(INSTRUMENTS + 2):
            connection.execute(
                "INSERT INTO events (id, type, topic, created_at, body) VALUES (?, 'ORDER.NEW', 'ORDER', '2026-11-21T00:00:00Z', ?)",
                (str(uuid.uuid4()), event),
            )
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument(
        "--rounds", type=int, default=3, help="runs of each side, interleaved; the best counts"
    )
    args = parser.parse_args()
    services, raws = [], []
    for round_ in range(args.rounds):  # interleaved, so that a busy moment of the machine hits both sides
        with tempfile.TemporaryDirectory(prefix=f"allot-bench-{round_}-") as folder:
            services.append(service_run(Path(folder), args.orders))
            raws.append(raw_run(Path(folder), args.orders))
    service, raw = min(services), min(raws)
    service_rate, raw_rate = args.orders / service, args.orders / raw
    print(f"{args.orders} BUY orders of {INSTRUMENTS} instruments, one transaction each")
    print(f"service  {service:8.2f} s  {service_rate:8.1f} orders/s")
    print(f"raw      {raw:8.2f} s  {raw_rate:8.1f} orders/s")
    ratio = service_rate / raw_rate
    print(f"service / raw = {ratio:.2f}  (target ≥ 0.5; best of {args.rounds} rounds each)")
    if ratio < 0.5:
        print("below target", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
