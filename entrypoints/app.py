"""What every stateful command shares: the engine for ``--db``, output as tables or ``--json``, one error path."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import attrs
import click

from adapters.serialization import dumps, error_body, structure
from adapters.sqlite import SqliteDatabase
from adapters.venue import SimulatedVenue
from core.errors import AllotError, ValidationError
from entrypoints.bootstrap import database_path, sqlite_engine
from entrypoints.render import table
from ports.driven import Venue
from ports.service import Engine

#: Exit status for a request the core rejects (insufficient funds, NAV limit, ...).
EXIT_REJECTED = 1
#: Exit status for input that could not be read or is invalid (bad JSON, unknown field, bad number, ...).
EXIT_INVALID = 2


def fail(error: AllotError) -> None:
    """The one error path: the error body on stderr, nothing on stdout, a stable exit status."""
    click.echo(json.dumps(error_body(error), indent=2, ensure_ascii=False), err=True)
    sys.exit(EXIT_INVALID if isinstance(error, ValidationError) else EXIT_REJECTED)


class AllotGroup(click.Group):
    """A click group whose commands report ``AllotError`` through ``fail`` (never a traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AllotError as error:
            fail(error)


@attrs.define
class App:
    db: str | None
    as_json: bool
    venue: Venue = attrs.field(factory=SimulatedVenue)
    _engine: Engine | None = None
    _database: SqliteDatabase | None = None

    def _open(self) -> tuple[Engine, SqliteDatabase]:
        if self._engine is None or self._database is None:
            self._engine, self._database = sqlite_engine(database_path(self.db), venue=self.venue)
        return self._engine, self._database

    @property
    def engine(self) -> Engine:
        return self._open()[0]

    @property
    def database(self) -> SqliteDatabase:
        return self._open()[1]

    def emit(self, value: object, human: Callable[[], str]) -> None:
        click.echo(dumps(value) if self.as_json else human())


def pass_app(command: Callable[..., None]) -> Callable[..., None]:
    """Hand the command the ``App``, and accept ``--json`` after the command too (``allot orders list --json``)."""

    def with_app(ctx: click.Context, /, *args: Any, as_json: bool, **kwargs: Any) -> None:
        app = ctx.find_object(App)
        if app is None:
            app = App(None, False)
        if as_json:
            app.as_json = True
        command(app, *args, **kwargs)

    with_app.__name__, with_app.__doc__ = command.__name__, command.__doc__
    json_option = click.option(
        "--json", "as_json", is_flag=True, help="Machine-readable JSON instead of a table."
    )
    return json_option(click.pass_context(with_app))


def to_decimal(value: str | Decimal, name: str = "value") -> Decimal:
    """A decimal from the command line, parsed exactly (never through float)."""
    if isinstance(value, Decimal):
        return value
    try:
        return structure(value, Decimal)
    except ValidationError as error:
        raise ValidationError(f"{name}: {error.message}", {**error.details, "field": name}) from None


def decimal_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> Decimal | None:
    """``callback=`` for decimal options and arguments."""
    return None if value is None else to_decimal(value, param.name or "value")


def progress_reporter(label: str) -> Callable[[int, int], None]:
    """Progress on stderr (so that stdout stays clean for --json)."""

    def report(done: int, total: int) -> None:
        click.echo(f"\r{label} {done}/{total}", err=True, nl=done >= total)

    return report


def rows_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    return table(headers, rows) if rows else "(none)"
