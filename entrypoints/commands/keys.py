"""``allot keys`` and ``allot blocks``: allocation keys and block orders."""

from __future__ import annotations

from decimal import Decimal

import click

from adapters.serialization import structure
from core.blocks import BlockAllocation, PartialFillPolicy
from core.instruments import Side
from core.keys import AllocationKey
from core.lifecycle import KeyStatus
from core.records import BlockOrder, StoredKey
from entrypoints.app import AllotGroup, App, decimal_callback, pass_app, rows_table
from entrypoints.cli_io import read_request


@click.group(cls=AllotGroup)
def keys() -> None:
    """Allocation keys: how block trades are split over accounts."""


def _key_row(stored: StoredKey) -> list[object]:
    key = stored.key
    values = " / ".join(f"{p.account_id} {p.unit_value}" for p in key.participants)
    return [stored.id, key.name, key.unit_type.value, key.margin_handling.value, stored.status.value, values]


KEY_HEADERS = ["key", "name", "unit type", "margin", "status", "participants"]


@keys.command()
@click.argument("request", metavar="KEY.json")
@pass_app
def create(app: App, request: str) -> None:
    """Create a key from JSON (a file or -): name, unit_type, margin_handling, one_time, owner_account_id,
    error_account_id, participants [{account_id, unit_value, accept_remainder, priority}]."""
    stored = app.engine.create_key(structure(read_request(request), AllocationKey))
    app.emit(stored, lambda: rows_table(KEY_HEADERS, [_key_row(stored)]))


@keys.command(name="list")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice([s.value for s in KeyStatus], case_sensitive=False),
    help="Repeat; default ACTIVE. One-time keys only when asked for.",
)
@pass_app
def list_(app: App, statuses: tuple[str, ...]) -> None:
    """Keys (ACTIVE by default)."""
    chosen = [KeyStatus(s.upper()) for s in statuses] or [KeyStatus.ACTIVE]
    found = app.engine.list_keys(chosen)
    app.emit(found, lambda: rows_table(KEY_HEADERS, [_key_row(k) for k in found]))


@keys.command()
@click.argument("key_id")
@pass_app
def show(app: App, key_id: str) -> None:
    """One key, whatever its status."""
    stored = app.engine.get_key(key_id)
    app.emit(stored, lambda: rows_table(KEY_HEADERS, [_key_row(stored)]))


@keys.command()
@click.argument("key_id")
@pass_app
def delete(app: App, key_id: str) -> None:
    """Invalidate a key (it stays readable by id)."""
    stored = app.engine.delete_key(key_id)
    app.emit(stored, lambda: f"key {stored.id} is {stored.status.value}")


@keys.command()
@click.argument("key_id")
@click.argument("request", metavar="KEY.json")
@pass_app
def replace(app: App, key_id: str, request: str) -> None:
    """'Change' a key: create the new one and invalidate the old one together."""
    stored = app.engine.replace_key(key_id, structure(read_request(request), AllocationKey))
    app.emit(stored, lambda: f"key {key_id} is DELETED; its replacement is {stored.id}")


def allocation_table(result: BlockAllocation) -> str:
    rows = [[a.account_id, a.quantity] for a in result.allocations]
    rows.append([f"{result.error_account.account_id} (error account)", result.error_account.quantity])
    return rows_table(["account", "quantity"], rows)


@keys.command()
@click.argument("key_id")
@click.argument("amount", callback=decimal_callback)
@click.option("--step", callback=decimal_callback, default="1", show_default=True, help="Quantity step.")
@pass_app
def preview(app: App, key_id: str, amount: Decimal, step: Decimal) -> None:
    """Show how a key would distribute AMOUNT."""
    result = app.engine.preview_key(key_id, amount, step)
    app.emit(result, lambda: allocation_table(result))


@click.group(cls=AllotGroup)
def blocks() -> None:
    """Block orders allocated to accounts by a key."""


def _block(block: BlockOrder) -> str:
    head = (
        f"{block.id}  {block.state.value}  {block.side.value} {block.amount} {block.instrument_id}, "
        f"filled {block.filled_quantity}"
    )
    return (
        head + "\n" + rows_table(["allocated order", "state"], [[o.id, o.state.value] for o in block.orders])
    )


@blocks.command()
@click.argument("key_id")
@click.argument("instrument_id")
@click.option(
    "--side", type=click.Choice(["BUY", "SELL"], case_sensitive=False), default="BUY", show_default=True
)
@click.option("--amount", callback=decimal_callback, required=True)
@click.option(
    "--policy",
    type=click.Choice([p.value for p in PartialFillPolicy], case_sensitive=False),
    default="PRO_RATA",
    show_default=True,
)
@click.option("--idempotency-key")
@pass_app
def place(
    app: App,
    key_id: str,
    instrument_id: str,
    side: str,
    amount: Decimal,
    policy: str,
    idempotency_key: str | None,
) -> None:
    """Place a block order; margin handling is applied at once, fills are allocated by `market run`."""
    block = app.engine.place_block_order(
        key_id, instrument_id, Side(side.upper()), amount, PartialFillPolicy(policy.upper()), idempotency_key
    )
    app.emit(block, lambda: _block(block))


@blocks.command(name="show")
@click.argument("block_id")
@pass_app
def show_block(app: App, block_id: str) -> None:
    """A block order and the orders it was allocated to."""
    block = app.engine.get_block_order(block_id)
    app.emit(block, lambda: _block(block))
