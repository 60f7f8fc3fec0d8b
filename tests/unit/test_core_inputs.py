"""What the core's entry points do with inputs of the wrong type or value: a clear ``AllotError`` (or a
``TypeError`` for a wrong type), never a raw decimal exception and never a silently wrong answer."""

from __future__ import annotations

import datetime as dt
import unicodedata
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.apportion import apportion, apportion_units, split_off_step
from core.blocks import BlockRequest, Execution, PartialFillPolicy, allocate, book_prices
from core.errors import ApportionmentError, ValidationError
from core.fills import AccountBook, CostSchedule, Fill, apply_fill, trading_costs, value_date
from core.instruments import AllocationLine, Instrument, Side
from core.keys import AllocationKey, MarginHandling, Participant, UnitType
from core.numbers import check_count, check_decimal, to_units
from core.portfolio import FeeSchedule, OrderType, PortfolioRequest, management_fee, plan
from core.validators import check_text

NOW = dt.datetime(2024, 3, 1, 10, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("cap", ["NaN", "sNaN", "Infinity", "-Infinity", "1e999999"])
def test_a_cap_that_is_not_a_bounded_number_is_a_validation_error(cap: str) -> None:
    with pytest.raises(ValidationError, match="cap"):
        apportion(Decimal(10), [Decimal(1), Decimal(1)], caps=[Decimal(cap), Decimal(10)])


def test_a_negative_cap_is_refused_by_the_kernel() -> None:
    with pytest.raises(ApportionmentError, match="caps must not be negative"):
        apportion(Decimal(10), [Decimal(1), Decimal(1)], caps=[Decimal(-1), Decimal(10)])


@pytest.mark.parametrize(
    ("total", "step"), [("NaN", "1"), ("Infinity", "1"), ("5", "0"), ("5", "NaN"), ("5", "-1")]
)
def test_splitting_off_a_step_refuses_a_non_finite_total_or_a_step_that_is_not_positive(
    total: str, step: str
) -> None:
    with pytest.raises(ValidationError):
        split_off_step(Decimal(total), Decimal(step))


@pytest.mark.parametrize(("value", "step"), [("Infinity", "1"), ("NaN", "1"), ("1", "0"), ("1", "Infinity")])
def test_counting_units_of_a_step_refuses_what_is_not_a_bounded_number(value: str, step: str) -> None:
    with pytest.raises(ValidationError):
        to_units(Decimal(value), Decimal(step))


def test_a_management_fee_on_proceeds_that_are_not_a_number_is_a_validation_error() -> None:
    schedule = FeeSchedule(Decimal("0.01"), dt.date(2024, 1, 1))
    with pytest.raises(ValidationError, match="proceeds"):
        management_fee(Decimal("NaN"), schedule, dt.date(2024, 6, 1), "EUR")


def test_booking_prices_without_executions_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="execution"):
        book_prices([Decimal(1)], [], Decimal(1), "EUR")


def test_an_order_type_given_by_its_name_plans_like_the_member() -> None:
    by_member = PortfolioRequest(
        OrderType.BUY,
        "EUR",
        Decimal(100),
        (AllocationLine("A", Decimal(1)),),
        (Instrument("A", Decimal(10)),),
    )
    by_name = PortfolioRequest(
        "BUY",
        "EUR",
        Decimal(100),
        (AllocationLine("A", Decimal(1)),),
        (Instrument("A", Decimal(10)),),
    )
    assert plan(by_member) == plan(by_name)
    assert by_name.type is OrderType.BUY


def test_an_order_type_that_is_no_member_name_is_a_validation_error_naming_the_choices() -> None:
    with pytest.raises(ValidationError, match="BUY, SELL, LIQUIDATION, REBALANCING"):
        PortfolioRequest("PURCHASE", "EUR")


def test_an_order_type_of_the_wrong_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="OrderType"):
        PortfolioRequest(1, "EUR")


def _key() -> AllocationKey:
    return AllocationKey(
        "k",
        UnitType.UNIT,
        MarginHandling.REJECT,
        False,
        "owner",
        "error",
        (Participant("a", Decimal(1), False, 1), Participant("b", Decimal(3), False, 2)),
    )


def test_a_partial_fill_policy_given_by_name_is_that_policy() -> None:
    by_name = allocate(BlockRequest(_key(), Decimal(8), filled=Decimal(4), partial_fill_policy="PRO_RATA"))
    pro_rata = allocate(
        BlockRequest(_key(), Decimal(8), filled=Decimal(4), partial_fill_policy=PartialFillPolicy.PRO_RATA)
    )
    assert [a.quantity for a in pro_rata.allocations] == [Decimal(1), Decimal(3)]
    assert by_name == pro_rata


def test_the_kernel_refuses_float_claims_with_a_type_error() -> None:
    with pytest.raises(TypeError, match="claims"):
        apportion_units(10, [0.1, 0.2])  # type: ignore[list-item]


@pytest.mark.parametrize("total", [10.0, True, "10"])
def test_the_kernel_refuses_a_total_that_is_not_an_int(total: object) -> None:
    with pytest.raises(TypeError, match="total"):
        apportion_units(total, [1, 2])  # type: ignore[arg-type]


def test_the_kernel_refuses_float_caps_and_ranks_with_a_type_error() -> None:
    with pytest.raises(TypeError, match="caps"):
        apportion_units(10, [1, 2], caps=[5.0, 10])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="ranks"):
        apportion_units(10, [1, 2], ranks=[1.5, 2])  # type: ignore[list-item]


def test_the_decimal_front_end_takes_ints_as_exact_decimals() -> None:
    assert apportion(100, [1, 1, 1]) == [Decimal(34), Decimal(33), Decimal(33)]


@pytest.mark.parametrize("claim", [0.5, "1", None])
def test_the_decimal_front_end_refuses_a_claim_that_is_neither_decimal_nor_int(claim: object) -> None:
    with pytest.raises(TypeError, match="claim"):
        apportion(Decimal(10), [Decimal(1), claim])  # type: ignore[list-item]


@pytest.mark.parametrize("priority", [1.5, True, "1", Decimal(1)])
def test_a_priority_that_is_not_an_int_is_a_type_error(priority: object) -> None:
    with pytest.raises(TypeError, match="priority"):
        Participant("a", Decimal(1), True, priority)  # type: ignore[arg-type]


def test_a_priority_below_one_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="priority"):
        Participant("a", Decimal(1), True, 0)


def test_accept_remainder_must_be_a_bool_not_a_truthy_string() -> None:
    with pytest.raises(TypeError, match="accept_remainder"):
        Participant("a", Decimal(1), "no", 1)  # type: ignore[arg-type]


@pytest.mark.parametrize("days", [2.5, True, "2"])
def test_settlement_days_that_are_not_an_int_are_refused_when_the_schedule_is_made(days: object) -> None:
    with pytest.raises(TypeError, match="settlement_days"):
        CostSchedule(settlement_days=days)  # type: ignore[arg-type]


@pytest.mark.parametrize("days", [-1, 10**9])
def test_settlement_days_out_of_range_are_a_validation_error(days: int) -> None:
    with pytest.raises(ValidationError, match="settlement_days"):
        CostSchedule(settlement_days=days)


def test_a_value_date_with_fractional_settlement_days_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="settlement_days"):
        value_date(dt.date(2024, 3, 1), 2.5)  # type: ignore[arg-type]


def _fill(**changes: object) -> Fill:
    values: dict[str, object] = {
        "order_id": "o1",
        "account_id": "acc",
        "instrument": Instrument("A", Decimal(10)),
        "side": Side.BUY,
        "quantity": Decimal(1),
        "price": Decimal(10),
        "execution_time": NOW,
    }
    values.update(changes)
    return Fill(**values)  # type: ignore[arg-type]


def test_a_negative_booked_value_is_refused_when_the_fill_is_made() -> None:
    with pytest.raises(ValidationError, match="booked_value"):
        _fill(booked_value=Decimal(-50))


def test_a_fill_side_given_by_name_books_a_buy() -> None:
    book = AccountBook("acc", "EUR", Decimal(100))
    result = apply_fill(book, _fill(side="BUY"))
    assert result.book.cash == Decimal(90)
    assert result.event.side is Side.BUY


def test_stamp_duty_is_charged_on_a_buy_given_by_name() -> None:
    schedule = CostSchedule(stamp_duty_rate=Decimal("0.01"))
    assert trading_costs(schedule, Decimal(100), "BUY", "EUR").stamp_duty == Decimal("1.00")  # type: ignore[arg-type]


def test_decimal_fields_take_ints_and_store_decimals() -> None:
    instrument = Instrument("A", price=5)
    assert instrument.price == Decimal(5)
    assert isinstance(instrument.price, Decimal)


@pytest.mark.parametrize("price", [5.0, "5", True])
def test_decimal_fields_refuse_floats_strings_and_bools_with_a_type_error(price: object) -> None:
    with pytest.raises(TypeError, match="price"):
        Instrument("A", price=price)  # type: ignore[arg-type]


def test_an_execution_of_float_quantity_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="quantity"):
        Execution(1.5, Decimal(10))  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [1.0, "1", True, None])
def test_check_decimal_refuses_every_type_but_decimal_and_int(value: object) -> None:
    with pytest.raises(TypeError, match="amount"):
        check_decimal(value, "amount")  # type: ignore[arg-type]


def test_check_decimal_turns_an_int_into_a_decimal() -> None:
    assert check_decimal(7, "amount") == Decimal(7)
    assert isinstance(check_decimal(7, "amount"), Decimal)


@pytest.mark.parametrize("value", [1.0, "1", True, Decimal(1), None])
def test_a_count_is_an_int_and_nothing_else(value: object) -> None:
    with pytest.raises(TypeError, match="count"):
        check_count(value, "count")  # type: ignore[arg-type]


def test_a_count_below_its_minimum_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="count"):
        check_count(0, "count", minimum=1)


@pytest.mark.parametrize("held", [Decimal("1e999999"), Decimal("NaN"), Decimal("-5")])
def test_cash_held_back_that_is_not_a_sum_of_money_is_refused_naming_the_field(held: Decimal) -> None:
    with pytest.raises(ValidationError) as refused:
        PortfolioRequest(type="REBALANCING", currency="EUR", cash=Decimal("0.00"), held_cash=held)
    assert refused.value.details["field"] == "held_cash"
    with pytest.raises(TypeError, match="held_cash"):
        PortfolioRequest(type="REBALANCING", currency="EUR", cash=Decimal("0.00"), held_cash="x")  # type: ignore[arg-type]


@pytest.mark.parametrize("priority", [2**31, 2**70])
def test_a_priority_beyond_the_largest_one_is_refused_so_unprioritised_participants_always_come_last(
    priority: int,
) -> None:
    with pytest.raises(ValidationError, match="at most 2147483647"):
        Participant("P2", Decimal(10), accept_remainder=True, priority=priority)
    assert (
        Participant("P2", Decimal(10), accept_remainder=True, priority=2**31 - 1).rank
        < Participant("P1", Decimal(10)).rank
    )


def test_a_cap_below_zero_by_less_than_a_step_is_refused_too() -> None:
    with pytest.raises(ApportionmentError, match="caps must not be negative"):
        apportion(Decimal(10), [Decimal(1), Decimal(1)], caps=[Decimal("-0.5"), Decimal(10)])


def test_booked_quantities_that_do_not_add_up_to_what_was_executed_are_refused() -> None:
    with pytest.raises(ValidationError, match="the quantities booked sum to 2, not to the 3 executed"):
        book_prices([Decimal(1), Decimal(1)], [Execution(Decimal(3), Decimal("1.1"))], Decimal(1), "EUR")


def test_a_booked_quantity_with_too_many_decimals_is_named_as_a_quantity_even_when_the_sum_adds_up() -> None:
    quantities = [Decimal("0.0000000000005"), Decimal("0.9999999999995")]  # 13 decimals each, summing to 1
    with pytest.raises(ValidationError, match="quantities has too many digits") as caught:
        book_prices(quantities, [Execution(Decimal(1), Decimal(10))], Decimal(1), "EUR")
    assert caught.value.details == {"field": "quantities", "value": "5E-13"}


def test_the_first_wrong_claim_is_named_whether_its_digits_or_its_type_are_wrong() -> None:
    with pytest.raises(ValidationError, match="claims has too many digits"):
        apportion(Decimal(1), [Decimal(1), Decimal("1E+19"), 1.5])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="claims must be a Decimal or an int, not float"):
        apportion(Decimal(1), [Decimal(1), 1.5, Decimal("1E+19")])  # type: ignore[list-item]


@pytest.mark.parametrize("account_id", ["a/b", "a?b", "a#b", "50%", "x" * 129])
def test_an_account_id_must_fit_in_a_url_path_as_it_is(account_id: str) -> None:
    from core import accounts
    from core.fills import CostSchedule

    with pytest.raises(ValidationError):
        accounts.open_account(account_id, "EUR", Decimal(0), None, CostSchedule(), ids=iter(["e"]), now=NOW)
    assert accounts.open_account("x" * 128, "EUR", Decimal(0), None, CostSchedule(), ids=iter(["e"]), now=NOW)


INVISIBLE = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}


@given(
    st.text(st.characters(codec=None, exclude_categories=()), max_size=8)
    | st.text(st.characters(max_codepoint=127))
)
def test_a_name_is_taken_when_it_is_visible_text_without_blanks_around_it(text: str) -> None:
    taken = (
        text.strip() == text and text != "" and not any(unicodedata.category(c) in INVISIBLE for c in text)
    )
    try:
        check_text(text, "name")
    except ValidationError:
        assert not taken
    else:
        assert taken


@pytest.mark.parametrize("name", ["a\x07b", "a\x7fb", "a\x00", "Z\u00fcrich\u200b", "\x1bx"])
def test_a_name_with_a_control_or_invisible_character_inside_is_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="invisible or control"):
        check_text(name, "name")


@pytest.mark.parametrize("name", ["I00", "a b", "Z\u00fcrich", "~!@#"])
def test_a_visible_name_is_taken_as_it_is(name: str) -> None:
    assert check_text(name, "name") == name


def test_a_name_with_hidden_characters_is_refused_naming_the_first_five_by_code_point() -> None:
    with pytest.raises(ValidationError) as refused:
        check_text("a\u200bb\x07c\x01\x02\x03\x04", "name")
    codes = ["U+0001", "U+0002", "U+0003", "U+0004", "U+0007", "U+200B"]
    assert refused.value.details == {"field": "name", "characters": codes}
    assert refused.value.message == (
        "name must not contain invisible or control characters (U+0001, U+0002, U+0003, U+0004, U+0007)"
    )


@pytest.mark.parametrize(
    ("name", "says"), [("", "must not be empty"), (" a", "must not start or end with blanks")]
)
def test_an_empty_or_padded_name_is_refused_naming_the_field(name: str, says: str) -> None:
    with pytest.raises(ValidationError, match=says) as refused:
        check_text(name, "name")
    assert refused.value.details == {"field": "name"}
