"""The engine's story for ``allot demo``: the seeds' lifecycles end to end on SQLite, with signed webhooks
delivered to a receiver on loopback that verifies every signature."""

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
from adapters.system import SystemClock
from adapters.venue import SimulatedVenue
from adapters.webhooks import WebhookDeliverer, new_secret, verify
from core.errors import AllotError
from core.instruments import AllocationLine, Instrument, Side
from core.keys import AllocationKey, MarginHandling, Participant, UnitType
from core.portfolio import FeeSchedule, OrderType, Policy
from entrypoints.bootstrap import sqlite_engine
from entrypoints.render import table
from ports.service import Engine

Echo = Callable[[str], None]
D = Decimal
TOPICS = ("PORTFOLIO_ORDER", "ORDER", "ACCOUNT_LIQUIDATION", "BLOCK_ORDER", "POSITION")


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


def heading(echo: Echo, title: str) -> None:
    echo("")
    echo(title)
    echo("=" * len(title))


def states(engine: Engine, record_id: str) -> str:
    """The states a record was announced in, from the outbox."""
    seen = [e.type.split(".")[1] for _, e in engine.list_events(limit=100_000) if _id(e.object) == record_id]
    return " → ".join(seen)


def _id(value: object) -> str:
    return str(value.get("id")) if isinstance(value, dict) else str(getattr(value, "id", ""))


def run_story(echo: Echo, db: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="allot-demo-") as folder:
        path = Path(db) if db else Path(folder) / "allot.db"
        secret = new_secret()
        with receiver(secret) as (url, got):
            engine, database = sqlite_engine(path)
            try:
                tell(echo, engine, url, secret, path)
                deliverer = WebhookDeliverer(database, SystemClock(), timeout=5.0)
                while deliverer.due(1):
                    deliverer.deliver_due(limit=500)
                summarise(echo, got)
            finally:
                database.close()


def tell(echo: Echo, engine: Engine, url: str, secret: str, path: Path) -> None:
    heading(echo, "11. The engine: the same rules, with state, on SQLite")
    echo(f"database {path}; webhooks to {url} (a receiver on loopback that verifies every signature)")
    engine.add_subscription(url, TOPICS, secret, allow_private_network=True)
    since = dt.date.today() - dt.timedelta(days=91)
    client = engine.create_account("EUR", D("20000.00"), FeeSchedule(D("0.01"), since), account_id="CLIENT-1")
    for instrument_id, price, step in (
        ("WORLD", "98.42", "0.000001"),
        ("BONDS", "113.37", "0.000001"),
        ("GOLD", "31.05", "0.001"),
    ):
        engine.add_instrument(Instrument(instrument_id, D(price), D(step), D("1.00")))
    model = engine.create_allocation(
        "growth",
        [
            AllocationLine("WORLD", D("0.6")),
            AllocationLine("BONDS", D("0.3")),
            AllocationLine("GOLD", D("0.1")),
        ],
    )

    def trace(title: str, place: Callable[[], Any]) -> None:
        order = place()
        engine.run_market()
        final = engine.get_portfolio_order(order.id)
        echo(f"{title:<38} {states(engine, order.id)}")
        if final.cash_amount is not None and final.type is OrderType.LIQUIDATION:
            echo(f"{'':<38} cash_amount {final.cash_amount} EUR once all sells were filled")

    echo("")
    trace(
        "BUY 10 000.00 EUR into 'growth'",
        lambda: engine.place_portfolio_order(client.id, OrderType.BUY, D("10000.00"), model.id),
    )
    trace("SELL 2 000.00 EUR", lambda: engine.place_portfolio_order(client.id, OrderType.SELL, D("2000.00")))
    try:
        engine.place_portfolio_order(client.id, OrderType.SELL, D("9000.00"))
    except AllotError as error:
        echo(f"{'SELL 9 000.00 EUR':<38} refused: {error.code}, at most {error.details['max_allowed']} EUR")
    engine.set_price("WORLD", D("112.80"))
    trace(
        "REBALANCING after WORLD rose 14.6 %",
        lambda: engine.place_portfolio_order(
            client.id, OrderType.REBALANCING, None, model.id, Policy(cash_buffer=D("5000.00"))
        ),
    )

    pending = engine.place_portfolio_order(client.id, OrderType.BUY, D("500.00"), model.id)
    engine.cancel_portfolio_order(pending.id)
    echo(f"{'BUY 500.00, cancelled while SUBMITTED':<38} {states(engine, pending.id)}")
    busy = engine.place_portfolio_order(client.id, OrderType.BUY, D("600.00"), model.id)
    engine.venue = SimulatedVenue(partial_fill_ratio=D("0.5"))
    engine.run_market()
    try:
        engine.cancel_portfolio_order(busy.id)
    except AllotError as error:
        echo(f"{'BUY 600.00, cancel while PROCESSING':<38} refused: {error.code} ({error.message})")
    engine.venue = SimulatedVenue()
    engine.run_market()
    echo(f"{'':<38} then filled: {states(engine, busy.id)}")
    trace(
        "LIQUIDATION of the portfolio", lambda: engine.place_portfolio_order(client.id, OrderType.LIQUIDATION)
    )

    heading(echo, "12. An account liquidation")
    other = engine.create_account("EUR", D("5000.00"), FeeSchedule(D("0.0075"), since), account_id="CLIENT-2")
    bought = engine.place_portfolio_order(other.id, OrderType.BUY, D("4000.00"), model.id)
    engine.run_market()
    liquidation = engine.create_liquidation(other.id)
    engine.run_market()
    done = engine.get_liquidation(liquidation.id)
    echo(f"account liquidation {states(engine, liquidation.id)}")
    echo(
        f"cash_amount {done.cash_amount} EUR (management fee {done.management_fee} EUR at 0.75 % a year for 91 days)"
    )
    assert bought.id

    heading(echo, "13. A block order with a remainder key and a partial fill")
    for account_id in ("BlockTrade8393", "ERROR_8393", "Demo_8328394", "Demo_8328395", "Demo_8328424"):
        engine.create_account("USD", D("100000.00"), account_id=account_id)
    engine.add_instrument(Instrument("EURUSD", D("1.0842"), D("1"), currency="USD"))
    key = engine.create_key(
        AllocationKey(
            "10-20-30WithRemainder", UnitType.UNIT, MarginHandling.REJECT, True, "BlockTrade8393", "ERROR_8393",
            (Participant("Demo_8328394", D(10000), True, 2), Participant("Demo_8328395", D(20000), True, 1),
             Participant("Demo_8328424", D(30000), False, 3)),
        )
    )  # fmt: skip
    block = engine.place_block_order(key.id, "EURUSD", Side.BUY, D(65000))
    engine.venue = SimulatedVenue(partial_fill_ratio=D("0.4"))
    engine.run_market()
    engine.venue = SimulatedVenue()
    engine.run_market()
    block = engine.get_block_order(block.id)
    echo(f"block order {states(engine, block.id)}; key is now {engine.get_key(key.id).status.value}")
    rows = []
    for order_ref in block.orders:
        order = engine.get_order(order_ref.id)
        rows.append([order.account_id, order.quantity, order.traded_value, order.correlation_key == block.id])
    echo(table(["account", "allocated", "traded value (USD)", "correlation key = block"], rows))

    heading(echo, "14. Position events")
    positions = Counter(e.type for _, e in engine.list_events(limit=100_000, topic="POSITION"))
    echo(", ".join(f"{kind} × {count}" for kind, count in sorted(positions.items())))


def summarise(echo: Echo, got: Receiver) -> None:
    heading(echo, "15. Webhooks received on loopback")
    echo(
        f"{len(got.received)} received, {got.verified} signatures verified, {len(set(got.ids))} distinct webhook ids"
    )
    counts = Counter(t.split(".")[0] for t in got.received)
    echo(", ".join(f"{topic} {counts[topic]}" for topic in TOPICS))
    echo("types in the order received:")
    for start in range(0, len(got.received), 6):
        echo("  " + "  ".join(got.received[start : start + 6]))
    if got.verified != len(got.received):
        raise SystemExit("some webhook signatures did not verify")
