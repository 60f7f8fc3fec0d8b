"""Typed command-line parameters: strict decimals, names and ids, model portfolio lines, choices from the core.

A value refused here is a usage error: exit status 2, nothing written. The rules are the core's own
(``core.numbers.parse_decimal``, ``core.validators.check_text``), so the command line and JSON requests agree.
"""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Any, TypeVar

import click

from core.errors import AllotError
from core.instruments import AllocationLine
from core.numbers import parse_decimal
from core.validators import check_text

E = TypeVar("E", bound=enum.Enum)


def _field(param: click.Parameter | None, default: str) -> str:
    return param.name if param is not None and param.name else default


class DecimalType(click.ParamType[Decimal, Any]):
    """An exact decimal written plainly: ``1000``, ``1000.50``, ``-5``. Refused: ``1e3``, ``1_000``, ``1,5``,
    ``.5``, digits of other scripts, more than 18 integer digits or 12 decimals."""

    name = "decimal"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Decimal:
        if isinstance(value, Decimal):
            return value
        try:
            return parse_decimal(str(value), _field(param, "value"))
        except AllotError as error:
            self.fail(error.message, param, ctx)


class TextType(click.ParamType[str, Any]):
    """A name, id or key: visible characters, not empty, no blanks at either end."""

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        try:
            text.encode("utf-8")
            return check_text(text, _field(param, "text"))
        except UnicodeEncodeError:
            self.fail("is not valid text (the bytes are not UTF-8)", param, ctx)
        except AllotError as error:
            self.fail(error.message, param, ctx)


def choice(enum_type: type[E], exclude: tuple[E, ...] = ()) -> click.Choice[E]:
    """One of an enum's members, written in any case (``buy``, ``BUY``)."""
    return click.Choice([m for m in enum_type if m not in exclude], case_sensitive=False)


class LineType(click.ParamType[AllocationLine, Any]):
    """``INSTRUMENT=WEIGHT``, e.g. ``IE00B4L5Y983=0.6``."""

    name = "line"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> AllocationLine:
        if isinstance(value, AllocationLine):
            return value
        instrument_id, separator, weight = str(value).partition("=")
        if not separator:
            self.fail(f"{value!r} is not INSTRUMENT=WEIGHT, e.g. IE00B4L5Y983=0.6", param, ctx)
        try:
            return AllocationLine(check_text(instrument_id, "instrument"), parse_decimal(weight, "weight"))
        except AllotError as error:
            self.fail(f"{value!r}: {error.message}", param, ctx)


DECIMAL = DecimalType()
TEXT = TextType()
LINE = LineType()
