"""Typed command-line parameters: strict decimals, non-empty text, choices taken from the core's enums.

A value click refuses here is a usage error: exit status 2, nothing written.
"""

from __future__ import annotations

import enum
import re
from decimal import Decimal
from typing import Any, TypeVar

import click

from core.errors import AllotError
from core.instruments import AllocationLine
from core.numbers import check_decimal

E = TypeVar("E", bound=enum.Enum)

#: ASCII digits, an optional minus sign and at most one decimal point: no exponent, no separators, no other digits.
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?", re.ASCII)


class DecimalType(click.ParamType[Decimal, Any]):
    """An exact decimal written plainly: ``1000``, ``1000.50``, ``-5``. Refused: ``1e3``, ``1_000``, ``1,5``,
    ``.5``, digits of other scripts, more than 18 integer digits or 12 decimals."""

    name = "decimal"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Decimal:
        if isinstance(value, Decimal):
            return value
        text = str(value)
        if not _DECIMAL.fullmatch(text):
            self.fail(
                f"{text!r} is not a decimal number: write digits 0-9 with an optional point, e.g. 1000.50",
                param,
                ctx,
            )
        try:
            return check_decimal(Decimal(text), param.name if param is not None and param.name else "value")
        except AllotError as error:
            self.fail(error.message, param, ctx)


class TextType(click.ParamType[str, Any]):
    """A name, id or key: anything but empty or blank."""

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if not text.strip():
            self.fail("must not be empty", param, ctx)
        return text


def choice(enum_type: type[E], exclude: tuple[E, ...] = ()) -> click.Choice[E]:
    """One of an enum's members, written in any case (``buy``, ``BUY``)."""
    return click.Choice([m for m in enum_type if m not in exclude], case_sensitive=False)


DECIMAL = DecimalType()
TEXT = TextType()


class LineType(click.ParamType[AllocationLine, Any]):
    """``INSTRUMENT=WEIGHT``, e.g. ``IE00B4L5Y983=0.6``."""

    name = "line"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> AllocationLine:
        if isinstance(value, AllocationLine):
            return value
        instrument_id, separator, weight = str(value).partition("=")
        if not separator or not instrument_id.strip():
            self.fail(f"{value!r} is not INSTRUMENT=WEIGHT, e.g. IE00B4L5Y983=0.6", param, ctx)
        try:
            return AllocationLine(instrument_id, DECIMAL.convert(weight, param, ctx))
        except AllotError as error:
            self.fail(error.message, param, ctx)


LINE = LineType()
