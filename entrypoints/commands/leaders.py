"""``allot leaders``: trade leaders, the strategies followers invest in."""

from __future__ import annotations

from decimal import Decimal

import click

from core.instruments import AllocationLine
from core.investments import Suitability
from core.records import TradeLeader
from entrypoints.params import DECIMAL, LINE, TEXT, choice
from entrypoints.session import Session, rows_table, with_session
from ports.leaders import LeaderView

HEADERS = ["leader", "name", "currency", "minimum", "suitability", "risk", "weights", "rebalancing"]


def weights(lines: tuple[AllocationLine, ...]) -> str:
    return ", ".join(f"{line.instrument_id} {line.weight}" for line in lines)


def leader_row(leader: TradeLeader) -> list[object]:
    return [leader.id, leader.name, leader.currency, leader.minimum_investment, leader.required_suitability,
            leader.risk_level, weights(leader.lines), "yes" if leader.rebalancing else "no"]  # fmt: skip


def view_text(view: LeaderView) -> str:
    leader, performance = view.leader, view.performance
    shown = "-" if performance.return_ratio is None else f"{performance.return_ratio * 100:.2f} %"
    rows: list[list[object]] = [
        ["leader", f"{leader.id} ({leader.name})"],
        ["minimum investment", f"{leader.minimum_investment} {leader.currency}"],
        ["required suitability", leader.required_suitability],
        ["risk level", leader.risk_level],
        ["asset types", ", ".join(t.value for t in leader.asset_types)],
        ["top holdings", weights(view.top_holdings)],
        ["followers", view.followers],
        ["invested", performance.invested],
        ["withdrawn", performance.withdrawn],
        ["fees", performance.fees],
        ["value now", performance.value],
        ["return", shown],
    ]
    return rows_table(["", ""], rows)


@click.group()
def leaders() -> None:
    """Trade leaders: model portfolios that followers' investments replicate."""


@leaders.command()
@click.argument("leader_id", metavar="ID", type=TEXT)
@click.option("--name", type=TEXT, required=True, help="What followers see.")
@click.option("--currency", type=TEXT, required=True, help="The currency it invests in, e.g. EUR.")
@click.option("--line", "lines", type=LINE, multiple=True, required=True, metavar="INSTRUMENT=WEIGHT",
              help="Repeat; weights sum to exactly 1.")  # fmt: skip
@click.option(
    "--minimum-investment", type=DECIMAL, required=True, help="The least an investment may start with."
)
@click.option("--suitability", type=choice(Suitability), required=True,
              help="The suitability level a follower needs (or higher).")  # fmt: skip
@click.option("--risk-level", type=click.IntRange(1, 7), default=4, show_default=True)
@click.option(
    "--max-followers", type=click.IntRange(1), default=None, help="Capacity: at most this many followers."
)
@click.option(
    "--max-invested", type=DECIMAL, default=None, help="Capacity: at most this much money invested."
)
@click.option("--service-fee-rate", type=DECIMAL, default="0", show_default=True,
              help="Yearly fee on equity (0.01 = 1 %), charged for the days held when an investment stops.")  # fmt: skip
@click.option("--fee-profile", type=TEXT, default=None,
              help="The back office's fee profile for its investments (none: the fee-profile steps are skipped).")  # fmt: skip
@click.option("--description", type=TEXT, default=None)
@with_session
def create(
    session: Session, leader_id: str, name: str, currency: str, lines: tuple[AllocationLine, ...],
    minimum_investment: Decimal, suitability: Suitability, risk_level: int, max_followers: int | None,
    max_invested: Decimal | None, service_fee_rate: Decimal, fee_profile: str | None, description: str | None,
) -> None:  # fmt: skip
    """Create a trade leader over existing, priced instruments, e.g.
    growth --name Growth --currency EUR --line AAA=0.6 --line BBB=0.4 --minimum-investment 500 --suitability MEDIUM."""
    leader = session.open(writes=True).leaders.create(
        leader_id, name, currency, lines, minimum_investment=minimum_investment, required_suitability=suitability,
        risk_level=risk_level, description=description, max_followers=max_followers, max_invested=max_invested,
        service_fee_rate=service_fee_rate, fee_profile=fee_profile,
    )  # fmt: skip
    session.emit(leader, lambda: rows_table(HEADERS, [leader_row(leader)]))


@leaders.command(name="list")
@with_session
def list_(session: Session) -> None:
    """Every trade leader."""
    found = session.open(writes=False).leaders.all()
    session.emit(found, lambda: rows_table(HEADERS, [leader_row(leader) for leader in found]))


@leaders.command()
@click.argument("leader_id", metavar="ID", type=TEXT)
@with_session
def show(session: Session, leader_id: str) -> None:
    """One leader: its terms, top holdings, and its followers' performance from the journal."""
    view = session.open(writes=False).leaders.show(leader_id)
    session.emit(view, lambda: view_text(view))


@leaders.command()
@click.argument("leader_id", metavar="ID", type=TEXT)
@click.option("--line", "lines", type=LINE, multiple=True, metavar="INSTRUMENT=WEIGHT",
              help="Repeat; the new weights (none: realign to the weights it has).")  # fmt: skip
@with_session
def rebalance(session: Session, leader_id: str, lines: tuple[AllocationLine, ...]) -> None:
    """Change the leader's weights and realign every active follower: one block order per instrument and side;
    the sells execute at the next market run, the buys are placed once the sells are done and execute at the run
    after. Each block's fills are allocated to the followers at the block's average price."""
    leader = session.open(writes=True).leaders.rebalance(leader_id, lines or None)
    session.emit(leader, lambda: f"leader {leader.id} rebalances to {weights(leader.lines)}; run the market")
