"""``allot keys``: allocation keys, how block trades are split over accounts."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

import click

from adapters.serialization import structure
from core.allocation_keys import LISTED_BY_DEFAULT, FairnessReport
from core.blocks import BlockAllocation
from core.fairness import Fairness
from core.instruments import Instrument
from core.keys import AllocationKey, error_account_of
from core.lifecycle import KeyStatus
from core.records import StoredKey
from entrypoints.cli_io import read_request
from entrypoints.params import DECIMAL, TEXT, choice
from entrypoints.render import fraction
from entrypoints.session import Session, rows_table, with_session

#: The quantity step an instrument has unless it says otherwise.
DEFAULT_STEP = Instrument("-").quantity_step
HEADERS = ["key", "name", "unit type", "margin", "status", "owner", "error account", "participants"]


def key_row(stored: StoredKey) -> list[object]:
    key = stored.key
    values = " / ".join(f"{p.account_id} {p.unit_value}" for p in key.participants)
    return [stored.id, key.name, key.unit_type, key.margin_handling, stored.status, key.owner_account_id,
            key.error_account_id, values]  # fmt: skip


def fairness_table(report: FairnessReport) -> str:
    if not report.accounts:
        used = (
            "a PLAIN key keeps no history"
            if report.fairness is Fairness.PLAIN
            else "no block has used it yet"
        )
        return f"key {report.key_id} ({report.fairness.value}): {used}"
    rows = [[a.account_id, steps(a.quota), a.allocated, steps(a.lead, signed=True)] for a in report.accounts]
    table = rows_table(
        ["account", "exact share of the remainders (steps)", "allocated (steps)", "lead (+) / lag (-)"], rows
    )
    return f"key {report.key_id} ({report.fairness.value}) after {report.rounds} block(s)\n{table}"


def steps(value: Fraction, signed: bool = False) -> str:
    """An exact number of steps (``render.fraction``), with its value to three places beside a fraction (≈)."""
    if value.denominator == 1:
        return fraction(value, signed)
    approx = (Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal("0.001"))
    return f"{fraction(value, signed)} (≈ {'+' if signed and value > 0 else ''}{approx})"


def allocation_table(result: BlockAllocation) -> str:
    rows = [[a.account_id, a.quantity] for a in result.allocations]
    rows.append([f"{result.error_account.account_id} (error account)", result.error_account.quantity])
    return rows_table(["account", "quantity"], rows)


def with_error_account(fields: Any) -> Any:
    """A key file's fields, with the block account's own error account where the file names none (left out or
    null), as a key created over HTTP has."""
    if not isinstance(fields, dict) or not isinstance(fields.get("owner_account_id"), str):
        return fields
    return {
        **fields,
        "error_account_id": error_account_of(fields["owner_account_id"], fields.get("error_account_id")),
    }


@click.group()
def keys() -> None:
    """Allocation keys: how block trades are split over accounts."""


@keys.command()
@click.argument("request", metavar="KEY.json")
@with_session
def create(session: Session, request: str) -> None:
    """Create a key from JSON (a file, or - for stdin): name, unit_type (PERCENTAGE or UNIT), margin_handling
    (REJECT or REDUCE), one_time, owner_account_id, participants [{account_id, unit_value, accept_remainder,
    priority}], and optionally error_account_id (left out: the block account's own, OWNER-ERROR, opened with the
    key) and fairness (PLAIN, the default, or ROTATE: the remainder rotates over the accounts that accept
    remainders, block after block)."""
    key = structure(with_error_account(read_request(request)), AllocationKey)
    stored = session.open(writes=True).keys.create(key)
    session.emit(stored, lambda: rows_table(HEADERS, [key_row(stored)]))


@keys.command(name="list")
@click.option("--status", "statuses", multiple=True, type=choice(KeyStatus),
              help="Repeat; default ACTIVE (one-time keys only when asked for).")  # fmt: skip
@with_session
def list_(session: Session, statuses: tuple[KeyStatus, ...]) -> None:
    """Keys (ACTIVE ones unless --status says otherwise)."""
    found = session.open(writes=False).keys.all(statuses or LISTED_BY_DEFAULT)
    session.emit(found, lambda: rows_table(HEADERS, [key_row(k) for k in found]))


@keys.command()
@click.argument("key_id", type=TEXT)
@with_session
def show(session: Session, key_id: str) -> None:
    """One key, whatever its status."""
    stored = session.open(writes=False).keys.get(key_id)
    session.emit(stored, lambda: rows_table(HEADERS, [key_row(stored)]))


@keys.command()
@click.argument("key_id", type=TEXT)
@with_session
def delete(session: Session, key_id: str) -> None:
    """Invalidate a key (it stays readable by id)."""
    stored = session.open(writes=True).keys.delete(key_id)
    session.emit(stored, lambda: f"key {stored.id} is {stored.status.value}")


@keys.command()
@click.argument("key_id", type=TEXT)
@click.argument("request", metavar="KEY.json")
@with_session
def replace(session: Session, key_id: str, request: str) -> None:
    """'Change' a key: create the new one and invalidate the old one together."""
    key = structure(read_request(request), AllocationKey)
    stored = session.open(writes=True).keys.replace(key_id, key)
    session.emit(stored, lambda: f"key {key_id} is DELETED; its replacement is {stored.id}")


@keys.command()
@click.argument("key_id", type=TEXT)
@with_session
def fairness(session: Session, key_id: str) -> None:
    """Each remainder account's lead (+) or lag (-) in steps over the key's blocks.

    \b
    A ROTATE key rotates its remainder over the accounts that accept remainders,
    so each one's cumulative allocation stays within one step of its exact
    share; this shows the exact share (a fraction of a step), what it got,
    and the difference. A PLAIN key keeps no history.
    """
    report = session.open(writes=False).keys.fairness(key_id)
    session.emit(report, lambda: fairness_table(report))


@keys.command()
@click.argument("key_id", type=TEXT)
@click.argument("amount", type=DECIMAL)
@click.option(
    "--step",
    type=DECIMAL,
    default=str(DEFAULT_STEP),
    show_default=True,
    help="Quantity step of the instrument.",
)
@with_session
def preview(session: Session, key_id: str, amount: Decimal, step: Decimal) -> None:
    """Show how a key would distribute AMOUNT (nothing is placed)."""
    result = session.open(writes=False).keys.preview(key_id, amount, step)
    session.emit(result, lambda: allocation_table(result))
