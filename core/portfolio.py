"""Portfolio orders and liquidation settlement: from a client's intent to an order plan.

``plan(request)`` is the one entry point; it dispatches on the order type to ``plan_buy``, ``plan_sell``,
``plan_liquidation`` and ``plan_rebalancing``. Every split of cash goes through the apportionment kernel
(``core.explain.split``, which also says how each share came about).
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType

import attrs

from core.errors import (
    BelowMinimumOrder,
    CurrencyMismatch,
    InstrumentEnded,
    InsufficientFunds,
    InsufficientPosition,
    NavLimitExceeded,
    NothingToTrade,
    ValidationError,
)
from core.explain import Explanation, split
from core.fairness import FairHistory, Fairness
from core.instruments import (
    Allocation,
    AllocationLine,
    Instrument,
    InstrumentTable,
    Position,
    Side,
    check_tradable,
    not_tradable,
)
from core.numbers import (
    ZERO,
    as_cash,
    check_cash,
    check_non_negative,
    currency_exponent,
    decimal_input,
    divide_to,
    exact,
    floor_to,
    fmt,
    from_units,
    half_even_to,
    minor_unit,
    optional_decimal_input,
    whole_steps,
)
from core.validators import (
    NamedEnum,
    check_date,
    date,
    each,
    fraction,
    known_currency,
    non_empty,
    non_negative,
    optional_date,
    optional_positive,
)


class OrderType(NamedEnum):
    BUY = "BUY"
    SELL = "SELL"
    LIQUIDATION = "LIQUIDATION"
    REBALANCING = "REBALANCING"


class SkipReason(NamedEnum):
    """Why an instrument got no order in a plan."""

    BELOW_MINIMUM_ORDER = "BELOW_MINIMUM_ORDER"  #: its share is smaller than its min_order_amount
    WITHIN_DRIFT_BAND = "WITHIN_DRIFT_BAND"  #: rebalancing: its weight is close enough to the target
    BELOW_QUANTITY_STEP = "BELOW_QUANTITY_STEP"  #: rebalancing: the sell is smaller than one quantity step
    NOTHING_TO_TRADE = "NOTHING_TO_TRADE"  #: its share rounds to zero
    INSUFFICIENT_CASH = "INSUFFICIENT_CASH"  #: rebalancing: no cash left for this buy after the buffer


@attrs.frozen
class PlannedOrder:
    """One individual order of a plan: a cash order (``cash_amount``) or a unit order (``quantity``)."""

    instrument_id: str = attrs.field(validator=non_empty)
    side: Side = attrs.field(converter=Side)
    cash_amount: Decimal | None = attrs.field(
        default=None, converter=optional_decimal_input, validator=optional_positive
    )
    quantity: Decimal | None = attrs.field(
        default=None, converter=optional_decimal_input, validator=optional_positive
    )


@attrs.frozen
class Skipped:
    instrument_id: str = attrs.field(validator=non_empty)
    reason: SkipReason = attrs.field(converter=SkipReason)


@attrs.frozen
class OrderPlan:
    """What a portfolio order turns into. Sells are always listed before buys."""

    type: OrderType = attrs.field(converter=OrderType)
    currency: str = attrs.field(validator=known_currency)
    cash_amount: Decimal | None = attrs.field(converter=optional_decimal_input, validator=optional_positive)
    orders: tuple[PlannedOrder, ...] = attrs.field(validator=each(PlannedOrder))
    skipped: tuple[Skipped, ...] = attrs.field(default=(), validator=each(Skipped))
    #: How its cash was split, instrument by instrument (none for a liquidation: it sells everything).
    explanation: Explanation | None = None
    #: A ROTATE model's fairness history after this plan (a BUY's split over the weights moves it on).
    history: FairHistory | None = None


@attrs.frozen
class Policy:
    """Policy parameters of portfolio orders: the share of NAV a nominal sell may take, the cash a rebalancing
    keeps, and the drift band inside which a rebalancing leaves an instrument alone."""

    sell_nav_limit: Decimal = attrs.field(default=Decimal("0.9"), converter=decimal_input, validator=fraction)
    cash_buffer: Decimal = attrs.field(default=ZERO, converter=decimal_input, validator=non_negative)
    drift_band: Decimal = attrs.field(default=ZERO, converter=decimal_input, validator=fraction)


@attrs.frozen
class PortfolioRequest:
    """A client's intent, as plain values. ``plan(request)`` turns it into an ``OrderPlan``."""

    type: OrderType = attrs.field(converter=OrderType)
    currency: str = attrs.field(validator=known_currency)
    #: Checked by ``plan``: greater than zero, in the currency's minor units.
    cash_amount: Decimal | None = attrs.field(default=None, converter=optional_decimal_input)
    allocation: tuple[AllocationLine, ...] = attrs.field(default=(), validator=each(AllocationLine))
    instruments: tuple[Instrument, ...] = attrs.field(default=(), validator=each(Instrument))
    positions: tuple[Position, ...] = attrs.field(default=(), validator=each(Position))
    #: The account's available cash; checked by ``plan``: not negative, in the currency's minor units.
    cash: Decimal | None = attrs.field(default=None, converter=optional_decimal_input)
    policy: Policy = attrs.field(default=Policy(), validator=attrs.validators.instance_of(Policy))
    #: Units of the positions already held back by open sells: a new order may not count on them.
    held: tuple[Position, ...] = attrs.field(default=(), validator=each(Position))
    #: Cash already held back by open buys (``cash`` is what is left): said when nothing is left to invest.
    held_cash: Decimal = attrs.field(default=ZERO, converter=decimal_input, validator=non_negative)
    #: The trading day: from the day after its expiry an option is not bought. Without it only options that have
    #: ended (exercised or expired) are refused.
    as_of: dt.date | None = attrs.field(default=None, validator=optional_date)
    #: ROTATE: a BUY's leftover cents rotate over the instruments with ``history`` (the model's, before this order).
    fairness: Fairness = attrs.field(default=Fairness.PLAIN, converter=Fairness)
    history: FairHistory | None = None


def plan(request: PortfolioRequest) -> OrderPlan:
    """Turn a portfolio order request into an order plan (or raise an ``AllotError`` saying why not).

    No order of the plan trades an instrument that no longer trades (``INSTRUMENT_ENDED``): a model portfolio
    that holds an option which has ended, or which is past its expiry date, cannot be bought or rebalanced to."""
    currency_exponent(request.currency)
    table = InstrumentTable.of(request.instruments)
    order_plan = _plan(request, table)
    for order in order_plan.orders:
        instrument = table.by_id.get(order.instrument_id)
        if instrument is not None:
            check_tradable(instrument, order.side, request.as_of)
    return order_plan


def _plan(request: PortfolioRequest, table: InstrumentTable) -> OrderPlan:
    for instrument in request.instruments:
        if instrument.currency is not None and instrument.currency != request.currency:
            raise CurrencyMismatch(
                f"instrument {instrument.instrument_id} trades in {instrument.currency}, the order is in "
                f"{request.currency}",
                {"instrument_id": instrument.instrument_id, "currency": instrument.currency},
            )
    _check_fairness(request)
    positions = _positions(request.positions)
    held = {p.instrument_id: p.quantity for p in _positions(request.held)}
    if request.cash is not None:
        check_cash(request.cash, request.currency, "cash")
        check_non_negative(request.cash, "cash")
    match request.type:
        case OrderType.BUY:
            allocation = _allocation(request)
            _check_model_tradable(allocation, table, request.as_of)
            return plan_buy(
                _required_cash_amount(request), request.currency, allocation, table, request.cash,
                fairness=request.fairness, history=request.history,
            )  # fmt: skip
        case OrderType.SELL:
            return plan_sell(
                _required_cash_amount(request), request.currency, positions, table, request.policy, held
            )
        case OrderType.LIQUIDATION:
            _must_be_absent(request, "cash_amount", "allocation")
            return plan_liquidation(request.currency, positions, held)
        case OrderType.REBALANCING:
            _must_be_absent(request, "cash_amount")
            cash = ZERO if request.cash is None else request.cash
            allocation = _allocation(request)
            _check_model_tradable(allocation, table, request.as_of)
            held_value = sum((table[i].value_of(q) for i, q in held.items()), request.held_cash)
            return plan_rebalancing(
                request.currency,
                allocation,
                table,
                _free(positions, held),
                cash,
                request.policy,
                held_value,
            )


def _check_fairness(request: PortfolioRequest) -> None:
    """Fairness is a BUY's: its cash over the weights. Anywhere else it would be ignored, so it is refused."""
    if request.fairness is Fairness.ROTATE and request.type is not OrderType.BUY:
        raise ValidationError(
            f"fairness ROTATE applies to a BUY's split over the weights, not to a {request.type.value}",
            {"field": "fairness", "type": request.type.value},
        )
    if request.history is not None and request.fairness is not Fairness.ROTATE:
        raise ValidationError("a history is only used with fairness ROTATE", {"field": "history"})


@exact
def plan_buy(
    cash_amount: Decimal,
    currency: str,
    allocation: Allocation,
    instruments: InstrumentTable,
    available_cash: Decimal | None = None,
    *,
    fairness: Fairness = Fairness.PLAIN,
    history: FairHistory | None = None,
) -> OrderPlan:
    """Nominal buy: ``cash_amount`` apportioned over the weights, in minor units (ROTATE: the leftover cents
    rotate over the instruments, order after order, with the model's ``history``).

    Instruments whose share falls below their ``min_order_amount`` are dropped and the cash is apportioned
    again over the rest, until every remaining share clears its minimum.
    """
    _check_order_cash(cash_amount, currency)
    if available_cash is not None and cash_amount > available_cash:
        raise InsufficientFunds(
            f"the account has {fmt(available_cash)} {currency} available, {fmt(cash_amount)} was asked for",
            {"requested": fmt(cash_amount), "available": fmt(available_cash), "currency": currency},
        )
    lines = list(allocation.lines)
    skipped: list[Skipped] = []
    while lines:
        shared = split(
            "cash over the weights", cash_amount, [line.weight for line in lines], minor_unit(currency),
            [line.instrument_id for line in lines], fairness=fairness, history=history,
        )  # fmt: skip
        shares = shared.shares
        below = {
            line.instrument_id
            for line, share in zip(lines, shares, strict=True)
            if share < instruments[line.instrument_id].min_order_amount
        }
        if not below:
            break
        skipped.extend(
            Skipped(line.instrument_id, SkipReason.BELOW_MINIMUM_ORDER)
            for line in lines
            if line.instrument_id in below
        )
        lines = [line for line in lines if line.instrument_id not in below]
    if not lines:
        raise BelowMinimumOrder(
            f"{fmt(cash_amount)} {currency} is too little: no instrument's share reaches its minimum order "
            "amount",
            {
                "cash_amount": fmt(cash_amount),
                "minimums": {
                    i.instrument_id: fmt(instruments[i.instrument_id].min_order_amount)
                    for i in allocation.lines
                },
            },
        )
    orders, empty = _cash_orders(Side.BUY, [line.instrument_id for line in lines], shares)
    explanation = Explanation((shared.stage,))
    return OrderPlan(
        OrderType.BUY, currency, cash_amount, orders, (*skipped, *empty), explanation, shared.history
    )


@exact
def plan_sell(
    cash_amount: Decimal,
    currency: str,
    positions: Sequence[Position],
    instruments: InstrumentTable,
    policy: Policy = Policy(),
    held_back: Mapping[str, Decimal] = MappingProxyType({}),
) -> OrderPlan:
    """Nominal sell, pro rata to the market value of what is free of the current holdings (``held_back``: units
    open sells already hold back) and never more than a holding is worth.

    Refused with ``NAV_LIMIT_EXCEEDED`` above ``policy.sell_nav_limit`` (90 %) of the securities' value, less what
    open sells already hold back: two sells together never exceed the limit.
    """
    _check_order_cash(cash_amount, currency)
    unit = minor_unit(currency)
    nav = sum((instruments[p.instrument_id].value_of(p.quantity) for p in positions), ZERO)
    reserved = sum((instruments[i].value_of(q) for i, q in held_back.items() if q), ZERO)
    held = [p for p in _free(positions, held_back) if p.quantity > 0]
    values = [instruments[p.instrument_id].value_of(p.quantity) for p in held]
    caps = [floor_to(v, unit) for v in values]
    # A holding can give at most its value in whole cents; with sub-cent holdings that is below 90 % of NAV.
    maximum = max(
        ZERO.quantize(unit), min(floor_to(nav * policy.sell_nav_limit - reserved, unit), sum(caps, ZERO))
    )
    if cash_amount > maximum:
        limit = f"a nominal sell may not exceed {fmt(policy.sell_nav_limit * 100)} % of the portfolio's value"
        held_value = half_even_to(reserved, unit)
        # A liquidation sells everything, but not while open sells hold units back: it would be refused too.
        raise NavLimitExceeded(
            (
                f"{limit}, and open orders already hold back {fmt(held_value)} {currency} of it: at most "
                f"{fmt(maximum)} {currency} can be sold this way; cancel them or let them finish to sell more"
            )
            if reserved
            else f"{limit}: at most {fmt(maximum)} {currency} can be sold this way (use a liquidation to sell "
            "everything)",
            {
                "requested": fmt(cash_amount),
                "nav": fmt(nav),
                "limit": fmt(policy.sell_nav_limit),
                "held_back": fmt(held_value),
                "max_allowed": fmt(maximum),
                "currency": currency,
            },
        )
    ids = [p.instrument_id for p in held]
    shared = split("cash over the holdings' values", cash_amount, values, unit, ids, caps=caps)
    orders, skipped = _cash_orders(Side.SELL, ids, shared.shares)
    return OrderPlan(OrderType.SELL, currency, cash_amount, orders, skipped, Explanation((shared.stage,)))


def plan_liquidation(
    currency: str, positions: Sequence[Position], held_back: Mapping[str, Decimal] = MappingProxyType({})
) -> OrderPlan:
    """Sell every position in full with unit orders. ``cash_amount`` is known only once all are filled.

    Units held back by open sells cannot be sold twice: such a liquidation is ``INSUFFICIENT_POSITION``."""
    busy = {i: fmt(q) for i, q in held_back.items() if q}
    if busy:
        raise InsufficientPosition(
            "open sell orders hold back units of this account; cancel them or let them finish, then liquidate",
            {"held_back": busy},
        )
    orders = tuple(
        PlannedOrder(p.instrument_id, Side.SELL, quantity=p.quantity) for p in positions if p.quantity > 0
    )
    if not orders:
        raise NothingToTrade("the account holds no positions: there is nothing to liquidate", {})
    return OrderPlan(OrderType.LIQUIDATION, currency, None, orders)


@exact
def plan_rebalancing(
    currency: str,
    allocation: Allocation,
    instruments: InstrumentTable,
    positions: Sequence[Position],
    cash: Decimal,
    policy: Policy = Policy(),
    held_back: Decimal = ZERO,
) -> OrderPlan:
    """Realign holdings with the model: sells (unit orders, rounded down) first, then buys (cash orders).

    ``positions`` and ``cash`` are what open orders leave free; ``held_back`` is the value they hold back, said
    when nothing is left to invest. Investable value = positions' value + cash − cash buffer, apportioned over
    the weights. Instruments
    held but not in the model are sold in full. Buys are funded by cash above the buffer plus the estimated
    sell proceeds, and scaled down (apportioned with caps) so that they never spend more than that.
    """
    unit = minor_unit(currency)
    held = {p.instrument_id: p.quantity for p in positions if p.quantity > 0}
    values = {i: instruments[i].value_of(q) for i, q in held.items()}
    investable = sum(values.values(), ZERO) + cash - policy.cash_buffer
    if investable <= 0:
        free = investable + policy.cash_buffer
        details = {"cash_buffer": fmt(policy.cash_buffer), "portfolio_value": fmt(free)}
        if held_back:
            shown = half_even_to(held_back, unit)
            raise InsufficientFunds(
                f"nothing to invest: open orders hold back {fmt(shown)} {currency} of the account, and what "
                f"they leave free ({fmt(half_even_to(free, unit))} {currency}) is no more than the cash buffer "
                f"{fmt(policy.cash_buffer)} {currency}; cancel them or let them finish first",
                {**details, "held_back": fmt(shown)},
            )
        raise InsufficientFunds(
            f"nothing to invest: the cash buffer {fmt(policy.cash_buffer)} {currency} is as large as the "
            "whole portfolio",
            details,
        )
    model_ids = [line.instrument_id for line in allocation.lines]
    aimed = split(
        "investable value over the weights", floor_to(investable, unit), [line.weight for line in allocation.lines],
        unit, model_ids,
    )  # fmt: skip
    targets, stages = aimed.shares, [aimed.stage]
    sells: list[PlannedOrder] = []
    skipped: list[Skipped] = []
    wanted: list[tuple[str, Decimal]] = []

    def sell(instrument: Instrument, amount: Decimal, in_full: bool) -> None:
        price = instrument.priced() * instrument.contract_size
        step = instrument.quantity_step
        held_qty = held[instrument.instrument_id]
        quantity = held_qty if in_full else min(held_qty, from_units(whole_steps(amount, price * step), step))
        if quantity == 0:
            skipped.append(Skipped(instrument.instrument_id, SkipReason.BELOW_QUANTITY_STEP))
        elif instrument.value_of(quantity) < instrument.min_order_amount:
            skipped.append(Skipped(instrument.instrument_id, SkipReason.BELOW_MINIMUM_ORDER))
        else:
            sells.append(PlannedOrder(instrument.instrument_id, Side.SELL, quantity=quantity))

    for line, target in zip(allocation.lines, targets, strict=True):
        instrument = instruments[line.instrument_id]
        instrument.priced()  # a model instrument without a price cannot be valued: refuse it up front
        current = values.get(line.instrument_id, ZERO)
        if abs(current - line.weight * investable) <= policy.drift_band * investable:
            skipped.append(Skipped(line.instrument_id, SkipReason.WITHIN_DRIFT_BAND))
        elif current > target:
            sell(instrument, current - target, in_full=False)
        else:
            wanted.append((line.instrument_id, floor_to(target - current, unit)))
    for instrument_id in held:
        if instrument_id not in model_ids:
            sell(instruments[instrument_id], values[instrument_id], in_full=True)

    proceeds = sum((instruments[o.instrument_id].value_of(o.quantity or ZERO) for o in sells), ZERO)
    funding = floor_to(max(ZERO, cash - policy.cash_buffer + proceeds), unit)
    amounts = [amount for _, amount in wanted]
    if sum(amounts, ZERO) > funding:
        scaled = split(
            "buys scaled down to the cash and the sells' proceeds", funding, amounts, unit,
            [instrument_id for instrument_id, _ in wanted], caps=amounts,
        )  # fmt: skip
        amounts, stages = scaled.shares, [*stages, scaled.stage]
    buys: list[PlannedOrder] = []
    for (instrument_id, _), amount in zip(wanted, amounts, strict=True):
        if amount == 0:
            skipped.append(Skipped(instrument_id, SkipReason.INSUFFICIENT_CASH))
        elif amount < instruments[instrument_id].min_order_amount:
            skipped.append(Skipped(instrument_id, SkipReason.BELOW_MINIMUM_ORDER))
        else:
            buys.append(PlannedOrder(instrument_id, Side.BUY, cash_amount=amount))
    return OrderPlan(
        OrderType.REBALANCING, currency, None, tuple(sells + buys), tuple(skipped), Explanation(tuple(stages))
    )


@attrs.frozen
class FeeSchedule:
    """An account's management fee: ``annual_rate`` (0.01 = 1 % a year), charged up to ``last_charged``."""

    annual_rate: Decimal = attrs.field(converter=decimal_input, validator=fraction)
    last_charged: dt.date = attrs.field(validator=date)


@attrs.frozen
class LiquidationSettlement:
    """A filled liquidation's money: ``management_fee`` is the fee charged, which is ``fee_due`` unless that is
    more than the account has available (then all of what it has)."""

    gross_proceeds: Decimal
    trading_costs: Decimal
    management_fee: Decimal
    cash_amount: Decimal
    fee_due: Decimal


@exact
def management_fee(proceeds: Decimal, schedule: FeeSchedule | None, as_of: dt.date, currency: str) -> Decimal:
    """proceeds × annual rate × days since the fee was last charged / 365, half-even to the minor unit."""
    proceeds = check_non_negative(proceeds, "proceeds")
    check_date(as_of, "as_of")
    if schedule is None:
        return ZERO.quantize(minor_unit(currency))
    days = (as_of - schedule.last_charged).days
    if days < 0:
        raise ValidationError(
            "the fee was last charged after the liquidation date",
            {"last_charged": schedule.last_charged.isoformat(), "as_of": as_of.isoformat()},
        )
    return divide_to(
        proceeds * schedule.annual_rate * days, Decimal(365), minor_unit(currency), decimal.ROUND_HALF_EVEN
    )


@exact
def settle_liquidation(
    gross_proceeds: Decimal,
    trading_costs: Decimal,
    fee_schedule: FeeSchedule | None,
    as_of: dt.date,
    currency: str,
    *,
    available: Decimal,
) -> LiquidationSettlement:
    """The ``cash_amount`` of a liquidation once every sell is filled: proceeds − costs − management fee.

    The fee charged is the fee due, capped at ``available`` — the cash the account may spend once the
    liquidation's sales are booked (not what open orders hold back) — and never below zero: a fee never takes an
    account below zero, nor cash an open order needs, so that the liquidation can always settle."""
    check_cash(gross_proceeds, currency, "gross_proceeds")
    check_cash(trading_costs, currency, "trading_costs")
    check_cash(available, currency, "available")
    due = management_fee(gross_proceeds, fee_schedule, as_of, currency)
    fee = max(ZERO.quantize(minor_unit(currency)), min(due, available))
    return LiquidationSettlement(
        gross_proceeds, trading_costs, fee, gross_proceeds - trading_costs - fee, due
    )


def _cash_orders(
    side: Side, instrument_ids: Sequence[str], shares: Sequence[Decimal]
) -> tuple[tuple[PlannedOrder, ...], tuple[Skipped, ...]]:
    """Cash orders for the non-zero shares; the instruments whose share is zero are reported as skipped."""
    orders = tuple(
        PlannedOrder(i, side, cash_amount=share)
        for i, share in zip(instrument_ids, shares, strict=True)
        if share
    )
    skipped = tuple(
        Skipped(i, SkipReason.NOTHING_TO_TRADE)
        for i, share in zip(instrument_ids, shares, strict=True)
        if not share
    )
    return orders, skipped


def _check_order_cash(cash_amount: Decimal, currency: str) -> None:
    check_cash(cash_amount, currency, "cash_amount")
    if cash_amount <= 0:
        raise ValidationError(
            "cash_amount must be greater than zero", {"field": "cash_amount", "value": fmt(cash_amount)}
        )


def _required_cash_amount(request: PortfolioRequest) -> Decimal:
    """The order's cash amount, written with the currency's minor units (``10`` EUR is ``10.00``)."""
    if request.cash_amount is None:
        raise ValidationError(f"a {request.type.value} order needs a cash_amount", {"field": "cash_amount"})
    return as_cash(request.cash_amount, request.currency, "cash_amount")


def _allocation(request: PortfolioRequest) -> Allocation:
    if not request.allocation:
        raise ValidationError(f"a {request.type.value} order needs an allocation", {"field": "allocation"})
    return Allocation(request.allocation)


def _check_model_tradable(
    allocation: Allocation, instruments: InstrumentTable, as_of: dt.date | None
) -> None:
    """Every instrument of the model portfolio can be bought today, or the order is refused naming it."""
    for line in allocation.lines:
        refused = not_tradable(instruments[line.instrument_id], Side.BUY, as_of)
        if refused is not None:
            raise InstrumentEnded(
                f"cannot buy the model portfolio: {refused.message}; choose a model portfolio without "
                f"{line.instrument_id}",
                refused.details,
            )


def _must_be_absent(request: PortfolioRequest, *fields: str) -> None:
    for field in fields:
        if getattr(request, field):
            raise ValidationError(f"a {request.type.value} order takes no {field}", {"field": field})


def _free(positions: Sequence[Position], held_back: Mapping[str, Decimal]) -> list[Position]:
    """The positions less what open sells hold back of them."""
    return [
        attrs.evolve(p, quantity=max(ZERO, p.quantity - held_back.get(p.instrument_id, ZERO)))
        for p in positions
    ]


def _positions(positions: Sequence[Position]) -> list[Position]:
    seen: set[str] = set()
    for position in positions:
        if position.instrument_id in seen:
            raise ValidationError(
                f"instrument {position.instrument_id} has two positions: give one per instrument",
                {"field": "positions", "instrument_id": position.instrument_id},
            )
        seen.add(position.instrument_id)
    return list(positions)
