"""Individual orders: created from a plan, executed at the venue's price, cancelled.

A cash order's quantity is fixed at its first execution (what its amount buys at that price, rounded down to the
quantity step; for a sell never more than is held). Later partial fills complete that quantity, but a buy never
trades for more than its amount and a sell never for more than is still held.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from decimal import Decimal

import attrs

from core.accounts import OPEN, check_open, unspent
from core.errors import InsufficientFunds
from core.fills import AccountBook, Fill, FillResult, apply_fill
from core.instruments import Instrument, Side
from core.lifecycle import ORDER, OrderState, Trigger
from core.numbers import ZERO, exact, fmt, from_units, whole_steps
from core.portfolio import OrderPlan
from core.records import Account, Announcement, Order, ParentKind, announce

#: The reason recorded on whatever the client cancels.
CLIENT_CANCELLED = "cancelled by the client"


def from_plan(
    plan: OrderPlan,
    account_id: str,
    parent_kind: ParentKind,
    parent_id: str,
    ids: Iterator[str],
    now: dt.datetime,
) -> tuple[Order, ...]:
    """The individual orders of a plan, NEW, linked to the portfolio order or liquidation that made them (and
    carrying its id as ``client_reference``, where the outside world looks for it)."""
    return tuple(
        Order(
            id=next(ids),
            account_id=account_id,
            instrument_id=planned.instrument_id,
            side=planned.side,
            cash_amount=planned.cash_amount,
            quantity=planned.quantity,
            state=OrderState.NEW,
            created_at=now,
            updated_at=now,
            parent_kind=parent_kind,
            parent_order_id=parent_id,
            client_reference=parent_id,
        )
        for planned in plan.orders
    )


def allocated(
    block_id: str,
    account_id: str,
    instrument_id: str,
    side: Side,
    quantity: Decimal,
    order_id: str,
    now: dt.datetime,
) -> Order:
    """An order allocated out of a block to one account; the block's id is its correlation key."""
    return Order(
        id=order_id,
        account_id=account_id,
        instrument_id=instrument_id,
        side=side,
        cash_amount=None,
        quantity=quantity,
        state=OrderState.NEW,
        created_at=now,
        updated_at=now,
        parent_kind=ParentKind.BLOCK_ORDER,
        parent_order_id=block_id,
        client_reference=block_id,
        correlation_key=block_id,
    )


def executes_on_its_own(order: Order) -> bool:
    """An open order the market executes by itself: orders allocated out of a block move with their block."""
    return order.state in OPEN and order.parent_kind in (
        ParentKind.PORTFOLIO_ORDER,
        ParentKind.ACCOUNT_LIQUIDATION,
    )


@exact
def target_quantity(order: Order, instrument: Instrument, price: Decimal, held: Decimal) -> Decimal:
    """The whole quantity an order trades: its own, or (cash orders) what its amount buys at ``price``."""
    target = order.quantity if order.quantity is not None else order.target_quantity
    if target is None:
        assert order.cash_amount is not None  # an order is a cash order or a unit order
        step = instrument.quantity_step
        target = from_units(whole_steps(order.cash_amount, price * instrument.contract_size * step), step)
        if order.side is Side.SELL:
            target = min(target, held)
    return target


@exact
def quantity_to_execute(order: Order, instrument: Instrument, price: Decimal, held: Decimal) -> Decimal:
    """What the venue should execute for ``order`` at ``price`` now: what is left of its quantity, never more than
    is held for a sell, never more than its unspent amount buys for a cash buy. Zero when nothing is left."""
    remaining = target_quantity(order, instrument, price, held) - order.filled_quantity
    if order.side is Side.SELL:
        # Other sells may have sold part of the holding since this order's quantity was fixed.
        remaining = min(remaining, held)
    if order.side is Side.BUY and order.cash_amount is not None:
        # A cash order never trades for more than its amount, even if the price moved between its fills.
        step = instrument.quantity_step
        affordable = from_units(whole_steps(unspent(order), price * instrument.contract_size * step), step)
        remaining = min(remaining, affordable)
    return max(ZERO, remaining)


@attrs.frozen
class Booked:
    """An execution booked on an order and its account, and what it announces (order, then position)."""

    order: Order
    account: Account
    announcements: tuple[Announcement, ...]


def start(order: Order, now: dt.datetime) -> tuple[Order, list[Announcement]]:
    """NEW → PROCESSING (announced); an order already processing stays as it is."""
    if order.state is OrderState.PROCESSING:
        return order, []
    started = attrs.evolve(order, state=ORDER.next(order.state, Trigger.START), updated_at=now)
    return started, [announce(started)]


def book(
    order: Order,
    account: Account,
    instrument: Instrument,
    quantity: Decimal,
    price: Decimal,
    now: dt.datetime,
    booked_value: Decimal | None = None,
) -> Booked:
    """Book an execution of ``quantity`` at ``price`` on the order and its account.

    The order is FILLED once nothing is left to execute at this price (its whole quantity, or for a cash order
    whatever its remaining amount still buys), else it stays PROCESSING (a partial fill). A closed account does not
    trade, and a buy never takes an account's cash below zero (``INSUFFICIENT_FUNDS``): the price may have risen,
    or the cash have been withdrawn, since the order was placed.
    """
    check_open(account)
    held = account.quantity_of(instrument.instrument_id)
    target = target_quantity(order, instrument, price, held)
    started, announcements = start(order, now)
    if order.quantity is None:
        started = attrs.evolve(started, target_quantity=target)
    result = apply_fill(
        book_of(account),
        Fill(
            order_id=order.id,
            account_id=account.id,
            instrument=instrument,
            side=order.side,
            quantity=quantity,
            price=price,
            execution_time=now,
            correlation_key=order.correlation_key,
            external_reference=order.client_reference,
            booked_value=booked_value,
        ),
        account.costs,
    )
    if result.book.cash < 0:
        raise InsufficientFunds(
            f"account {account.id} has {fmt(book_of(account).cash)} {account.currency}; buying {fmt(quantity)} "
            f"{instrument.instrument_id} at {fmt(price)} costs {fmt(-result.cash_movement)}",
            {"account_id": account.id, "cost": fmt(-result.cash_movement), "currency": account.currency},
        )
    progressed = attrs.evolve(
        started,
        filled_quantity=started.filled_quantity + quantity,
        traded_value=started.traded_value + result.event.traded_value,
        total_cost=started.total_cost + result.event.total_cost,
        updated_at=now,
    )
    left = quantity_to_execute(
        progressed, instrument, price, result.book.quantity_of(instrument.instrument_id)
    )
    filled = attrs.evolve(
        progressed, state=ORDER.next(started.state, Trigger.PARTIAL_FILL if left > 0 else Trigger.FILL)
    )
    announcements.append(announce(filled))
    announcements.append(Announcement.of(result.event, result.event.event.value))
    return Booked(filled, with_book(account, result), tuple(announcements))


def unfillable(order: Order, held: Decimal, price: Decimal) -> str:
    """Why an order with nothing left to execute is cancelled."""
    if order.side is Side.SELL and held <= 0:
        return f"the account no longer holds {order.instrument_id}"
    verb = "buys" if order.side is Side.BUY else "sells"
    return f"the amount {verb} less than one quantity step at {price}"


def finish(order: Order, now: dt.datetime) -> tuple[Order, list[Announcement]]:
    """A partly filled order with less than a step left to execute is done: FILLED."""
    filled = attrs.evolve(order, state=ORDER.next(order.state, Trigger.FILL), updated_at=now)
    return filled, [announce(filled)]


def fail(order: Order, reason: str, now: dt.datetime) -> tuple[Order, list[Announcement]]:
    """An error at the trading partner: the order is cancelled with the reason."""
    failed = attrs.evolve(order, state=ORDER.next(order.state, Trigger.FAIL), reason=reason, updated_at=now)
    return failed, [announce(failed)]


def cancel_open(orders: Sequence[Order], reason: str, now: dt.datetime, trigger: Trigger) -> list[Order]:
    """Cancel every order that is still open; the others are returned as they are."""
    return [
        attrs.evolve(o, state=ORDER.next(o.state, trigger), reason=reason, updated_at=now)
        if o.state in OPEN
        else o
        for o in orders
    ]


def book_of(account: Account) -> AccountBook:
    return AccountBook(
        account.id,
        account.currency,
        account.cash_in(account.currency),
        account.positions,
        account.next_sequence_id,
    )


def with_book(account: Account, result: FillResult) -> Account:
    book = result.book
    return attrs.evolve(
        account,
        cash={**account.cash, account.currency: book.cash},
        positions=book.positions,
        next_sequence_id=book.next_sequence_id,
    )
