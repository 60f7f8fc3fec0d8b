from __future__ import annotations

import datetime as dt
from decimal import Decimal

import attrs
import pytest

from core.errors import (
    BelowMinimumOrder,
    CurrencyMismatch,
    InsufficientFunds,
    InsufficientPosition,
    MissingPrice,
    NavLimitExceeded,
    NothingToTrade,
    UnknownInstrument,
    ValidationError,
)
from core.instruments import Allocation, AllocationLine, Instrument, Position, Side
from core.portfolio import (
    FeeSchedule,
    OrderPlan,
    OrderType,
    PlannedOrder,
    Policy,
    PortfolioRequest,
    Skipped,
    SkipReason,
    management_fee,
    plan,
    plan_liquidation,
    settle_liquidation,
)


def lines(**weights: str) -> tuple[AllocationLine, ...]:
    return tuple(AllocationLine(i, Decimal(w)) for i, w in weights.items())


def buy(
    amount: str,
    allocation: tuple[AllocationLine, ...],
    *instruments: Instrument,
    available: str | None = None,
) -> PortfolioRequest:
    cash = None if available is None else Decimal(available)
    return PortfolioRequest(OrderType.BUY, "EUR", Decimal(amount), allocation, instruments, cash=cash)


A, B, C = Instrument("A", Decimal("10")), Instrument("B", Decimal("20")), Instrument("C", Decimal("50"))


def test_a_buy_splits_the_cash_over_the_weights_to_the_cent() -> None:
    result = plan(buy("1000.00", lines(A="0.5", B="0.3", C="0.2"), A, B, C))
    assert result.orders == (
        PlannedOrder("A", Side.BUY, cash_amount=Decimal("500.00")),
        PlannedOrder("B", Side.BUY, cash_amount=Decimal("300.00")),
        PlannedOrder("C", Side.BUY, cash_amount=Decimal("200.00")),
    )


def test_a_buy_drops_instruments_below_their_minimum_and_resplits_the_cash() -> None:
    small = Instrument("C", Decimal("50"), min_order_amount=Decimal("250"))
    result = plan(buy("1000.00", lines(A="0.5", B="0.3", C="0.2"), A, B, small))
    assert result.orders == (
        PlannedOrder("A", Side.BUY, cash_amount=Decimal("625.00")),
        PlannedOrder("B", Side.BUY, cash_amount=Decimal("375.00")),
    )
    assert result.skipped == (Skipped("C", SkipReason.BELOW_MINIMUM_ORDER),)


def test_a_buy_where_nothing_clears_its_minimum_is_refused() -> None:
    pricey = [Instrument(i, Decimal(1), min_order_amount=Decimal("600")) for i in "AB"]
    with pytest.raises(BelowMinimumOrder):
        plan(buy("1000.00", lines(A="0.5", B="0.5"), *pricey))


def test_a_buy_larger_than_the_available_cash_is_refused() -> None:
    with pytest.raises(InsufficientFunds) as caught:
        plan(buy("1000.00", lines(A="1"), A, available="999.99"))
    assert caught.value.details == {"requested": "1000.00", "available": "999.99", "currency": "EUR"}


def test_a_buy_with_sub_cent_cash_is_refused() -> None:
    with pytest.raises(ValidationError, match="more decimals than EUR"):
        plan(buy("10.001", lines(A="1"), A))


def test_weights_that_do_not_sum_to_one_are_refused() -> None:
    with pytest.raises(ValidationError, match="sum to exactly 1"):
        Allocation(lines(A="0.5", B="0.4"))


def test_an_instrument_in_another_currency_is_refused() -> None:
    with pytest.raises(CurrencyMismatch):
        plan(buy("10.00", lines(A="1"), Instrument("A", Decimal(1), currency="USD")))


def test_an_allocation_naming_an_undescribed_instrument_is_refused() -> None:
    with pytest.raises(UnknownInstrument, match="instrument B is not described"):
        plan(buy("10.00", lines(A="0.5", B="0.5"), A))


HOLDINGS = (Position("A", Decimal(30)), Position("B", Decimal(10)))  # worth 300 and 200


def sell(cash: str, policy: Policy = Policy()) -> PortfolioRequest:
    return PortfolioRequest(
        OrderType.SELL, "EUR", Decimal(cash), instruments=(A, B), positions=HOLDINGS, policy=policy
    )


def test_a_sell_is_split_pro_rata_to_the_market_value_of_holdings() -> None:
    assert plan(sell("400.00")).orders == (
        PlannedOrder("A", Side.SELL, cash_amount=Decimal("240.00")),
        PlannedOrder("B", Side.SELL, cash_amount=Decimal("160.00")),
    )


def test_a_sell_above_ninety_percent_of_nav_is_refused_with_the_maximum_allowed() -> None:
    with pytest.raises(NavLimitExceeded) as caught:
        plan(sell("450.01"))
    assert caught.value.details["max_allowed"] == "450.00"
    assert caught.value.details["nav"] == "500"


def test_a_sell_of_exactly_ninety_percent_of_nav_is_allowed() -> None:
    assert sum(o.cash_amount or Decimal(0) for o in plan(sell("450.00")).orders) == Decimal("450.00")


def test_a_sell_of_sub_cent_holdings_is_limited_to_what_whole_cents_can_take() -> None:
    # two holdings worth 0.009 and 0.015: 90 % of NAV is 0.0216, but whole cents can only take 0.01
    dust = (Instrument("A", Decimal("0.003")), Instrument("B", Decimal("0.005")))
    request = PortfolioRequest(
        OrderType.SELL,
        "EUR",
        Decimal("0.02"),
        instruments=dust,
        positions=(Position("A", Decimal(3)), Position("B", Decimal(3))),
    )
    with pytest.raises(NavLimitExceeded) as caught:
        plan(request)
    assert caught.value.details["max_allowed"] == "0.01"


def test_a_sell_refused_while_open_sells_hold_units_says_how_much_they_hold_and_suggests_no_liquidation() -> (
    None
):
    request = attrs.evolve(sell("50.00"), held=HOLDINGS)  # an open sell holds back all 500 worth
    with pytest.raises(NavLimitExceeded) as caught:
        plan(request)
    message = str(caught.value)
    assert "open orders already hold back 500.00 EUR of it" in message
    assert "at most 0.00 EUR can be sold this way" in message
    assert "liquidation" not in message
    assert caught.value.details["held_back"] == "500.00"


def test_a_sell_refused_with_nothing_held_back_suggests_a_liquidation_to_sell_everything() -> None:
    with pytest.raises(NavLimitExceeded, match=r"use a liquidation to sell everything"):
        plan(sell("450.01"))


def test_the_nav_limit_is_a_policy_parameter() -> None:
    with pytest.raises(NavLimitExceeded):
        plan(sell("300.00", Policy(sell_nav_limit=Decimal("0.5"))))


def test_a_sell_needs_prices_for_every_holding() -> None:
    request = PortfolioRequest(
        OrderType.SELL,
        "EUR",
        Decimal("1.00"),
        instruments=(Instrument("A"),),
        positions=(Position("A", Decimal(1)),),
    )
    with pytest.raises(MissingPrice):
        plan(request)


def test_a_liquidation_sells_every_position_in_full_with_unit_orders() -> None:
    result = plan(
        PortfolioRequest(OrderType.LIQUIDATION, "EUR", positions=(*HOLDINGS, Position("C", Decimal(0))))
    )
    assert result.orders == (
        PlannedOrder("A", Side.SELL, quantity=Decimal(30)),
        PlannedOrder("B", Side.SELL, quantity=Decimal(10)),
    )
    assert result.cash_amount is None


def test_liquidating_an_empty_account_is_refused() -> None:
    with pytest.raises(NothingToTrade):
        plan(PortfolioRequest(OrderType.LIQUIDATION, "EUR"))


def test_the_management_fee_is_pro_rata_temporis_and_rounded_half_even() -> None:
    schedule = FeeSchedule(Decimal("0.01"), dt.date(2026, 1, 1))
    # 1000.00 × 1 % × 73 / 365 = 2.00 exactly; 1234.56 × 1 % × 10 / 365 = 0.33823... → 0.34
    assert management_fee(Decimal("1000.00"), schedule, dt.date(2026, 3, 15), "EUR") == Decimal("2.00")
    assert management_fee(Decimal("1234.56"), schedule, dt.date(2026, 1, 11), "EUR") == Decimal("0.34")


@pytest.mark.parametrize(("balance", "fee"), [("2.50", "0.02"), ("3.50", "0.04")])
def test_a_management_fee_of_exactly_half_a_cent_rounds_to_the_even_cent(balance: str, fee: str) -> None:
    # a year at 1 %: 0.025 goes down to 0.02 and 0.035 up to 0.04 (half-up would give 0.03 and 0.04)
    schedule = FeeSchedule(Decimal("0.01"), dt.date(2026, 1, 1))
    assert management_fee(Decimal(balance), schedule, dt.date(2027, 1, 1), "EUR") == Decimal(fee)


def test_a_fee_last_charged_after_the_liquidation_date_is_refused_and_one_charged_that_day_is_nothing() -> (
    None
):
    schedule = FeeSchedule(Decimal("0.01"), dt.date(2026, 3, 16))
    with pytest.raises(ValidationError) as refused:
        management_fee(Decimal("1000.00"), schedule, dt.date(2026, 3, 15), "EUR")
    assert refused.value.details == {"last_charged": "2026-03-16", "as_of": "2026-03-15"}
    assert management_fee(Decimal("1000.00"), schedule, dt.date(2026, 3, 16), "EUR") == Decimal("0.00")


@pytest.mark.parametrize("amount", ["0", "0.00", "-0.01"])
def test_a_buy_or_a_sell_of_nothing_or_less_is_refused_naming_the_cash_amount(amount: str) -> None:
    for request in (buy(amount, lines(A="0.5", B="0.5"), A, B), sell(amount)):
        with pytest.raises(ValidationError) as refused:
            plan(request)
        assert refused.value.details["field"] == "cash_amount"


@pytest.mark.parametrize("kind", [OrderType.SELL, OrderType.LIQUIDATION])
def test_two_positions_in_one_instrument_are_refused_naming_it(kind: OrderType) -> None:
    twice = (Position("A", Decimal("3")), Position("B", Decimal("1")), Position("A", Decimal("2")))
    cash = Decimal("10.00") if kind is OrderType.SELL else None
    with pytest.raises(ValidationError) as refused:
        plan(PortfolioRequest(kind, "EUR", cash, instruments=(A, B), positions=twice))
    assert refused.value.details == {"field": "positions", "instrument_id": "A"}


def test_the_liquidation_cash_amount_is_proceeds_minus_costs_minus_fee() -> None:
    settled = settle_liquidation(
        Decimal("1000.00"),
        Decimal("5.00"),
        FeeSchedule(Decimal("0.01"), dt.date(2026, 1, 1)),
        dt.date(2026, 3, 15),
        "EUR",
        available=Decimal("995.00"),
    )
    assert (settled.management_fee, settled.cash_amount) == (Decimal("2.00"), Decimal("993.00"))
    assert settled.fee_due == Decimal("2.00")


def test_without_a_fee_schedule_there_is_no_management_fee() -> None:
    assert settle_liquidation(
        Decimal("10.00"), Decimal("1.00"), None, dt.date(2026, 1, 1), "EUR", available=Decimal("9.00")
    ).cash_amount == Decimal("9.00")


@pytest.mark.parametrize(
    ("available", "charged"), [("1000.00", "1000.00"), ("12.34", "12.34"), ("0.00", "0.00")]
)
def test_the_fee_charged_is_capped_at_the_cash_available_after_the_sales(
    available: str, charged: str
) -> None:
    # 1000.00 × 90 % × 46 385 days / 365 = 114 373.97 due: far more than the account has
    settled = settle_liquidation(
        Decimal("1000.00"),
        Decimal("0.00"),
        FeeSchedule(Decimal("0.9"), dt.date(1900, 1, 1)),
        dt.date(2026, 12, 31),
        "EUR",
        available=Decimal(available),
    )
    assert settled.fee_due > Decimal("100000")
    assert (settled.management_fee, settled.cash_amount) == (
        Decimal(charged),
        Decimal("1000.00") - Decimal(charged),
    )


def test_a_fee_is_never_charged_below_zero_when_open_orders_hold_back_more_than_the_cash() -> None:
    settled = settle_liquidation(
        Decimal("10.00"),
        Decimal("0.00"),
        FeeSchedule(Decimal("0.01"), dt.date(2026, 1, 1)),
        dt.date(2027, 1, 1),
        "EUR",
        available=Decimal("-5.00"),
    )
    assert (settled.fee_due, settled.management_fee) == (Decimal("0.10"), Decimal("0.00"))


def rebalance(
    cash: str, positions: tuple[Position, ...], policy: Policy = Policy(), **weights: str
) -> PortfolioRequest:
    return PortfolioRequest(
        OrderType.REBALANCING, "EUR", None, lines(**weights), (A, B, C), positions, Decimal(cash), policy
    )


def test_a_rebalance_sells_overweight_instruments_first_then_buys_underweight_ones() -> None:
    # A 300, B 200, cash 0 → target 250/250: sell 5 A (50.00), buy 50.00 of B
    result = plan(rebalance("0.00", HOLDINGS, A="0.5", B="0.5"))
    assert result.orders == (
        PlannedOrder("A", Side.SELL, quantity=Decimal(5)),
        PlannedOrder("B", Side.BUY, cash_amount=Decimal("50.00")),
    )


def test_a_rebalance_sells_instruments_outside_the_model_in_full() -> None:
    result = plan(rebalance("0.00", (*HOLDINGS, Position("C", Decimal(2))), A="0.5", B="0.5"))
    assert PlannedOrder("C", Side.SELL, quantity=Decimal(2)) in result.orders


def test_a_rebalance_rounds_sells_down_to_the_quantity_step() -> None:
    # A 300, B 200, cash 5 → investable 505, targets 252.50 each: sell 47.50 of A = 4.75 shares → 4
    result = plan(rebalance("5.00", HOLDINGS, A="0.5", B="0.5"))
    assert result.orders[0] == PlannedOrder("A", Side.SELL, quantity=Decimal(4))


def test_a_rebalance_scales_buys_down_so_it_never_spends_more_than_it_has() -> None:
    # A sells 4 (40.00); funding 5.00 + 40.00 = 45.00, B wanted 52.50
    result = plan(rebalance("5.00", HOLDINGS, A="0.5", B="0.5"))
    assert result.orders[1] == PlannedOrder("B", Side.BUY, cash_amount=Decimal("45.00"))


def test_a_rebalance_keeps_the_cash_buffer() -> None:
    result = plan(rebalance("100.00", HOLDINGS, Policy(cash_buffer=Decimal("100.00")), A="0.5", B="0.5"))
    assert result.orders == (
        PlannedOrder("A", Side.SELL, quantity=Decimal(5)),
        PlannedOrder("B", Side.BUY, cash_amount=Decimal("50.00")),
    )


def test_instruments_inside_the_drift_band_are_left_alone() -> None:
    # A is at 60 %, target 50 %: inside a 10 % band
    result = plan(rebalance("0.00", HOLDINGS, Policy(drift_band=Decimal("0.1")), A="0.5", B="0.5"))
    assert result.orders == ()
    assert result.skipped == (
        Skipped("A", SkipReason.WITHIN_DRIFT_BAND),
        Skipped("B", SkipReason.WITHIN_DRIFT_BAND),
    )


def test_trades_below_the_minimum_order_amount_are_skipped_in_a_rebalance() -> None:
    small_b = Instrument("B", Decimal("20"), min_order_amount=Decimal("60"))
    request = PortfolioRequest(
        OrderType.REBALANCING, "EUR", None, lines(A="0.5", B="0.5"), (A, small_b), HOLDINGS, Decimal("0.00")
    )
    result = plan(request)
    assert Skipped("B", SkipReason.BELOW_MINIMUM_ORDER) in result.skipped


def test_a_buffer_larger_than_the_portfolio_is_refused() -> None:
    with pytest.raises(InsufficientFunds):
        plan(rebalance("0.00", HOLDINGS, Policy(cash_buffer=Decimal("600")), A="0.5", B="0.5"))


def test_a_rebalance_with_everything_held_back_by_open_orders_says_so() -> None:
    request = attrs.evolve(
        rebalance("0.00", HOLDINGS, A="0.5", B="0.5"), held=HOLDINGS, held_cash=Decimal("20.00")
    )
    with pytest.raises(InsufficientFunds) as caught:
        plan(request)
    message = str(caught.value)
    assert message.startswith("nothing to invest: open orders hold back 520.00 EUR of the account")
    assert "cancel them or let them finish" in message
    assert "as large as the whole portfolio" not in message
    assert caught.value.details["held_back"] == "520.00"


def test_a_policy_nav_limit_above_one_is_refused() -> None:
    with pytest.raises(ValidationError):
        Policy(sell_nav_limit=Decimal("1.5"))


def test_a_liquidation_sells_every_holding_in_full_however_small() -> None:
    positions = (Position("A", Decimal("0.5")), Position("B", Decimal(0)), Position("C", Decimal(3)))
    assert plan_liquidation("EUR", positions) == OrderPlan(
        OrderType.LIQUIDATION,
        "EUR",
        None,
        (
            PlannedOrder("A", Side.SELL, quantity=Decimal("0.5")),
            PlannedOrder("C", Side.SELL, quantity=Decimal(3)),
        ),
    )


def test_a_liquidation_refused_for_units_held_back_names_them() -> None:
    with pytest.raises(InsufficientPosition, match="open sell orders hold back units") as refused:
        plan_liquidation("EUR", (Position("A", Decimal(2)),), {"A": Decimal("1.5"), "B": Decimal(0)})
    assert refused.value.details == {"held_back": {"A": "1.5"}}
