"""The ``allot`` command. Thin click commands; every decision is a core call; one error path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from adapters.serialization import dumps, structure
from core.blocks import BlockRequest, allocate
from core.errors import ValidationError
from core.portfolio import PortfolioRequest, plan
from entrypoints.app import AllotGroup, App
from entrypoints.cli_io import read_request
from entrypoints.commands.accounts import accounts
from entrypoints.commands.instruments import instruments, prices
from entrypoints.commands.keys import blocks, keys
from entrypoints.commands.market import events, market, webhooks
from entrypoints.commands.orders import allocations, liquidations, orders

T = TypeVar("T")


def run_json_command(source: str, request_type: type[T], handle: Callable[[T], object]) -> None:
    click.echo(dumps(handle(structure(read_request(source), request_type))))


@click.group(cls=AllotGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="allot-engine")
@click.option(
    "--db", envvar="ALLOT_DB", metavar="PATH", help="SQLite database (default: $ALLOT_DB, else ./allot.db)."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON instead of tables.")
@click.pass_context
def main(ctx: click.Context, db: str | None, as_json: bool) -> None:
    """allot: split client intents into exact orders and allocate block trades, to the cent and the share.

    \b
    split and allocate are pure calculations (JSON in, JSON out). The resource
    commands (accounts, orders, keys, market, webhooks, ...) keep state in a
    SQLite file. Exit status: 0 done, 1 the request was rejected (e.g.
    INSUFFICIENT_FUNDS), 2 the input is invalid. Errors are printed to stderr
    as {"error": {"code", "message", "details"}}.
    """
    ctx.obj = App(db, as_json)


@main.command()
@click.argument("request", metavar="REQUEST")
def split(request: str) -> None:
    """Split a portfolio order into individual orders.

    REQUEST is a JSON file (or - for stdin) with "type" (BUY, SELL, LIQUIDATION,
    REBALANCING), "currency", "cash_amount" (BUY, SELL), "allocation" (BUY,
    REBALANCING), "instruments", "positions", "cash" and "policy". The plan is
    printed as JSON: orders (sells first) and skipped instruments with reasons.

    \b
    Example:  allot split buy.json
    """
    run_json_command(request, PortfolioRequest, plan)


@main.command(name="allocate")
@click.argument("request", metavar="REQUEST")
def allocate_command(request: str) -> None:
    """Allocate a block trade over accounts with an allocation key.

    REQUEST is a JSON file (or - for stdin) with "key", "amount", and optionally
    "quantity_step", "filled" (a partial fill), "partial_fill_policy"
    (PRO_RATA or PRIORITY), "price", "contract_size", "buying_power" (per
    account, for margin handling), "fills" (executions, for the average price)
    and "currency". Prints each account's quantity, average price and traded
    value, and what went to the error account.
    """
    run_json_command(request, BlockRequest, allocate)


@main.command()
@click.option(
    "--db", "demo_db", metavar="PATH", help="Run the story on this database (default: a temporary one)."
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
    market,
    events,
    webhooks,
):
    main.add_command(group)

__all__ = ["main"]


if __name__ == "__main__":
    main()
