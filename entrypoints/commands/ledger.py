"""``allot ledger``: the journal under every movement of cash and units."""

from __future__ import annotations

import sys

import click

from core.journal import Balance, StatementLine
from entrypoints.params import TEXT
from entrypoints.render import books_balance
from entrypoints.session import EXIT_REFUSED, Session, rows_table, with_session


@click.group()
def ledger() -> None:
    """The journal: statements, balances, and the check that every cent and share is accounted for."""


def statement_row(line: StatementLine) -> list[object]:
    return [
        line.at.isoformat(timespec="seconds"),
        f"{line.cause.kind.value} {line.cause.id}",
        line.asset,
        line.amount,
        line.balance,
        line.memo,
    ]


@ledger.command()
@click.argument("account_id", type=TEXT)
@click.option(
    "--asset",
    type=TEXT,
    help="Only this asset: a currency in any case (EUR, eur) or an instrument id as written; one the account has "
    "never held is refused (NOT_FOUND).",
)
@with_session
def statement(session: Session, account_id: str, asset: str | None) -> None:
    """An account's journal entries, oldest first, with the running balance of each asset and what caused each."""
    lines = session.open(writes=False).ledger.statement(account_id, asset)
    headers = ["at", "cause", "asset", "amount", "balance", "memo"]
    session.emit(lines, lambda: rows_table(headers, [statement_row(line) for line in lines]))


def balance_row(balance: Balance) -> list[object]:
    return [str(balance.ledger), balance.asset, balance.amount]


@ledger.command()
@with_session
def balances(session: Session) -> None:
    """Every ledger account's balance of every asset: the house's (venue, fee income, funding) and the clients'."""
    found = session.open(writes=False).ledger.balances()
    session.emit(
        found, lambda: rows_table(["ledger account", "asset", "balance"], [balance_row(b) for b in found])
    )


@ledger.command()
@with_session
def verify(session: Session) -> None:
    """Check the books as stored: every entry has postings, a known cause and balances; every posting has an entry
    and goes to an account or a house ledger account; every asset sums to zero; no client balance is below zero;
    every account's cash and positions equal its postings and what it holds back what its open orders hold.
    Exit status 1 naming the first discrepancy (--json lists them all)."""
    audit = session.open(writes=False).ledger.verify()
    session.emit(
        audit,
        lambda: (
            "\n".join(f"{d.kind}: {d.message}" for d in audit.discrepancies)
            if audit.discrepancies
            else books_balance(audit)
        ),
    )
    if audit.discrepancies:
        first = audit.discrepancies[0]
        click.echo(f"allot: {first.message} ({first.kind})", err=True)
        sys.exit(EXIT_REFUSED)
