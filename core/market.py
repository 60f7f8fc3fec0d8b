"""The market: what a run executes, and the decision for each order and block once the venue has answered.

For each open order (and each open block) a run asks the venue for a quote, works out what to execute at that
price (``order_request``, ``block_request``), lets the venue fill some or all of it, and books the outcome in one
decision (``execute_order``, ``execute_block``). A refusal by the trading partner — or anything that makes the
execution impossible — cancels what was refused, with its reason, and the run goes on with the others.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal

import attrs

from core import block_orders, copy_trading, orders
from core.accounts import reserve
from core.decisions import Changes, Decision
from core.errors import AllotError, ConcurrentUpdate, StorageError, ValidationError
from core.instruments import Instrument, not_tradable
from core.journal import JournalEntry
from core.keys import AllocationKey
from core.lifecycle import OPEN, OrderState
from core.numbers import ZERO, fmt, is_multiple
from core.parents import follow
from core.records import Account, Announcement, BlockOrder, Order, ParentKind, ParentRecord
from core.validators import NamedEnum

PARTNER_REFUSED = "rejected by the trading partner"


@attrs.frozen
class Quote:
    """The venue's price for an instrument, or why it will not trade it."""

    price: Decimal | None
    rejection: str | None = None

    @classmethod
    def refused(cls, reason: str) -> Quote:
        return cls(None, reason)


class RunOutcome(NamedEnum):
    FILLED = "FILLED"  #: nothing is left to execute
    PARTLY_FILLED = "PARTLY_FILLED"  #: still open: part (or none) of it was executed this time
    CANCELLED = "CANCELLED"  #: refused by the trading partner, or nothing of it could be executed
    SKIPPED = "SKIPPED"  #: not executed on its own: finished before its turn came, or moves with its block


@attrs.frozen
class Executed:
    """What one run did to one order or block."""

    id: str
    outcome: RunOutcome = attrs.field(converter=RunOutcome)
    reason: str | None = None


@attrs.frozen
class Failure:
    """An order or block a run could neither execute nor cancel (its record changed meanwhile, the store failed);
    it is left as it was, for the next run."""

    id: str
    code: str
    message: str
    #: The store could not be written (a full disk, a read-only file): the run did not do what it was asked.
    storage: bool = False


@attrs.frozen
class Advanced:
    """Where one run of the market left an investment it moved (``core.copy_trading.tick``)."""

    id: str
    state_id: int
    state_name: str
    process_state: str


@attrs.frozen
class MarketRun:
    """What one run of the market did, order by order and block by block, and the investments it moved on."""

    orders: tuple[Executed, ...] = ()
    blocks: tuple[Executed, ...] = ()
    failures: tuple[Failure, ...] = ()
    investments: tuple[Advanced, ...] = ()
    #: The leaders whose rebalance placed its buys in this run (its sells were done).
    rebalanced: tuple[str, ...] = ()

    @property
    def storage_failed(self) -> bool:
        """Whether the store failed for some order or block: the run could not do its work, which the command
        line says with its exit status."""
        return any(f.storage for f in self.failures)

    def count(self, outcome: RunOutcome, blocks: bool = False) -> int:
        return sum(1 for e in (self.blocks if blocks else self.orders) if e.outcome is outcome)

    @property
    def cancelled(self) -> tuple[Executed, ...]:
        return tuple(e for e in (*self.orders, *self.blocks) if e.outcome is RunOutcome.CANCELLED)


def refusal(error: AllotError) -> str | None:
    """Why an execution that raised ``error`` cannot be carried out, so that the order or block is cancelled with
    that reason; ``None`` for a failure of the store or a conflict with another writer, after which it is left
    as it was for a later run."""
    if isinstance(error, StorageError | ConcurrentUpdate):
        return None
    return error.message


#: What a run executes: orders and blocks in these states ...
RUN_STATES: tuple[str, ...] = tuple(sorted(state.value for state in OPEN))
#: ... and of the orders, those made by these parents (orders allocated out of a block move with their block).
RUN_PARENTS: tuple[str, ...] = (ParentKind.PORTFOLIO_ORDER.value, ParentKind.ACCOUNT_LIQUIDATION.value)


def order_request(
    order: Order, account: Account, instrument: Instrument, quote: Quote, today: dt.date
) -> Decimal:
    """What to ask the venue to fill for ``order`` at the quoted price; nothing when it would not quote, or when
    the order may no longer trade its instrument (an option that has ended, or a buy past its expiry date)."""
    if quote.price is None or order.state not in OPEN or not_tradable(instrument, order.side, today):
        return ZERO
    return orders.quantity_to_execute(order, account, instrument, quote.price)


def block_request(block: BlockOrder, instrument: Instrument, quote: Quote, today: dt.date) -> Decimal:
    """What to ask the venue to fill for a block: all that is left of it; nothing without a quote, or when the
    block may no longer trade its instrument."""
    if quote.price is None or block.state not in OPEN or not_tradable(instrument, block.side, today):
        return ZERO
    return block_orders.remaining(block)


def check_fill(filled: Decimal, requested: Decimal, step: Decimal, what: str) -> None:
    """The venue may fill part of what was asked, in whole quantity steps, never more."""
    if not ZERO <= filled <= requested or not is_multiple(filled, step):
        raise ValidationError(
            f"the venue filled {fmt(filled)} of {what}, asked for {fmt(requested)} in steps of {fmt(step)}",
            {"filled": fmt(filled), "requested": fmt(requested), "quantity_step": fmt(step)},
        )


@attrs.define
class _Progress:
    """An order, its siblings, its parent and its account as one execution moves them, and what it announces."""

    order_id: str
    children: list[Order]
    parent: ParentRecord | None
    account: Account
    announcements: list[Announcement] = attrs.field(factory=list)
    entries: list[JournalEntry] = attrs.field(factory=list)

    @property
    def order(self) -> Order:
        return next(o for o in self.children if o.id == self.order_id)

    def move(self, updated: Order, announced: Sequence[Announcement], account: Account, *, ids: Iterator[str],
             now: dt.datetime) -> None:  # fmt: skip
        """The order became ``updated`` (its account ``account``): keep what it holds back in step, then let the
        parent follow, so that the parent's move is announced right after the order's."""
        self.announcements += announced
        self.account = reserve(account, [self.order], [updated])
        self.children = [updated if o.id == self.order_id else o for o in self.children]
        if self.parent is not None:
            followed = follow(self.parent, self.children, self.account, ids=ids, now=now)
            self.parent, self.account = followed.parent, followed.account
            self.children = list(followed.orders)
            self.announcements += followed.announcements
            self.entries += followed.entries


def execute_order(
    order: Order,
    account: Account,
    instrument: Instrument,
    quote: Quote,
    filled: Decimal,
    parent: ParentRecord | None,
    siblings: Sequence[Order],
    *,
    ids: Iterator[str],
    now: dt.datetime,
) -> Decision[Executed]:
    """Book what the venue did with ``order`` (``filled`` of ``order_request``), and move its parent with it.

    A quote refused, or an instrument the order may no longer trade (an option that ended, or was past its expiry
    date for a buy, before the order executed), cancels the order with the reason (the parent follows: it is
    cancelled with its other open orders). With nothing left to execute, a partly filled order is FILLED and an
    untouched one is cancelled with the reason. An execution starts the order first — and with it the parent —
    and is then booked as one journal entry; the parent follows again (a liquidation is settled when filled).
    """
    if not orders.executes_on_its_own(order):
        return Decision(Executed(order.id, RunOutcome.SKIPPED), Changes())
    requested = order_request(order, account, instrument, quote, now.date())
    check_fill(filled, requested, instrument.quantity_step, f"order {order.id}")
    before = list(siblings) if parent is not None else [order]
    run = _Progress(order.id, list(before), parent, account)
    ended = not_tradable(instrument, order.side, now.date())
    if ended is not None:
        run.move(*orders.fail(order, ended.message, now), account, ids=ids, now=now)
    elif quote.price is None:
        run.move(*orders.fail(order, quote.rejection or PARTNER_REFUSED, now), account, ids=ids, now=now)
    elif requested <= 0 and order.filled_quantity > 0:
        run.move(*orders.finish(order, now), account, ids=ids, now=now)
    elif requested <= 0:
        reason = orders.unfillable(order, account.quantity_of(instrument.instrument_id), quote.price)
        run.move(*orders.fail(order, reason, now), account, ids=ids, now=now)
    else:
        run.move(*orders.start(order, now), account, ids=ids, now=now)
        if filled > 0:
            booked = orders.book(run.order, run.account, instrument, filled, quote.price, now, next(ids))
            run.entries.append(booked.entry)
            run.move(booked.order, booked.announcements, booked.account, ids=ids, now=now)
    after = run.order
    outcome = {
        OrderState.FILLED: RunOutcome.FILLED,
        OrderState.CANCELLED: RunOutcome.CANCELLED,
    }.get(after.state, RunOutcome.PARTLY_FILLED)
    moved = [o for o, was in zip(run.children, before, strict=True) if o != was]
    return Decision(
        Executed(order.id, outcome, after.reason if outcome is RunOutcome.CANCELLED else None),
        Changes.of(
            updated=[
                *moved,
                *([run.parent] if run.parent is not None and run.parent != parent else []),
                *([run.account] if run.account != account else []),
            ],
            announced=run.announcements,
            journaled=run.entries,
        ),
    )


def execute_block(
    block: BlockOrder,
    key: AllocationKey | None,
    instrument: Instrument,
    accounts: Mapping[str, Account],
    children: Sequence[Order],
    quote: Quote,
    filled: Decimal,
    *,
    ids: Iterator[str],
    now: dt.datetime,
) -> Decision[Executed]:
    """Book what the venue did with a block (``filled`` of ``block_request``) and allocate it out at once; a
    refused quote, or an instrument the block may no longer trade, cancels the block with the reason (what was
    allocated before stays with the accounts)."""
    if block.state not in OPEN:
        return Decision(Executed(block.id, RunOutcome.SKIPPED), Changes())
    check_fill(filled, block_request(block, instrument, quote, now.date()), instrument.quantity_step,
               f"block {block.id}")  # fmt: skip
    ended = not_tradable(instrument, block.side, now.date())
    refusal = None
    if ended is not None or quote.price is None:
        refusal = ended.message if ended is not None else quote.rejection or PARTNER_REFUSED
    if key is None:  # a trade leader's block: post-allocated to its followers when the market is done with it
        done = copy_trading.execute_block(
            block, instrument, accounts, children, quote.price, filled, refusal, ids=ids, now=now
        )
        return Decision(Executed(block.id, _outcome_of(done.result, refusal), refusal), done.changes)
    if refusal is not None or quote.price is None:
        failed = block_orders.fail(block, children, accounts, refusal or PARTNER_REFUSED, now)
        return Decision(Executed(block.id, RunOutcome.CANCELLED, failed.result.reason), failed.changes)
    done = block_orders.execute(
        block, key, instrument, accounts, children, quote.price, filled, ids=ids, now=now
    )
    return Decision(Executed(block.id, _outcome_of(done.result, None)), done.changes)


def _outcome_of(block: BlockOrder, refusal: str | None) -> RunOutcome:
    if refusal is not None:
        return RunOutcome.CANCELLED
    return RunOutcome.FILLED if block.state is OrderState.FILLED else RunOutcome.PARTLY_FILLED
