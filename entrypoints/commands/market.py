"""``allot market``: the simulated venue."""

from __future__ import annotations

from decimal import Decimal

import click

from core.market import MarketRun, RunOutcome
from core.numbers import ONE
from entrypoints.params import DECIMAL, TEXT
from entrypoints.session import Session, with_session


def progress(done: int, total: int) -> None:
    """Progress on stderr, so that stdout stays clean for --json."""
    click.echo(f"\rexecuting {done}/{total}", err=True, nl=done >= total)


def summary(run: MarketRun) -> str:
    lines = [
        f"orders: {run.count(RunOutcome.FILLED)} filled, {run.count(RunOutcome.PARTLY_FILLED)} partly filled, "
        f"{run.count(RunOutcome.CANCELLED)} cancelled",
        f"blocks: {run.count(RunOutcome.FILLED, blocks=True)} filled, "
        f"{run.count(RunOutcome.PARTLY_FILLED, blocks=True)} partly filled, {run.count(RunOutcome.CANCELLED, blocks=True)} cancelled",
    ]
    lines += [f"cancelled {e.id}: {e.reason}" for e in run.cancelled]
    lines += [f"not executed {f.id}: {f.message} ({f.code})" for f in run.failures]
    return "\n".join(lines)


@click.group()
def market() -> None:
    """The simulated venue."""


@market.command()
@click.option("--partial-fill-ratio", type=DECIMAL, default=str(ONE), show_default=True,
              help="Share of each order executed in this run: more than 0, at most 1.")  # fmt: skip
@click.option("--reject", multiple=True, type=TEXT, metavar="INSTRUMENT",
              help="Repeat; the trading partner refuses these (their orders are cancelled).")  # fmt: skip
@with_session
def run(session: Session, partial_fill_ratio: Decimal, reject: tuple[str, ...]) -> None:
    """Execute every open order and block order once at the price table. What the venue refuses is cancelled
    with its reason; the rest of the run goes on. Exit status 0 even when some orders were cancelled."""
    app = session.open(writes=True, partial_fill_ratio=partial_fill_ratio, reject=reject)
    app.instruments.check_known(reject)
    result = app.market.run(None if session.as_json else progress)
    session.emit(result, lambda: summary(result))
