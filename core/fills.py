"""Applying a fill to an account: the new position, the cash movement and a position event."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import attrs

from core.errors import InsufficientPosition, ValidationError
from core.instruments import AssetType, Instrument, Position, Side, check_quantity
from core.numbers import (
    ZERO,
    check_cash,
    check_count,
    check_non_negative,
    check_positive,
    decimal_input,
    exact,
    from_units,
    half_even_to,
    minor_unit,
    optional_decimal_input,
)
from core.validators import (
    NamedEnum,
    check_date,
    decimal_number,
    each,
    known_currency,
    non_empty,
    non_negative,
    optional_non_negative,
    optional_text,
    positive_count,
)

#: The longest settlement cycle a cost schedule may have, in business days (markets settle in a few days).
MAX_SETTLEMENT_DAYS = 30


def check_settlement_days(days: int) -> int:
    return check_count(days, "settlement_days", minimum=0, maximum=MAX_SETTLEMENT_DAYS)


def _settlement_days(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    check_settlement_days(value)


class PositionEventType(NamedEnum):
    NEW = "NEW"  #: a position was opened
    UPDATED = "UPDATED"  #: its quantity changed and is still above zero
    DELETED = "DELETED"  #: it was closed to zero
    OPTION_EXERCISED = "OPTION_EXERCISED"  #: an option position was closed by exercising it
    OPTION_EXPIRED = "OPTION_EXPIRED"  #: an option position was closed because the option expired


@attrs.frozen
class CostSchedule:
    """Trading costs: commission = max(minimum, rate × value); exchange fee = rate × value;
    stamp duty = rate × value on buys only. Each is rounded half-even to the minor unit. Trades settle
    ``settlement_days`` business days after the trade date (0 to ``MAX_SETTLEMENT_DAYS``)."""

    commission_rate: Decimal = attrs.field(default=ZERO, converter=decimal_input, validator=non_negative)
    commission_minimum: Decimal = attrs.field(default=ZERO, converter=decimal_input, validator=non_negative)
    exchange_fee_rate: Decimal = attrs.field(default=ZERO, converter=decimal_input, validator=non_negative)
    stamp_duty_rate: Decimal = attrs.field(default=ZERO, converter=decimal_input, validator=non_negative)
    settlement_days: int = attrs.field(default=2, validator=_settlement_days)

    @property
    def free(self) -> bool:
        """No rate and no minimum: trading costs nothing."""
        return not (
            self.commission_rate or self.commission_minimum or self.exchange_fee_rate or self.stamp_duty_rate
        )


@attrs.frozen
class Costs:
    commission: Decimal
    exchange_fee: Decimal
    stamp_duty: Decimal

    @property
    def total(self) -> Decimal:
        return self.commission + self.stamp_duty + self.exchange_fee


@exact
def trading_costs(schedule: CostSchedule, traded_value: Decimal | int, side: Side, currency: str) -> Costs:
    """The costs of trading ``traded_value`` (not negative) on ``side``, by ``schedule``."""
    side = Side(side)
    traded_value = check_non_negative(traded_value, "traded_value")
    unit = minor_unit(currency)
    if schedule.free:
        nothing = from_units(0, unit)
        return Costs(commission=nothing, exchange_fee=nothing, stamp_duty=nothing)
    if schedule.commission_minimum:  # zero is a whole amount in every currency
        check_cash(schedule.commission_minimum, currency, "commission_minimum")
    commission = max(schedule.commission_minimum, _charge(schedule.commission_rate, traded_value, unit))
    stamp_duty = _charge(schedule.stamp_duty_rate, traded_value, unit) if side is Side.BUY else ZERO
    return Costs(
        commission=commission.quantize(unit),
        exchange_fee=_charge(schedule.exchange_fee_rate, traded_value, unit),
        stamp_duty=stamp_duty.quantize(unit),
    )


def _charge(rate: Decimal, traded_value: Decimal, unit: Decimal) -> Decimal:
    """``rate × traded_value`` rounded half-even to ``unit``; a zero rate charges nothing, without the rounding."""
    return half_even_to(rate * traded_value, unit) if rate else from_units(0, unit)


def value_date(trade_date: dt.date, settlement_days: int) -> dt.date:
    """Trade date plus ``settlement_days`` business days (weekends skipped; holidays are not modelled)."""
    check_date(trade_date, "trade_date")
    check_settlement_days(settlement_days)
    day = trade_date
    left = settlement_days
    while left:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return day


@attrs.frozen
class Fill:
    """An execution of ``quantity`` at ``price`` for one account's order (none when an option is settled)."""

    order_id: str | None = attrs.field(validator=optional_text)
    account_id: str = attrs.field(validator=non_empty)
    instrument: Instrument = attrs.field(validator=attrs.validators.instance_of(Instrument))
    side: Side = attrs.field(converter=Side)
    #: Checked when the fill is booked (greater than zero, in quantity steps): an option settles at a price of 0.
    quantity: Decimal = attrs.field(converter=decimal_input, validator=non_negative)
    price: Decimal = attrs.field(converter=decimal_input, validator=non_negative)
    execution_time: dt.datetime = attrs.field(validator=attrs.validators.instance_of(dt.datetime))
    #: The block's id for an order allocated from a block (none otherwise: see ``correlation_key_of``).
    correlation_key: str | None = attrs.field(default=None, validator=optional_text)
    external_reference: str | None = attrs.field(default=None, validator=optional_text)
    #: The traded value to book, when it was apportioned from a block execution's value over its accounts;
    #: otherwise price × quantity × contract size, half-even to the minor unit. Never negative.
    booked_value: Decimal | None = attrs.field(
        default=None, converter=optional_decimal_input, validator=optional_non_negative
    )
    #: The id of this execution; a position it opens is named after it (the order's id where none is given).
    fill_id: str | None = attrs.field(default=None, validator=optional_text)
    #: Who the account belongs to (``core.tenants``), carried to the position event.
    client_id: str | None = None
    user_id: str | None = None


@attrs.frozen
class AccountBook:
    """The cash and positions of one account in one currency, and its next position-event sequence id."""

    account_id: str = attrs.field(validator=non_empty)
    currency: str = attrs.field(validator=known_currency)
    cash: Decimal = attrs.field(converter=decimal_input, validator=decimal_number)
    positions: tuple[Position, ...] = attrs.field(default=(), validator=each(Position))
    next_sequence_id: int = attrs.field(default=1, validator=positive_count)

    def quantity_of(self, instrument_id: str) -> Decimal:
        return next((p.quantity for p in self.positions if p.instrument_id == instrument_id), ZERO)


@attrs.frozen
class PositionEvent:
    """A position event: what one fill did to one account's position, with the fields allot knows."""

    event: PositionEventType = attrs.field(converter=PositionEventType)
    account_id: str
    #: Names the position from the fill that opened it until it is closed.
    position_id: str
    instrument_id: str
    asset_type: AssetType = attrs.field(converter=AssetType)
    symbol: str
    side: Side = attrs.field(converter=Side)
    fill_amount: Decimal
    amount: Decimal
    open_price: Decimal
    traded_value: Decimal
    commission: Decimal
    exchange_fee: Decimal
    stamp_duty: Decimal
    total_cost: Decimal
    currency: str
    #: What relates the event to its order (``correlation_key_of``): always set on an event made now; ``None``
    #: only on one stored before events carried it.
    correlation_key: str | None
    #: The order whose execution made the event (none for an option exercised or expired).
    source_order_id: str | None
    external_reference: str | None
    execution_time: dt.datetime
    value_date: dt.date
    sequence_id: int
    #: Who it belongs to (``core.tenants``): the account's owner.
    client_id: str | None = None
    user_id: str | None = None
    #: The instrument's ``Uic`` (``Instrument.uic``), if it has one.
    uic: int | None = None


@attrs.frozen
class FillResult:
    book: AccountBook
    cash_movement: Decimal
    event: PositionEvent


@exact
def apply_fill(book: AccountBook, fill: Fill, schedule: CostSchedule = CostSchedule()) -> FillResult:
    """Book ``fill`` on ``book``: traded value = price × fill × contract size (half-even to the minor unit),
    costs from ``schedule``; a buy pays value + costs, a sell receives value − costs. Selling more than
    is held is refused (no short selling)."""
    if fill.account_id != book.account_id:
        raise ValidationError(
            "the fill is for another account", {"fill": fill.account_id, "book": book.account_id}
        )
    check_positive(fill.quantity, "quantity")
    check_positive(fill.price, "price")
    check_quantity(fill.instrument, fill.quantity)
    instrument_id = fill.instrument.instrument_id
    held = book.quantity_of(instrument_id)
    if fill.side is Side.SELL and fill.quantity > held:
        raise InsufficientPosition(
            f"cannot sell {fill.quantity} of {instrument_id} for account {book.account_id}: it holds {held}",
            {
                "account_id": book.account_id,
                "instrument_id": instrument_id,
                "held": str(held),
                "requested": str(fill.quantity),
            },
        )
    after = held + fill.quantity if fill.side is Side.BUY else held - fill.quantity
    traded_value, costs = price_fill(fill, schedule, book.currency)
    movement = -(traded_value + costs.total) if fill.side is Side.BUY else traded_value - costs.total
    before = next((p for p in book.positions if p.instrument_id == instrument_id), None)
    position_id = (before.position_id if before is not None else None) or fill.fill_id or fill.order_id or "-"
    key = before.correlation_key if before is not None else correlation_key_of(fill, position_id)
    others = tuple(p for p in book.positions if p.instrument_id != instrument_id)
    positions = (
        others if after == 0 else (*others, Position(instrument_id, after, position_id, correlation_key=key))
    )
    new_book = attrs.evolve(
        book, cash=book.cash + movement, positions=positions, next_sequence_id=book.next_sequence_id + 1
    )
    event = position_event(
        fill, held, after, position_id, traded_value, costs, book.currency, schedule, book.next_sequence_id
    )
    return FillResult(new_book, movement, event)


@exact
def order_costs(schedule: CostSchedule, traded_value: Decimal, side: Side, currency: str) -> Costs:
    """What an order that has traded ``traded_value`` in all has cost: nothing before its first fill, then the
    schedule's costs of the whole value (so the commission minimum is charged once per order)."""
    if not traded_value:
        return Costs(ZERO, ZERO, ZERO)
    return trading_costs(schedule, traded_value, side, currency)


@exact
def price_fill(
    fill: Fill, schedule: CostSchedule, currency: str, traded_before: Decimal = ZERO
) -> tuple[Decimal, Costs]:
    """The fill's traded value (its booked value, or price × quantity × contract size half-even to the minor unit)
    and its costs: what the order's costs come to with this fill, less what its earlier fills (``traded_before``)
    were charged. A partly filled order so pays in all what one fill of its whole value would (the commission
    minimum once, each rate on the total), never more than its buy held back for costs."""
    traded_value = fill.booked_value
    if traded_value is None:
        traded_value = half_even_to(
            fill.price * fill.quantity * fill.instrument.contract_size, minor_unit(currency)
        )
    check_cash(traded_value, currency, "traded value")
    if traded_value < 0:
        raise ValidationError("a traded value is not negative", {"traded_value": str(traded_value)})
    after = order_costs(schedule, traded_before + traded_value, fill.side, currency)
    before = order_costs(schedule, traded_before, fill.side, currency)
    return traded_value, Costs(
        commission=after.commission - before.commission,
        exchange_fee=after.exchange_fee - before.exchange_fee,
        stamp_duty=after.stamp_duty - before.stamp_duty,
    )


def event_type(before: Decimal, after: Decimal) -> PositionEventType:
    """NEW when a position opens, DELETED when it closes, UPDATED otherwise."""
    if before == 0:
        return PositionEventType.NEW
    return PositionEventType.DELETED if after == 0 else PositionEventType.UPDATED


def correlation_key_of(fill: Fill, position_id: str) -> str:
    """What relates a fill's position event (and the position it opens) to its order: the block's id for an order
    allocated from a block (the fill's correlation key), else the fill's own order id; for a fill of no order and
    no key, the position's id."""
    return fill.correlation_key or fill.order_id or position_id


def position_event(
    fill: Fill,
    before: Decimal,
    after: Decimal,
    position_id: str,
    traded_value: Decimal,
    costs: Costs,
    currency: str,
    schedule: CostSchedule,
    sequence_id: int,
    kind: PositionEventType | None = None,
) -> PositionEvent:
    """The position event of a fill that took a position from ``before`` to ``after`` units."""
    return PositionEvent(
        event=event_type(before, after) if kind is None else kind,
        account_id=fill.account_id,
        position_id=position_id,
        instrument_id=fill.instrument.instrument_id,
        asset_type=fill.instrument.asset_type,
        symbol=fill.instrument.trading_symbol,
        side=fill.side,
        fill_amount=fill.quantity,
        amount=after,
        open_price=fill.price,
        traded_value=traded_value,
        commission=costs.commission,
        exchange_fee=costs.exchange_fee,
        stamp_duty=costs.stamp_duty,
        total_cost=costs.total,
        currency=currency,
        correlation_key=correlation_key_of(fill, position_id),
        source_order_id=fill.order_id,
        external_reference=fill.external_reference,
        execution_time=fill.execution_time,
        value_date=value_date(fill.execution_time.date(), schedule.settlement_days),
        sequence_id=sequence_id,
        client_id=fill.client_id,
        user_id=fill.user_id,
        uic=fill.instrument.uic,
    )
