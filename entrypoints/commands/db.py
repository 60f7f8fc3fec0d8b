"""``allot db``: the database file itself: how it is set up, its full integrity check and an online backup."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from adapters.sqlite import BackupReport, DatabaseInfo, IntegrityReport
from core.errors import AlreadyExists
from entrypoints.bootstrap import backup_database, check_database, describe_database
from entrypoints.render import counted
from entrypoints.session import EXIT_REFUSED, Session, with_session


@click.group(name="db")
def database() -> None:
    """The database file: how it is set up, check it for damage, back it up."""


def described(info: DatabaseInfo) -> str:
    identity = '"alot": an allot database' if info.is_allot else "none yet: set when allot next writes to it"
    rows = [
        ("database", info.database),
        ("journal mode", info.journal_mode),
        (
            "durability",
            f"{info.durability.value} (synchronous {info.synchronous}): {info.durability.promise}",
        ),
        ("", "chosen by each process that opens the file: --durability or ALLOT_DURABILITY, else full"),
        ("schema version", f"{info.schema_version} (this allot: {info.supported_schema})"),
        ("application id", f"0x{info.application_id:08X} ({identity})"),
        ("SQLite", info.sqlite_version),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {value}".rstrip() for name, value in rows)


@database.command()
@with_session
def info(session: Session) -> None:
    """How the database is set up: its journal mode (WAL), the durability of a commit (PRAGMA synchronous: FULL
    by default, NORMAL with --durability normal or ALLOT_DURABILITY=normal), the schema version and the
    application id that marks it as allot's. Reads only: an older schema is shown, not migrated.

    SQLite keeps the durability per connection, not in the file: what is shown is what commands run with the
    same --durability and ALLOT_DURABILITY use."""
    found = describe_database(session.database_file("db info"), session.durability)
    session.emit(found, lambda: described(found))


def verdict(report: IntegrityReport) -> str:
    if report.sound:
        return f"the database {report.database} is sound: the full integrity check found no problem"
    return "\n".join(report.problems)


@database.command()
@with_session
def check(session: Session) -> None:
    """Run SQLite's full integrity check (PRAGMA integrity_check) on the database, reading only: every page, table
    and index, and that every index agrees with its table. Prints each problem found; exit status 1 if there is
    one. (Every command runs the quicker check, PRAGMA quick_check, when it opens the database.)"""
    report = check_database(session.database_file("db check"))
    session.emit(report, lambda: verdict(report))
    if not report.sound:
        click.echo(
            f"allot: the database {report.database} is damaged ({counted(len(report.problems), 'problem')} found): "
            "restore it from a backup (DATABASE_CORRUPT)",
            err=True,
        )
        sys.exit(EXIT_REFUSED)


def backed_up(report: BackupReport) -> str:
    return (
        f"backed up {report.database} to {report.backup}: {report.pages} pages, {report.bytes} bytes, "
        "checked, readable by its owner only"
    )


@database.command(name="backup")
@click.argument("target", metavar="PATH", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
@with_session
def backup_command(session: Session, target: Path, force: bool) -> None:
    """Copy the database to the new file PATH with SQLite's online backup API: a consistent copy of what is
    committed, taken while other commands keep working. The database must pass the quick check; the copy is
    checked too, created readable by its owner only (0600), and appears at PATH only once complete."""
    source = session.database_file("db backup")
    if target.exists() and not force and target.resolve() != source.resolve():
        raise AlreadyExists(
            f"{target} exists already: give the backup a new path, or --force to replace the file",
            {"path": str(target)},
        )
    report = backup_database(source, target, replace=force)
    session.emit(report, lambda: backed_up(report))
