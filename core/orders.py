"""Individual orders: created from a plan (or allocated out of a block), executed at the venue's price, cancelled.

An open order holds back what it may still need from its account: a buy its remaining amount and estimated costs,
a sell its units. A cash order's quantity is fixed at its first execution (what its amount buys at that price,
rounded down to the quantity step; for a sell never more than it may sell). Later partial fills complete that
quantity, but a buy never trades for more than its amount and a sell never for more than is still held.

Every execution is one journal entry: units from the venue to the account (a sell: back), the traded value the
other way, and the trading costs to fee income. It never spends cash or units another open order holds back.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal

import attrs

from core.accounts import check_open, estimated_costs, reserve
from core.errors import InsufficientFunds, InsufficientPosition
from core.fills import Fill, PositionEvent, position_event, price_fill
from core.instruments import Instrument, Position, Side
from core.journal import (
    FEE_INCOME,
    VENUE,
    Asset,
    Cause,
    CauseKind,
    JournalEntry,
    LedgerAccount,
    post,
    transfer,
)
from core.lifecycle import OPEN, ORDER, OrderState, Trigger
from core.numbers import ZERO, divide_to, exact, fmt, from_units, minor_unit, round_to, whole_steps
from core.portfolio import OrderPlan
from core.records import Account, Announcement, Order, ParentKind, announce

#: The reason recorded on whatever the client cancels.
CLIENT_CANCELLED = "cancelled by the client"


@exact
def still_needs(
    side: Side,
    cash_amount: Decimal | None,
    quantity: Decimal | None,
    account: Account,
    instrument: Instrument,
    traded_value: Decimal = ZERO,
    filled_quantity: Decimal = ZERO,
) -> tuple[Decimal, Decimal]:
    """What an order holds back for what it may still trade, as (cash, units): a buy its unspent amount (a unit
    buy: the value of its units left at the current price, rounded up to the minor unit) and the estimated costs
    on it; a sell its units left (a cash sell: what its unsold amount sells at the current price, rounded up to the
    step, within what the account has free — everything free when the instrument has no price)."""
    if side is Side.BUY:
        if cash_amount is not None:
            left = max(ZERO, cash_amount - traded_value)
        else:
            units = max(ZERO, (quantity or ZERO) - filled_quantity)
            value = instrument.value_of(units) if instrument.price is not None else ZERO
            left = round_to(value, minor_unit(account.currency), decimal.ROUND_CEILING)
        return (left + estimated_costs(account, left, Side.BUY) if left else ZERO), ZERO
    if quantity is not None:
        return ZERO, max(ZERO, quantity - filled_quantity)
    free = max(
        ZERO, account.quantity_of(instrument.instrument_id) - account.held_of(instrument.instrument_id)
    )
    if instrument.price is None:
        return ZERO, free
    unsold = max(ZERO, (cash_amount or ZERO) - traded_value)
    unit_value = instrument.price * instrument.contract_size
    return ZERO, min(divide_to(unsold, unit_value, instrument.quantity_step, decimal.ROUND_CEILING), free)


@exact
def carried_over(
    account: Account, open_orders: Sequence[Order], instruments: Mapping[str, Instrument]
) -> tuple[Account, tuple[Order, ...]]:
    """Open orders of a store from before holds, each holding back what it may still need (``still_needs``), and
    their account holding exactly their sum (whatever it held before is replaced)."""
    account = attrs.evolve(account, reserved={}, held_units={})
    carried = []
    for order in open_orders:
        held_cash, held_units = still_needs(
            order.side, order.cash_amount, order.quantity, account, instruments[order.instrument_id],
            order.traded_value, order.filled_quantity,
        )  # fmt: skip
        held = attrs.evolve(order, held_cash=held_cash, held_units=held_units)
        account = reserve(account, [], [held])
        carried.append(held)
    return account, tuple(carried)


@exact
def from_plan(
    plan: OrderPlan,
    account: Account,
    instruments: Mapping[str, Instrument],
    parent_kind: ParentKind,
    parent_id: str,
    ids: Iterator[str],
    now: dt.datetime,
) -> tuple[Order, ...]:
    """The individual orders of a plan, NEW, linked to the portfolio order or liquidation that made them (and
    carrying its id as ``client_reference``, where the outside world looks for it), each holding back what it needs."""
    made = []
    for planned in plan.orders:
        held_cash, held_units = still_needs(
            planned.side, planned.cash_amount, planned.quantity, account, instruments[planned.instrument_id]
        )
        made.append(
            Order(
                id=next(ids),
                account_id=account.id,
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
                held_cash=held_cash,
                held_units=held_units,
                client_id=account.client_id,
                user_id=account.user_id,
            )
        )
    return tuple(made)


@exact
def allocated(
    block_id: str,
    account: Account,
    instrument: Instrument,
    side: Side,
    quantity: Decimal,
    order_id: str,
    now: dt.datetime,
) -> Order:
    """The order a block allocates to one account, NEW, with the block's id as its correlation key; a buy holds
    back its value at the current price (rounded up to the minor unit) and estimated costs, a sell its units."""
    side = Side(side)
    held_cash, held_units = still_needs(side, None, quantity, account, instrument)
    return Order(
        id=order_id,
        account_id=account.id,
        instrument_id=instrument.instrument_id,
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
        held_cash=held_cash,
        held_units=held_units,
        client_id=account.client_id,
        user_id=account.user_id,
    )


def executes_on_its_own(order: Order) -> bool:
    """An open order the market executes by itself: orders allocated out of a block move with their block."""
    return order.state in OPEN and order.parent_kind in (
        ParentKind.PORTFOLIO_ORDER,
        ParentKind.ACCOUNT_LIQUIDATION,
    )


@exact
def sellable(order: Order, account: Account) -> Decimal:
    """The units a sell may still sell: what it holds back itself and what no other open order holds back."""
    others = account.held_of(order.instrument_id) - (order.held_units if order.state in OPEN else ZERO)
    return max(ZERO, account.quantity_of(order.instrument_id) - others)


@exact
def spendable(order: Order, account: Account) -> Decimal:
    """The cash a buy may still spend, costs included: what it holds back and what no other order holds back."""
    others = account.reserved_in(account.currency) - (order.held_cash if order.state in OPEN else ZERO)
    return max(ZERO, account.cash_in(account.currency) - others)


def unspent(order: Order) -> Decimal:
    """What a buy cash order may still trade for (its amount less what its fills have traded)."""
    if order.side is not Side.BUY or order.cash_amount is None:
        return ZERO
    return max(ZERO, order.cash_amount - order.traded_value)


@exact
def target_quantity(order: Order, account: Account, instrument: Instrument, price: Decimal) -> Decimal:
    """The whole quantity an order trades: its own, or (cash orders) what its amount buys at ``price``."""
    target = order.quantity if order.quantity is not None else order.target_quantity
    if target is None:
        assert order.cash_amount is not None  # an order is a cash order or a unit order
        step = instrument.quantity_step
        target = from_units(whole_steps(order.cash_amount, price * instrument.contract_size * step), step)
        if order.side is Side.SELL:
            target = min(target, sellable(order, account))
    return target


@exact
def quantity_to_execute(order: Order, account: Account, instrument: Instrument, price: Decimal) -> Decimal:
    """What the venue should execute for ``order`` at ``price`` now: what is left of its quantity, never more than
    the sell may still sell, never more than a cash buy's unspent amount buys. Zero when nothing is left."""
    remaining = target_quantity(order, account, instrument, price) - order.filled_quantity
    if order.side is Side.SELL:
        # Other sells may have sold part of the holding since this order's quantity was fixed.
        remaining = min(remaining, sellable(order, account))
    if order.side is Side.BUY and order.cash_amount is not None:
        # A cash order never trades for more than its amount, even if the price moved between its fills.
        step = instrument.quantity_step
        affordable = from_units(whole_steps(unspent(order), price * instrument.contract_size * step), step)
        remaining = min(remaining, affordable)
    return max(ZERO, remaining)


@attrs.frozen
class Booked:
    """An execution booked on an order and its account: the journal entry, and what it announces (order, then
    position)."""

    order: Order
    account: Account
    entry: JournalEntry
    announcements: tuple[Announcement, ...]


def start(order: Order, now: dt.datetime) -> tuple[Order, list[Announcement]]:
    """NEW → PROCESSING (announced); an order already processing stays as it is."""
    if order.state is OrderState.PROCESSING:
        return order, []
    started = attrs.evolve(order, state=ORDER.next(order.state, Trigger.START), updated_at=now)
    return started, [announce(started)]


@exact
def fill_entry(
    entry_id: str, order: Order, account: Account, instrument: Instrument, quantity: Decimal, value: Decimal,
    costs: Decimal, now: dt.datetime,
) -> JournalEntry:  # fmt: skip
    """The journal entry of one execution of ``order``."""
    client, units, cash = (
        LedgerAccount.client(account.id),
        Asset.units(instrument.instrument_id),
        Asset.cash(account.currency),
    )
    if order.side is Side.BUY:
        moved = transfer(VENUE, client, units, quantity) + transfer(client, VENUE, cash, value)
    else:
        moved = transfer(client, VENUE, units, quantity) + transfer(VENUE, client, cash, value)
    verb = "bought" if order.side is Side.BUY else "sold"
    return JournalEntry(
        id=entry_id,
        at=now,
        cause=Cause(CauseKind.FILL, order.id),
        postings=moved + transfer(client, FEE_INCOME, cash, costs),
        memo=f"{verb} {fmt(quantity)} {instrument.instrument_id} for {fmt(value)} {account.currency}"
        + (f", costs {fmt(costs)}" if costs else ""),
    )


def keyed(
    positions: tuple[Position, ...], before: Position | None, event: PositionEvent
) -> tuple[Position, ...]:
    """The positions after a fill, the one it opened (there was none ``before``) carrying the event's correlation
    key; a position that was open keeps its own."""
    if before is not None:
        return positions
    return tuple(
        attrs.evolve(p, correlation_key=event.correlation_key)
        if p.instrument_id == event.instrument_id
        else p
        for p in positions
    )


@exact
def book(
    order: Order,
    account: Account,
    instrument: Instrument,
    quantity: Decimal,
    price: Decimal,
    now: dt.datetime,
    entry_id: str,
    booked_value: Decimal | None = None,
) -> Booked:
    """Book an execution of ``quantity`` at ``price`` on the order and its account, as one journal entry.

    The order is FILLED once nothing is left to execute at this price (its whole quantity, or for a cash order
    whatever its remaining amount still buys), else it stays PROCESSING (a partial fill). A closed account does not
    trade; a buy never spends cash, nor a sell units, that another open order holds back, nor takes the account
    below zero (the price may have risen, or the cash been withdrawn, since the order was placed).
    """
    check_open(account)
    target = target_quantity(order, account, instrument, price)
    started, announcements = start(order, now)
    if order.quantity is None:
        started = attrs.evolve(started, target_quantity=target)
    fill = Fill(
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
        fill_id=entry_id,
        client_id=account.client_id,
        user_id=account.user_id,
    )
    value, costs = price_fill(fill, account.costs, account.currency, order.traded_value)
    _check_affordable(order, account, instrument, quantity, value + costs.total)
    entry = fill_entry(entry_id, order, account, instrument, quantity, value, costs.total, now)
    before = account.position(instrument.instrument_id)
    posted = post(account, entry)
    after = posted.quantity_of(instrument.instrument_id)
    position_id = (before.position_id if before is not None else None) or entry.id
    event = position_event(
        fill, before.quantity if before else ZERO, after, position_id, value, costs, account.currency,
        account.costs, account.next_sequence_id,
    )  # fmt: skip
    posted = attrs.evolve(
        posted,
        positions=keyed(posted.positions, before, event),
        next_sequence_id=account.next_sequence_id + 1,
    )
    progressed = attrs.evolve(
        started,
        filled_quantity=started.filled_quantity + quantity,
        traded_value=started.traded_value + value,
        total_cost=started.total_cost + costs.total,
        held_cash=max(ZERO, started.held_cash - value - costs.total) if order.side is Side.BUY else ZERO,
        held_units=max(ZERO, started.held_units - quantity) if order.side is Side.SELL else ZERO,
        updated_at=now,
    )
    left = quantity_to_execute(progressed, posted, instrument, price)
    filled = _settled(
        attrs.evolve(
            progressed, state=ORDER.next(started.state, Trigger.PARTIAL_FILL if left > 0 else Trigger.FILL)
        )
    )
    announcements.append(announce(filled))
    announcements.append(Announcement.of(event, event.event.value))
    return Booked(filled, posted, entry, tuple(announcements))


def _check_affordable(
    order: Order, account: Account, instrument: Instrument, quantity: Decimal, cost: Decimal
) -> None:
    if order.side is Side.BUY and cost > spendable(order, account):
        raise InsufficientFunds(
            f"account {account.id} has {fmt(spendable(order, account))} {account.currency} free for this order; "
            f"buying {fmt(quantity)} {instrument.instrument_id} costs {fmt(cost)}",
            {"account_id": account.id, "cost": fmt(cost), "currency": account.currency},
        )
    if order.side is Side.SELL and quantity > sellable(order, account):
        raise InsufficientPosition(
            f"account {account.id} may sell {fmt(sellable(order, account))} {instrument.instrument_id} for this "
            f"order, not {fmt(quantity)}",
            {"account_id": account.id, "instrument_id": instrument.instrument_id, "requested": fmt(quantity)},
        )


def _settled(order: Order) -> Order:
    """A finished order holds nothing back any more."""
    return order if order.state in OPEN else attrs.evolve(order, held_cash=ZERO, held_units=ZERO)


def unfillable(order: Order, held: Decimal, price: Decimal) -> str:
    """Why an order with nothing left to execute is cancelled."""
    if order.side is Side.SELL and held <= 0:
        return f"the account no longer holds {order.instrument_id}"
    verb = "buys" if order.side is Side.BUY else "sells"
    return f"the amount {verb} less than one quantity step at {price}"


def finish(order: Order, now: dt.datetime) -> tuple[Order, list[Announcement]]:
    """A partly filled order with less than a step left to execute is done: FILLED."""
    filled = _settled(attrs.evolve(order, state=ORDER.next(order.state, Trigger.FILL), updated_at=now))
    return filled, [announce(filled)]


def fail(order: Order, reason: str, now: dt.datetime) -> tuple[Order, list[Announcement]]:
    """An error at the trading partner: the order is cancelled with the reason."""
    failed = _settled(
        attrs.evolve(order, state=ORDER.next(order.state, Trigger.FAIL), reason=reason, updated_at=now)
    )
    return failed, [announce(failed)]


def cancel_open(orders: Sequence[Order], reason: str, now: dt.datetime, trigger: Trigger) -> list[Order]:
    """Cancel every order that is still open; the others are returned as they are."""
    return [
        _settled(attrs.evolve(o, state=ORDER.next(o.state, trigger), reason=reason, updated_at=now))
        if o.state in OPEN
        else o
        for o in orders
    ]
