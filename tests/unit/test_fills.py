from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import attrs
import pytest

from core import orders
from core.accounts import reserve
from core.errors import InsufficientPosition, ValidationError
from core.fills import (
    AccountBook,
    CostSchedule,
    Fill,
    PositionEvent,
    PositionEventType,
    apply_fill,
    trading_costs,
    value_date,
)
from core.instruments import Instrument, Position, Side
from core.lifecycle import OrderState
from core.records import Account, Order, ParentKind

FRIDAY = dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC)
SHARE = Instrument("NESN", Decimal("98.50"), contract_size=Decimal(1))
#: An instrument with a broker's whole-number code (its Uic).
LISTED = Instrument("X", Decimal(10), uic=32160052)
SCHEDULE = CostSchedule(
    commission_rate=Decimal("0.001"),
    commission_minimum=Decimal("5.00"),
    exchange_fee_rate=Decimal("0.0001"),
    stamp_duty_rate=Decimal("0.005"),
)


def fill(side: Side, quantity: str, price: str = "98.50", instrument: Instrument = SHARE) -> Fill:
    return Fill(
        "order-1", "ACC", instrument, side, Decimal(quantity), Decimal(price), FRIDAY, "block-1", "ref-1"
    )


def test_buying_into_an_empty_account_opens_a_position_with_a_new_event() -> None:
    result = apply_fill(AccountBook("ACC", "EUR", Decimal("10000.00")), fill(Side.BUY, "10"), SCHEDULE)
    event = result.event
    assert (event.event, event.fill_amount, event.amount) == (PositionEventType.NEW, Decimal(10), Decimal(10))
    assert event.traded_value == Decimal("985.00")
    # commission max(5.00, 0.985) = 5.00; exchange fee 0.0985 → 0.10; stamp duty 4.925 → 4.92 (half-even)
    assert (event.commission, event.exchange_fee, event.stamp_duty, event.total_cost) == (
        Decimal("5.00"),
        Decimal("0.10"),
        Decimal("4.92"),
        Decimal("10.02"),
    )
    assert result.cash_movement == Decimal("-995.02")
    assert result.book.cash == Decimal("9004.98")


def test_traded_value_is_price_times_fill_times_contract_size() -> None:
    future = Instrument("FDAX", Decimal("18000.5"), contract_size=Decimal(25))
    result = apply_fill(AccountBook("ACC", "EUR", Decimal(0)), fill(Side.BUY, "2", "18000.5", future))
    assert result.event.traded_value == Decimal("900025.00")


def test_a_commission_minimum_with_more_decimals_than_the_currency_is_refused() -> None:
    with pytest.raises(ValidationError, match="commission_minimum"):
        trading_costs(CostSchedule(commission_minimum=Decimal("4.995")), Decimal("100.00"), Side.BUY, "EUR")


@pytest.mark.parametrize(("currency", "written"), [("EUR", "0.00"), ("JPY", "0"), ("KWD", "0.000")])
def test_a_schedule_without_costs_charges_zero_written_in_the_currencys_minor_units(
    currency: str, written: str
) -> None:
    costs = trading_costs(CostSchedule(), Decimal("1234"), Side.BUY, currency)
    assert [str(c) for c in (costs.commission, costs.exchange_fee, costs.stamp_duty, costs.total)] == [
        written
    ] * 4


def test_a_schedule_without_costs_still_refuses_a_negative_traded_value() -> None:
    with pytest.raises(ValidationError, match="traded_value"):
        trading_costs(CostSchedule(), Decimal("-0.01"), Side.BUY, "EUR")


@pytest.mark.parametrize(
    "charge", ["commission_rate", "commission_minimum", "exchange_fee_rate", "stamp_duty_rate"]
)
def test_any_one_rate_or_minimum_makes_trading_cost_something(charge: str) -> None:
    rates: dict[str, Any] = {charge: Decimal("0.01")}
    schedule = CostSchedule(**rates)
    assert not schedule.free
    assert trading_costs(schedule, Decimal("1000.00"), Side.BUY, "EUR").total > 0


def test_stamp_duty_is_charged_on_buys_only() -> None:
    assert trading_costs(SCHEDULE, Decimal("1000.00"), Side.SELL, "EUR").stamp_duty == Decimal("0.00")


def test_a_partial_sell_updates_the_position_and_credits_value_minus_costs() -> None:
    book = AccountBook("ACC", "EUR", Decimal("0.00"), (Position("NESN", Decimal(10)),))
    result = apply_fill(book, fill(Side.SELL, "4"), SCHEDULE)
    assert (result.event.event, result.event.amount) == (PositionEventType.UPDATED, Decimal(6))
    assert result.cash_movement == Decimal("394.00") - Decimal("5.00") - Decimal("0.04")


def test_selling_everything_deletes_the_position() -> None:
    book = AccountBook("ACC", "EUR", Decimal("0.00"), (Position("NESN", Decimal(10)),))
    result = apply_fill(book, fill(Side.SELL, "10"))
    assert result.event.event is PositionEventType.DELETED
    assert result.book.positions == ()


def test_selling_more_than_is_held_is_refused() -> None:
    book = AccountBook("ACC", "EUR", Decimal("0.00"), (Position("NESN", Decimal(3)),))
    with pytest.raises(InsufficientPosition):
        apply_fill(book, fill(Side.SELL, "4"))


def test_events_carry_references_and_an_increasing_sequence_id() -> None:
    first = apply_fill(AccountBook("ACC", "EUR", Decimal("5000.00")), fill(Side.BUY, "1"))
    second = apply_fill(first.book, fill(Side.BUY, "1"))
    assert (first.event.sequence_id, second.event.sequence_id) == (1, 2)
    assert (second.event.correlation_key, second.event.source_order_id, second.event.external_reference) == (
        "block-1",
        "order-1",
        "ref-1",
    )


def test_the_value_date_skips_the_weekend() -> None:
    assert value_date(FRIDAY.date(), 2) == dt.date(2026, 11, 24)
    assert value_date(FRIDAY.date(), 0) == FRIDAY.date()


def test_a_fill_of_no_block_correlates_by_its_own_order_and_a_blocks_fill_by_the_block() -> None:
    book = AccountBook("ACC", "EUR", Decimal("5000.00"))
    own = attrs.evolve(fill(Side.BUY, "1"), correlation_key=None)
    allocated = fill(Side.BUY, "1")  # correlation key "block-1": an order allocated out of block-1
    assert apply_fill(book, own).event.correlation_key == "order-1"
    assert apply_fill(book, allocated).event.correlation_key == "block-1"


def test_a_position_keeps_the_correlation_key_of_the_fill_that_opened_it_until_it_is_closed() -> None:
    opened = apply_fill(AccountBook("ACC", "EUR", Decimal("5000.00")), fill(Side.BUY, "3"))
    grown = apply_fill(
        opened.book, attrs.evolve(fill(Side.BUY, "1"), order_id="order-2", correlation_key=None)
    )
    assert grown.event.correlation_key == "order-2"
    assert [(p.quantity, p.correlation_key) for p in grown.book.positions] == [(Decimal(4), "block-1")]
    assert apply_fill(grown.book, fill(Side.SELL, "4")).book.positions == ()


def booked_position_event(order: Order) -> tuple[PositionEvent, Position]:
    """Book a fill of all of ``order`` (a buy of 2 X at 10) on a fresh account: its position event, and the position."""
    account = reserve(Account("ACC", "EUR", {"EUR": Decimal("100.00")}), [], [order])
    booked = orders.book(order, account, LISTED, Decimal(2), Decimal(10), FRIDAY, "E1")
    events = [a.object for a in booked.announcements if isinstance(a.object, PositionEvent)]
    position = booked.account.position("X")
    assert len(events) == 1
    assert position is not None
    return events[0], position


def test_booking_correlates_a_blocks_order_by_the_block_and_a_portfolio_order_by_itself() -> None:
    account = Account("ACC", "EUR", {"EUR": Decimal("100.00")})
    from_block = orders.allocated("BLOCK-1", account, LISTED, Side.BUY, Decimal(2), "O1", FRIDAY)
    from_portfolio = Order(
        id="O2", account_id="ACC", instrument_id="X", side=Side.BUY, cash_amount=None, quantity=Decimal(2),
        state=OrderState.NEW, created_at=FRIDAY, updated_at=FRIDAY, parent_kind=ParentKind.PORTFOLIO_ORDER,
        parent_order_id="PO-1", client_reference="PO-1", held_cash=Decimal("20.00"),
    )  # fmt: skip
    block_event, block_position = booked_position_event(from_block)
    own_event, own_position = booked_position_event(from_portfolio)
    assert (block_event.correlation_key, block_event.source_order_id) == ("BLOCK-1", "O1")
    assert (own_event.correlation_key, own_event.source_order_id) == ("O2", "O2")
    assert (block_position.correlation_key, own_position.correlation_key) == ("BLOCK-1", "O2")
    assert block_event.uic == own_event.uic == 32160052
