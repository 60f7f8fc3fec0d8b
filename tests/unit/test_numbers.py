from __future__ import annotations

import decimal
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import OffStep, ValidationError
from core.numbers import MINOR_UNITS, check_cash, check_decimal, exact, fmt, minor_unit, to_units


@pytest.mark.parametrize(
    ("currency", "unit"), [("EUR", "0.01"), ("JPY", "1"), ("KWD", "0.001"), ("CLP", "1")]
)
def test_minor_units_follow_iso_4217(currency: str, unit: str) -> None:
    assert minor_unit(currency) == Decimal(unit)


def test_at_least_thirty_currencies_are_known() -> None:
    assert len(MINOR_UNITS) >= 30


def test_an_unknown_currency_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="unknown currency 'XXQ'"):
        minor_unit("XXQ")


def test_a_cash_amount_with_too_many_decimals_is_refused_not_rounded() -> None:
    with pytest.raises(ValidationError, match="more decimals than EUR allows"):
        check_cash(Decimal("10.001"), "EUR", "cash_amount")


def test_a_yen_amount_with_decimals_is_refused() -> None:
    with pytest.raises(ValidationError):
        check_cash(Decimal("100.5"), "JPY", "cash_amount")


def test_trailing_zeros_beyond_the_minor_unit_are_fine() -> None:
    assert check_cash(Decimal("10.000"), "EUR", "cash_amount") == Decimal("10.000")


@pytest.mark.parametrize("value", ["1234567890123456789", "0.0000000000001", "NaN", "Infinity"])
def test_decimals_beyond_the_bounds_are_refused(value: str) -> None:
    with pytest.raises(ValidationError):
        check_decimal(Decimal(value), "amount")


def test_the_largest_allowed_decimal_passes() -> None:
    assert check_decimal(Decimal("123456789012345678.123456789012"), "amount") == Decimal(
        "123456789012345678.123456789012"
    )


def test_to_units_refuses_a_value_off_the_step() -> None:
    with pytest.raises(OffStep):
        to_units(Decimal("1.5"), Decimal(1))


def test_plain_notation_never_uses_an_exponent() -> None:
    assert fmt(Decimal("1E+3")) == "1000"


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("1E+3", "1000"),
        ("0E+2", "0"),
        ("1.5E-7", "0.00000015"),
        ("0E-14", "0.00000000000000"),
        ("-0.00", "-0.00"),
    ],
)
def test_plain_notation_writes_every_exponent_out(value: str, written: str) -> None:
    assert fmt(Decimal(value)) == written


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_plain_notation_is_the_fixed_point_format_of_any_decimal(value: Decimal) -> None:
    assert fmt(value) == format(value, "f")


@exact
def third(value: Decimal) -> Decimal:
    return value / 3


@exact
def third_in(context: decimal.Context, value: Decimal) -> Decimal:
    """``third`` called from an exact function, in ``context``."""
    with decimal.localcontext(context):
        return third(value)


@exact
def contexts_seen() -> tuple[decimal.Context, decimal.Context]:
    return decimal.getcontext(), inner_context()


@exact
def inner_context() -> decimal.Context:
    return decimal.getcontext()


def test_an_exact_function_refuses_to_round_whatever_context_its_caller_has() -> None:
    with decimal.localcontext(decimal.Context(prec=3, traps=[])), pytest.raises(decimal.Inexact):
        third(Decimal(1))


def test_an_exact_function_called_in_another_context_by_an_exact_function_is_exact_again() -> None:
    with pytest.raises(decimal.Inexact):
        third_in(decimal.Context(prec=3, traps=[]), Decimal(1))
    assert third_in(decimal.Context(prec=3, traps=[]), Decimal(3)) == 1


def test_exact_functions_calling_each_other_share_the_context_the_outermost_entered() -> None:
    outer, inner = contexts_seen()
    assert outer is inner
    assert outer is not decimal.getcontext()
    assert outer.traps[decimal.Inexact]


def digits_of(value: Decimal) -> tuple[int, int]:
    """(integer digits, decimals) of a finite decimal, counted off its sign, digits and exponent."""
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    return max(0, len(digits) + exponent), max(0, -exponent)


finite_decimals = st.decimals(allow_nan=False, allow_infinity=False) | st.builds(
    lambda sign, digits, exponent: Decimal((sign, digits, exponent)),
    st.integers(0, 1),
    st.lists(st.integers(0, 9), min_size=1, max_size=25).map(tuple),
    st.integers(-30, 30),
)


@given(finite_decimals)
def test_a_decimal_is_taken_exactly_when_its_digits_are_within_the_bounds(value: Decimal) -> None:
    integer_digits, decimals = digits_of(value)
    within = integer_digits <= 18 and decimals <= 12
    try:
        check_decimal(value, "amount")
    except ValidationError:
        assert not within
    else:
        assert within


@pytest.mark.parametrize(
    ("value", "taken"),
    [
        ("1E+17", True),
        ("1E+18", False),
        ("0E+18", False),
        ("0E+17", True),
        ("1.000000000000", True),
        ("1.0000000000000", False),
        ("1E-12", True),
        ("1E-13", False),
        ("-0.000000000000", True),
        ("1234567890123", True),
        ("123456789012345678", True),
    ],
)
def test_trailing_zeros_and_exponents_count_as_written(value: str, taken: bool) -> None:
    try:
        check_decimal(Decimal(value), "amount")
    except ValidationError:
        assert not taken
    else:
        assert taken


def test_digits_and_plain_notation_do_not_depend_on_how_the_callers_context_writes_exponents() -> None:
    with decimal.localcontext(decimal.Context(capitals=0)):
        assert str(Decimal("1E-13")) == "1e-13"  # the caller's context writes a small e
        with pytest.raises(ValidationError, match="too many digits"):
            check_decimal(Decimal("1E-13"), "amount")
        assert fmt(Decimal("1E+3")) == "1000"
        assert fmt(Decimal("1.5E-7")) == "0.00000015"
