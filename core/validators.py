"""attrs field validators shared by the core's value objects; each names the field in its error."""

from __future__ import annotations

import datetime as dt
import enum
import unicodedata
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, TypeVar, cast

import attrs

from core.errors import ValidationError
from core.numbers import (
    ONE,
    check_count,
    check_decimal,
    check_non_negative,
    check_positive,
    currency_exponent,
    fmt,
)


class _NamedEnumType(enum.EnumType):
    """Calling a named enum with one of its members returns the member at once: the core converts every enum
    field this way (every order's side and state), and the general path through ``enum`` costs twice as much."""

    def __call__(cls, value: object, *args: Any, **kwargs: Any) -> Any:
        if value.__class__ is cls:
            return value
        return super().__call__(value, *args, **kwargs)


class NamedEnum(enum.Enum, metaclass=_NamedEnumType):
    """An enum of the core. Wherever one enters the core it may be given as a member or by its name
    (``Side.BUY`` or ``"BUY"``): calling the class (``Side("BUY")``) converts, and attrs fields use the class as
    their converter. A name that is no member's is a ``ValidationError`` listing the names; a value of any
    other type (an int, a float, ``None``) is a ``TypeError``.

    Every member's value is its name, so what is stored and sent (the value) reads back as the same member.
    """

    @classmethod
    def _missing_(cls, value: object) -> NamedEnum:
        if isinstance(value, str):
            member = cls.__members__.get(value)
            if member is not None:
                return member
            names = ", ".join(cls.__members__)
            raise ValidationError(
                f"{value!r} is not a {cls.__name__}: use one of {names}",
                {"field": cls.__name__, "value": value, "choices": list(cls.__members__)},
            )
        raise TypeError(
            f"a {cls.__name__} is one of its members or their names, not {type(value).__name__} {value!r}"
        )


def decimal_number(instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    """A Decimal (an int is converted by ``decimal_input``) within the bounds of ``check_decimal``."""
    check_decimal(value, attribute.name)


def positive(instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    check_positive(value, attribute.name)


def non_negative(instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    check_non_negative(value, attribute.name)


def optional_positive(
    instance: object, attribute: attrs.Attribute[Decimal | None], value: Decimal | None
) -> None:
    if value is not None:
        check_positive(value, attribute.name)


def count(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    """An int (not a bool, a float or a Decimal) of zero or more."""
    check_count(value, attribute.name)


def positive_count(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    """An int of one or more (a priority, a sequence number)."""
    check_count(value, attribute.name, minimum=1)


def optional_positive_count(
    instance: object, attribute: attrs.Attribute[int | None], value: int | None
) -> None:
    if value is not None:
        check_count(value, attribute.name, minimum=1)


#: A field that holds ``True`` or ``False`` and nothing else (not a truthy string, not 1).
flag = attrs.validators.instance_of(bool)

T = TypeVar("T")


def each_is(kind: type[T], values: Iterable[object], field: str) -> list[T]:
    """``values`` as a list, every one a ``kind`` (``TypeError`` naming the field and the first that is not)."""
    checked = list(values)
    for index, value in enumerate(checked):
        if not isinstance(value, kind):
            raise TypeError(
                f"{field} must hold {kind.__name__} values, not {type(value).__name__} (item {index})"
            )
    return cast(list[T], checked)  # every item was checked above


def each(kind: type[Any]) -> Callable[[object, attrs.Attribute[Any], Iterable[object]], None]:
    """attrs validator of a collection field: every item a ``kind`` (see ``each_is``)."""

    def validate(instance: object, attribute: attrs.Attribute[Any], value: Iterable[object]) -> None:
        each_is(kind, value, attribute.name)

    return validate


def check_date(value: dt.date, field: str) -> dt.date:
    """A calendar date: a ``datetime.date``, not a datetime (whose time and zone a date cannot honour)."""
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise TypeError(f"{field} must be a date, not {type(value).__name__} {value!r}")
    return value


def date(instance: object, attribute: attrs.Attribute[dt.date], value: dt.date) -> None:
    check_date(value, attribute.name)


def optional_date(
    instance: object, attribute: attrs.Attribute[dt.date | None], value: dt.date | None
) -> None:
    if value is not None:
        check_date(value, attribute.name)


def optional_non_negative(
    instance: object, attribute: attrs.Attribute[Decimal | None], value: Decimal | None
) -> None:
    if value is not None:
        check_non_negative(value, attribute.name)


def fraction(instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    """Between 0 and 1 inclusive (a rate, a weight band, a share of NAV)."""
    check_non_negative(value, attribute.name)
    if value > ONE:
        raise ValidationError(
            f"{attribute.name} must be between 0 and 1", {"field": attribute.name, "value": fmt(value)}
        )


def known_currency(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    """An ISO 4217 code allot knows."""
    currency_exponent(value)


def optional_currency(instance: object, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is not None:
        currency_exponent(value)


def non_empty(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    check_text(value, attribute.name)


def optional_text(instance: object, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is not None:
        check_text(value, attribute.name)


#: Unicode categories no name, id or key may contain: control and format characters (invisible ones such as
#: zero-width spaces and direction overrides included), line and paragraph separators, surrogates, private use
#: and unassigned code points.
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def check_text(value: str, field: str) -> str:
    """A name, id or key given by a person: visible characters, not empty, no blanks at either end (two ids that
    look alike must be alike)."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field} must not be empty", {"field": field})
    if value != value.strip():
        raise ValidationError(f"{field} must not start or end with blanks", {"field": field})
    # The common case, at once: in ASCII the only hidden characters are the controls, which are not printable.
    if value.isascii() and value.isprintable():
        return value
    hidden = sorted({f"U+{ord(c):04X}" for c in value if unicodedata.category(c) in _HIDDEN})
    if hidden:
        raise ValidationError(
            f"{field} must not contain invisible or control characters ({', '.join(hidden[:5])})",
            {"field": field, "characters": hidden},
        )
    return value


#: The longest id a person may choose (an account's): long enough for any broker's, short enough for a URL.
MAX_ID_LENGTH = 128


def check_id(value: str, field: str) -> str:
    """An id a person chooses for a record (an account's): a ``check_text`` of at most ``MAX_ID_LENGTH`` characters
    without ``/``, ``?``, ``#`` or ``%``, so that it can stand in a URL path as it is."""
    check_text(value, field)
    if len(value) > MAX_ID_LENGTH:
        raise ValidationError(
            f"{field} is {len(value)} characters long: at most {MAX_ID_LENGTH}",
            {"field": field, "length": len(value), "maximum": MAX_ID_LENGTH},
        )
    if value in (".", ".."):
        raise ValidationError(f"{field} must not be . or .. (a URL path step)", {"field": field})
    reserved = sorted({c for c in value if c in "/?#%"})
    if reserved:
        raise ValidationError(
            f"{field} must not contain {' '.join(reserved)} (an id stands in a URL as it is)",
            {"field": field, "characters": reserved},
        )
    return value
