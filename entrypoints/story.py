"""The engine's story for ``allot demo``: every lifecycle end to end on SQLite, with signed webhooks delivered
to a receiver on loopback that verifies every signature."""

from __future__ import annotations

import datetime as dt
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import attrs

from adapters.serialization import parse_json
from adapters.webhooks import new_secret, verify
from core.errors import AllotError
from core.instruments import AllocationLine, Instrument, Side
from core.keys import AllocationKey, MarginHandling, Participant, UnitType
from core.portfolio import FeeSchedule, OrderType, Policy
from core.records import subject_of
from core.webhooks import EventQuery
from entrypoints.bootstrap import sqlite_application
from entrypoints.demo import Echo, heading
from entrypoints.render import books_balance, table
from ports.application import Application

STORY_TOPICS = ("PORTFOLIO_ORDER", "ORDER", "ACCOUNT_LIQUIDATION", "BLOCK_ORDER", "POSITION", "FUNDING")


@attrs.define
class Receiver:
    """What the loopback receiver got: event types in order, and how many signatures verified."""

    secret: str
    received: list[str] = attrs.field(factory=list)
    ids: list[str] = attrs.field(factory=list)
    verified: int = 0
    lock: threading.Lock = attrs.field(factory=threading.Lock)


@contextmanager
def receiver(secret: str) -> Iterator[tuple[str, Receiver]]:
    state = Receiver(secret)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
            ok = verify(state.secret, {k.lower(): v for k, v in self.headers.items()}, body)
            with state.lock:
                state.verified += ok
                state.received.append(parse_json(body)["type"])
                state.ids.append(self.headers.get("webhook-id", ""))
            self.send_response(204 if ok else 401)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/webhooks", state
    finally:
        server.shutdown()
        server.server_close()


def events(app: Application, topic: str | None = None) -> list[str]:
    """Every event type in the outbox (of one topic), oldest first."""
    return [e.type for _, e in app.queries.events(EventQuery(limit=10_000, topic=topic))]


def states(app: Application, record_id: str) -> str:
    """The states a record was announced in, from the outbox."""
    found = app.queries.events(EventQuery(limit=10_000))
    return " → ".join(e.type.split(".")[1] for _, e in found if subject_of(e.object) == record_id)


def run_story(echo: Echo, db: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="allot-demo-") as folder:
        path = Path(db) if db else Path(folder) / "allot.db"
        secret = new_secret()
        with receiver(secret) as (url, got), sqlite_application(path) as app:
            tell(echo, app, url, secret, path)
            while app.webhooks.due_count():
                app.webhooks.deliver_due(limit=500, timeout=5.0)
            summarise(echo, got)
            audit(echo, app)


def audit(echo: Echo, app: Application) -> None:
    """The story ends as every session should: the books checked, entry by entry and balance by balance."""
    heading(echo, "16. The books: allot ledger verify")
    house = [b for b in app.ledger.balances() if b.ledger.is_house]
    echo(table(["house account", "asset", "balance"], [[str(b.ledger), b.asset, b.amount] for b in house]))
    checked = app.ledger.verify()
    if not checked.balanced:
        raise SystemExit(f"the books do not balance: {checked.discrepancies[0].message}")
    echo(books_balance(checked))


def run_partly(path: Path, ratio: str) -> None:
    """One market run in which the venue executes only ``ratio`` of each order."""
    with sqlite_application(path, partial_fill_ratio=Decimal(ratio)) as partial:
        partial.market.run()


def tell(echo: Echo, engine: Application, url: str, secret: str, path: Path) -> None:
    heading(echo, "11. The engine: the same rules, with state, on SQLite")
    echo(f"database {path}; webhooks to {url} (a receiver on loopback that verifies every signature)")
    engine.webhooks.subscribe(url, STORY_TOPICS, secret, allow_private_network=True)
    since = dt.date.today() - dt.timedelta(days=91)
    client = engine.accounts.open(
        "EUR", Decimal("20000.00"), FeeSchedule(Decimal("0.01"), since), account_id="CLIENT-1"
    )
    for instrument_id, price, step in (
        ("WORLD", "98.42", "0.000001"),
        ("BONDS", "113.37", "0.000001"),
        ("GOLD", "31.05", "0.001"),
    ):
        engine.instruments.add(
            Instrument(instrument_id, Decimal(price), Decimal(step), Decimal("1.00"), currency="EUR")
        )
    model = engine.allocations.create(
        "growth",
        [
            AllocationLine("WORLD", Decimal("0.6")),
            AllocationLine("BONDS", Decimal("0.3")),
            AllocationLine("GOLD", Decimal("0.1")),
        ],
    )

    def trace(title: str, place: Callable[[], Any]) -> None:
        order = place()
        engine.market.run()
        final = engine.portfolio_orders.get(order.id)
        echo(f"{title:<38} {states(engine, order.id)}")
        if final.cash_amount is not None and final.type is OrderType.LIQUIDATION:
            echo(f"{'':<38} cash_amount {final.cash_amount} EUR once all sells were filled")

    echo("")
    trace(
        "BUY 10 000.00 EUR into 'growth'",
        lambda: engine.portfolio_orders.place(client.id, OrderType.BUY, Decimal("10000.00"), model.name),
    )
    trace(
        "SELL 2 000.00 EUR",
        lambda: engine.portfolio_orders.place(client.id, OrderType.SELL, Decimal("2000.00")),
    )
    try:
        engine.portfolio_orders.place(client.id, OrderType.SELL, Decimal("9000.00"))
    except AllotError as error:
        echo(f"{'SELL 9 000.00 EUR':<38} refused: {error.code}, at most {error.details['max_allowed']} EUR")
    engine.instruments.set_price("WORLD", Decimal("112.80"))
    trace(
        "REBALANCING after WORLD rose 14.6 %",
        lambda: engine.portfolio_orders.place(
            client.id, OrderType.REBALANCING, None, model.name, Policy(cash_buffer=Decimal("5000.00"))
        ),
    )

    pending = engine.portfolio_orders.place(client.id, OrderType.BUY, Decimal("500.00"), model.name)
    engine.portfolio_orders.cancel(pending.id)
    echo(f"{'BUY 500.00, cancelled while SUBMITTED':<38} {states(engine, pending.id)}")
    busy = engine.portfolio_orders.place(client.id, OrderType.BUY, Decimal("600.00"), model.name)
    run_partly(path, "0.5")
    try:
        engine.portfolio_orders.cancel(busy.id)
    except AllotError as error:
        echo(f"{'BUY 600.00, cancel while PROCESSING':<38} refused: {error.code} ({error.message})")
    engine.market.run()
    echo(f"{'':<38} then filled: {states(engine, busy.id)}")
    trace(
        "LIQUIDATION of the portfolio",
        lambda: engine.portfolio_orders.place(client.id, OrderType.LIQUIDATION),
    )

    heading(echo, "12. An account liquidation")
    other = engine.accounts.open(
        "EUR", Decimal("5000.00"), FeeSchedule(Decimal("0.0075"), since), account_id="CLIENT-2"
    )
    bought = engine.portfolio_orders.place(other.id, OrderType.BUY, Decimal("4000.00"), model.name)
    engine.market.run()
    liquidation = engine.liquidations.create(other.id)
    engine.market.run()
    done = engine.liquidations.get(liquidation.id)
    echo(f"account liquidation {states(engine, liquidation.id)}")
    echo(
        f"cash_amount {done.cash_amount} EUR (management fee {done.management_fee} EUR at 0.75 % a year for 91 days)"
    )
    assert bought.id

    heading(echo, "13. A block order with a remainder key and a partial fill")
    for account_id in ("BlockTrade8393", "ERROR_8393", "Demo_8328394", "Demo_8328395", "Demo_8328424"):
        engine.accounts.open("USD", Decimal("100000.00"), account_id=account_id)
    engine.instruments.add(Instrument("EURUSD", Decimal("1.0842"), Decimal("1"), currency="USD"))
    key = engine.keys.create(
        AllocationKey(
            "10-20-30WithRemainder", UnitType.UNIT, MarginHandling.REJECT, True, "BlockTrade8393", "ERROR_8393",
            (Participant("Demo_8328394", Decimal(10000), True, 2), Participant("Demo_8328395", Decimal(20000), True, 1),
             Participant("Demo_8328424", Decimal(30000), False, 3)),
        )
    )  # fmt: skip
    block = engine.blocks.place(key.id, "EURUSD", Side.BUY, Decimal(65000))
    run_partly(path, "0.4")
    engine.market.run()
    view = engine.blocks.show(block.id)
    echo(f"block order {states(engine, block.id)}; key is now {engine.keys.get(key.id).status.value}")
    rows = []
    for order in view.orders:
        rows.append([order.account_id, order.quantity, order.traded_value, order.correlation_key == block.id])
    echo(table(["account", "allocated", "traded value (USD)", "correlation key = block"], rows))

    heading(echo, "14. Position events")
    positions = Counter(events(engine, "POSITION"))
    echo(", ".join(f"{kind} × {count}" for kind, count in sorted(positions.items())))


def summarise(echo: Echo, got: Receiver) -> None:
    heading(echo, "15. Webhooks received on loopback")
    echo(
        f"{len(got.received)} received, {got.verified} signatures verified, {len(set(got.ids))} distinct webhook ids"
    )
    counts = Counter(t.split(".")[0] for t in got.received)
    echo(", ".join(f"{topic} {counts[topic]}" for topic in STORY_TOPICS))
    echo("types in the order received:")
    for start in range(0, len(got.received), 6):
        echo("  " + "  ".join(got.received[start : start + 6]))
    if got.verified != len(got.received):
        raise SystemExit("some webhook signatures did not verify")
