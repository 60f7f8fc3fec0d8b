"""attrs field validators shared by the core's value objects; each names the field in its error."""

from __future__ import annotations

import unicodedata
from decimal import Decimal

import attrs

from core.errors import ValidationError
from core.numbers import ONE, check_non_negative, check_positive, fmt


def positive(instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    check_positive(value, attribute.name)


def non_negative(instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    check_non_negative(value, attribute.name)


def optional_positive(
    instance: object, attribute: attrs.Attribute[Decimal | None], value: Decimal | None
) -> None:
    if value is not None:
        check_positive(value, attribute.name)


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
    hidden = sorted({f"U+{ord(c):04X}" for c in value if unicodedata.category(c) in _HIDDEN})
    if hidden:
        raise ValidationError(
            f"{field} must not contain invisible or control characters ({', '.join(hidden[:5])})",
            {"field": field, "characters": hidden},
        )
    return value
