"""The application service over in-memory adapters: every use case, no I/O."""

from __future__ import annotations

from decimal import Decimal

import pytest

from adapters.memory import MemoryStore
from adapters.venue import SimulatedVenue
from core.errors import (
    AccountClosed,
    AllocationKeyNotUsable,
    IdempotencyKeyReused,
    IllegalTransition,
    InsufficientFunds,
    NavLimitExceeded,
    NotFound,
    ValidationError,
)
from core.instruments import AllocationLine, Instrument, Side
from core.keys import AllocationKey, MarginHandling, Participant, UnitType
from core.lifecycle import KeyStatus, LiquidationState, OrderState, PortfolioOrderState
from core.portfolio import OrderType
from ports.service import Engine
from tests.fakes import ManualClock, SequentialIds

D = Decimal


@pytest.fixture
def engine() -> Engine:
    store = MemoryStore()
    service = Engine(store.unit_of_work, SimulatedVenue(), ManualClock(), SequentialIds())
    service.create_account("EUR", D("10000.00"), account_id="ACC")
    service.add_instrument(Instrument("AAA", D("10.00"), D("0.001")))
    service.add_instrument(Instrument("BBB", D("25.00"), D("1")))
    return service


def model(engine: Engine) -> str:
    return engine.create_allocation(
        "60/40", [AllocationLine("AAA", D("0.6")), AllocationLine("BBB", D("0.4"))]
    ).id


def event_types(engine: Engine, record_id: str) -> list[str]:
    return [e.type for _, e in engine.list_events(limit=10_000) if getattr(e.object, "id", None) == record_id]


def test_a_buy_is_submitted_with_its_orders_and_filled_by_the_market(engine: Engine) -> None:
    order = engine.place_portfolio_order("ACC", OrderType.BUY, D("1000.00"), model(engine))
    assert order.state is PortfolioOrderState.SUBMITTED
    assert [(o.state, o.side) for o in order.orders] == [(OrderState.NEW, Side.BUY)] * 2
    engine.run_market()
    assert engine.get_portfolio_order(order.id).state is PortfolioOrderState.FILLED
    view = engine.get_account("ACC")
    # AAA: 600.00 / 10.00 = 60 units; BBB: 400.00 / 25.00 = 16 units
    assert [(p.instrument_id, p.quantity) for p in view.account.positions] == [
        ("AAA", D("60.000")),
        ("BBB", D(16)),
    ]
    assert view.account.cash_in("EUR") == D("9000.00")


def test_every_transition_of_a_portfolio_order_is_announced_exactly_once(engine: Engine) -> None:
    order = engine.place_portfolio_order("ACC", OrderType.BUY, D("1000.00"), model(engine))
    engine.run_market()
    assert event_types(engine, order.id) == [
        "PORTFOLIO_ORDER.NEW",
        "PORTFOLIO_ORDER.SUBMITTED",
        "PORTFOLIO_ORDER.PROCESSING",
        "PORTFOLIO_ORDER.FILLED",
    ]
    child = order.orders[0].id
    assert event_types(engine, child) == ["ORDER.NEW", "ORDER.PROCESSING", "ORDER.FILLED"]


def test_the_new_event_carries_an_empty_order_list_and_submitted_carries_the_orders(engine: Engine) -> None:
    order = engine.place_portfolio_order("ACC", OrderType.BUY, D("1000.00"), model(engine))
    events = [e.object for _, e in engine.list_events() if getattr(e.object, "id", None) == order.id]
    assert (len(events[0].orders), len(events[1].orders)) == (0, 2)


def test_individual_orders_carry_the_portfolio_order_id_as_client_reference(engine: Engine) -> None:
    order = engine.place_portfolio_order("ACC", OrderType.BUY, D("1000.00"), model(engine))
    assert {engine.get_order(o.id).client_reference for o in order.orders} == {order.id}


def test_a_buy_beyond_the_available_cash_is_refused_and_creates_nothing(engine: Engine) -> None:
    with pytest.raises(InsufficientFunds):
        engine.place_portfolio_order("ACC", OrderType.BUY, D("10000.01"), model(engine))
    assert engine.list_portfolio_orders() == []
    assert engine.list_events() == []


def test_cash_promised_to_open_buys_is_not_available_twice(engine: Engine) -> None:
    allocation = model(engine)
    engine.place_portfolio_order("ACC", OrderType.BUY, D("6000.00"), allocation)
    with pytest.raises(InsufficientFunds):
        engine.place_portfolio_order("ACC", OrderType.BUY, D("4000.01"), allocation)


def test_the_same_idempotency_key_and_request_return_the_first_order(engine: Engine) -> None:
    allocation = model(engine)
    first = engine.place_portfolio_order("ACC", OrderType.BUY, D("100.00"), allocation, idempotency_key="k")
    again = engine.place_portfolio_order("ACC", OrderType.BUY, D("100.00"), allocation, idempotency_key="k")
    assert again == first
    assert len(engine.list_portfolio_orders()) == 1


def test_the_same_idempotency_key_with_another_request_is_refused(engine: Engine) -> None:
    allocation = model(engine)
    engine.place_portfolio_order("ACC", OrderType.BUY, D("100.00"), allocation, idempotency_key="k")
    with pytest.raises(IdempotencyKeyReused):
        engine.place_portfolio_order("ACC", OrderType.BUY, D("200.00"), allocation, idempotency_key="k")


def test_a_submitted_order_can_be_cancelled_with_its_orders(engine: Engine) -> None:
    order = engine.place_portfolio_order("ACC", OrderType.BUY, D("100.00"), model(engine))
    cancelled = engine.cancel_portfolio_order(order.id)
    assert cancelled.state is PortfolioOrderState.CANCELLED
    assert {o.state for o in cancelled.orders} == {OrderState.CANCELLED}
    assert engine.run_market().executions == 0


def test_a_processing_order_cannot_be_cancelled_and_nothing_changes(engine: Engine) -> None:
    order = engine.place_portfolio_order("ACC", OrderType.BUY, D("1000.00"), model(engine))
    engine.venue = SimulatedVenue(partial_fill_ratio=D("0.5"))
    engine.run_market()
    before = engine.get_portfolio_order(order.id)
    events_before = engine.list_events(limit=10_000)
    with pytest.raises(IllegalTransition):
        engine.cancel_portfolio_order(order.id)
    assert engine.get_portfolio_order(order.id) == before
    assert engine.list_events(limit=10_000) == events_before


def test_partial_fills_keep_orders_processing_until_the_rest_is_filled(engine: Engine) -> None:
    order = engine.place_portfolio_order("ACC", OrderType.BUY, D("1000.00"), model(engine))
    engine.venue = SimulatedVenue(partial_fill_ratio=D("0.5"))
    assert engine.run_market().partial_fills == 2
    assert engine.get_portfolio_order(order.id).state is PortfolioOrderState.PROCESSING
    engine.venue = SimulatedVenue()
    engine.run_market()
    assert engine.get_portfolio_order(order.id).state is PortfolioOrderState.FILLED
    assert [engine.get_order(o.id).filled_quantity for o in order.orders] == [D("60.000"), D(16)]


def test_a_rejection_at_the_trading_partner_cancels_the_portfolio_order_with_the_reason(
    engine: Engine,
) -> None:
    order = engine.place_portfolio_order("ACC", OrderType.BUY, D("1000.00"), model(engine))
    engine.venue = SimulatedVenue(reject={"BBB"})
    engine.run_market()
    final = engine.get_portfolio_order(order.id)
    assert final.state is PortfolioOrderState.CANCELLED
    assert final.reason == "the trading partner rejected BBB"
    assert [o.state for o in final.orders] == [OrderState.FILLED, OrderState.CANCELLED]


def test_a_sell_beyond_ninety_percent_of_nav_is_refused(engine: Engine) -> None:
    engine.place_portfolio_order("ACC", OrderType.BUY, D("1000.00"), model(engine))
    engine.run_market()
    with pytest.raises(NavLimitExceeded):
        engine.place_portfolio_order("ACC", OrderType.SELL, D("900.01"))


def test_a_liquidation_order_sells_everything_and_reports_its_cash_amount(engine: Engine) -> None:
    engine.place_portfolio_order("ACC", OrderType.BUY, D("1000.00"), model(engine))
    engine.run_market()
    order = engine.place_portfolio_order("ACC", OrderType.LIQUIDATION)
    engine.run_market()
    final = engine.get_portfolio_order(order.id)
    assert (final.state, final.cash_amount) == (PortfolioOrderState.FILLED, D("1000.00"))
    assert engine.get_account("ACC").account.positions == ()


def test_an_account_liquidation_runs_new_processing_filled_with_its_cash_amount(engine: Engine) -> None:
    engine.place_portfolio_order("ACC", OrderType.BUY, D("1000.00"), model(engine))
    engine.run_market()
    liquidation = engine.create_liquidation("ACC")
    assert liquidation.cash_amount is None
    engine.run_market()
    final = engine.get_liquidation(liquidation.id)
    assert (final.state, final.cash_amount) == (LiquidationState.FILLED, D("1000.00"))
    assert event_types(engine, liquidation.id) == [
        "ACCOUNT_LIQUIDATION.NEW",
        "ACCOUNT_LIQUIDATION.PROCESSING",
        "ACCOUNT_LIQUIDATION.FILLED",
    ]


def test_an_account_liquidation_can_be_cancelled_only_while_new(engine: Engine) -> None:
    engine.place_portfolio_order("ACC", OrderType.BUY, D("1000.00"), model(engine))
    engine.run_market()
    liquidation = engine.create_liquidation("ACC")
    assert engine.cancel_liquidation(liquidation.id).state is LiquidationState.CANCELLED
    second = engine.create_liquidation("ACC")
    engine.venue = SimulatedVenue(partial_fill_ratio=D("0.5"))
    engine.run_market()
    with pytest.raises(IllegalTransition):
        engine.cancel_liquidation(second.id)


def test_withdrawing_more_than_is_available_is_refused(engine: Engine) -> None:
    engine.place_portfolio_order("ACC", OrderType.BUY, D("6000.00"), model(engine))
    with pytest.raises(InsufficientFunds):
        engine.withdraw("ACC", D("4000.01"))
    assert engine.withdraw("ACC", D("4000.00")).cash_in("EUR") == D("6000.00")


def test_an_unknown_account_is_not_found(engine: Engine) -> None:
    with pytest.raises(NotFound):
        engine.get_account("nobody")


def test_a_closed_account_cannot_trade(engine: Engine) -> None:
    engine.create_account("EUR", account_id="EMPTY")
    engine.close_account("EMPTY")
    with pytest.raises(AccountClosed):
        engine.deposit("EMPTY", D("1.00"))


@pytest.fixture
def block_engine(engine: Engine) -> Engine:
    for account_id in ("BLOCK", "ERROR", "P1", "P2", "P3"):
        engine.create_account("EUR", D("100000.00"), account_id=account_id)
    engine.add_instrument(Instrument("FX", D("1.00"), D("1")))
    return engine


def remainder_key(one_time: bool = True) -> AllocationKey:
    return AllocationKey(
        "10-20-30", UnitType.UNIT, MarginHandling.REJECT, one_time, "BLOCK", "ERROR",
        (Participant("P1", D(10000), True, 2), Participant("P2", D(20000), True, 1), Participant("P3", D(30000), False, 3)),
    )  # fmt: skip


def test_a_block_order_is_allocated_by_its_key_with_the_block_as_correlation_key(
    block_engine: Engine,
) -> None:
    key = block_engine.create_key(remainder_key())
    block = block_engine.place_block_order(key.id, "FX", Side.BUY, D(65000))
    block_engine.run_market()
    final = block_engine.get_block_order(block.id)
    assert final.state is OrderState.FILLED
    allocated = [block_engine.get_order(o.id) for o in final.orders]
    assert [(o.account_id, o.quantity, o.correlation_key) for o in allocated] == [
        ("P1", D(11667), block.id),
        ("P2", D(23333), block.id),
        ("P3", D(30000), block.id),
    ]


def test_partial_block_fills_add_up_to_the_keys_allocation(block_engine: Engine) -> None:
    key = block_engine.create_key(remainder_key())
    block = block_engine.place_block_order(key.id, "FX", Side.BUY, D(65000))
    block_engine.venue = SimulatedVenue(partial_fill_ratio=D("0.3"))
    block_engine.run_market()
    block_engine.venue = SimulatedVenue()
    block_engine.run_market()
    final = block_engine.get_block_order(block.id)
    assert final.allocated == (D(11667), D(23333), D(30000), D(0))
    positions = {a: block_engine.get_account(a).account.quantity_of("FX") for a in ("P1", "P2", "P3")}
    assert positions == {"P1": D(11667), "P2": D(23333), "P3": D(30000)}


def test_a_one_time_key_can_place_one_block_only(block_engine: Engine) -> None:
    key = block_engine.create_key(remainder_key())
    block_engine.place_block_order(key.id, "FX", Side.BUY, D(60000))
    assert block_engine.get_key(key.id).status is KeyStatus.USED
    with pytest.raises(AllocationKeyNotUsable):
        block_engine.place_block_order(key.id, "FX", Side.BUY, D(60000))


def test_one_time_keys_are_listed_only_when_asked_for(block_engine: Engine) -> None:
    one_time = block_engine.create_key(remainder_key())
    active = block_engine.create_key(remainder_key(one_time=False))
    assert [k.id for k in block_engine.list_keys()] == [active.id]
    assert [k.id for k in block_engine.list_keys([KeyStatus.ONE_TIME])] == [one_time.id]


def test_replacing_a_key_creates_a_new_one_and_invalidates_the_old(block_engine: Engine) -> None:
    old = block_engine.create_key(remainder_key(one_time=False))
    new = block_engine.replace_key(old.id, remainder_key(one_time=False))
    assert block_engine.get_key(old.id).status is KeyStatus.DELETED
    assert block_engine.get_key(new.id).key.name == old.key.name
    with pytest.raises(AllocationKeyNotUsable):
        block_engine.place_block_order(old.id, "FX", Side.BUY, D(60000))


def test_a_key_naming_an_unknown_account_is_refused(block_engine: Engine) -> None:
    key = AllocationKey(
        "k", UnitType.UNIT, MarginHandling.REJECT, False, "BLOCK", "ERROR", (Participant("GHOST", D(1)),)
    )
    with pytest.raises(NotFound):
        block_engine.create_key(key)


def test_a_key_preview_shows_the_distribution_without_placing_anything(block_engine: Engine) -> None:
    key = block_engine.create_key(remainder_key(one_time=False))
    preview = block_engine.preview_key(key.id, D(65000))
    assert [a.quantity for a in preview.allocations] == [D(11667), D(23333), D(30000)]
    assert block_engine.get_key(key.id).status is KeyStatus.ACTIVE


def test_a_subscription_needs_topics(engine: Engine) -> None:
    with pytest.raises(ValidationError):
        engine.add_subscription("https://example.com/hook", [], "whsec_AAAA")
