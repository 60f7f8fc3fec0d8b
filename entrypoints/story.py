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
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import attrs

from adapters.back_office import SimulatedBackOffice
from adapters.serialization import parse_json
from adapters.webhooks import new_secret, verify
from core.blocks import book_prices
from core.errors import AllotError
from core.fairness import Fairness
from core.instruments import AllocationLine, AssetType, Instrument, Side
from core.investments import BackOfficeStep, InvestmentState, ProcessState, Suitability
from core.keys import AllocationKey, MarginHandling, Participant, UnitType
from core.portfolio import FeeSchedule, OrderType, Policy
from core.records import Investment, subject_of, topic_of
from core.webhooks import EventQuery
from entrypoints.bootstrap import sqlite_application
from entrypoints.demo import Echo, heading
from entrypoints.render import books_balance, counted, explanation_text, fraction, table
from ports.application import Application

STORY_TOPICS = (
    "PORTFOLIO_ORDER", "ORDER", "ACCOUNT_LIQUIDATION", "BLOCK_ORDER", "POSITION", "FUNDING", "INVESTMENT",
)  # fmt: skip


@attrs.define
class StoryClock:
    """The wall clock, which the story can move on: the copy-trading chapter waits out a retry without sleeping."""

    ahead: dt.timedelta = dt.timedelta(0)

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.ahead

    def advance(self, delta: dt.timedelta) -> None:
        self.ahead += delta


@attrs.define
class Receiver:
    """What the loopback receiver got: event types in order, and how many signatures verified."""

    secret: str
    received: list[str] = attrs.field(factory=list)
    ids: list[str] = attrs.field(factory=list)
    verified: int = 0
    #: Verified signatures by topic (``INVESTMENT``, ...).
    verified_topics: Counter[str] = attrs.field(factory=Counter)
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
                state.verified_topics[topic_of(state.received[-1])] += ok
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
        clock = StoryClock()
        with receiver(secret) as (url, got), sqlite_application(path, clock=clock) as app:
            tell(echo, app, url, secret, path)
            fair_over_time(echo, app)
            follow_a_leader(echo, app, path, clock, got)
            deliver(app)
            summarise(echo, got)
            audit(echo, app)


def deliver(app: Application) -> None:
    """Deliver every webhook that is due to the receiver."""
    while app.webhooks.due_count():
        app.webhooks.deliver_due(limit=500, timeout=5.0)


def audit(echo: Echo, app: Application) -> None:
    """The story ends as every session should: the books checked, entry by entry and balance by balance."""
    heading(echo, "18. The books: allot ledger verify")
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
    heading(echo, "17. Webhooks received on loopback")
    echo(
        f"{len(got.received)} received, {got.verified} signatures verified, {len(set(got.ids))} distinct webhook ids"
    )
    counts = Counter(t.split(".")[0] for t in got.received)
    echo(", ".join(f"{topic} {counts[topic]}" for topic in STORY_TOPICS))
    echo("types in the order received:")
    lines = ["  " + "  ".join(got.received[start : start + 6]) for start in range(0, len(got.received), 6)]
    for line in folded(lines):
        echo(line)
    if got.verified != len(got.received):
        raise SystemExit("some webhook signatures did not verify")


def folded(lines: list[str], longest: int = 8) -> list[str]:
    """``lines`` with each group of up to ``longest`` lines that comes again straight after itself shown once, and
    how many more times it came: the rounds of "Fair over time" send the same webhooks round after round."""
    shown: list[str] = []
    at = 0
    while at < len(lines):
        for size in range(1, longest + 1):
            group = lines[at : at + size]
            again = 0
            while len(group) == size and lines[at + (again + 1) * size : at + (again + 2) * size] == group:
                again += 1
            if again * size > 1:  # (a line that comes once more is as short shown again)
                what = "the line" if size == 1 else f"the {size} lines"
                shown += [*group, f"  ({what} above, {counted(again, 'more time')})"]
                at += (again + 1) * size
                break
        else:
            shown.append(lines[at])
            at += 1
    return shown


# --- 15. fair over time ------------------------------------------------------------------------------------

#: The accounts of "Fair over time", in key order: each claims 1 unit and accepts remainders, priorities 1, 2, 3.
FAIR_ACCOUNTS = ("Fair-A", "Fair-B", "Fair-C")
#: How many rounds: each places one block of ``FAIR_BLOCK`` with each key, then the market runs.
FAIR_ROUNDS = 12
FAIR_BLOCK = Decimal(10)


@attrs.frozen
class FairRound:
    """Each account's lead (+) or lag (-) in steps after a round, per key (account ids in key order)."""

    plain: tuple[Fraction, ...]
    rotate: tuple[Fraction, ...]


def fair_over_time(echo: Echo, engine: Application) -> None:
    """The same small key used 12 times, PLAIN and ROTATE: PLAIN gives the leftover step to the same account every
    time, ROTATE passes it round. PLAIN's leads come from its blocks' allocations against the exact shares, ROTATE's
    from the key's fairness history (``keys.fairness``)."""
    heading(echo, "15. Fair over time: one small key, 12 blocks, PLAIN and ROTATE")
    for account_id in ("FairBlock", "FairError"):
        engine.accounts.open("EUR", account_id=account_id)
    for account_id in FAIR_ACCOUNTS:
        engine.accounts.open("EUR", Decimal("2000.00"), account_id=account_id)
    engine.instruments.add(Instrument("ACME", Decimal("10.00"), Decimal(1), Decimal("1.00"), currency="EUR"))
    participants = tuple(
        Participant(account_id, Decimal(1), True, priority)
        for priority, account_id in enumerate(FAIR_ACCOUNTS, start=1)
    )
    keys = {
        fairness: engine.keys.create(
            AllocationKey(f"thirds-{fairness.value}", UnitType.UNIT, MarginHandling.REJECT, False, "FairBlock",
                          "FairError", participants, fairness)
        )
        for fairness in (Fairness.PLAIN, Fairness.ROTATE)
    }  # fmt: skip
    step = Fraction(engine.instruments.get("ACME").quantity_step)
    echo(
        f"UNIT key 1 / 1 / 1 over {', '.join(FAIR_ACCOUNTS)}, each accepting remainders (priorities 1, 2, 3); "
        f"each round places a BUY block of {FAIR_BLOCK} ACME with each key, and the market fills both"
    )
    exact = dict.fromkeys(FAIR_ACCOUNTS, Fraction(0))
    given = dict.fromkeys(FAIR_ACCOUNTS, Fraction(0))
    ahead = Counter[str]()  # PLAIN: the blocks in which an account got more than its exact share
    rounds: list[FairRound] = []
    rotated: list[str] = []
    for _ in range(FAIR_ROUNDS):
        plain = engine.blocks.place(keys[Fairness.PLAIN].id, "ACME", Side.BUY, FAIR_BLOCK)
        rotated.append(engine.blocks.place(keys[Fairness.ROTATE].id, "ACME", Side.BUY, FAIR_BLOCK).id)
        engine.market.run()
        filled = engine.blocks.get(plain.id)
        shares = exact_shares(keys[Fairness.PLAIN].key, filled.amount)
        for account_id, allocated in zip(filled.recipients, filled.allocated, strict=True):
            if account_id in shares:
                exact[account_id] += shares[account_id] / step
                given[account_id] += Fraction(allocated) / step
                ahead[account_id] += Fraction(allocated) > shares[account_id]
        standing = {a.account_id: a.lead for a in engine.keys.fairness(keys[Fairness.ROTATE].id).accounts}
        rounds.append(
            FairRound(
                tuple(given[a] - exact[a] for a in FAIR_ACCOUNTS), tuple(standing[a] for a in FAIR_ACCOUNTS)
            )
        )
    headers = ["round", *(f"PLAIN {a}" for a in FAIR_ACCOUNTS), *(f"ROTATE {a}" for a in FAIR_ACCOUNTS)]
    echo("each account's lead (+) or lag (-) in steps after each round:")
    echo(leads_table(headers, [[n, *r.plain, *r.rotate] for n, r in enumerate(rounds, start=1)]))
    echo("")
    echo(
        f"how the second ROTATE block was split ({FAIR_ACCOUNTS[0]}, ahead after the first, waits its turn):"
    )
    echo(explanation_text(engine.blocks.get(rotated[1]).explanation))
    last = rounds[-1]
    worst = max(range(len(FAIR_ACCOUNTS)), key=lambda i: last.plain[i])
    name = FAIR_ACCOUNTS[worst]
    leads = [lead for r in rounds for lead in r.rotate]
    echo("")
    echo(
        f"after {len(rounds)} blocks PLAIN's worst lead is {fraction(last.plain[worst], signed=True)} steps and "
        f"growing ({name}, priority {participants[worst].priority}, got more than its share in {ahead[name]} of "
        f"{len(rounds)} blocks); under ROTATE the worst lead in any round is {fraction(max(leads), signed=True)} "
        f"and the worst lag {fraction(min(leads), signed=True)}: every account within one step of its exact share"
    )


def exact_shares(key: AllocationKey, amount: Decimal) -> dict[str, Fraction]:
    """Each participant's exact share of ``amount``: in proportion to its unit value, not rounded."""
    units = sum(Fraction(p.unit_value) for p in key.participants)
    return {p.account_id: Fraction(amount) * Fraction(p.unit_value) / units for p in key.participants}


def leads_table(headers: list[str], rows: list[list[Any]]) -> str:
    """``table`` with exact leads and lags (``+2/3``, ``-1/3``) right-aligned under their headers."""
    text = [[row[0], *(fraction(v, signed=True) for v in row[1:])] for row in rows]
    widths = [max([len(h)] + [len(str(r[i])) for r in text]) for i, h in enumerate(headers)]
    return table(
        headers, [[r[0], *(v.rjust(w) for v, w in zip(r[1:], widths[1:], strict=True))] for r in text]
    )


# --- 16. copy trading --------------------------------------------------------------------------------------

#: The followers of the copy-trading chapter: name, suitability level, cash on the funding account, the amount
#: it invests and its investment shield.
FOLLOWERS = (
    ("anna", Suitability.HIGH, "10000.00", "6000.00", "4000.00"),
    ("ben", Suitability.MEDIUM, "5000.00", "3000.00", "2700.00"),
    ("carl", Suitability.LOW, "5000.00", "2000.00", None),
)


@attrs.define
class Trace:
    """Every sub-state the investments were announced in, read from the outbox run by run."""

    app: Application
    names: dict[str, str] = attrs.field(factory=dict)  # investment id → follower
    rows: list[list[Any]] = attrs.field(factory=list)
    seen: int = 0

    def read(self, label: str) -> None:
        for seq, event in self.app.queries.events(
            EventQuery(after=self.seen, limit=10_000, topic="INVESTMENT")
        ):
            self.seen = seq
            investment = event.object
            assert isinstance(investment, Investment)
            state = investment.state
            self.rows.append([label, self.names.get(investment.id, investment.id), state.id, state.title,
                              investment.process_state.value])  # fmt: skip
            label = ""

    def show(self, echo: Echo) -> None:
        echo(
            table(
                ["market run", "follower", "InvestmentStateId", "StateName", "InvestmentProcessState"],
                self.rows,
            )
        )
        self.rows = []


def follow_a_leader(echo: Echo, engine: Application, path: Path, clock: StoryClock, got: Receiver) -> None:
    heading(echo, "16. Copy trading: a leader, its followers, a rebalance post-allocated to them")
    for instrument_id, price in (("TECH", "64.00"), ("HEALTH", "41.50"), ("ENERGY", "18.20")):
        engine.instruments.add(
            Instrument(instrument_id, Decimal(price), Decimal(1), Decimal("1.00"), currency="EUR")
        )
    leader = engine.leaders.create(
        "steady", "Steady Growth", "EUR",
        [AllocationLine("TECH", Decimal("0.5")), AllocationLine("HEALTH", Decimal("0.3")),
         AllocationLine("ENERGY", Decimal("0.2"))],
        minimum_investment=Decimal("1000.00"), required_suitability=Suitability.MEDIUM,
        fee_profile="copy-standard", service_fee_rate=Decimal("0.01"),
    )  # fmt: skip
    model = ", ".join(f"{line.instrument_id} {line.weight:.0%}" for line in leader.lines)
    echo(
        f"leader {leader.id} ({leader.name}): {model}; minimum investment {leader.minimum_investment} EUR, "
        f"suitability {leader.required_suitability.value} or higher, fee profile {leader.fee_profile}, "
        f"service fee {leader.service_fee_rate:.0%} a year"
    )
    office = SimulatedBackOffice(fail={BackOfficeStep.FUNDING: 1})
    echo("the simulated back office is told to fail the first funding once")
    with sqlite_application(path, clock=clock, back_office=office) as desk:
        trace = Trace(desk)
        investments = start_followers(echo, desk, trace)
        run_to_ready(echo, desk, clock, trace, investments)
        show_replicas(echo, desk, investments)
        rebalance_followers(echo, desk, path, clock, investments)
        shield_stop_out(echo, desk, trace, investments)
        withdraw_from(echo, desk, investments)
    deliver(engine)
    investment_hooks = sum(1 for t in got.received if topic_of(t) == "INVESTMENT")
    echo(
        f"INVESTMENT webhooks on loopback: {investment_hooks} received, "
        f"{got.verified_topics['INVESTMENT']} verified by their signature"
    )
    checked = engine.ledger.verify()
    if not checked.balanced:
        raise SystemExit(f"the books do not balance: {checked.discrepancies[0].message}")
    echo(books_balance(checked))


def start_followers(echo: Echo, app: Application, trace: Trace) -> dict[str, str]:
    """Three followers ask to follow the leader; the one whose suitability is too low is refused. Anna starts a
    market run before Ben, so that hers is the funding the back office fails."""
    started: dict[str, str] = {}
    rows: list[list[Any]] = []
    refusals: list[str] = []
    for name, level, cash, amount, shield in FOLLOWERS:
        app.accounts.open("EUR", Decimal(cash), account_id=f"{name}-cash")
        app.followers.set(name, suitability=level, terms_accepted=True, asset_types=[AssetType.STOCK])
        try:
            investment = app.investments.start(
                "steady", f"{name}-cash", Decimal(amount), follower_id=name,
                shield=None if shield is None else Decimal(shield),
            )  # fmt: skip
        except AllotError as error:
            rows.append([name, level.value, Decimal(amount), shield, f"refused: {error.code}"])
            refusals.append(f"{name}: {error.code}: {error.message}")
            continue
        started[name] = investment.id
        trace.names[investment.id] = name
        rows.append([name, level.value, Decimal(amount), shield, investment.state.title])
        if name == "anna":
            app.market.run()
            trace.read("1")
    echo(table(["follower", "suitability", "invests (EUR)", "shield (EUR)", "investment"], rows))
    for refusal in refusals:
        echo(f"  refused {refusal}")
    return started


def run_to_ready(
    echo: Echo, app: Application, clock: StoryClock, trace: Trace, investments: dict[str, str]
) -> None:
    """Market runs until every investment is ACTIVE; a failed step waits for its retry, and the clock moves on."""
    echo("")
    echo("every market run ticks the investments on, beside the venue:")
    for run in range(2, 30):
        label = str(run)
        waiting = [app.investments.get(i) for i in investments.values()]
        if all(i.state is InvestmentState.READY for i in waiting):
            break
        due = [
            i.next_attempt_at
            for i in waiting
            if i.next_attempt_at is not None and i.process_state is ProcessState.RETRY
        ]
        if due and min(due) > clock.now():
            wait = min(due) - clock.now()
            clock.advance(wait)
            label = f"{run} (+{round(wait.total_seconds())} s)"
        app.market.run()
        trace.read(label)
    trace.show(echo)
    echo(
        "  the back office failed anna's funding once: Funding failed (RETRY), tried again 5 s later: succeeded"
    )


def show_replicas(echo: Echo, app: Application, investments: dict[str, str]) -> None:
    echo("")
    echo("each follower's account is a replica of the leader's model:")
    rows: list[list[Any]] = []
    for name, investment_id in investments.items():
        view = app.investments.show(investment_id)
        account = app.accounts.get(view.investment.account_id or "")
        held = {p.instrument_id: p.quantity for p in account.positions}
        rows.append([name, *(held.get(i, Decimal(0)) for i in ("TECH", "HEALTH", "ENERGY")),
                     account.cash_in("EUR"), view.equity])  # fmt: skip
    echo(table(["follower", "TECH", "HEALTH", "ENERGY", "cash (EUR)", "equity (EUR)"], rows))


def run_until_still(app: Application, runs: int = 20) -> None:
    for _ in range(runs):
        result = app.market.run()
        if not (result.orders or result.blocks or result.investments or result.rebalanced):
            return


def rebalance_followers(
    echo: Echo, app: Application, path: Path, clock: StoryClock, investments: dict[str, str]
) -> None:
    """The leader's new weights make one block per instrument and side; half of the TECH sell executes at 64.00,
    the rest at 64.80, and every follower books its share at the block's average price."""
    echo("")
    echo("the leader rebalances to TECH 30 %, HEALTH 30 %, ENERGY 40 %: one block per instrument and side")
    app.leaders.rebalance(
        "steady",
        [AllocationLine("TECH", Decimal("0.3")), AllocationLine("HEALTH", Decimal("0.3")),
         AllocationLine("ENERGY", Decimal("0.4"))],
    )  # fmt: skip
    with sqlite_application(path, clock=clock, partial_fill_ratio=Decimal("0.5")) as partial:
        partial.market.run()  # the venue executes half of each sell at today's prices
    app.instruments.set_price("TECH", Decimal("64.80"))
    run_until_still(app)  # the rest of the sells at 64.80, then the buys the sells paid for
    names = {app.investments.get(i).account_id: name for name, i in investments.items()}
    blocks = sorted(
        (b for b in app.blocks.all() if b.leader_id == "steady"),
        key=lambda b: (b.side is Side.BUY, b.created_at),
    )
    rows: list[list[Any]] = []
    shares: list[list[Any]] = []
    for block in blocks:
        executions = " + ".join(f"{e.quantity} @ {e.price}" for e in block.executions)
        booked = book_prices(block.allocated, block.executions, Decimal(1), block.currency)
        average = booked[0][0]
        rows.append(
            [
                f"{block.side.value} {block.instrument_id}",
                block.amount,
                executions,
                average,
                block.state.value,
            ]
        )
        values = {o.account_id: o.traded_value for o in app.blocks.show(block.id).orders}
        for account_id, asked, allocated in zip(block.recipients, block.targets.participants, block.allocated, strict=True):  # fmt: skip
            shares.append([f"{block.side.value} {block.instrument_id}", names.get(account_id, account_id), asked,
                           allocated, average, values.get(account_id)])  # fmt: skip
    echo(table(["block", "quantity", "executions", "average price", "state"], rows))
    echo(table(["block", "follower", "asked", "allocated", "average price", "traded value (EUR)"], shares))
    echo("  every follower books at its block's average price; the traded values sum to the block's exactly")
    show_replicas(echo, app, investments)


def shield_stop_out(echo: Echo, app: Application, trace: Trace, investments: dict[str, str]) -> None:
    """ENERGY falls; Ben's equity drops below his 2 700.00 shield: a protection-limit stop-out."""
    echo("")
    app.instruments.set_price("ENERGY", Decimal("12.00"))
    ben = app.investments.show(investments["ben"])
    echo(
        f"ENERGY falls from 18.20 to 12.00: ben's equity is {ben.equity} EUR, below his shield of "
        f"{ben.investment.shield} EUR"
    )
    echo("the market runs after the fall:")
    for run in range(1, 10):
        app.market.run()
        trace.read(str(run))
        if app.investments.get(investments["ben"]).state is InvestmentState.DISABLED:
            break
    trace.show(echo)
    stopped = app.investments.get(investments["ben"])
    echo(
        f"  positions closed, service fee {stopped.fees} EUR charged (1 % a year, for the day held), "
        f"{stopped.withdrawn} EUR back on ben-cash, which now holds {app.accounts.get('ben-cash').cash_in('EUR')} EUR"
    )


def withdraw_from(echo: Echo, app: Application, investments: dict[str, str]) -> None:
    """Anna takes money out: at most her equity less the larger of the minimum investment and her shield."""
    echo("")
    anna = investments["anna"]
    view = app.investments.show(anna)
    most = app.investments.max_withdrawal(anna)
    before = app.accounts.get("anna-cash").cash_in("EUR")
    echo(
        f"anna's equity is {view.equity} EUR; max withdrawal = equity − max(minimum investment "
        f"{view.leader.minimum_investment}, shield {view.investment.shield}) = {most} EUR"
    )
    amount = Decimal("1000.00")
    app.investments.withdraw(anna, amount)
    run_until_still(app)
    after = app.investments.get(anna)
    echo(
        f"anna asks for {amount} EUR: the cash there is, and a pro-rata SELL in whole shares for the rest; "
        f"{after.withdrawn} EUR paid out once it filled"
    )
    echo(f"anna-cash, her funding account: {before} → {app.accounts.get('anna-cash').cash_in('EUR')} EUR")
