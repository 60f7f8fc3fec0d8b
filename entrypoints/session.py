"""What every command of one ``allot`` run shares: the database it opens, the output mode, and the one error path.

Exit status: 0 done; 1 the request was refused (a business rule: insufficient funds, already exists, illegal
transition, a conflict); 2 the input or the usage is wrong (nothing was written); 3 the database could not be used
(missing, not an allot database, read-only, damaged, disk full); 70 an internal error; 74 the output could not be
written; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, NoReturn

import attrs
import click

from adapters.serialization import dumps, error_body
from core.errors import AllotError, StorageError, ValidationError
from core.numbers import ONE
from entrypoints.bootstrap import (
    Durability,
    database_path,
    discard_if_unused,
    http_application,
    sqlite_application,
    store_token,
)
from entrypoints.render import table
from ports.application import Application
from ports.driven import BackOffice

EXIT_REFUSED: Final = 1
EXIT_INVALID: Final = 2
EXIT_STORAGE: Final = 3
EXIT_INTERNAL: Final = 70
EXIT_OUTPUT: Final = 74
EXIT_INTERRUPTED: Final = 130


@attrs.define
class Session:
    """One run of the command: ``--db`` or ``--store``, ``--json``, and the application once a command opened it.

    ``as_json`` comes from the parsed options; ``json_hint`` is a guess from the raw arguments, so that an error in
    parsing them is still reported the way the caller asked for.
    """

    db: str | None = None
    #: The allot server whose store API keeps the state (``--store``), instead of a database file.
    store: str | None = None
    as_json: bool = False
    json_hint: bool = False
    #: The durability an option chose (``--durability``, ``serve --durability``), if one did.
    chosen_durability: Durability | None = None
    #: The option that chose it.
    durability_from: str | None = None
    _app: Application | None = None
    #: The database this run created: it is removed again if the command fails.
    _created: Path | None = None

    def open(
        self,
        writes: bool,
        partial_fill_ratio: Decimal = ONE,
        reject: Sequence[str] = (),
        back_office: BackOffice | None = None,
    ) -> Application:
        """The application on the database, or on the store API with ``--store``. A command that only reads
        (``writes`` false) never creates a database; one that writes creates it if missing (and says so on
        stderr, unless ``--json``)."""
        if self._app is None and self.store is not None:
            self._no_durability_with_store()
            token = store_token()
            if token is None:
                raise click.UsageError("--store needs the store API's service token in ALLOT_STORE_TOKEN")
            self._app = http_application(
                self.store,
                token,
                partial_fill_ratio=partial_fill_ratio,
                reject=reject,
                back_office=back_office,
            )
        if self._app is None:
            path = database_path(self.db)
            # Noted before opening: a database whose set-up fails (a full disk) is removed again like any other.
            self._created = None if path.exists() else path
            self._app = sqlite_application(
                path,
                create=writes,
                partial_fill_ratio=partial_fill_ratio,
                reject=reject,
                back_office=back_office,
                durability=self.durability,
            )
        return self._app

    def choose_durability(self, value: str, source: str) -> None:
        """``--durability`` (named by ``source``): ``full`` or ``normal``, before or after ``allot serve``; given
        twice it must say the same."""
        durability = Durability.of(value)
        if self.chosen_durability is not None and durability is not self.chosen_durability:
            raise click.UsageError(
                f"{self.durability_from} says {self.chosen_durability.value} and {source} says {durability.value}: "
                "choose one durability"
            )
        self.chosen_durability, self.durability_from = durability, source

    @property
    def durability(self) -> Durability:
        """How durable each commit to the database file is: the option's choice, else ``ALLOT_DURABILITY``, else
        full. The variable is read only here, when a database file is opened, so that a bad value stops only the
        commands it would apply to, and says which input is wrong."""
        if self.chosen_durability is not None:
            return self.chosen_durability
        value = os.environ.get(ENVIRONMENT_DURABILITY, "")
        if not value:
            return Durability.FULL
        try:
            return Durability.of(value)
        except ValidationError:
            shown = value if len(value) <= 40 else value[:37] + "..."
            raise click.UsageError(
                f"{ENVIRONMENT_DURABILITY} is {shown!r}: set it to full or normal, or unset it for full"
            ) from None

    def _no_durability_with_store(self) -> None:
        """With ``--store`` the server commits, with the durability it was started with: a ``--durability`` given
        here would be ignored, so it is refused. ``ALLOT_DURABILITY`` is the default for database files, and
        applies to none here (it is not read)."""
        if self.chosen_durability is not None:
            raise click.UsageError(
                f"{self.durability_from} is for a database file, and --store names a server: the server keeps its "
                "own durability (allot serve --durability)"
            )

    def choose_database(self, db: str) -> None:
        """``--db`` given after the command (``allot serve --db PATH``): the same as before it, and not with
        ``--store`` or a different ``--db`` before it."""
        if self.store is not None or (self.db is not None and self.db != db):
            raise click.UsageError(
                "give the database once: --db PATH (or --store URL), before or after the command"
            )
        self.db = db

    def database_file(self, command: str) -> Path:
        """The database file, for a command that works on the file itself; with ``--store`` there is none here
        (a usage error: the command belongs where the database is)."""
        if self.store is not None:
            self._no_durability_with_store()
            raise click.UsageError(
                f"allot {command} works on a SQLite database file, and --store names a server: run it where the "
                "database is, with --db PATH"
            )
        return database_path(self.db)

    def close(self, succeeded: bool) -> None:
        """Release the database. One this run created is removed again if the command failed and nothing was
        written to it, so that a refused command leaves nothing behind."""
        if self._app is not None:
            self._app.close()
            self._app = None
        if self._created is not None and not succeeded:
            discard_if_unused(self._created)
        elif self._created is not None and not self.as_json:
            click.echo(f"allot: created a new database at {self._created}", err=True)

    def emit(self, value: object, human: Callable[[], str]) -> None:
        """Print ``value`` as JSON under ``--json``, else the human-readable text."""
        click.echo(dumps(value) if self.as_json else human())


#: Where a durability comes from when no option chose one.
ENVIRONMENT_DURABILITY: Final = "ALLOT_DURABILITY"

durability_option = click.option(
    "--durability",
    type=click.Choice([d.value for d in Durability], case_sensitive=False),
    help="full (the default): every commit is on disk before it is reported, and survives a power cut. normal: "
    "faster, but the last commits before a power cut or a system crash may be lost (for bulk loads and tests). "
    "Default: $ALLOT_DURABILITY, else full.",
)


def with_session(command: Callable[..., None]) -> Callable[..., None]:
    """Hand the command the ``Session``, and accept ``--json`` after the command too (``allot orders list --json``)."""

    @functools.wraps(command)
    def run(ctx: click.Context, /, *args: Any, as_json: bool, **kwargs: Any) -> None:
        session = ctx.find_object(Session)
        if session is None:
            session = ctx.ensure_object(Session)
        session.as_json = session.as_json or as_json
        command(session, *args, **kwargs)

    json_option = click.option(
        "--json", "as_json", is_flag=True, help="Machine-readable JSON instead of a table."
    )
    return json_option(click.pass_context(run))


def exit_status(error: AllotError) -> int:
    if isinstance(error, StorageError):
        return EXIT_STORAGE
    if isinstance(error, ValidationError):
        return EXIT_INVALID
    return EXIT_REFUSED


def report(error: AllotError, as_json: bool) -> NoReturn:
    """The one error path: the error on stderr (a sentence, or its JSON body), nothing on stdout, a stable status."""
    if as_json:
        click.echo(json.dumps(error_body(error), indent=2, ensure_ascii=False), err=True)
    else:
        click.echo(f"allot: {error.message} ({error.code})", err=True)
    sys.exit(exit_status(error))


def report_usage(error: click.ClickException, as_json: bool) -> NoReturn:
    """A usage error (unknown option, missing argument, a value the parameter refuses): exit status 2."""
    if as_json:
        refused_value = isinstance(error, click.BadParameter) and not isinstance(
            error, click.MissingParameter
        )
        code = "VALIDATION_ERROR" if refused_value else "USAGE_ERROR"
        body = {"error": {"code": code, "message": error.format_message(), "details": {}}}
        click.echo(json.dumps(body, indent=2, ensure_ascii=False), err=True)
    else:
        error.show()
    sys.exit(EXIT_INVALID)


def report_interrupted(as_json: bool) -> NoReturn:
    """Ctrl-C: the step under way was rolled back; what finished before it stays."""
    message = "interrupted: the step under way was not written; what finished before it was"
    if as_json:
        body = {"error": {"code": "INTERRUPTED", "message": message, "details": {}}}
        click.echo(json.dumps(body, indent=2, ensure_ascii=False), err=True)
    else:
        click.echo(f"allot: {message} (INTERRUPTED)", err=True)
    sys.exit(EXIT_INTERRUPTED)


def report_output(error: OSError) -> NoReturn:
    """The output could not be written (a closed pipe, a full disk); the work itself was done or refused."""
    with contextlib.suppress(OSError):
        click.echo(f"allot: cannot write the output: {error.strerror or error} (OUTPUT_ERROR)", err=True)
    sys.exit(EXIT_OUTPUT)


def report_internal(error: BaseException, as_json: bool) -> NoReturn:
    """A bug: say so in one sentence; the traceback only with ``ALLOT_DEBUG=1``."""
    if os.environ.get("ALLOT_DEBUG"):
        traceback.print_exception(error)
    message = f"allot failed unexpectedly ({type(error).__name__}: {error}); run again with ALLOT_DEBUG=1 for details"
    if as_json:
        body = {"error": {"code": "INTERNAL_ERROR", "message": message, "details": {}}}
        click.echo(json.dumps(body, indent=2, ensure_ascii=False), err=True)
    else:
        click.echo(f"allot: {message} (INTERNAL_ERROR)", err=True)
    sys.exit(EXIT_INTERNAL)


class AllotGroup(click.Group):
    """The top-level group: every way a run can end goes through one place — done, refused, bad input, storage,
    interrupted — and none of them shows a traceback."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        arguments = list(sys.argv[1:] if args is None else args)
        session = Session(json_hint="--json" in arguments)
        succeeded = False
        try:
            status = super().main(
                arguments,
                prog_name,
                complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                obj=session,
                **extra,
            )
            succeeded = not status
        except AllotError as error:
            report(error, session.as_json)
        except click.ClickException as error:
            report_usage(error, session.as_json or session.json_hint)
        except (click.Abort, KeyboardInterrupt):
            report_interrupted(session.as_json)
        except OSError as error:
            report_output(error)
        except Exception as error:
            report_internal(error, session.as_json)
        finally:
            session.close(succeeded)
        sys.exit(status if isinstance(status, int) else 0)


def rows_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    return table(headers, rows) if rows else "(none)"
