"""``allot blocks``: block orders allocated to accounts by a key."""

from __future__ import annotations

from decimal import Decimal

import click

from core.blocks import DEFAULT_POLICY, PartialFillPolicy
from core.instruments import Side
from core.lifecycle import OrderState
from core.numbers import ZERO
from core.records import BlockOrder
from entrypoints.params import DECIMAL, TEXT, choice
from entrypoints.session import Session, rows_table, with_session
from ports.blocks import BlockView


def headline(block: BlockOrder) -> str:
    reason = f"  ({block.reason})" if block.reason else ""
    return (
        f"{block.id}  {block.state.value}  {block.side.value} {block.amount} {block.instrument_id} "
        f"on {block.account_id}, filled {block.filled_quantity}{reason}"
    )


def describe(view: BlockView) -> str:
    """The block, then one line per account it allocates to: its target, what it received, its orders."""
    block = view.block
    targets = (*block.targets.participants, block.targets.error)
    rows = []
    for index, (account_id, target, received) in enumerate(
        zip(block.recipients, targets, block.allocated, strict=True)
    ):
        orders = [o for o in view.orders if o.account_id == account_id]
        role = " (error account)" if index == len(block.recipients) - 1 else ""
        value = sum((o.traded_value for o in orders), ZERO)
        rows.append([account_id + role, target, received, value, ", ".join(o.id for o in orders) or "-"])
    headers = ["account", "target", "allocated", f"traded value ({block.currency})", "orders"]
    return headline(block) + "\n" + rows_table(headers, rows)


@click.group()
def blocks() -> None:
    """Block orders allocated to accounts by a key."""


@blocks.command()
@click.argument("key_id", type=TEXT)
@click.argument("instrument_id", type=TEXT)
@click.option("--side", type=choice(Side), default=Side.BUY.value, show_default=True)
@click.option(
    "--amount", type=DECIMAL, required=True, help="Quantity of the block, a whole number of quantity steps."
)
@click.option("--policy", type=choice(PartialFillPolicy), default=DEFAULT_POLICY.value, show_default=True,
              help="How a partial fill is shared.")  # fmt: skip
@click.option("--idempotency-key", type=TEXT, help="Placing again with the same key returns the first block.")
@with_session
def create(
    session: Session,
    key_id: str,
    instrument_id: str,
    side: Side,
    amount: Decimal,
    policy: PartialFillPolicy,
    idempotency_key: str | None,
) -> None:
    """Place a block order on the key's owner account; `market run` executes it and allocates it out."""
    app = session.open(writes=True)
    block = app.blocks.place(key_id, instrument_id, side, amount, policy, idempotency_key)
    session.emit(block, lambda: describe(app.blocks.show(block.id)))


@blocks.command()
@click.argument("block_id", type=TEXT)
@with_session
def show(session: Session, block_id: str) -> None:
    """A block order and, for every account it allocates to, its target, what it received and its orders."""
    view = session.open(writes=False).blocks.show(block_id)
    session.emit(view, lambda: describe(view))


@blocks.command(name="list")
@click.option("--state", type=choice(OrderState))
@with_session
def list_(session: Session, state: OrderState | None) -> None:
    """Block orders, in one state if asked."""
    found = session.open(writes=False).blocks.all(state.value if state else None)
    rows = [[b.id, b.key_id, b.side, b.amount, b.instrument_id, b.filled_quantity, b.state] for b in found]
    session.emit(
        found, lambda: rows_table(["block", "key", "side", "amount", "instrument", "filled", "state"], rows)
    )


@blocks.command()
@click.argument("block_id", type=TEXT)
@with_session
def cancel(session: Session, block_id: str) -> None:
    """Cancel a block that is not finished; what was already allocated stays with the accounts."""
    block = session.open(writes=True).blocks.cancel(block_id)
    session.emit(block, lambda: headline(block))
