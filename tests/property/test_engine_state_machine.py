"""A Hypothesis state machine drives random placing, cancelling and market runs (with partial fills and
rejections) through the application, on the in-memory store and on SQLite, and checks the engine's invariants
after every step. Expectations come from the machine's own bookkeeping of what it did, not from the code under test.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from adapters.memory import MemoryStore
from core.errors import AllotError
from core.instruments import AllocationLine, Instrument, Side
from core.lifecycle import OrderState, PortfolioOrderState
from core.portfolio import OrderType
from core.records import Order, PortfolioOrder
from core.webhooks import EventQuery
from entrypoints.bootstrap import memory_application, sqlite_application
from ports.application import Application
from tests.fakes import ManualClock, SequentialIds
from tests.property.strategies import machine_settings

START_CASH = Decimal("5000.00")
EXPECTED_REFUSALS = {
    "INSUFFICIENT_FUNDS",
    "NAV_LIMIT_EXCEEDED",
    "BELOW_MINIMUM_ORDER",
    "ILLEGAL_TRANSITION",
    "NOTHING_TO_TRADE",
}

#: The machine's own model of the lifecycles (docs/lifecycles.md), written out rather than read from
#: core.lifecycle: the announced paths are checked against this, not against the tables under test.
PORTFOLIO_ORDER_MOVES = {
    ("NEW", "SUBMITTED"), ("SUBMITTED", "PROCESSING"), ("PROCESSING", "FILLED"),
    ("NEW", "CANCELLED"), ("SUBMITTED", "CANCELLED"), ("PROCESSING", "CANCELLED"),
}  # fmt: skip
ORDER_MOVES = {
    ("NEW", "PROCESSING"), ("PROCESSING", "PROCESSING"), ("PROCESSING", "FILLED"),
    ("NEW", "CANCELLED"), ("PROCESSING", "CANCELLED"),
}  # fmt: skip


class EngineMachine(RuleBasedStateMachine):
    storage = "memory"

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="allot-machine-"))
        self.clock, self.ids = ManualClock(), SequentialIds()
        self.memory_store = MemoryStore()
        self.apps: list[Application] = []
        self.app = self.open()
        self.app.accounts.open("EUR", START_CASH, account_id="ACC")
        self.app.instruments.add(Instrument("AAA", Decimal("12.34"), Decimal("0.001")))
        self.app.instruments.add(Instrument("BBB", Decimal("56.78"), Decimal("1")))
        self.app.allocations.create(
            "m", [AllocationLine("AAA", Decimal("0.7")), AllocationLine("BBB", Decimal("0.3"))]
        )

    def open(self, ratio: Decimal = Decimal(1), reject: tuple[str, ...] = ()) -> Application:
        if self.storage == "memory":
            app = memory_application(
                self.memory_store, partial_fill_ratio=ratio, reject=reject, clock=self.clock, ids=self.ids
            )
        else:
            app = sqlite_application(
                self.folder / "machine.db",
                partial_fill_ratio=ratio,
                reject=reject,
                clock=self.clock,
                ids=self.ids,
            )
        self.apps.append(app)
        return app

    def teardown(self) -> None:
        for app in self.apps:
            app.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def refused(self, error: AllotError) -> None:
        assert error.code in EXPECTED_REFUSALS, error

    @rule(cents=st.integers(1, 300_000))
    def place_buy(self, cents: int) -> None:
        try:
            self.app.portfolio_orders.place("ACC", OrderType.BUY, Decimal(cents).scaleb(-2), "m")
        except AllotError as error:
            self.refused(error)

    @rule(cents=st.integers(1, 300_000))
    def place_sell(self, cents: int) -> None:
        try:
            self.app.portfolio_orders.place("ACC", OrderType.SELL, Decimal(cents).scaleb(-2))
        except AllotError as error:
            self.refused(error)

    @precondition(lambda self: bool(self.app.portfolio_orders.all()))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        order = data.draw(st.sampled_from(self.app.portfolio_orders.all()))
        try:
            self.app.portfolio_orders.cancel(order.id)
        except AllotError as error:
            self.refused(error)

    @rule(
        ratio=st.sampled_from([Decimal(1), Decimal("0.5"), Decimal("0.25")]),
        reject=st.sampled_from([(), ("AAA",), ("BBB",)]),
    )
    def run_market(self, ratio: Decimal, reject: tuple[str, ...]) -> None:
        with self.open(ratio, reject) as market_app:
            run = market_app.market.run()
        self.apps.pop()
        assert run.failures == ()

    def orders(self) -> list[Order]:
        return self.app.queries.orders()

    @invariant()
    def cash_and_positions_are_conserved(self) -> None:
        account = self.app.accounts.get("ACC")
        bought = sum((o.traded_value for o in self.orders() if o.side is Side.BUY), Decimal(0))
        sold = sum((o.traded_value for o in self.orders() if o.side is Side.SELL), Decimal(0))
        assert account.cash_in("EUR") == START_CASH - bought + sold
        assert account.cash_in("EUR") >= 0
        net: dict[str, Decimal] = defaultdict(Decimal)
        for o in self.orders():
            net[o.instrument_id] += o.filled_quantity if o.side is Side.BUY else -o.filled_quantity
        assert {p.instrument_id: p.quantity for p in account.positions} == {i: q for i, q in net.items() if q}

    @invariant()
    def held_back_cash_is_what_open_buys_may_still_spend(self) -> None:
        account = self.app.accounts.get("ACC")
        may_spend = Decimal(0)
        for o in self.orders():
            if (
                o.side is Side.BUY
                and o.cash_amount is not None
                and o.state in (OrderState.NEW, OrderState.PROCESSING)
            ):
                may_spend += o.cash_amount - o.traded_value
        assert account.reserved_in("EUR") == may_spend

    @invariant()
    def no_order_is_in_an_impossible_state(self) -> None:
        for o in self.orders():
            assert o.filled_quantity >= 0
            if o.state is OrderState.NEW:
                assert o.filled_quantity == 0
            if o.state is OrderState.FILLED:
                assert o.filled_quantity > 0
            if o.quantity is not None:
                assert o.filled_quantity <= o.quantity

    @invariant()
    def portfolio_orders_agree_with_their_orders(self) -> None:
        for parent in self.app.portfolio_orders.all():
            children = [self.app.queries.order(ref.id) for ref in parent.orders]
            states = {c.state for c in children}
            assert [ref.state for ref in parent.orders] == [c.state for c in children]
            if parent.state is PortfolioOrderState.FILLED:
                assert states == {OrderState.FILLED}
            if parent.state is PortfolioOrderState.CANCELLED:
                assert not states & {OrderState.NEW, OrderState.PROCESSING}
            if states == {OrderState.FILLED}:
                assert parent.state is PortfolioOrderState.FILLED
            if parent.state is PortfolioOrderState.SUBMITTED:
                assert states == {OrderState.NEW}

    @invariant()
    def every_transition_has_exactly_one_event(self) -> None:
        announced: dict[str, list[str]] = defaultdict(list)
        for _, event in self.app.queries.events(EventQuery(limit=10_000)):
            if isinstance(event.object, PortfolioOrder | Order):
                announced[event.object.id].append(event.type.split(".", 1)[1])
        for parent in self.app.portfolio_orders.all():
            path = announced[parent.id]
            assert path[0] == "NEW"
            assert set(itertools.pairwise(path)) <= PORTFOLIO_ORDER_MOVES, path
            assert path[-1] == parent.state.value
        for order in self.orders():
            path = announced[order.id]
            assert path[0] == "NEW"
            assert set(itertools.pairwise(path)) <= ORDER_MOVES, path
            assert path[-1] == order.state.value


class SqliteEngineMachine(EngineMachine):
    storage = "sqlite"


EngineMachine.TestCase.settings = machine_settings(200, 25)
SqliteEngineMachine.TestCase.settings = machine_settings(60, 25)
test_the_engine_keeps_its_invariants_in_memory = EngineMachine.TestCase
test_the_engine_keeps_its_invariants_on_sqlite = SqliteEngineMachine.TestCase
