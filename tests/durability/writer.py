"""A client of allot that is killed mid-work, for the durability tests: ``python -m tests.durability.writer DB
DURABILITY LOG``.

It sets up an account, three instruments and a model on the database ``DB`` (opened with ``DURABILITY``: full or
normal), then places BUY portfolio orders one after another, and after every fifth runs the market, which fills
them, until it is killed. Each time a use case returns, it appends what allot acknowledged to ``LOG``: ``placed ID``
for a portfolio order, ``filled ID`` for each one the market run filled. A line is one unbuffered ``write`` to a
file opened with ``O_APPEND``, so ``LOG`` keeps it in order with whatever else appends to the same file (the sync
spy of ``syncspy.c``).
"""

from __future__ import annotations

import itertools
import os
import sys
from decimal import Decimal

from core.instruments import AllocationLine, Instrument
from core.lifecycle import ParentState
from core.portfolio import OrderType
from entrypoints.bootstrap import Durability, sqlite_application

INSTRUMENTS = ("AAA", "BBB", "CCC")
WEIGHTS = (Decimal("0.5"), Decimal("0.3"), Decimal("0.2"))


def main(database: str, durability: str, log: str) -> None:
    out = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def acknowledged(line: str) -> None:
        os.write(out, f"{line}\n".encode())

    with sqlite_application(database, durability=Durability(durability)) as app:
        app.accounts.open("EUR", Decimal("100000000.00"), account_id="ACC")
        for number, instrument in enumerate(INSTRUMENTS):
            app.instruments.add(
                Instrument(instrument, Decimal("10.00") + number, Decimal("0.0001"), currency="EUR")
            )
        model = app.allocations.create(
            "three", [AllocationLine(i, w) for i, w in zip(INSTRUMENTS, WEIGHTS, strict=True)]
        )
        acknowledged("ready")
        unfilled: list[str] = []
        for number in itertools.count(1):
            placed = app.portfolio_orders.place("ACC", OrderType.BUY, Decimal("100.00"), model.id)
            acknowledged(f"placed {placed.id}")
            unfilled.append(placed.id)
            if number % 5 == 0:
                app.market.run()
                for order_id in unfilled:
                    if app.portfolio_orders.get(order_id).state is ParentState.FILLED:
                        acknowledged(f"filled {order_id}")
                unfilled = [
                    o for o in unfilled if app.portfolio_orders.get(o).state is not ParentState.FILLED
                ]


if __name__ == "__main__":
    main(*sys.argv[1:])
