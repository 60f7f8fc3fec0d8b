"""Every use case of the application, on the in-memory store and on SQLite."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.errors import (
    AccountClosed,
    AccountNotEmpty,
    AllocationKeyNotUsable,
    AlreadyExists,
    BalanceLimitExceeded,
    CurrencyMismatch,
    IdempotencyKeyReused,
    IllegalTransition,
    InsufficientFunds,
    InsufficientPosition,
    MissingPrice,
    NavLimitExceeded,
    NotFound,
    ValidationError,
)
from core.instruments import AllocationLine, Instrument, Side
from core.keys import AllocationKey, MarginHandling, Participant, UnitType, error_account_of
from core.lifecycle import KeyStatus, LiquidationState, OrderState, PortfolioOrderState
from core.market import RunOutcome
from core.portfolio import OrderType
from core.records import BlockOrder, Funding, Order, ParentKind, PortfolioOrder, subject_of
from core.tenants import Scope
from core.webhooks import EventQuery
from ports import use_cases
from ports.application import Application
from tests.application.conftest import World


@pytest.fixture
def app(world: World) -> Application:
    service = world.open()
    service.accounts.open("EUR", Decimal("10000.00"), account_id="ACC")
    service.instruments.add(Instrument("AAA", Decimal("10.00"), Decimal("0.001")))
    service.instruments.add(Instrument("BBB", Decimal("25.00"), Decimal("1")))
    return service


def model(app: Application) -> str:
    return app.allocations.create(
        "60/40", [AllocationLine("AAA", Decimal("0.6")), AllocationLine("BBB", Decimal("0.4"))]
    ).id


def event_types(app: Application, record_id: str) -> list[str]:
    events = app.queries.events(EventQuery(limit=10_000))
    return [e.type for _, e in events if subject_of(e.object) == record_id]


def test_a_buy_is_submitted_with_its_orders_and_filled_by_the_market(app: Application) -> None:
    order = app.portfolio_orders.place("ACC", OrderType.BUY, Decimal("1000.00"), model(app))
    assert order.state is PortfolioOrderState.SUBMITTED
    assert [(o.state, o.side) for o in order.orders] == [(OrderState.NEW, Side.BUY)] * 2
    run = app.market.run()
    assert run.count(RunOutcome.FILLED) == 2
    assert app.portfolio_orders.get(order.id).state is PortfolioOrderState.FILLED
    view = app.accounts.show("ACC")
    # AAA: 600.00 / 10.00 = 60 units; BBB: 400.00 / 25.00 = 16 units
    assert [(p.instrument_id, p.quantity) for p in view.account.positions] == [
        ("AAA", Decimal("60.000")),
        ("BBB", Decimal(16)),
    ]
    assert (view.account.cash_in("EUR"), view.nav, view.available_cash) == (
        Decimal("9000.00"),
        Decimal("1000.00"),
        Decimal("9000.00"),
    )


def test_a_model_portfolio_can_be_named_instead_of_quoted_by_id(app: Application) -> None:
    model(app)
    order = app.portfolio_orders.place("ACC", OrderType.BUY, Decimal("100.00"), "60/40")
    assert order.allocation_id == app.allocations.get("60/40").id


def test_two_model_portfolios_cannot_share_a_name(app: Application) -> None:
    model(app)
    with pytest.raises(AlreadyExists):
        model(app)


def test_a_model_portfolio_of_unknown_instruments_is_refused(app: Application) -> None:
    with pytest.raises(ValidationError, match="GHOST"):
        app.allocations.create("ghost", [AllocationLine("GHOST", Decimal(1))])


def test_every_transition_of_a_portfolio_order_is_announced_exactly_once(app: Application) -> None:
    order = app.portfolio_orders.place("ACC", OrderType.BUY, Decimal("1000.00"), model(app))
    app.market.run()
    assert event_types(app, order.id) == [
        "PORTFOLIO_ORDER.NEW",
        "PORTFOLIO_ORDER.SUBMITTED",
        "PORTFOLIO_ORDER.PROCESSING",
        "PORTFOLIO_ORDER.FILLED",
    ]
    assert event_types(app, order.orders[0].id) == [
        "ORDER.NEW",
        "ORDER.PROCESSING",
        "ORDER.FILLED",
        "POSITION.NEW",
    ]


def test_events_carry_the_records_themselves_on_every_storage(app: Application) -> None:
    order = app.portfolio_orders.place("ACC", OrderType.BUY, Decimal("1000.00"), model(app))
    objects = [e.object for _, e in app.queries.events(EventQuery(limit=100))]
    assert [type(o) for o in objects] == [Funding, PortfolioOrder, Order, Order, PortfolioOrder]
    objects = objects[1:]
    first, last = objects[0], objects[-1]
    assert isinstance(first, PortfolioOrder)
    assert last == order
    assert (len(first.orders), len(order.orders)) == (0, 2)


def test_individual_orders_name_their_portfolio_order_as_parent_and_client_reference(
    app: Application,
) -> None:
    order = app.portfolio_orders.place("ACC", OrderType.BUY, Decimal("1000.00"), model(app))
    children = app.portfolio_orders.orders_of(order.id)
    assert {(o.parent_order_id, o.client_reference) for o in children} == {(order.id, order.id)}


def test_a_buy_beyond_the_available_cash_is_refused_and_creates_nothing(app: Application) -> None:
    before = app.queries.events()
    with pytest.raises(InsufficientFunds):
        app.portfolio_orders.place("ACC", OrderType.BUY, Decimal("10000.01"), model(app))
    assert app.portfolio_orders.all() == []
    assert app.queries.events() == before


def test_cash_promised_to_open_buys_is_not_available_twice(app: Application) -> None:
    allocation = model(app)
    app.portfolio_orders.place("ACC", OrderType.BUY, Decimal("6000.00"), allocation)
    with pytest.raises(InsufficientFunds):
        app.portfolio_orders.place("ACC", OrderType.BUY, Decimal("4000.01"), allocation)


def test_the_same_idempotency_key_and_request_return_the_first_order(app: Application) -> None:
    allocation = model(app)
    first = app.portfolio_orders.place(
        "ACC", OrderType.BUY, Decimal("100.00"), allocation, idempotency_key="k"
    )
    again = app.portfolio_orders.place("ACC", OrderType.BUY, Decimal("100.00"), "60/40", idempotency_key="k")
    assert again == first
    assert len(app.portfolio_orders.all()) == 1


def test_the_same_idempotency_key_with_another_request_is_refused(app: Application) -> None:
    allocation = model(app)
    app.portfolio_orders.place("ACC", OrderType.BUY, Decimal("100.00"), allocation, idempotency_key="k")
    with pytest.raises(IdempotencyKeyReused):
        app.portfolio_orders.place("ACC", OrderType.BUY, Decimal("200.00"), allocation, idempotency_key="k")


def test_an_empty_idempotency_key_is_refused(app: Application) -> None:
    with pytest.raises(ValidationError, match="idempotency key"):
        app.portfolio_orders.place("ACC", OrderType.BUY, Decimal("100.00"), model(app), idempotency_key=" ")


def test_a_submitted_order_can_be_cancelled_with_its_orders(app: Application) -> None:
    order = app.portfolio_orders.place("ACC", OrderType.BUY, Decimal("100.00"), model(app))
    cancelled = app.portfolio_orders.cancel(order.id)
    assert cancelled.state is PortfolioOrderState.CANCELLED
    assert {o.state for o in cancelled.orders} == {OrderState.CANCELLED}
    assert app.accounts.show("ACC").available_cash == Decimal("10000.00")
    assert app.market.run().orders == ()


def test_a_processing_order_cannot_be_cancelled_and_nothing_changes(world: World, app: Application) -> None:
    order = app.portfolio_orders.place("ACC", OrderType.BUY, Decimal("1000.00"), model(app))
    world.open(partial_fill_ratio="0.5").market.run()
    before = app.portfolio_orders.get(order.id)
    events_before = app.queries.events(EventQuery(limit=10_000))
    with pytest.raises(IllegalTransition):
        app.portfolio_orders.cancel(order.id)
    assert app.portfolio_orders.get(order.id) == before
    assert app.queries.events(EventQuery(limit=10_000)) == events_before


def test_partial_fills_keep_orders_processing_until_the_rest_is_filled(
    world: World, app: Application
) -> None:
    order = app.portfolio_orders.place("ACC", OrderType.BUY, Decimal("1000.00"), model(app))
    assert world.open(partial_fill_ratio="0.5").market.run().count(RunOutcome.PARTLY_FILLED) == 2
    assert app.portfolio_orders.get(order.id).state is PortfolioOrderState.PROCESSING
    app.market.run()
    assert app.portfolio_orders.get(order.id).state is PortfolioOrderState.FILLED
    assert [app.queries.order(o.id).filled_quantity for o in order.orders] == [Decimal("60.000"), Decimal(16)]


def test_a_rejection_at_the_trading_partner_cancels_the_portfolio_order_with_the_reason(
    world: World, app: Application
) -> None:
    order = app.portfolio_orders.place("ACC", OrderType.BUY, Decimal("1000.00"), model(app))
    run = world.open(reject=("BBB",)).market.run()
    assert [(e.outcome, e.reason) for e in run.cancelled] == [
        (RunOutcome.CANCELLED, "the trading partner rejected BBB")
    ]
    final = app.portfolio_orders.get(order.id)
    assert (final.state, final.reason) == (PortfolioOrderState.CANCELLED, "the trading partner rejected BBB")
    assert [o.state for o in final.orders] == [OrderState.FILLED, OrderState.CANCELLED]
    assert app.accounts.show("ACC").account.reserved_in("EUR") == 0


def test_a_sell_beyond_ninety_percent_of_nav_is_refused(app: Application) -> None:
    app.portfolio_orders.place("ACC", OrderType.BUY, Decimal("1000.00"), model(app))
    app.market.run()
    with pytest.raises(NavLimitExceeded):
        app.portfolio_orders.place("ACC", OrderType.SELL, Decimal("900.01"))


def test_a_cash_amount_is_kept_with_the_currencys_minor_units(app: Application) -> None:
    order = app.portfolio_orders.place("ACC", OrderType.BUY, Decimal("100"), model(app))
    assert str(order.cash_amount) == "100.00"


def test_a_liquidation_order_sells_everything_and_reports_its_cash_amount(app: Application) -> None:
    app.portfolio_orders.place("ACC", OrderType.BUY, Decimal("1000.00"), model(app))
    app.market.run()
    order = app.portfolio_orders.place("ACC", OrderType.LIQUIDATION)
    app.market.run()
    final = app.portfolio_orders.get(order.id)
    assert (final.state, final.cash_amount, final.management_fee) == (
        PortfolioOrderState.FILLED,
        Decimal("1000.00"),
        Decimal("0.00"),
    )
    assert app.accounts.show("ACC").account.positions == ()


def test_an_account_liquidation_runs_new_processing_filled_with_its_cash_amount(app: Application) -> None:
    app.portfolio_orders.place("ACC", OrderType.BUY, Decimal("1000.00"), model(app))
    app.market.run()
    liquidation = app.liquidations.create("ACC")
    assert liquidation.cash_amount is None
    app.market.run()
    final = app.liquidations.get(liquidation.id)
    assert (final.state, final.cash_amount) == (LiquidationState.FILLED, Decimal("1000.00"))
    assert event_types(app, liquidation.id) == [
        "ACCOUNT_LIQUIDATION.NEW",
        "ACCOUNT_LIQUIDATION.PROCESSING",
        "ACCOUNT_LIQUIDATION.FILLED",
    ]
    assert [x.id for x in app.liquidations.all(account_id="ACC")] == [liquidation.id]


def test_an_account_liquidation_can_be_cancelled_only_while_new(world: World, app: Application) -> None:
    app.portfolio_orders.place("ACC", OrderType.BUY, Decimal("1000.00"), model(app))
    app.market.run()
    liquidation = app.liquidations.create("ACC")
    assert app.liquidations.cancel(liquidation.id).state is LiquidationState.CANCELLED
    second = app.liquidations.create("ACC")
    world.open(partial_fill_ratio="0.5").market.run()
    with pytest.raises(IllegalTransition):
        app.liquidations.cancel(second.id)


def test_withdrawing_more_than_is_available_is_refused(app: Application) -> None:
    app.portfolio_orders.place("ACC", OrderType.BUY, Decimal("6000.00"), model(app))
    with pytest.raises(InsufficientFunds):
        app.accounts.withdraw("ACC", Decimal("4000.01"))
    assert app.accounts.withdraw("ACC", Decimal("4000.00")).cash_in("EUR") == Decimal("6000.00")


def test_an_account_opened_with_negative_cash_is_refused(app: Application) -> None:
    with pytest.raises(ValidationError, match="must not be negative"):
        app.accounts.open("EUR", Decimal("-5"), account_id="NEG")
    with pytest.raises(NotFound):
        app.accounts.get("NEG")


def test_an_account_id_that_exists_is_refused_as_already_existing(app: Application) -> None:
    with pytest.raises(AlreadyExists):
        app.accounts.open("EUR", account_id="ACC")


def test_an_unknown_account_is_not_found(app: Application) -> None:
    with pytest.raises(NotFound):
        app.accounts.show("nobody")


def test_a_closed_account_cannot_trade(app: Application) -> None:
    app.accounts.open("EUR", account_id="EMPTY")
    app.accounts.close("EMPTY")
    with pytest.raises(AccountClosed):
        app.accounts.deposit("EMPTY", Decimal("1.00"))


def test_an_account_that_holds_anything_cannot_be_closed(app: Application) -> None:
    with pytest.raises(AccountNotEmpty, match="still holds"):
        app.accounts.close("ACC")


@pytest.fixture
def blocks(app: Application) -> Application:
    for account_id in ("BLOCK", "ERROR", "P1", "P2", "P3"):
        app.accounts.open("EUR", Decimal("100000.00"), account_id=account_id)
    app.instruments.add(Instrument("FX", Decimal("1.00"), Decimal("1")))
    return app


def remainder_key(one_time: bool = True) -> AllocationKey:
    return AllocationKey(
        "10-20-30", UnitType.UNIT, MarginHandling.REJECT, one_time, "BLOCK", "ERROR",
        (Participant("P1", Decimal(10000), True, 2), Participant("P2", Decimal(20000), True, 1), Participant("P3", Decimal(30000), False, 3)),
    )  # fmt: skip


def test_a_block_order_is_allocated_by_its_key_with_the_block_as_correlation_key(blocks: Application) -> None:
    key = blocks.keys.create(remainder_key())
    block = blocks.blocks.place(key.id, "FX", Side.BUY, Decimal(65000))
    blocks.market.run()
    view = blocks.blocks.show(block.id)
    assert view.block.state is OrderState.FILLED
    assert [(o.account_id, o.quantity, o.correlation_key, o.parent_order_id) for o in view.orders] == [
        ("P1", Decimal(11667), block.id, block.id),
        ("P2", Decimal(23333), block.id, block.id),
        ("P3", Decimal(30000), block.id, block.id),
    ]
    assert view.block.recipients == ("P1", "P2", "P3", "ERROR")


def test_keys_naming_more_accounts_than_one_read_asks_for_are_listed_to_whoever_sees_them_all(
    app: Application, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(use_cases, "IDS_PER_READ", 2)
    desk, alice = Scope.of_client("acme"), Scope.of_user("acme", "alice")
    for account_id in ("BLOCK", "ERROR", "P1", "P2", "P3"):
        app.accounts.open("EUR", Decimal("100.00"), account_id=account_id, scope=desk)
    made = app.keys.create(remainder_key(one_time=False), scope=desk)
    assert [k.id for k in app.keys.all(scope=desk)] == [made.id], (
        "the desk sees the key and its five accounts"
    )
    assert app.keys.all(scope=alice) == [], "alice sees none of them"


def test_partial_block_fills_add_up_to_the_keys_allocation(world: World, blocks: Application) -> None:
    key = blocks.keys.create(remainder_key())
    block = blocks.blocks.place(key.id, "FX", Side.BUY, Decimal(65000))
    world.open(partial_fill_ratio="0.3").market.run()
    blocks.market.run()
    final = blocks.blocks.get(block.id)
    assert final.allocated == (Decimal(11667), Decimal(23333), Decimal(30000), Decimal(0))
    positions = {a: blocks.accounts.get(a).quantity_of("FX") for a in ("P1", "P2", "P3")}
    assert positions == {"P1": Decimal(11667), "P2": Decimal(23333), "P3": Decimal(30000)}


def test_a_block_between_yen_accounts_books_whole_yen(app: Application) -> None:
    for account_id in ("JB", "JE", "J1", "J2"):
        app.accounts.open("JPY", Decimal(10_000_000), account_id=account_id)
    app.instruments.add(Instrument("T7203", Decimal("2843.17"), Decimal("1")))
    key = app.keys.create(AllocationKey(
        "yen", UnitType.UNIT, MarginHandling.REJECT, False, "JB", "JE",
        (Participant("J1", Decimal(101)), Participant("J2", Decimal(250))),
    ))  # fmt: skip
    block = app.blocks.place(key.id, "T7203", Side.BUY, Decimal(351))
    assert block.currency == "JPY"
    assert app.instruments.get("T7203").currency == "JPY"
    app.market.run()
    orders = app.blocks.show(block.id).orders
    # 351 × 2843.17 = 997 952.67 JPY, booked as 997 953 whole yen and apportioned 101 : 250
    assert [o.traded_value for o in orders] == [Decimal(287160), Decimal(710793)]
    assert sum(o.traded_value for o in orders) == Decimal(997953)
    assert [app.accounts.get(a).cash_in("JPY") for a in ("J1", "J2")] == [Decimal(9712840), Decimal(9289207)]


def test_an_instrument_quoted_in_another_currency_than_the_accounts_is_refused(blocks: Application) -> None:
    blocks.instruments.add(Instrument("USDX", Decimal("1.00"), currency="USD"))
    key = blocks.keys.create(remainder_key(one_time=False))
    with pytest.raises(CurrencyMismatch):
        blocks.blocks.place(key.id, "USDX", Side.BUY, Decimal(60000))
    assert blocks.blocks.all() == []


@pytest.mark.parametrize("amount", [Decimal(0), Decimal(-5)])
def test_a_block_of_nothing_or_less_is_refused_and_nothing_is_stored(
    blocks: Application, amount: Decimal
) -> None:
    key = blocks.keys.create(remainder_key(one_time=False))
    with pytest.raises(ValidationError, match="greater than zero"):
        blocks.blocks.place(key.id, "FX", Side.BUY, amount)
    assert blocks.blocks.all() == []
    assert [e.type for _, e in blocks.queries.events(EventQuery(topic="BLOCK_ORDER"))] == []


def test_a_sell_block_larger_than_the_holdings_is_refused_at_placement(blocks: Application) -> None:
    key = blocks.keys.create(remainder_key(one_time=False))
    with pytest.raises(InsufficientPosition) as refused:
        blocks.blocks.place(key.id, "FX", Side.SELL, Decimal(1_000_000))
    assert [a["account_id"] for a in refused.value.details["accounts"]] == ["P1", "P2", "P3"]
    assert blocks.blocks.all() == []


def test_a_sell_block_holds_its_units_back_so_a_liquidation_cannot_sell_them_too(blocks: Application) -> None:
    key = blocks.keys.create(remainder_key(one_time=False))
    blocks.blocks.place(key.id, "FX", Side.BUY, Decimal(60000))
    blocks.market.run()
    sell = blocks.blocks.place(key.id, "FX", Side.SELL, Decimal(60000))
    assert blocks.accounts.get("P3").held_units == {"FX": Decimal(30000)}
    with pytest.raises(InsufficientPosition, match="hold back units"):
        blocks.liquidations.create("P3")
    blocks.market.run()
    assert blocks.blocks.get(sell.id).state is OrderState.FILLED
    assert blocks.accounts.get("P3").held_units == {}


def test_a_block_can_be_cancelled_by_the_client_before_it_is_filled(blocks: Application) -> None:
    key = blocks.keys.create(remainder_key(one_time=False))
    block = blocks.blocks.place(key.id, "FX", Side.BUY, Decimal(60000))
    cancelled = blocks.blocks.cancel(block.id)
    assert (cancelled.state, cancelled.reason) == (OrderState.CANCELLED, "cancelled by the client")
    assert blocks.market.run().blocks == ()
    with pytest.raises(IllegalTransition):
        blocks.blocks.cancel(block.id)


def test_block_orders_are_listed_by_state(blocks: Application) -> None:
    key = blocks.keys.create(remainder_key(one_time=False))
    first = blocks.blocks.place(key.id, "FX", Side.BUY, Decimal(60000))
    blocks.market.run()
    second = blocks.blocks.place(key.id, "FX", Side.BUY, Decimal(60000))
    assert [b.id for b in blocks.blocks.all()] == [first.id, second.id]
    assert [b.id for b in blocks.blocks.all(state="NEW")] == [second.id]


def test_a_one_time_key_can_place_one_block_only(blocks: Application) -> None:
    key = blocks.keys.create(remainder_key())
    blocks.blocks.place(key.id, "FX", Side.BUY, Decimal(60000))
    assert blocks.keys.get(key.id).status is KeyStatus.USED
    with pytest.raises(AllocationKeyNotUsable):
        blocks.blocks.place(key.id, "FX", Side.BUY, Decimal(60000))


def test_key_statuses_are_announced(blocks: Application) -> None:
    key = blocks.keys.create(remainder_key())
    blocks.blocks.place(key.id, "FX", Side.BUY, Decimal(60000))
    events = blocks.queries.events(EventQuery(topic="ALLOCATION_KEY"))
    assert [e.type for _, e in events] == ["ALLOCATION_KEY.ONE_TIME", "ALLOCATION_KEY.USED"]


def test_one_time_keys_are_listed_only_when_asked_for(blocks: Application) -> None:
    one_time = blocks.keys.create(remainder_key())
    active = blocks.keys.create(remainder_key(one_time=False))
    assert [k.id for k in blocks.keys.all()] == [active.id]
    assert [k.id for k in blocks.keys.all([KeyStatus.ONE_TIME])] == [one_time.id]


def test_a_one_time_key_unused_for_a_week_reads_as_expired(world: World, blocks: Application) -> None:
    key = blocks.keys.create(remainder_key())
    world.clock.advance(days=7)
    assert blocks.keys.get(key.id).status is KeyStatus.EXPIRED
    with pytest.raises(AllocationKeyNotUsable):
        blocks.blocks.place(key.id, "FX", Side.BUY, Decimal(60000))


def test_replacing_a_key_creates_a_new_one_and_invalidates_the_old(blocks: Application) -> None:
    old = blocks.keys.create(remainder_key(one_time=False))
    new = blocks.keys.replace(old.id, remainder_key(one_time=False))
    assert blocks.keys.get(old.id).status is KeyStatus.DELETED
    assert blocks.keys.get(new.id).key.name == old.key.name
    with pytest.raises(AllocationKeyNotUsable):
        blocks.blocks.place(old.id, "FX", Side.BUY, Decimal(60000))


def test_a_key_naming_an_unknown_account_is_refused(blocks: Application) -> None:
    key = AllocationKey(
        "k",
        UnitType.UNIT,
        MarginHandling.REJECT,
        False,
        "BLOCK",
        "ERROR",
        (Participant("GHOST", Decimal(1)),),
    )
    with pytest.raises(NotFound):
        blocks.keys.create(key)


def test_a_key_preview_shows_the_distribution_without_placing_anything(blocks: Application) -> None:
    key = blocks.keys.create(remainder_key(one_time=False))
    preview = blocks.keys.preview(key.id, Decimal(65000))
    assert [a.quantity for a in preview.allocations] == [Decimal(11667), Decimal(23333), Decimal(30000)]
    assert blocks.keys.get(key.id).status is KeyStatus.ACTIVE
    assert blocks.blocks.all() == []


def test_an_instrument_without_a_currency_takes_the_first_trading_accounts(app: Application) -> None:
    app.instruments.add(Instrument("CCC", Decimal("5.00")))
    app.allocations.create("all ccc", [AllocationLine("CCC", Decimal(1))])
    app.portfolio_orders.place("ACC", OrderType.BUY, Decimal("50.00"), "all ccc")
    assert app.instruments.get("CCC").currency == "EUR"
    app.accounts.open("USD", Decimal("100.00"), account_id="YANKEE")
    with pytest.raises(CurrencyMismatch):
        app.portfolio_orders.place("YANKEE", OrderType.BUY, Decimal("50.00"), "all ccc")


def test_a_subscription_needs_known_topics(app: Application) -> None:
    with pytest.raises(ValidationError, match="at least one topic"):
        app.webhooks.subscribe("https://example.com/hook", [], "whsec_" + "A" * 32)
    with pytest.raises(ValidationError, match="unknown topic NOPE"):
        app.webhooks.subscribe("https://example.com/hook", ["NOPE"], "whsec_" + "A" * 32)
    assert app.webhooks.all() == []


def test_a_block_snapshot_in_its_event_equals_the_stored_block(blocks: Application) -> None:
    key = blocks.keys.create(remainder_key())
    block = blocks.blocks.place(key.id, "FX", Side.BUY, Decimal(65000))
    blocks.market.run()
    announced = [e.object for _, e in blocks.queries.events(EventQuery(limit=1000, topic="BLOCK_ORDER"))]
    assert isinstance(announced[-1], BlockOrder)
    assert announced[-1] == blocks.blocks.get(block.id)


def test_a_buy_block_holds_its_cash_back_so_it_cannot_be_withdrawn_before_the_block_fills(
    blocks: Application,
) -> None:
    key = blocks.keys.create(remainder_key(one_time=False))
    block = blocks.blocks.place(key.id, "FX", Side.BUY, Decimal(60000))
    with pytest.raises(InsufficientFunds, match=r"70000\.00 EUR available"):
        blocks.accounts.withdraw("P3", Decimal("99000.00"))
    blocks.market.run()
    assert blocks.blocks.get(block.id).state is OrderState.FILLED
    assert blocks.accounts.show("P3").available_cash == Decimal("70000.00")


def test_a_buy_block_whose_price_rose_beyond_the_accounts_cash_is_cancelled(
    world: World, blocks: Application
) -> None:
    key = blocks.keys.create(remainder_key(one_time=False))
    block = blocks.blocks.place(key.id, "FX", Side.BUY, Decimal(60000))
    blocks.instruments.set_price("FX", Decimal("4.00"))  # P3's 30 000 now cost 120 000.00 of its 100 000.00
    blocks.market.run()
    assert blocks.blocks.get(block.id).state is OrderState.CANCELLED
    assert {a: blocks.accounts.get(a).cash_in("EUR") for a in ("P1", "P2", "P3")} == dict.fromkeys(
        ("P1", "P2", "P3"), Decimal("100000.00")
    )


def test_an_account_whose_block_order_is_open_cannot_be_closed(blocks: Application) -> None:
    blocks.accounts.open("EUR", Decimal("100.00"), account_id="SMALL")
    key = blocks.keys.create(
        AllocationKey("with small", UnitType.UNIT, MarginHandling.REJECT, False, "BLOCK", "ERROR",
                      (Participant("P1", Decimal(1)), Participant("SMALL", Decimal(1))))
    )  # fmt: skip
    blocks.blocks.place(key.id, "FX", Side.BUY, Decimal(10))
    with pytest.raises(InsufficientFunds):
        blocks.accounts.withdraw("SMALL", Decimal("100.00"))
    with pytest.raises(AccountNotEmpty):
        blocks.accounts.close("SMALL")


def unfunded_error_key() -> AllocationKey:
    """The block-trading document's first key on the block account ``DESK``, with the error account a key naming
    none gets: ``DESK-ERROR``, opened with the key, with no cash."""
    return AllocationKey(
        "10-20-30", UnitType.UNIT, MarginHandling.REJECT, True, "DESK", error_account_of("DESK", None),
        (Participant("P1", Decimal(10000)), Participant("P2", Decimal(20000)), Participant("P3", Decimal(30000))),
    )  # fmt: skip


def test_what_an_unfunded_error_account_must_buy_is_paid_by_its_block_account_in_the_journal(
    blocks: Application,
) -> None:
    blocks.accounts.open("EUR", Decimal("6000.00"), account_id="DESK")
    key = blocks.keys.create(unfunded_error_key())
    block = blocks.blocks.place(key.id, "FX", Side.BUY, Decimal(65000))
    paid = [e for e in blocks.ledger.statement("DESK-ERROR") if e.cause.kind.value == "ERROR_ACCOUNT_FUNDING"]
    assert [(e.cause.id, e.amount) for e in paid] == [(block.id, Decimal("5000.00"))]
    assert blocks.accounts.show("DESK").available_cash == Decimal("1000.00")
    blocks.market.run()
    assert blocks.blocks.get(block.id).state is OrderState.FILLED
    error = blocks.accounts.get("DESK-ERROR")
    assert (error.cash_in("EUR"), [(p.instrument_id, p.quantity) for p in error.positions]) == (
        Decimal("0.00"), [("FX", Decimal(5000))],
    )  # fmt: skip
    assert blocks.ledger.verify().balanced


def test_a_block_whose_error_account_and_block_account_cannot_pay_the_remainder_is_refused_naming_both(
    blocks: Application,
) -> None:
    blocks.accounts.open("EUR", Decimal("4999.99"), account_id="DESK")
    key = blocks.keys.create(unfunded_error_key())
    with pytest.raises(
        InsufficientFunds, match="block account DESK, which pays what its error account"
    ) as refused:
        blocks.blocks.place(key.id, "FX", Side.BUY, Decimal(65000))
    assert refused.value.details["block_account"] == {"account_id": "DESK", "free": "4999.99"}
    assert blocks.blocks.all() == []
    assert blocks.accounts.show("DESK").available_cash == Decimal("4999.99")
    assert blocks.ledger.statement("DESK-ERROR") == []


def test_a_buy_block_needs_a_price_to_check_buying_power(blocks: Application) -> None:
    blocks.instruments.add(Instrument("UNPRICED"))
    key = blocks.keys.create(remainder_key(one_time=False))
    with pytest.raises(MissingPrice):
        blocks.blocks.place(key.id, "UNPRICED", Side.BUY, Decimal(60000))


def test_a_key_over_accounts_of_different_currencies_is_refused(blocks: Application) -> None:
    blocks.accounts.open("USD", account_id="YANKEE")
    mixed = AllocationKey("mixed", UnitType.UNIT, MarginHandling.REJECT, False, "BLOCK", "ERROR",
                          (Participant("P1", Decimal(1)), Participant("YANKEE", Decimal(1))))  # fmt: skip
    with pytest.raises(CurrencyMismatch):
        blocks.keys.create(mixed)


def test_a_deposit_beyond_eighteen_digits_is_refused_naming_the_amount_and_the_account_stays_readable(
    app: Application,
) -> None:
    app.accounts.deposit("ACC", Decimal("999999999999989999.00"))
    with pytest.raises(BalanceLimitExceeded, match="would give account ACC a cash balance of") as refused:
        app.accounts.deposit("ACC", Decimal("1.00"))
    assert refused.value.details == {
        "field": "amount", "amount": "1.00", "cash": "999999999999999999.00", "currency": "EUR",
    }  # fmt: skip
    assert [a.id for a in app.accounts.all()] == ["ACC"]
    assert app.accounts.show("ACC").available_cash == Decimal("999999999999999999.00")


def test_a_model_portfolio_cannot_be_named_after_another_ones_id(app: Application) -> None:
    first = model(app)
    with pytest.raises(AlreadyExists):
        app.allocations.create(first, [AllocationLine("AAA", Decimal(1))])


def test_an_instrument_minimum_order_is_in_its_currencys_minor_units(app: Application) -> None:
    with pytest.raises(ValidationError, match="more decimals than EUR"):
        app.instruments.add(Instrument("FINE", Decimal(1), min_order_amount=Decimal("0.001"), currency="EUR"))
    app.instruments.add(Instrument("LATER", Decimal(1), min_order_amount=Decimal("0.001")))
    app.allocations.create("later", [AllocationLine("LATER", Decimal(1))])
    with pytest.raises(ValidationError, match="more decimals than EUR"):
        app.portfolio_orders.place("ACC", OrderType.BUY, Decimal("10.00"), "later")


def test_available_cash_is_written_with_the_currencys_minor_units(app: Application) -> None:
    app.accounts.open("EUR", account_id="ZERO")
    assert str(app.accounts.show("ZERO").available_cash) == "0.00"
    assert str(app.accounts.open("EUR", Decimal("-0"), account_id="MINUS").cash_in("EUR")) == "0.00"


def test_an_explanation_is_found_by_the_id_of_a_block_or_of_a_portfolio_order(blocks: Application) -> None:
    block = blocks.blocks.place(blocks.keys.create(remainder_key()).id, "FX", Side.BUY, Decimal(65000))
    order = blocks.portfolio_orders.place("ACC", OrderType.BUY, Decimal("1000.00"), model(blocks))
    explained = [blocks.queries.explanation(block.id), blocks.queries.explanation(order.id)]
    assert [(e.kind, e.id, e.explanation) for e in explained] == [
        (ParentKind.BLOCK_ORDER, block.id, block.explanation),
        (ParentKind.PORTFOLIO_ORDER, order.id, order.explanation),
    ]
    assert all(e.explanation is not None and e.explanation.stages for e in explained)


def test_another_clients_block_is_not_found_by_its_explanation_exactly_like_a_missing_one(
    blocks: Application,
) -> None:
    block = blocks.blocks.place(blocks.keys.create(remainder_key()).id, "FX", Side.BUY, Decimal(65000))
    with pytest.raises(NotFound) as hidden:
        blocks.queries.explanation(block.id, scope=Scope.of_user("globex", "carol"))
    with pytest.raises(NotFound) as missing:
        blocks.queries.explanation("missing")
    assert hidden.value.message.replace(block.id, "missing") == missing.value.message
    assert hidden.value.details == {**missing.value.details, "id": block.id}
