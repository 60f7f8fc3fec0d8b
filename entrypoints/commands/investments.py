"""``allot investments``: followers' investments in trade leaders, through their whole lifecycle."""

from __future__ import annotations

from decimal import Decimal

import click

from core.investments import ProcessState
from core.records import Investment
from entrypoints.params import DECIMAL, TEXT, choice
from entrypoints.session import Session, rows_table, with_session
from ports.investments import InvestmentView

HEADERS = ["investment", "leader", "follower", "process state", "state", "error", "amount", "equity",
           "account"]  # fmt: skip


def state_cell(investment: Investment) -> str:
    return f"{investment.state.id} {investment.state.title}"


def record_row(investment: Investment) -> list[object]:
    return [investment.id, investment.leader_id, investment.follower_id, investment.process_state,
            state_cell(investment), investment.error_code or "-", investment.amount, "-",
            investment.account_id or "-"]  # fmt: skip


def view_row(view: InvestmentView) -> list[object]:
    row = record_row(view.investment)
    row[7] = view.equity
    return row


def view_text(view: InvestmentView) -> str:
    investment = view.investment
    rows: list[list[object]] = [
        ["investment", investment.id],
        ["leader", investment.leader_id],
        ["follower", investment.follower_id],
        ["process state", investment.process_state],
        ["state", state_cell(investment)],
        ["error code", investment.error_code or "-"],
        ["account", investment.account_id or "-"],
        ["funding account", investment.funding_account_id],
        ["amount", f"{investment.amount} {investment.currency}"],
        ["equity", view.equity],
        ["funded / withdrawn / fees", f"{investment.funded} / {investment.withdrawn} / {investment.fees}"],
        ["pending funding", investment.pending_funding],
        ["shield", investment.shield if investment.shield is not None else "-"],
        ["close positions on stop", "yes" if investment.close_positions else "no"],
        ["max withdrawal", view.max_withdrawal],
        ["authorized to follow", "yes" if view.authorized_to_follow else "no"],
        ["leader open for followers", "yes" if view.open_for_followers else "no"],
        ["last back-office answer", investment.reason or "-"],
    ]
    return rows_table(["", ""], rows)


def shown(session: Session, investment: Investment) -> None:
    session.emit(investment, lambda: rows_table(HEADERS, [record_row(investment)]))


@click.group()
def investments() -> None:
    """Investments: a follower's account kept a proportional replica of a trade leader. Each market run moves
    them on by one step of their lifecycle (allot market run)."""


@investments.command()
@click.argument("leader_id", metavar="LEADER", type=TEXT)
@click.option("--follower", "follower_id", type=TEXT, required=True, help="The follower who invests.")
@click.option(
    "--from", "funding_account", type=TEXT, required=True, help="The funding account (the follower's)."
)
@click.option("--amount", type=DECIMAL, required=True, help="What to invest, at least the leader's minimum.")
@click.option("--shield", type=DECIMAL, default=None,
              help="Stop out (and close the positions) when equity falls below this.")  # fmt: skip
@click.option(
    "--keep-positions", is_flag=True, help="Stopping keeps the positions (default: they are closed)."
)
@click.option(
    "--idempotency-key", type=TEXT, default=None, help="A retry with the same key starts nothing new."
)
@with_session
def start(
    session: Session, leader_id: str, follower_id: str, funding_account: str, amount: Decimal,
    shield: Decimal | None, keep_positions: bool, idempotency_key: str | None,
) -> None:  # fmt: skip
    """Start following LEADER. Refused when the follower's suitability is too low (NOT_SUITABLE), it has not
    accepted the terms (TERMS_NOT_ACCEPTED), the leader trades asset types it may not (ASSET_TYPES_NOT_ALLOWED),
    the leader is full (LEADER_CLOSED_FOR_FOLLOWERS) or the amount is below its minimum (BELOW_MINIMUM_INVESTMENT)."""
    investment = session.open(writes=True).investments.start(
        leader_id, funding_account, amount, follower_id=follower_id, shield=shield,
        close_positions=not keep_positions, idempotency_key=idempotency_key,
    )  # fmt: skip
    shown(session, investment)


@investments.command(name="list")
@click.option("--leader", "leader_id", type=TEXT, default=None, help="Only this leader's.")
@click.option(
    "--state", "process_state", type=choice(ProcessState), default=None, help="Only this process state."
)
@with_session
def list_(session: Session, leader_id: str | None, process_state: ProcessState | None) -> None:
    """Investments, oldest first."""
    found = session.open(writes=False).investments.all(leader_id=leader_id, process_state=process_state)
    session.emit(found, lambda: rows_table(HEADERS, [view_row(v) for v in found]))


@investments.command()
@click.argument("investment_id", metavar="ID", type=TEXT)
@with_session
def show(session: Session, investment_id: str) -> None:
    """One investment: its state, its money, what may be withdrawn."""
    view = session.open(writes=False).investments.show(investment_id)
    session.emit(view, lambda: view_text(view))


@investments.command()
@click.argument("investment_id", metavar="ID", type=TEXT)
@click.option("--keep-positions/--close-positions", default=None,
              help="Whether stopping closes the positions (default: as chosen at the start).")  # fmt: skip
@with_session
def stop(session: Session, investment_id: str, keep_positions: bool | None) -> None:
    """Stop following: Stopping, positions closed (unless kept), fee profile unassigned, Stopped with the service
    fee charged and the cash back on the funding account — over the next market runs."""
    close = None if keep_positions is None else not keep_positions
    shown(session, session.open(writes=True).investments.stop(investment_id, close))


@investments.command()
@click.argument("investment_id", metavar="ID", type=TEXT)
@click.option("--amount", type=DECIMAL, default=Decimal(0), show_default=True,
              help="New money from the funding account; with none, funding is skipped (Funding skipped, 16) and "
                   "what the investment account kept is invested again.")  # fmt: skip
@with_session
def resurrect(session: Session, investment_id: str, amount: Decimal) -> None:
    """Start a stopped investment again on its account (Resurrected, 10), checked like a new start: the positions
    it kept when it stopped, at today's prices, count towards the leader's minimum with the new money."""
    shown(session, session.open(writes=True).investments.resurrect(investment_id, amount))


@investments.command()
@click.argument("investment_id", metavar="ID", type=TEXT)
@click.argument("amount", type=DECIMAL)
@click.option(
    "--from", "funding_account", type=TEXT, default=None, help="Another funding account of the follower."
)
@with_session
def fund(session: Session, investment_id: str, amount: Decimal, funding_account: str | None) -> None:
    """Add AMOUNT: moved from the funding account and invested at the next market run (refused while an earlier
    funding is pending: FUNDING_PENDING)."""
    shown(session, session.open(writes=True).investments.fund(investment_id, amount, funding_account))


@investments.command()
@click.argument("investment_id", metavar="ID", type=TEXT)
@click.argument("amount", type=DECIMAL)
@with_session
def withdraw(session: Session, investment_id: str, amount: Decimal) -> None:
    """Take AMOUNT out to the funding account, at most the maximum withdrawal; what free cash does not cover is
    sold pro rata at the next market run and the cash moves once the sell is done."""
    shown(session, session.open(writes=True).investments.withdraw(investment_id, amount))


@investments.command(name="max-withdrawal")
@click.argument("investment_id", metavar="ID", type=TEXT)
@with_session
def max_withdrawal(session: Session, investment_id: str) -> None:
    """What may be withdrawn now: equity above the larger of the leader's minimum investment and the shield."""
    amount = session.open(writes=False).investments.max_withdrawal(investment_id)
    session.emit({"investment_id": investment_id, "max_withdrawal": amount}, lambda: str(amount))


@investments.command(name="set-shield")
@click.argument("investment_id", metavar="ID", type=TEXT)
@click.argument("amount", required=False, type=DECIMAL)
@click.option("--none", "remove", is_flag=True, help="Remove the shield.")
@with_session
def set_shield(session: Session, investment_id: str, amount: Decimal | None, remove: bool) -> None:
    """Set the investment shield to AMOUNT (or remove it with --none): below it the investment is stopped out
    (Stopout protection limit, 27) and its positions closed."""
    if (amount is None) == (not remove):
        raise click.UsageError("give AMOUNT or --none")
    shown(session, session.open(writes=True).investments.set_shield(investment_id, amount))
