"""``allot market``: the simulated venue."""

from __future__ import annotations

import sys
from collections import Counter
from decimal import Decimal

import click

from adapters.back_office import SimulatedBackOffice
from core.investments import BackOfficeStep
from core.market import MarketRun, RunOutcome
from core.numbers import ONE
from entrypoints.params import DECIMAL, TEXT, choice
from entrypoints.session import EXIT_STORAGE, Session, with_session


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
    if run.investments or run.rebalanced:
        lines.append(
            f"investments: {len(run.investments)} moved on"
            + (f"; rebalance buys placed for {', '.join(run.rebalanced)}" if run.rebalanced else "")
        )
    lines += [f"investment {a.id}: {a.process_state} {a.state_id} {a.state_name}" for a in run.investments]
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
@click.option("--back-office-fail", "fail", multiple=True, type=choice(BackOfficeStep), metavar="STEP",
              help="Repeat; the simulated back office answers FAILED to this step once per repetition "
                   "(the investment retries it on its schedule).")  # fmt: skip
@click.option("--back-office-raise", "raise_at", multiple=True, type=choice(BackOfficeStep), metavar="STEP",
              help="Repeat; the simulated back office raises at this step (the investment goes to its ERROR "
                   "sub-state).")  # fmt: skip
@with_session
def run(
    session: Session,
    partial_fill_ratio: Decimal,
    reject: tuple[str, ...],
    fail: tuple[BackOfficeStep, ...],
    raise_at: tuple[BackOfficeStep, ...],
) -> None:
    """Execute every open order and block order once at the price table, then move every investment on by one
    step of its lifecycle (the back office is simulated; STEP is one of CREATE_ACCOUNT, FUNDING_PRE_CHECK,
    FUNDING, FUNDING_POST_CHECK, ASSIGN_FEE_PROFILE, UNASSIGN_FEE_PROFILE). What the venue refuses is
    cancelled with its reason; the rest of the run goes on. Exit status 0 even when some orders were cancelled;
    3 when the store could not be written for some of them (a full disk: DISK_FULL), which stay as they were."""
    back_office = SimulatedBackOffice(fail=Counter(fail), raise_at=Counter(raise_at))
    app = session.open(
        writes=True, partial_fill_ratio=partial_fill_ratio, reject=reject, back_office=back_office
    )
    app.instruments.check_known(reject)
    result = app.market.run(None if session.as_json else progress)
    session.emit(result, lambda: summary(result))
    if result.storage_failed:
        sys.exit(EXIT_STORAGE)
