"""``allot keys``: allocation keys, how block trades are split over accounts."""

from __future__ import annotations

from decimal import Decimal

import click

from adapters.serialization import structure
from core.allocation_keys import LISTED_BY_DEFAULT
from core.blocks import BlockAllocation
from core.instruments import Instrument
from core.keys import AllocationKey
from core.lifecycle import KeyStatus
from core.records import StoredKey
from entrypoints.cli_io import read_request
from entrypoints.params import DECIMAL, TEXT, choice
from entrypoints.session import Session, rows_table, with_session

#: The quantity step an instrument has unless it says otherwise.
DEFAULT_STEP = Instrument("-").quantity_step
HEADERS = ["key", "name", "unit type", "margin", "status", "owner", "error account", "participants"]


def key_row(stored: StoredKey) -> list[object]:
    key = stored.key
    values = " / ".join(f"{p.account_id} {p.unit_value}" for p in key.participants)
    return [stored.id, key.name, key.unit_type, key.margin_handling, stored.status, key.owner_account_id,
            key.error_account_id, values]  # fmt: skip


def allocation_table(result: BlockAllocation) -> str:
    rows = [[a.account_id, a.quantity] for a in result.allocations]
    rows.append([f"{result.error_account.account_id} (error account)", result.error_account.quantity])
    return rows_table(["account", "quantity"], rows)


@click.group()
def keys() -> None:
    """Allocation keys: how block trades are split over accounts."""


@keys.command()
@click.argument("request", metavar="KEY.json")
@with_session
def create(session: Session, request: str) -> None:
    """Create a key from JSON (a file, or - for stdin): name, unit_type (PERCENTAGE or UNIT), margin_handling
    (REJECT or REDUCE), one_time, owner_account_id, error_account_id, and participants
    [{account_id, unit_value, accept_remainder, priority}]."""
    key = structure(read_request(request), AllocationKey)
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
