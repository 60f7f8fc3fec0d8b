"""Exact numbers: currencies and their minor units, decimal bounds, integer units.

Money and quantities are ``decimal.Decimal``; internally the core may count in integer units of a step
(``amount / step``). Every rounding in the core is explicit (``round_to``); all other arithmetic runs in
the ``EXACT`` context, which raises instead of rounding silently and refuses floats.
"""

from __future__ import annotations

import contextvars
import decimal
import functools
import re
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Final, ParamSpec, TypeVar, cast

from core.errors import OffStep, ValidationError

#: ISO 4217 minor units of the most traded currencies (and a few with unusual exponents).
MINOR_UNITS: Final[dict[str, int]] = {
    "AED": 2, "ARS": 2, "AUD": 2, "BHD": 3, "BRL": 2, "CAD": 2, "CHF": 2, "CLP": 0, "CNY": 2, "COP": 2,
    "CZK": 2, "DKK": 2, "EUR": 2, "GBP": 2, "HKD": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2, "ISK": 0,
    "JOD": 3, "JPY": 0, "KRW": 0, "KWD": 3, "MXN": 2, "MYR": 2, "NOK": 2, "NZD": 2, "OMR": 3, "PHP": 2,
    "PLN": 2, "RON": 2, "SAR": 2, "SEK": 2, "SGD": 2, "THB": 2, "TND": 3, "TRY": 2, "TWD": 2, "USD": 2,
    "VND": 0, "ZAR": 2,
}  # fmt: skip

MAX_INTEGER_DIGITS: Final = 18
MAX_DECIMAL_PLACES: Final = 12

#: Arithmetic context of the core: wide enough for any product of bounded inputs, and it traps
#: rounding (Inexact), floats mixed into decimals (FloatOperation) and every invalid operation.
EXACT: Final = decimal.Context(
    prec=200,
    rounding=decimal.ROUND_HALF_EVEN,
    Emax=999_999,
    Emin=-999_999,
    traps=[
        decimal.InvalidOperation,
        decimal.DivisionByZero,
        decimal.Overflow,
        decimal.Inexact,
        decimal.FloatOperation,
    ],
)
_ROUNDING: Final = EXACT.copy()
_ROUNDING.traps[decimal.Inexact] = False
_ROUNDING.traps[decimal.Rounded] = False

ZERO: Final = Decimal(0)
ONE: Final = Decimal(1)

#: How a decimal is written in text: ASCII digits, an optional minus sign, at most one decimal point with digits
#: on both sides. No exponent, no separators, no digits of other scripts, no blanks around it.
PLAIN_DECIMAL: Final = re.compile(r"-?[0-9]+(\.[0-9]+)?", re.ASCII)

P = ParamSpec("P")
R = TypeVar("R")


#: The context the outermost running ``exact`` function entered (none outside one).
_ENTERED: Final[contextvars.ContextVar[decimal.Context | None]] = contextvars.ContextVar(
    "allot_exact", default=None
)


def exact(function: Callable[P, R]) -> Callable[P, R]:
    """Run ``function`` in the EXACT context: any silent rounding or float raises. Called by another ``exact``
    function, in the context that one entered, it runs in it as it is: entering a context costs more than many
    a function wrapped here, and an order of 20 instruments calls some seventy."""

    @functools.wraps(function)
    def run_exactly(*args: P.args, **kwargs: P.kwargs) -> R:
        if _ENTERED.get() is decimal.getcontext():
            return function(*args, **kwargs)
        with decimal.localcontext(EXACT) as context:
            entered = _ENTERED.set(context)
            try:
                return function(*args, **kwargs)
            finally:
                _ENTERED.reset(entered)

    return run_exactly


def currency_exponent(currency: str) -> int:
    """The number of decimals of ``currency`` (ISO 4217), e.g. 2 for EUR, 0 for JPY, 3 for KWD."""
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        raise ValidationError(
            f"unknown currency {currency!r}: use an ISO 4217 code such as EUR, USD or JPY",
            {"field": "currency", "value": currency, "known": sorted(MINOR_UNITS)},
        ) from None


@functools.cache
def minor_unit(currency: str) -> Decimal:
    """The smallest amount of ``currency``: 0.01 for EUR, 1 for JPY, 0.001 for KWD."""
    return Decimal(1).scaleb(-currency_exponent(currency))


def as_decimal(value: Decimal | int, field: str) -> Decimal:
    """A decimal input as a Decimal: a Decimal as it is, an int as the equal Decimal (exactly).

    Anything else is a ``TypeError`` naming the field: a float (never exact), a string (parse it with
    ``parse_decimal``), a bool (an int to Python, but never meant as a number).
    """
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    raise TypeError(f"{field} must be a Decimal or an int, not {type(value).__name__} {value!r}")


def decimal_input(value: Decimal | int) -> Decimal:
    """attrs converter of a decimal field: an int becomes the equal Decimal. Any other type is passed on
    unchanged, for the field's validator to refuse with the field's name (``check_decimal``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    return cast(Decimal, value)


def optional_decimal_input(value: Decimal | int | None) -> Decimal | None:
    """``decimal_input`` for a field that may be ``None``."""
    return None if value is None else decimal_input(value)


def check_finite(value: Decimal | int, field: str) -> Decimal:
    """A Decimal or an int (see ``as_decimal``) that is a number: not NaN, not infinite. Computed values pass
    here with any number of digits; inputs go through ``check_decimal``, which bounds them too."""
    value = as_decimal(value, field)
    if not value.is_finite():
        raise ValidationError(f"{field} must be a finite number", {"field": field, "value": str(value)})
    return value


def check_decimal(value: Decimal | int, field: str) -> Decimal:
    """A Decimal or an int (as a Decimal, see ``as_decimal``), finite, with at most 18 integer digits and 12
    decimals."""
    value = check_finite(value, field)
    # Read off the text where it is plain: some three times faster than ``as_tuple``. ``EXACT`` writes an exponent
    # with a capital E whatever the caller's context says (``str`` would follow its ``capitals``).
    text = EXACT.to_sci_string(value)
    if "E" in text:
        exponent = value.as_tuple().exponent
        assert isinstance(exponent, int)  # finite, checked above
        decimals = max(0, -exponent)
    else:
        point = text.find(".")
        decimals = 0 if point < 0 else len(text) - point - 1
    integer_digits = max(0, value.adjusted() + 1)
    if decimals > MAX_DECIMAL_PLACES or integer_digits > MAX_INTEGER_DIGITS:
        raise ValidationError(
            f"{field} has too many digits: at most {MAX_INTEGER_DIGITS} before and "
            f"{MAX_DECIMAL_PLACES} after the decimal point",
            {"field": field, "value": str(value)},
        )
    return value


def check_decimals(
    values: Iterable[Decimal | int], field: str, *, non_negative: bool = False
) -> tuple[list[Decimal], int]:
    """Every one of ``values`` through ``check_decimal`` (``check_non_negative`` if ``non_negative``), and the
    number of decimals that makes each a whole number.

    One look at each value's digits: large splits check their claims here. Should any value be wrong, the
    values are checked one by one, so that the error names the first wrong one exactly as the single check does.
    """
    given = list(values)
    scale = 0
    for value in given:
        if type(value) is not Decimal:
            break
        _sign, digits, exponent = value.as_tuple()
        if (
            not isinstance(exponent, int)
            or -exponent > MAX_DECIMAL_PLACES
            or len(digits) + exponent > MAX_INTEGER_DIGITS
        ):
            break
        if -exponent > scale:
            scale = -exponent
    else:
        decimals = cast(list[Decimal], given)  # every one a Decimal within the bounds
        if not (non_negative and decimals and min(decimals) < 0):
            return decimals, scale
    check = check_non_negative if non_negative else check_decimal
    checked = [check(value, field) for value in given]  # raises naming the first wrong value; ints converted
    exponents = [value.as_tuple().exponent for value in checked]
    return checked, max([0, *(-e for e in exponents if isinstance(e, int))])


def check_count(value: int, field: str, minimum: int | None = 0, maximum: int | None = None) -> int:
    """A count (a number of days, a priority, a sequence number, a number of units): an int, never a bool, a
    float or a Decimal, from ``minimum`` to ``maximum`` (``None``: no bound)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{field} must be an int, not {type(value).__name__} {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        limits = " ".join(
            part
            for part in (
                f"at least {minimum}" if minimum is not None else "",
                f"at most {maximum}" if maximum is not None else "",
            )
            if part
        )
        raise ValidationError(
            f"{field} must be a whole number {limits}, not {value}", {"field": field, "value": value}
        )
    return value


def check_counts(values: Iterable[int], field: str) -> list[int]:
    """Every one of ``values`` an int (see ``check_count``), in one pass; the values as a list."""
    checked = list(values)
    if not all(type(value) is int for value in checked):
        for value in checked:
            if type(value) is not int:
                check_count(value, field, minimum=None)  # an int subclass other than bool passes
    return checked


def parse_decimal(text: str, field: str) -> Decimal:
    """A decimal written as plain text (see ``PLAIN_DECIMAL``), exactly, within the bounds of ``check_decimal``."""
    if not PLAIN_DECIMAL.fullmatch(text):
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise ValidationError(
            f"{shown!r} is not a decimal number: write digits 0-9 with an optional point, e.g. 1000.50",
            {"field": field, "value": shown},
        )
    return check_decimal(Decimal(text), field)


def check_non_negative(value: Decimal | int, field: str) -> Decimal:
    value = check_decimal(value, field)
    if value < 0:
        raise ValidationError(f"{field} must not be negative", {"field": field, "value": str(value)})
    return value


def check_positive(value: Decimal | int, field: str) -> Decimal:
    value = check_decimal(value, field)
    if value <= 0:
        raise ValidationError(f"{field} must be greater than zero", {"field": field, "value": str(value)})
    return value


def check_cash(amount: Decimal | int, currency: str, field: str) -> Decimal:
    """A cash amount may not carry more decimals than its currency has: we never round it for you."""
    amount = check_decimal(amount, field)
    exponent = currency_exponent(currency)
    if amount != amount.quantize(minor_unit(currency), context=_ROUNDING):
        raise ValidationError(
            f"{field} {amount} has more decimals than {currency} allows ({exponent})",
            {"field": field, "value": str(amount), "currency": currency, "decimals": exponent},
        )
    return amount


def as_cash(amount: Decimal | int, currency: str, field: str) -> Decimal:
    """``amount`` written with exactly the currency's minor units (``10`` EUR → ``10.00``), never rounded:
    an amount with more decimals than the currency has is refused (``check_cash``)."""
    amount = check_cash(amount, currency, field)
    written = amount.quantize(minor_unit(currency), context=EXACT)
    return written.copy_abs() if written.is_zero() else written  # never "-0.00"


def is_multiple(value: Decimal, step: Decimal) -> bool:
    with decimal.localcontext(EXACT):
        return value % step == 0


def to_units(value: Decimal | int, step: Decimal | int, field: str = "amount") -> int:
    """``value / step`` as an int; ``value`` must be a whole multiple of ``step`` (greater than zero)."""
    value = check_decimal(value, field)
    step = check_positive(step, "step")
    with decimal.localcontext(EXACT):
        units, leftover = divmod(value, step)
    if leftover:
        raise OffStep(
            f"{field} {value} is not a multiple of the step {step}",
            {"field": field, "value": str(value), "step": str(step)},
        )
    return int(units)


def from_units(units: int, step: Decimal) -> Decimal:
    """``units × step``, exactly, written with the step's number of decimals."""
    return EXACT.multiply(Decimal(units), step)


def round_to(value: Decimal | int, step: Decimal | int, rounding: str) -> Decimal:
    """Round ``value`` (finite, any number of decimals) to a multiple of ``step`` (greater than zero) with an
    explicit rounding mode (decimal.ROUND_*)."""
    value = check_finite(value, "value")
    step = check_positive(step, "step")
    units = _ROUNDING.divide(value, step).quantize(ONE, rounding=rounding, context=_ROUNDING)
    return from_units(int(units), step)


def whole_steps(value: Decimal, step: Decimal) -> int:
    """How many whole ``step``s fit in a non-negative ``value`` (rounded down, exactly)."""
    with decimal.localcontext(EXACT):
        return int(value // step)


def divide_to(numerator: Decimal, denominator: Decimal, step: Decimal, rounding: str) -> Decimal:
    """``numerator / denominator`` rounded to a multiple of ``step`` with an explicit rounding mode."""
    return round_to(_ROUNDING.divide(numerator, denominator), step, rounding)


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    return round_to(value, step, decimal.ROUND_FLOOR)


def half_even_to(value: Decimal, step: Decimal) -> Decimal:
    return round_to(value, step, decimal.ROUND_HALF_EVEN)


def fmt(value: Decimal) -> str:
    """Plain notation, never scientific: ``Decimal('1E+3')`` is written ``1000``."""
    text = EXACT.to_sci_string(value)  # plain unless it has an exponent (a capital E), and faster than format
    return format(value, "f") if "E" in text else text
