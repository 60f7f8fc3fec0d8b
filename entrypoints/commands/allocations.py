"""``allot allocations``: model portfolios, referred to by id or by name."""

from __future__ import annotations

import click

from core.fairness import Fairness
from core.instruments import AllocationLine
from core.records import ModelPortfolio
from entrypoints.params import LINE, TEXT, choice
from entrypoints.session import Session, rows_table, with_session


def weights(model: ModelPortfolio) -> str:
    return ", ".join(f"{line.instrument_id} {line.weight}" for line in model.lines)


@click.group()
def allocations() -> None:
    """Model portfolios that BUY and REBALANCING orders follow."""


@allocations.command()
@click.argument("name", type=TEXT)
@click.option(
    "--line",
    "lines",
    type=LINE,
    multiple=True,
    required=True,
    metavar="INSTRUMENT=WEIGHT",
    help="Repeat; the weights sum to exactly 1.",
)
@click.option("--fairness", type=choice(Fairness), default=Fairness.PLAIN.value, show_default=True,
              help="ROTATE: the cents left over when a buy is split over the weights rotate over the instruments, "
              "order after order, instead of going the same way every time.")  # fmt: skip
@with_session
def create(session: Session, name: str, lines: tuple[AllocationLine, ...], fairness: Fairness) -> None:
    """Create a model portfolio with a unique NAME, e.g. growth --line IE00B4L5Y983=0.6 --line IE00B3F81R35=0.4."""
    model = session.open(writes=True).allocations.create(name, lines, fairness=fairness)
    session.emit(model, lambda: f"model portfolio {model.name} created: {model.id}")


@allocations.command()
@click.argument("allocation", type=TEXT)
@with_session
def show(session: Session, allocation: str) -> None:
    """One model portfolio, by id or name, with its weights."""
    model = session.open(writes=False).allocations.get(allocation)
    rows = [[line.instrument_id, line.weight] for line in model.lines]
    session.emit(model, lambda: f"{model.name}  {model.id}\n" + rows_table(["instrument", "weight"], rows))


@allocations.command(name="list")
@with_session
def list_(session: Session) -> None:
    """Every model portfolio."""
    found = session.open(writes=False).allocations.all()
    rows = [[m.name, m.id, weights(m)] for m in found]
    session.emit(found, lambda: rows_table(["name", "id", "weights"], rows))
