"""Money that always adds up: the journal under every movement, on the in-memory store and on SQLite.

Each test here is one of the leaks the journal closes; each failed before it existed.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from core.errors import (
    InstrumentEnded,
    InsufficientFunds,
    InsufficientPosition,
    NavLimitExceeded,
    ValidationError,
)
from core.fills import CostSchedule, PositionEvent, PositionEventType
from core.instruments import AllocationLine, AssetType, Instrument, Side
from core.journal import FEE_INCOME, FUNDING, Asset, CauseKind
from core.keys import AllocationKey, MarginHandling, Participant, UnitType
from core.lifecycle import OrderState
from core.portfolio import FeeSchedule, OrderType
from core.records import Funding, FundingKind, ParentKind
from core.webhooks import EventQuery
from ports.application import Application
from tests.application.conftest import World


@pytest.fixture
def app(world: World) -> Application:
    service = world.open()
    service.instruments.add(Instrument("AAA", Decimal("10.00"), Decimal("0.001"), currency="EUR"))
    service.instruments.add(Instrument("BBB", Decimal("25.00"), Decimal("1"), currency="EUR"))
    service.allocations.create(
        "60/40", [AllocationLine("AAA", Decimal("0.6")), AllocationLine("BBB", Decimal("0.4"))]
    )
    return service


def cash_postings(app: Application, account_id: str) -> Decimal:
    """What the journal says the account holds in EUR: the sum of its postings."""
    return sum((line.amount for line in app.ledger.statement(account_id, "EUR")), Decimal(0))


def test_a_liquidation_charges_the_management_fee_once_and_moves_its_date(
    world: World, app: Application
) -> None:
    since = world.clock.moment.date() - dt.timedelta(days=365)
    app.accounts.open("EUR", Decimal("10000.00"), FeeSchedule(Decimal("0.01"), since), account_id="FEE")
    app.portfolio_orders.place("FEE", OrderType.BUY, Decimal("10000.00"), "60/40")
    app.market.run()
    liquidation = app.portfolio_orders.place("FEE", OrderType.LIQUIDATION)
    app.market.run()
    settled = app.portfolio_orders.get(liquidation.id)
    # proceeds 10 000.00, no costs, fee 10 000.00 × 1 % × 365 / 365 = 100.00
    assert (settled.cash_amount, settled.management_fee) == (Decimal("9900.00"), Decimal("100.00"))
    account = app.accounts.get("FEE")
    assert account.cash_in("EUR") == Decimal("9900.00") == cash_postings(app, "FEE")
    assert account.fee_schedule is not None
    assert account.fee_schedule.last_charged == world.clock.moment.date()
    fees = [b.amount for b in app.ledger.balances() if b.ledger == FEE_INCOME]
    assert fees == [Decimal("100.00")]
    app.portfolio_orders.place("FEE", OrderType.BUY, Decimal("5000.00"), "60/40")
    app.market.run()
    second = app.liquidations.create("FEE")
    app.market.run()
    assert app.liquidations.get(second.id).management_fee == Decimal(
        "0.00"
    )  # the same days are not charged twice


def test_a_fee_due_beyond_the_cash_available_is_capped_and_never_takes_cash_held_for_open_orders(
    app: Application,
) -> None:
    fees = FeeSchedule(Decimal("0.9"), dt.date(1900, 1, 1))
    app.accounts.open("EUR", Decimal("1500.00"), fees, account_id="CAP")
    app.portfolio_orders.place("CAP", OrderType.BUY, Decimal("1000.00"), "60/40")
    app.market.run()
    liquidation = app.portfolio_orders.place("CAP", OrderType.LIQUIDATION)
    held = app.portfolio_orders.place("CAP", OrderType.BUY, Decimal("300.00"), "60/40")
    app.market.run()  # the liquidation is older: it settles before the buy executes
    settled = app.portfolio_orders.get(liquidation.id)
    # cash 1500.00 after the sales, 300.00 held back by the open buy: 1200.00 is all the fee may take
    assert (settled.state.value, settled.management_fee, settled.cash_amount) == (
        "FILLED",
        Decimal("1200.00"),
        Decimal("-200.00"),
    )
    assert app.portfolio_orders.get(held.id).state.value == "FILLED"
    assert app.accounts.get("CAP").cash_in("EUR") == Decimal(
        "20.00"
    )  # what the buy could not spend on whole units
    memo = [line.memo for line in app.ledger.statement("CAP") if line.cause.kind is CauseKind.MANAGEMENT_FEE]
    assert memo == [
        "management fee of 1200.00 EUR on the liquidation (114272.88 due, capped at the cash available)"
    ]
    assert app.ledger.verify().balanced


def test_an_account_liquidation_moves_its_cash_amount_exactly(world: World, app: Application) -> None:
    since = world.clock.moment.date() - dt.timedelta(days=91)
    app.accounts.open("EUR", Decimal("4000.00"), FeeSchedule(Decimal("0.0075"), since), account_id="LIQ")
    app.portfolio_orders.place("LIQ", OrderType.BUY, Decimal("4000.00"), "60/40")
    app.market.run()
    before = app.accounts.get("LIQ").cash_in("EUR")
    liquidation = app.liquidations.create("LIQ")
    app.market.run()
    done = app.liquidations.get(liquidation.id)
    assert done.cash_amount is not None
    assert app.accounts.get("LIQ").cash_in("EUR") - before == done.cash_amount
    assert done.management_fee == Decimal("7.48")  # 4 000.00 × 0.75 % × 91 / 365, half-even


def test_a_second_nominal_sell_cannot_sell_what_the_first_holds_back(app: Application) -> None:
    app.accounts.open("EUR", Decimal("1000.00"), account_id="NAV")
    app.portfolio_orders.place("NAV", OrderType.BUY, Decimal("1000.00"), "60/40")
    app.market.run()
    app.portfolio_orders.place("NAV", OrderType.SELL, Decimal("900.00"))
    with pytest.raises(NavLimitExceeded) as refused:
        app.portfolio_orders.place("NAV", OrderType.SELL, Decimal("900.00"))
    assert refused.value.details["max_allowed"] == "0.00"
    app.market.run()
    assert app.accounts.show("NAV").nav == Decimal(
        "110.00"
    )  # BBB sells whole units: 14 of the 14.4 asked for


def test_a_liquidation_cannot_sell_what_an_open_sell_holds_back(app: Application) -> None:
    app.accounts.open("EUR", Decimal("1000.00"), account_id="BUSY")
    app.portfolio_orders.place("BUSY", OrderType.BUY, Decimal("1000.00"), "60/40")
    app.market.run()
    app.portfolio_orders.place("BUSY", OrderType.SELL, Decimal("100.00"))
    with pytest.raises(InsufficientPosition):
        app.liquidations.create("BUSY")


def test_a_buy_holds_back_its_estimated_costs_and_never_takes_cash_below_zero(app: Application) -> None:
    costs = CostSchedule(commission_rate=Decimal("0.01"), commission_minimum=Decimal("1.00"))
    app.accounts.open("EUR", Decimal("1000.00"), costs=costs, account_id="COST")
    with pytest.raises(InsufficientFunds, match="estimated costs"):
        app.portfolio_orders.place("COST", OrderType.BUY, Decimal("1000.00"), "60/40")
    app.portfolio_orders.place("COST", OrderType.BUY, Decimal("990.00"), "60/40")
    app.market.run()
    account = app.accounts.get("COST")
    assert account.cash_in("EUR") >= 0
    assert account.cash_in("EUR") == cash_postings(app, "COST")
    assert account.reserved_in("EUR") == 0


@pytest.fixture
def blocks(app: Application) -> Application:
    for account_id in ("BLOCK", "ERROR", "P1", "P2"):
        app.accounts.open("EUR", Decimal("100000.00"), account_id=account_id)
    app.instruments.add(Instrument("FX", Decimal("1.00"), Decimal("1"), currency="EUR"))
    return app


def key(app: Application) -> str:
    return app.keys.create(
        AllocationKey("1-2", UnitType.UNIT, MarginHandling.REJECT, False, "BLOCK", "ERROR",
                      (Participant("P1", Decimal(10)), Participant("P2", Decimal(20))))
    ).id  # fmt: skip


def test_a_blocks_allocated_orders_exist_from_placement_in_each_accounts_order_list(
    blocks: Application,
) -> None:
    block = blocks.blocks.place(key(blocks), "FX", Side.BUY, Decimal(300))
    for account_id, quantity in (("P1", Decimal(100)), ("P2", Decimal(200))):
        listed = blocks.queries.orders(account_id=account_id)
        assert [(o.state, o.quantity, o.correlation_key, o.parent_kind) for o in listed] == [
            (OrderState.NEW, quantity, block.id, ParentKind.BLOCK_ORDER)
        ]
    blocks.market.run()
    filled = blocks.blocks.show(block.id).orders
    assert [(o.account_id, o.state, o.filled_quantity) for o in filled] == [
        ("P1", OrderState.FILLED, Decimal(100)),
        ("P2", OrderState.FILLED, Decimal(200)),
    ]
    positions = [e.object for _, e in blocks.queries.events(EventQuery(limit=100, topic="POSITION"))]
    assert {p.correlation_key for p in positions if isinstance(p, PositionEvent)} == {block.id}


def test_each_partial_fill_of_a_block_is_allocated_to_the_same_orders_at_its_own_price(
    world: World, blocks: Application
) -> None:
    block = blocks.blocks.place(key(blocks), "FX", Side.BUY, Decimal(300))
    world.open(partial_fill_ratio="0.5").market.run()
    blocks.instruments.set_price("FX", Decimal("1.10"))
    blocks.market.run()
    orders = blocks.blocks.show(block.id).orders
    # 150 at 1.00 (50 / 100), then 150 at 1.10 (50 / 100): each fill's values sum to the fill's value
    assert [(o.account_id, o.filled_quantity, o.traded_value) for o in orders] == [
        ("P1", Decimal(100), Decimal("105.00")),
        ("P2", Decimal(200), Decimal("210.00")),
    ]


def test_a_parent_is_announced_processing_before_any_of_its_orders_is_filled(app: Application) -> None:
    app.accounts.open("EUR", Decimal("1000.00"), account_id="ORDER")
    placed = app.portfolio_orders.place("ORDER", OrderType.BUY, Decimal("1000.00"), "60/40")
    app.market.run()
    liquidation = app.liquidations.create("ORDER")
    app.market.run()
    types = [e.type for _, e in app.queries.events(EventQuery(limit=1000))]
    for parent in ("PORTFOLIO_ORDER", "ACCOUNT_LIQUIDATION"):
        processing = types.index(f"{parent}.PROCESSING")
        first_fill = types.index("ORDER.FILLED", types.index(f"{parent}.NEW"))
        assert types[processing - 1] == "ORDER.PROCESSING"
        assert processing < first_fill
    assert placed.id != liquidation.id


def test_deposits_and_withdrawals_are_funding_events_and_entries(app: Application) -> None:
    app.accounts.open("EUR", Decimal("100.00"), account_id="FUND")
    app.accounts.deposit("FUND", Decimal("50.00"))
    app.accounts.withdraw("FUND", Decimal("30.00"))
    funding = [e.object for _, e in app.queries.events(EventQuery(topic="FUNDING"))]
    assert [(f.kind, f.amount, f.cash_after) for f in funding if isinstance(f, Funding)] == [
        (FundingKind.DEPOSIT, Decimal("100.00"), Decimal("100.00")),
        (FundingKind.DEPOSIT, Decimal("50.00"), Decimal("150.00")),
        (FundingKind.WITHDRAWAL, Decimal("30.00"), Decimal("120.00")),
    ]
    lines = app.ledger.statement("FUND")
    assert [(line.cause.kind, line.amount, line.balance) for line in lines] == [
        (CauseKind.DEPOSIT, Decimal("100.00"), Decimal("100.00")),
        (CauseKind.DEPOSIT, Decimal("50.00"), Decimal("150.00")),
        (CauseKind.WITHDRAWAL, Decimal("-30.00"), Decimal("120.00")),
    ]
    assert [b.amount for b in app.ledger.balances() if b.ledger == FUNDING] == [Decimal("-120.00")]


def test_position_events_carry_the_position_id_asset_type_and_symbol(app: Application) -> None:
    app.instruments.add(
        Instrument("ETF1", Decimal("50.00"), currency="EUR", asset_type=AssetType.ETF, symbol="ETF1:xams")
    )
    app.allocations.create("etf", [AllocationLine("ETF1", Decimal(1))])
    app.accounts.open("EUR", Decimal("1000.00"), account_id="POS")
    app.portfolio_orders.place("POS", OrderType.BUY, Decimal("100.00"), "etf")
    app.market.run()
    app.liquidations.create("POS")
    app.market.run()
    events = [e.object for _, e in app.queries.events(EventQuery(limit=100, topic="POSITION"))]
    assert [(p.event, p.asset_type, p.symbol) for p in events if isinstance(p, PositionEvent)] == [
        (PositionEventType.NEW, AssetType.ETF, "ETF1:xams"),
        (PositionEventType.DELETED, AssetType.ETF, "ETF1:xams"),
    ]
    ids = {p.position_id for p in events if isinstance(p, PositionEvent)}
    assert len(ids) == 1


@pytest.fixture
def options(world: World, app: Application) -> Application:
    expiry = world.clock.moment.date() + dt.timedelta(days=30)
    app.instruments.add(Instrument("CALL", Decimal("2.00"), currency="EUR", asset_type=AssetType.STOCK_OPTION,
                                   contract_size=Decimal(100), expiry=expiry))  # fmt: skip
    app.allocations.create("calls", [AllocationLine("CALL", Decimal(1))])
    app.accounts.open("EUR", Decimal("1000.00"), account_id="OPT")
    app.portfolio_orders.place("OPT", OrderType.BUY, Decimal("600.00"), "calls")  # 3 contracts × 100 × 2.00
    app.market.run()
    return app


def test_an_exercised_option_closes_every_position_and_pays_its_settlement(options: Application) -> None:
    options.instruments.exercise("CALL", Decimal("3.50"))
    account = options.accounts.get("OPT")
    assert account.positions == ()
    assert account.cash_in("EUR") == Decimal("400.00") + Decimal("1050.00")  # 3 × 100 × 3.50
    events = [e.object for _, e in options.queries.events(EventQuery(limit=100, topic="POSITION"))]
    assert [p.event for p in events if isinstance(p, PositionEvent)][-1] is PositionEventType.OPTION_EXERCISED
    with pytest.raises(ValidationError, match="already exercised"):
        options.instruments.expire("CALL")
    assert options.ledger.verify().balanced


def test_an_option_expires_worthless_only_from_its_expiry_date(world: World, options: Application) -> None:
    with pytest.raises(ValidationError, match="not before"):
        options.instruments.expire("CALL")
    world.clock.advance(days=30)
    options.instruments.expire("CALL")
    assert options.accounts.get("OPT").positions == ()
    assert options.accounts.get("OPT").cash_in("EUR") == Decimal("400.00")
    events = [e.object for _, e in options.queries.events(EventQuery(limit=100, topic="POSITION"))]
    assert [p.event for p in events if isinstance(p, PositionEvent)][-1] is PositionEventType.OPTION_EXPIRED
    assert options.ledger.verify().balanced


def test_a_buy_placed_on_the_expiry_day_that_has_not_executed_by_the_next_day_is_cancelled(
    world: World, options: Application
) -> None:
    world.clock.advance(days=30)  # the expiry day: the option still trades
    placed = options.portfolio_orders.place("OPT", OrderType.BUY, Decimal("200.00"), "calls")
    world.clock.advance(days=1)
    run = options.market.run()
    assert [(e.outcome.value, e.reason) for e in run.orders] == [
        ("CANCELLED", f"option CALL expired on {world.clock.moment.date() - dt.timedelta(days=1)} and can no "
         "longer be bought"),
    ]  # fmt: skip
    assert options.portfolio_orders.get(placed.id).state.value == "CANCELLED"
    assert options.accounts.get("OPT").reserved_in("EUR") == Decimal("0.00")
    with pytest.raises(InstrumentEnded):
        options.portfolio_orders.place("OPT", OrderType.BUY, Decimal("200.00"), "calls")
    options.instruments.expire("CALL")
    assert options.ledger.verify().balanced


def test_the_books_balance_after_everything_the_product_does(world: World, blocks: Application) -> None:
    blocks.accounts.open("EUR", Decimal("5000.00"), account_id="ALL")
    blocks.portfolio_orders.place("ALL", OrderType.BUY, Decimal("3000.00"), "60/40")
    world.open(partial_fill_ratio="0.5").market.run()
    blocks.market.run()
    blocks.portfolio_orders.place("ALL", OrderType.SELL, Decimal("1000.00"))
    blocks.blocks.place(key(blocks), "FX", Side.BUY, Decimal(300))
    world.open(reject=("BBB",)).market.run()
    blocks.market.run()
    blocks.accounts.withdraw("ALL", Decimal("100.00"))
    assert blocks.ledger.verify().balanced
    total: dict[Asset, Decimal] = {}
    for balance in blocks.ledger.balances():
        total[balance.asset] = total.get(balance.asset, Decimal(0)) + balance.amount
    assert set(total.values()) == {Decimal(0)}
    assert Asset.cash("EUR") in total
    for account in blocks.accounts.all():
        assert account.cash_in("EUR") == sum(
            (line.amount for line in blocks.ledger.statement(account.id, "EUR")), Decimal(0)
        )
        assert account.cash_in("EUR") >= 0
