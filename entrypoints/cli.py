"""The ``allot`` command: one module per command group, thin commands, one error path (``entrypoints.session``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from adapters.serialization import dumps, structure, unstructure_answer
from core.blocks import BlockRequest, allocate
from core.errors import DatabaseNotFound, ValidationError
from core.portfolio import PortfolioRequest, plan
from entrypoints.cli_io import read_request
from entrypoints.commands.accounts import accounts
from entrypoints.commands.allocations import allocations
from entrypoints.commands.apikeys import apikeys
from entrypoints.commands.blocks import blocks
from entrypoints.commands.db import database
from entrypoints.commands.events import events
from entrypoints.commands.explain import explain
from entrypoints.commands.followers import followers
from entrypoints.commands.instruments import instruments
from entrypoints.commands.investments import investments
from entrypoints.commands.keys import keys
from entrypoints.commands.leaders import leaders
from entrypoints.commands.ledger import ledger
from entrypoints.commands.liquidations import liquidations
from entrypoints.commands.market import market
from entrypoints.commands.orders import orders
from entrypoints.commands.prices import prices
from entrypoints.commands.serve import serve
from entrypoints.commands.webhooks import webhooks
from entrypoints.session import AllotGroup, Session, durability_option

T = TypeVar("T")


def run_json_command(
    session: Session, source: str, request_type: type[T], handle: Callable[[T], object]
) -> None:
    """A pure calculation: JSON in, JSON out; its errors are JSON too."""
    session.as_json = True
    click.echo(dumps(handle(structure(read_request(source), request_type))))


@click.group(cls=AllotGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="allot-engine")
@click.option(
    "--db", envvar="ALLOT_DB", metavar="PATH", help="SQLite database (default: $ALLOT_DB, else ./allot.db)."
)
@click.option(
    "--store",
    envvar="ALLOT_STORE",
    metavar="URL",
    help="Keep state on the allot server at URL (allot serve --store-api; its token in $ALLOT_STORE_TOKEN) "
    "instead of a database file.",
)
@durability_option
@click.option(
    "--json", "as_json", is_flag=True, help="Machine-readable JSON instead of tables, errors included."
)
@click.pass_context
def main(
    ctx: click.Context, db: str | None, store: str | None, durability: str | None, as_json: bool
) -> None:
    """allot: split client intents into exact orders and allocate block trades, to the cent and the share.

    \b
    split and allocate are pure calculations (JSON in, JSON out). The other
    commands keep state in a SQLite file (--db); commands that only read
    never create it. With --store URL they keep it on an allot server
    instead, shared with other processes. Output is a table; --json (before
    or after the command) prints JSON instead, errors included.

    \b
    Every commit is synced to the disk before the command reports it
    (--durability full, the default), so it survives a power cut;
    --durability normal is faster but may lose the last commits to a power
    cut or a system crash: for bulk loads and tests. allot db info shows it.

    \b
    Exit status: 0 done; 1 the request was refused (e.g. INSUFFICIENT_FUNDS,
    ALREADY_EXISTS, ILLEGAL_TRANSITION); 2 the input or usage is wrong, e.g.
    NOT_FOUND (nothing was written); 3 the database could not be used
    (missing, not an allot database, damaged, read-only, disk full); 70 a
    bug; 74 the output could not be written; 130 interrupted.
    """
    session: Session = ctx.ensure_object(Session)
    if db == "":
        raise click.BadParameter(
            "give a path, or leave --db out for $ALLOT_DB or ./allot.db", param_hint="--db"
        )
    if store == "":
        raise click.BadParameter(
            "give the address of an allot server, or leave --store out", param_hint="--store"
        )
    if db is not None and store is not None:
        db, store = _one_storage(ctx, db, store)
    session.db = db
    session.store = store
    session.as_json = as_json
    if durability is not None:
        session.choose_durability(durability, "--durability")


def _one_storage(ctx: click.Context, db: str, store: str) -> tuple[str | None, str | None]:
    """``--db`` or ``--store``: one given on the command line wins over the other's environment variable; both
    given the same way is ambiguous."""
    from_environment = click.core.ParameterSource.ENVIRONMENT
    db_from_environment = ctx.get_parameter_source("db") is from_environment
    store_from_environment = ctx.get_parameter_source("store") is from_environment
    if db_from_environment and not store_from_environment:
        return None, store
    if store_from_environment and not db_from_environment:
        return db, None
    where = "ALLOT_DB and ALLOT_STORE are both set" if db_from_environment else "--db and --store both given"
    raise click.UsageError(f"{where}: state is kept in a database file or on a server, give one of them")


@main.command()
@click.argument("request", metavar="REQUEST")
@click.option("--explain", is_flag=True, help='Add how each instrument\'s share came about ("explanation").')
@click.pass_obj
def split(session: Session, request: str, explain: bool) -> None:
    """Split a portfolio order into individual orders.

    REQUEST is a JSON file (or - for stdin) with "type" (BUY, SELL, LIQUIDATION,
    REBALANCING), "currency", "cash_amount" (BUY, SELL), "allocation" (BUY,
    REBALANCING), "instruments", "positions", "cash" and "policy". The plan is
    printed as JSON: orders (sells first) and skipped instruments with reasons.

    A BUY with "fairness": "ROTATE" rotates the leftover cents with "history"
    (the model's, as the previous plan returned it).

    \b
    Example:  allot split buy.json
              allot split buy.json --explain
    """
    run_json_command(session, request, PortfolioRequest, lambda r: shown(plan(r), explain))


@main.command(name="allocate")
@click.argument("request", metavar="REQUEST")
@click.option("--explain", is_flag=True, help='Add how each account\'s share came about ("explanation").')
@click.pass_obj
def allocate_command(session: Session, request: str, explain: bool) -> None:
    """Allocate a block trade over accounts with an allocation key.

    REQUEST is a JSON file (or - for stdin) with "key", "amount", and optionally
    "quantity_step", "filled" (a partial fill), "partial_fill_policy"
    (PRO_RATA or PRIORITY), "price", "contract_size", "buying_power" (per
    account, for margin handling), "fills" (executions, for the average price)
    and "currency". Prints each account's quantity, average price and traded
    value, and what went to the error account. A ROTATE key rotates its
    remainder with "history" (as the previous allocation returned it).
    """
    run_json_command(session, request, BlockRequest, lambda r: shown(allocate(r, explain=explain), explain))


def shown(result: object, explain: bool) -> object:
    """A pure calculation's result as printed: its explanation only when asked for, its history only when there
    is one (a ROTATE key or model)."""
    data = unstructure_answer(result, explain)
    if data.get("history") is None:
        data.pop("history", None)
    return data


@main.command()
@click.option(
    "--db", "demo_db", metavar="PATH", help="Run the story on this new database (default: a temporary one)."
)
@click.option("--core-only", is_flag=True, help="Only the pure calculations, no database or webhooks.")
def demo(demo_db: str | None, core_only: bool) -> None:
    """Walk through everything allot does, on sample data shipped with it."""
    from entrypoints.demo import run_demo
    from entrypoints.story import run_story

    if demo_db and Path(demo_db).exists():
        raise ValidationError(
            f"the demo writes its own story: give --db a new file, not {demo_db}",
            {"field": "db", "path": demo_db},
        )
    if demo_db and not Path(demo_db).parent.is_dir():
        raise DatabaseNotFound(
            f"the folder {Path(demo_db).parent} does not exist: create it or give --db another path",
            {"path": demo_db},
        )
    run_demo(click.echo)
    if not core_only:
        run_story(click.echo, demo_db)


for group in (
    accounts,
    instruments,
    prices,
    allocations,
    orders,
    liquidations,
    keys,
    blocks,
    explain,
    leaders,
    followers,
    investments,
    market,
    events,
    webhooks,
    ledger,
    database,
    apikeys,
    serve,
):
    main.add_command(group)

__all__ = ["main"]


if __name__ == "__main__":
    main()
