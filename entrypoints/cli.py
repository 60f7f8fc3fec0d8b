"""The ``allot`` command. Thin click commands; every decision is a core call; one error path."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from adapters.serialization import UnreadableInput, dumps, error_body, parse_json, structure
from core.blocks import BlockRequest, allocate
from core.errors import AllotError, ValidationError
from core.portfolio import PortfolioRequest, plan

T = TypeVar("T")

#: Exit status for a request the core rejects (insufficient funds, NAV limit, ...).
EXIT_REJECTED = 1
#: Exit status for input that could not be read or is invalid (bad JSON, unknown field, bad number, ...).
EXIT_INVALID = 2


def fail(error: AllotError) -> None:
    """The one error path: the error body on stderr, nothing on stdout, a stable exit status."""
    click.echo(json.dumps(error_body(error), indent=2, ensure_ascii=False), err=True)
    sys.exit(EXIT_INVALID if isinstance(error, ValidationError) else EXIT_REJECTED)


def read_request(source: str) -> Any:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UnreadableInput(f"cannot read the request {source}: {exc}", {"source": source}) from None
    return parse_json(text)


def run_json_command(source: str, request_type: type[T], handle: Callable[[T], object]) -> None:
    try:
        result = handle(structure(read_request(source), request_type))
    except AllotError as error:
        fail(error)
    else:
        click.echo(dumps(result))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="allot-engine")
def main() -> None:
    """allot: split client intents into exact orders and allocate block trades, to the cent and the share.

    \b
    Requests and results are JSON. Exit status: 0 done, 1 the request was
    rejected (e.g. INSUFFICIENT_FUNDS), 2 the input is invalid. Errors are
    printed to stderr as {"error": {"code", "message", "details"}}.
    """


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
def demo() -> None:
    """Walk through everything allot does, on sample data shipped with it."""
    from entrypoints.demo import run_demo

    run_demo(click.echo)


__all__ = ["main"]
