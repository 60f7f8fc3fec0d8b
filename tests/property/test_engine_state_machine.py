"""A Hypothesis state machine drives random place / cancel / market runs with partial fills and rejections
through the service on in-memory adapters, and checks the engine's invariants after every step."""

from __future__ import annotations

import itertools
from collections import defaultdict
from decimal import Decimal

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from adapters.memory import MemoryStore
from adapters.venue import SimulatedVenue
from core.engine import reservation
from core.errors import AllotError
from core.instruments import AllocationLine, Instrument, Side
from core.lifecycle import ORDER, PORTFOLIO_ORDER, Event, OrderState, PortfolioOrderState
from core.portfolio import OrderType
from core.records import Order, PortfolioOrder
from ports.service import Engine
from tests.fakes import ManualClock, SequentialIds

D = Decimal
START_CASH = D("5000.00")
EXPECTED_REFUSALS = {
    "INSUFFICIENT_FUNDS",
    "NAV_LIMIT_EXCEEDED",
    "BELOW_MINIMUM_ORDER",
    "ILLEGAL_TRANSITION",
    "NOTHING_TO_TRADE",
}


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.engine = Engine(MemoryStore().unit_of_work, SimulatedVenue(), ManualClock(), SequentialIds())
        self.engine.create_account("EUR", START_CASH, account_id="ACC")
        self.engine.add_instrument(Instrument("AAA", D("12.34"), D("0.001")))
        self.engine.add_instrument(Instrument("BBB", D("56.78"), D("1")))
        self.model = self.engine.create_allocation(
            "m", [AllocationLine("AAA", D("0.7")), AllocationLine("BBB", D("0.3"))]
        ).id

    def refused(self, error: AllotError) -> None:
        assert error.code in EXPECTED_REFUSALS, error

    @rule(cents=st.integers(1, 300_000))
    def place_buy(self, cents: int) -> None:
        try:
            self.engine.place_portfolio_order("ACC", OrderType.BUY, D(cents).scaleb(-2), self.model)
        except AllotError as error:
            self.refused(error)

    @rule(cents=st.integers(1, 300_000))
    def place_sell(self, cents: int) -> None:
        try:
            self.engine.place_portfolio_order("ACC", OrderType.SELL, D(cents).scaleb(-2))
        except AllotError as error:
            self.refused(error)

    @precondition(lambda self: bool(self.engine.list_portfolio_orders()))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        order = data.draw(st.sampled_from(self.engine.list_portfolio_orders()))
        try:
            self.engine.cancel_portfolio_order(order.id)
        except AllotError as error:
            self.refused(error)

    @rule(
        ratio=st.sampled_from([D(1), D("0.5"), D("0.25")]), reject=st.sampled_from([(), ("AAA",), ("BBB",)])
    )
    def run_market(self, ratio: Decimal, reject: tuple[str, ...]) -> None:
        self.engine.venue = SimulatedVenue(ratio, frozenset(reject))
        self.engine.run_market()

    def orders(self) -> list[Order]:
        return self.engine.list_orders()

    @invariant()
    def cash_and_positions_are_conserved(self) -> None:
        account = self.engine.get_account("ACC").account
        bought = sum((o.traded_value for o in self.orders() if o.side is Side.BUY), D(0))
        sold = sum((o.traded_value for o in self.orders() if o.side is Side.SELL), D(0))
        assert account.cash_in("EUR") == START_CASH - bought + sold
        assert account.cash_in("EUR") >= 0
        net: dict[str, Decimal] = defaultdict(Decimal)
        for o in self.orders():
            net[o.instrument_id] += o.filled_quantity if o.side is Side.BUY else -o.filled_quantity
        assert {p.instrument_id: p.quantity for p in account.positions} == {i: q for i, q in net.items() if q}

    @invariant()
    def reserved_cash_is_what_open_buys_may_still_spend(self) -> None:
        account = self.engine.get_account("ACC").account
        assert account.reserved_in("EUR") == sum((reservation(o) for o in self.orders()), D(0))

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
        for parent in self.engine.list_portfolio_orders():
            children = [self.engine.get_order(ref.id) for ref in parent.orders]
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
        for _, event in self.engine.list_events(limit=1_000_000):
            if isinstance(event.object, PortfolioOrder | Order):
                announced[event.object.id].append(event.type.split(".", 1)[1])
        for parent in self.engine.list_portfolio_orders():
            path = announced[parent.id]
            assert path[0] == "NEW"
            for before, after in itertools.pairwise(path):
                assert any(
                    PORTFOLIO_ORDER.allows(PortfolioOrderState(before), e)
                    and PORTFOLIO_ORDER.next(PortfolioOrderState(before), e).value == after
                    for e in Event
                )
            assert path[-1] == parent.state.value
        for order in self.orders():
            path = announced[order.id]
            assert path[0] == "NEW"
            for before, after in itertools.pairwise(path):
                assert any(
                    ORDER.allows(OrderState(before), e) and ORDER.next(OrderState(before), e).value == after
                    for e in Event
                )
            assert path[-1] == order.state.value


EngineMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=25, deadline=None)
test_the_engine_keeps_its_invariants_under_random_use = EngineMachine.TestCase
