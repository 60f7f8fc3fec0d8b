"""Pure decisions of the engine: what placing, executing and cancelling do to records.

The application service (``ports.service``) loads records, calls these functions, and stores what they return
together with the announcements (``Announcement``: an event type and the snapshot it carries). Nothing here
makes ids or reads the clock: both come in as arguments.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import attrs

from core.blocks import Targets, apply_margin, targets
from core.errors import AccountClosed, InsufficientFunds, NothingToTrade
from core.fills import AccountBook, Fill, FillResult, apply_fill
from core.instruments import Instrument, Side
from core.keys import AllocationKey
from core.lifecycle import (
    ACCOUNT_LIQUIDATION,
    ORDER,
    PORTFOLIO_ORDER,
    Event,
    LiquidationState,
    OrderState,
    PortfolioOrderState,
    follow_children,
)
from core.numbers import ZERO, exact, floor_to, from_units, minor_unit, whole_steps
from core.portfolio import FeeSchedule, LiquidationSettlement, OrderPlan, OrderType, settle_liquidation
from core.records import TOPIC_OF, Account, AccountLiquidation, AccountStatus, Order, OrderRef, PortfolioOrder

R = TypeVar("R", PortfolioOrder, AccountLiquidation)


@attrs.frozen
class Announcement:
    """An event to publish: ``<TOPIC>.<STATE>`` and the full snapshot after the transition."""

    type: str
    object: Any

    @classmethod
    def of(cls, record: Any, state: str) -> Announcement:
        return cls(f"{TOPIC_OF[type(record)]}.{state}", record)


def announce(record: PortfolioOrder | Order | AccountLiquidation) -> Announcement:
    return Announcement.of(record, record.state.value)


def refs(orders: Iterable[Order]) -> tuple[OrderRef, ...]:
    return tuple(OrderRef(o.id, o.side, o.state) for o in orders)


@exact
def available_cash(account: Account, currency: str) -> Decimal:
    """Cash not yet promised: the balance less what open buy cash orders may still spend."""
    return max(ZERO, account.cash_in(currency) - account.reserved_in(currency))


def unspent(order: Order) -> Decimal:
    """What a buy cash order may still spend (its amount less what its fills have traded)."""
    if order.side is not Side.BUY or order.cash_amount is None:
        return ZERO
    return max(ZERO, order.cash_amount - order.traded_value)


def reservation(order: Order | None) -> Decimal:
    """The cash an order holds back from its account: what it may still spend while it is open."""
    return unspent(order) if order is not None and order.state in OPEN else ZERO


def reserve_new(account: Account, orders: Iterable[Order]) -> Account:
    """Reserve the cash that new orders may spend."""
    return _reserve_by(account, sum((reservation(o) for o in orders), ZERO))


def reserve(account: Account, before: Order | None, after: Order) -> Account:
    """Keep the account's reserved cash in step with one order's change (``before`` None: a new order)."""
    return _reserve_by(account, reservation(after) - reservation(before))


@exact
def _reserve_by(account: Account, delta: Decimal) -> Account:
    if not delta:
        return account
    return attrs.evolve(
        account,
        reserved={**account.reserved, account.currency: account.reserved_in(account.currency) + delta},
    )


OPEN = frozenset({OrderState.NEW, OrderState.PROCESSING})


def child_orders(
    plan: OrderPlan, account_id: str, client_reference: str, ids: Sequence[str], now: dt.datetime
) -> list[Order]:
    """The individual orders of a plan, NEW, carrying the parent's id as ``client_reference``."""
    return [
        Order(
            id=order_id,
            account_id=account_id,
            instrument_id=planned.instrument_id,
            side=planned.side,
            cash_amount=planned.cash_amount,
            quantity=planned.quantity,
            state=OrderState.NEW,
            created_at=now,
            updated_at=now,
            client_reference=client_reference,
        )
        for order_id, planned in zip(ids, plan.orders, strict=True)
    ]


def submit_portfolio_order(
    order: PortfolioOrder, children: Sequence[Order], now: dt.datetime
) -> tuple[PortfolioOrder, list[Announcement]]:
    """NEW (announced with no orders) → SUBMITTED once every individual order exists (announced each)."""
    announcements = [announce(order), *(announce(child) for child in children)]
    if not children:
        raise NothingToTrade(
            "the plan has no orders to place", {"skipped": [s.instrument_id for s in order.skipped]}
        )
    submitted = attrs.evolve(
        order, state=PORTFOLIO_ORDER.next(order.state, Event.SUBMIT), orders=refs(children), updated_at=now
    )
    return submitted, [*announcements, announce(submitted)]


def follow(
    parent: R, children: Sequence[Order], now: dt.datetime, on_filled: Callable[[R], R] | None = None
) -> tuple[R, list[Announcement]]:
    """Move a portfolio order or account liquidation along with its orders, announcing every step.

    ``on_filled`` completes the record when it reaches FILLED (a liquidation's cash amount), before that
    state is announced."""
    lifecycle: Any = PORTFOLIO_ORDER if isinstance(parent, PortfolioOrder) else ACCOUNT_LIQUIDATION
    path = follow_children(lifecycle, parent.state, [c.state for c in children])
    updated = attrs.evolve(parent, orders=refs(children))
    announcements = []
    for state in path:
        updated = attrs.evolve(updated, state=state, updated_at=now)
        if state in (PortfolioOrderState.CANCELLED, LiquidationState.CANCELLED):
            reasons = sorted({c.reason for c in children if c.reason})
            updated = attrs.evolve(updated, reason="; ".join(reasons) or "error at the trading partner")
        if state in (PortfolioOrderState.FILLED, LiquidationState.FILLED) and on_filled is not None:
            updated = on_filled(updated)
        announcements.append(announce(updated))
    return updated, announcements


def block_targets(
    key: AllocationKey, amount: Decimal, instrument: Instrument, side: Side, accounts: Iterable[Account]
) -> Targets:
    """What each participant of a block should get: the key's targets, and for a priced buy the key's margin
    handling, with each participant's available cash as its buying power."""
    wanted = targets(key, amount, instrument.quantity_step)
    if side is not Side.BUY or instrument.price is None:
        return wanted
    power = {a.id: available_cash(a, a.currency) for a in accounts}
    return apply_margin(
        key, wanted, power, instrument.price, instrument.contract_size, instrument.quantity_step
    )


def follow_parent(
    parent: R, siblings: Sequence[Order], fees: FeeSchedule | None, now: dt.datetime
) -> tuple[R, list[Order], list[Announcement]]:
    """A parent after one of its orders changed: it follows its orders (``follow``); once FILLED a liquidation
    (either kind) gets its cash amount; once cancelled by an error at the trading partner its other open
    orders are cancelled with it, filled ones stay. Returns the parent, its orders and what to announce
    (the orders' cancellations first)."""

    def settled(record: R) -> R:
        if isinstance(record, PortfolioOrder) and record.type is not OrderType.LIQUIDATION:
            return record
        settlement = settle(siblings, fees, now.date(), record.currency)
        if isinstance(record, AccountLiquidation):
            return attrs.evolve(
                record, cash_amount=settlement.cash_amount, management_fee=settlement.management_fee
            )
        return attrs.evolve(record, cash_amount=settlement.cash_amount)

    updated: R
    path: list[Announcement]
    updated, path = follow(parent, siblings, now, settled)
    announcements = path
    children = list(siblings)
    if updated.state in (PortfolioOrderState.CANCELLED, LiquidationState.CANCELLED):
        children = cancel_orders(siblings, updated.reason or "error at the trading partner", now, Event.FAIL)
        changed: list[Order] = [c for c, before in zip(children, siblings, strict=True) if c != before]
        announcements = [*(announce(c) for c in changed), *path]
    return attrs.evolve(updated, orders=refs(children)), children, announcements


def cancel_by_client(
    parent: R, children: Sequence[Order], now: dt.datetime
) -> tuple[R, list[Order], list[Announcement]]:
    """The client cancels a portfolio order or account liquidation (where its lifecycle allows) and its
    open orders with it; returns the parent, its orders and what to announce (orders first)."""
    lifecycle: Any = PORTFOLIO_ORDER if isinstance(parent, PortfolioOrder) else ACCOUNT_LIQUIDATION
    state = lifecycle.next(parent.state, Event.CANCEL)
    reason = "cancelled by the client"
    cancelled_children = cancel_orders(children, reason, now, Event.CANCEL)
    cancelled = attrs.evolve(
        parent, state=state, orders=refs(cancelled_children), reason=reason, updated_at=now
    )
    changed: list[Order] = [c for c, before in zip(cancelled_children, children, strict=True) if c != before]
    return cancelled, cancelled_children, [*(announce(c) for c in changed), announce(cancelled)]


def cancel_orders(children: Sequence[Order], reason: str, now: dt.datetime, event: Event) -> list[Order]:
    """Cancel every order that is still open; the others are returned as they are."""
    return [
        attrs.evolve(c, state=ORDER.next(c.state, event), reason=reason, updated_at=now)
        if c.state in OPEN
        else c
        for c in children
    ]


@exact
def order_quantity(order: Order, instrument: Instrument, price: Decimal, held: Decimal) -> Decimal:
    """What a venue executes for ``order`` at ``price``: a unit order's quantity, or as many quantity steps
    as a cash order's amount buys (or sells) at that price, rounded down; never more than is held for a sell."""
    remaining = target_quantity(order, instrument, price, held) - order.filled_quantity
    if order.side is Side.SELL:
        # Other sells may have sold part of the holding since this order's quantity was fixed.
        remaining = min(remaining, held)
    if order.side is Side.BUY and order.cash_amount is not None:
        # A cash order never trades for more than its amount, even if the price moved between its fills.
        step = instrument.quantity_step
        affordable = from_units(whole_steps(unspent(order), price * instrument.contract_size * step), step)
        remaining = min(remaining, affordable)
    return remaining


@exact
def target_quantity(order: Order, instrument: Instrument, price: Decimal, held: Decimal) -> Decimal:
    """The whole quantity an order trades: its own, or (cash orders) what its amount buys at ``price``."""
    target = order.quantity if order.quantity is not None else order.target_quantity
    if target is None:
        assert order.cash_amount is not None
        step = instrument.quantity_step
        target = from_units(whole_steps(order.cash_amount, price * instrument.contract_size * step), step)
        if order.side is Side.SELL:
            target = min(target, held)
    return target


@attrs.frozen
class Execution:
    """The outcome of one execution of an order: new order and account, and what to announce."""

    order: Order
    account: Account
    announcements: tuple[Announcement, ...]


def start(order: Order, now: dt.datetime) -> tuple[Order, list[Announcement]]:
    if order.state is OrderState.PROCESSING:
        return order, []
    started = attrs.evolve(order, state=ORDER.next(order.state, Event.START), updated_at=now)
    return started, [announce(started)]


def execute(
    order: Order,
    account: Account,
    instrument: Instrument,
    quantity: Decimal,
    price: Decimal,
    now: dt.datetime,
    booked_value: Decimal | None = None,
) -> Execution:
    """Book an execution of ``quantity`` at ``price`` on the order and its account.

    The order is FILLED once nothing is left to execute at this price (its whole quantity, or for a cash order
    whatever its remaining amount still buys), else it stays PROCESSING (partial fill).
    """
    target = target_quantity(order, instrument, price, account.quantity_of(instrument.instrument_id))
    started, announcements = start(order, now)
    if order.quantity is None:
        started = attrs.evolve(started, target_quantity=target)
    result = apply_fill(
        book_of(account),
        Fill(
            order.id,
            account.id,
            instrument,
            order.side,
            quantity,
            price,
            now,
            order.correlation_key,
            order.client_reference,
            booked_value,
        ),
        account.costs,
    )
    progressed = attrs.evolve(
        started,
        filled_quantity=started.filled_quantity + quantity,
        traded_value=started.traded_value + result.event.traded_value,
        total_cost=started.total_cost + result.event.total_cost,
        updated_at=now,
    )
    complete = (
        order_quantity(progressed, instrument, price, result.book.quantity_of(instrument.instrument_id)) <= 0
    )
    filled = attrs.evolve(
        progressed, state=ORDER.next(started.state, Event.FILL if complete else Event.PARTIAL_FILL)
    )
    announcements.append(announce(filled))
    announcements.append(Announcement.of(result.event, result.event.event.value))
    return Execution(filled, with_book(account, result), tuple(announcements))


def unfillable(order: Order, held: Decimal, price: Decimal) -> str:
    """Why an order with nothing to execute is cancelled."""
    if order.side is Side.SELL and held <= 0:
        return f"the account no longer holds {order.instrument_id}"
    verb = "buys" if order.side is Side.BUY else "sells"
    return f"the amount {verb} less than one quantity step at {price}"


def finish(order: Order, now: dt.datetime) -> tuple[Order, list[Announcement]]:
    """A partly filled cash order whose remaining amount buys less than one step is done: FILLED."""
    filled = attrs.evolve(order, state=ORDER.next(order.state, Event.FILL), updated_at=now)
    return filled, [announce(filled)]


def fail(order: Order, reason: str, now: dt.datetime) -> tuple[Order, list[Announcement]]:
    """An error at the trading partner: the order is cancelled with the reason."""
    failed = attrs.evolve(order, state=ORDER.next(order.state, Event.FAIL), reason=reason, updated_at=now)
    return failed, [announce(failed)]


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
    cash = dict(account.cash)
    cash[account.currency] = book.cash
    return attrs.evolve(account, cash=cash, positions=book.positions, next_sequence_id=book.next_sequence_id)


@exact
def move_cash(account: Account, currency: str, amount: Decimal) -> Account:
    """Deposit (positive) or withdraw (negative) ``amount``; the balance may not go below zero."""
    balance = account.cash_in(currency) + amount
    if balance < 0:
        raise InsufficientFunds(
            f"the account has {account.cash_in(currency)} {currency}; cannot withdraw {-amount}",
            {"available": str(account.cash_in(currency)), "requested": str(-amount), "currency": currency},
        )
    return attrs.evolve(account, cash={**account.cash, currency: balance})


@exact
def nav(account: Account, price_of: Callable[[str], Instrument]) -> Decimal:
    """Market value of the securities, rounded down to the minor unit for display."""
    total = sum((price_of(p.instrument_id).value_of(p.quantity) for p in account.positions), ZERO)
    return (
        floor_to(total, minor_unit(account.currency))
        if total
        else ZERO.quantize(minor_unit(account.currency))
    )


def settle(
    children: Sequence[Order], fees: FeeSchedule | None, today: dt.date, currency: str
) -> LiquidationSettlement:
    """Once every sell is filled: cash_amount = proceeds − costs − management fee."""
    return settle_liquidation(
        sum((c.traded_value for c in children), ZERO),
        sum((c.total_cost for c in children), ZERO),
        fees,
        today,
        currency,
    )


def check_open_account(account: Account) -> Account:
    if account.status is not AccountStatus.ACTIVE:
        raise AccountClosed(
            f"account {account.id} is closed; it cannot trade or move cash", {"account_id": account.id}
        )
    return account
