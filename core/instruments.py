"""Instruments, holdings and model portfolios (allocations)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Final

import attrs

from core.errors import CurrencyMismatch, InstrumentEnded, MissingPrice, UnknownInstrument, ValidationError
from core.numbers import (
    ONE,
    ZERO,
    check_cash,
    check_decimal,
    check_positive,
    decimal_input,
    exact,
    is_multiple,
    optional_decimal_input,
)
from core.validators import (
    NamedEnum,
    each_is,
    non_empty,
    non_negative,
    optional_currency,
    optional_date,
    optional_positive,
    optional_text,
    positive,
)


class AssetType(NamedEnum):
    STOCK = "STOCK"
    ETF = "ETF"
    BOND = "BOND"
    FUND = "FUND"
    FX_SPOT = "FX_SPOT"
    CFD = "CFD"
    STOCK_OPTION = "STOCK_OPTION"
    STOCK_INDEX_OPTION = "STOCK_INDEX_OPTION"

    @property
    def is_option(self) -> bool:
        """Options have an expiry date and end by being exercised or by expiring."""
        return self in (AssetType.STOCK_OPTION, AssetType.STOCK_INDEX_OPTION)


class OptionEnd(NamedEnum):
    """How an option's life ended; it trades no more."""

    EXERCISED = "EXERCISED"
    EXPIRED = "EXPIRED"


class Side(NamedEnum):
    BUY = "BUY"
    SELL = "SELL"


#: The largest ``Uic``: a whole number that any JSON reader holds exactly (2^53 - 1).
MAX_UIC: Final = 2**53 - 1


def check_uic(value: object) -> int:
    """A ``Uic``: a whole number from 1 to ``MAX_UIC``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_UIC:
        raise ValidationError(
            f"uic must be a whole number from 1 to {MAX_UIC}, not {value!r}", {"field": "uic", "value": value}
        )
    return value


def _uic(instance: object, attribute: attrs.Attribute[int | None], value: int | None) -> None:
    if value is not None:
        check_uic(value)


@attrs.frozen
class Instrument:
    """A tradable instrument. ``price`` is the current (estimated) price per unit; ``None`` if unknown."""

    instrument_id: str = attrs.field(validator=non_empty)
    price: Decimal | None = attrs.field(
        default=None, converter=optional_decimal_input, validator=optional_positive
    )
    quantity_step: Decimal = attrs.field(default=ONE, converter=decimal_input, validator=positive)
    min_order_amount: Decimal = attrs.field(default=ZERO, converter=decimal_input, validator=non_negative)
    contract_size: Decimal = attrs.field(default=ONE, converter=decimal_input, validator=positive)
    #: The currency it is quoted and traded in; ``None`` until the first account trades it (see ``traded_in``).
    currency: str | None = attrs.field(default=None, validator=optional_currency)
    asset_type: AssetType = attrs.field(default=AssetType.STOCK, converter=AssetType)
    #: The symbol it trades under (e.g. ``ALFEN:xams``); its id where none is given.
    symbol: str | None = attrs.field(default=None, validator=optional_text)
    #: The last day an option can be exercised (options only, and required for them).
    expiry: dt.date | None = attrs.field(default=None, validator=optional_date)
    #: How an option ended (exercised or expired); it is no longer traded.
    ended: OptionEnd | None = attrs.field(default=None, converter=attrs.converters.optional(OptionEnd))
    #: The whole-number code a broker's API names it by (its ``Uic``), if it has one; unique among instruments.
    uic: int | None = attrs.field(default=None, validator=_uic)

    def __attrs_post_init__(self) -> None:
        if self.currency is not None:
            _min_order_in_minor_units(self, self.currency)
        if self.asset_type.is_option != (self.expiry is not None):
            needs = (
                "is an option: it needs an" if self.asset_type.is_option else "is not an option: it has no"
            )
            raise ValidationError(
                f"instrument {self.instrument_id} {needs} expiry date",
                {"field": "expiry", "asset_type": self.asset_type.value},
            )

    @property
    def trading_symbol(self) -> str:
        """The symbol the instrument trades under."""
        return self.symbol or self.instrument_id

    def priced(self) -> Decimal:
        """The price, or a clear error if this instrument has none."""
        if self.price is None:
            raise MissingPrice(
                f"instrument {self.instrument_id} has no price; set one before valuing or selling it",
                {"instrument_id": self.instrument_id},
            )
        return self.price

    @exact
    def value_of(self, quantity: Decimal) -> Decimal:
        """Market value of ``quantity`` units: quantity × price × contract size, exactly (not rounded)."""
        return quantity * self.priced() * self.contract_size


def _min_order_in_minor_units(instrument: Instrument, currency: str) -> None:
    check_cash(instrument.min_order_amount, currency, "min_order_amount")


def check_known(instrument_ids: Iterable[str], found: Iterable[str]) -> None:
    """Refuse instrument ids a request names that do not exist (``UNKNOWN_INSTRUMENT``, bad input)."""
    unknown = sorted(set(instrument_ids) - set(found))
    if unknown:
        raise UnknownInstrument(
            f"no instrument {', '.join(unknown)}: see allot instruments list", {"instruments": unknown}
        )


def traded_in(instrument: Instrument, currency: str) -> Instrument:
    """The instrument as an account in ``currency`` trades it: one added without a currency takes the currency
    of the first account that trades it (a price means nothing without one); one quoted in another currency is
    refused, so that an amount is never booked in a currency it was not priced in."""
    if instrument.currency is None:
        _min_order_in_minor_units(instrument, currency)
        return attrs.evolve(instrument, currency=currency)
    if instrument.currency != currency:
        raise CurrencyMismatch(
            f"instrument {instrument.instrument_id} trades in {instrument.currency}, the account is in {currency}",
            {
                "instrument_id": instrument.instrument_id,
                "currency": instrument.currency,
                "account_currency": currency,
            },
        )
    return instrument


#: How a sentence says an option ended.
_ENDED = {OptionEnd.EXERCISED: "was exercised", OptionEnd.EXPIRED: "has expired"}


def not_tradable(instrument: Instrument, side: Side, today: dt.date | None) -> InstrumentEnded | None:
    """Why an order may not trade ``instrument`` on ``side`` today, or ``None`` if it may.

    An option that has ended (exercised or expired) trades no more, on either side. An option is bought up to and
    including its expiry day; from the day after, it is not bought, but it may still be sold until it is expired
    (so that a holder, or a liquidation, is never stuck waiting for the back office). Without ``today`` only the
    end is checked."""
    if instrument.ended is not None:
        return InstrumentEnded(
            f"option {instrument.instrument_id} {_ENDED[instrument.ended]} and no longer trades",
            {"instrument_id": instrument.instrument_id, "ended": instrument.ended.value},
        )
    expiry = instrument.expiry
    if side is Side.BUY and expiry is not None and today is not None and today > expiry:
        return InstrumentEnded(
            f"option {instrument.instrument_id} expired on {expiry.isoformat()} and can no longer be bought",
            {"instrument_id": instrument.instrument_id, "expiry": expiry.isoformat()},
        )
    return None


def check_tradable(instrument: Instrument, side: Side, today: dt.date | None) -> Instrument:
    """The instrument, if an order may trade it on ``side`` today; else ``INSTRUMENT_ENDED`` (see ``not_tradable``)."""
    refused = not_tradable(instrument, side, today)
    if refused is not None:
        raise refused
    return instrument


def repriced(instrument: Instrument, price: Decimal) -> Instrument:
    """The instrument at a new price (greater than zero)."""
    return attrs.evolve(instrument, price=check_positive(price, "price"))


@attrs.frozen
class Position:
    """A holding of ``quantity`` units of one instrument; ``position_id`` names it from the fill that opened it
    until it is closed, and ``correlation_key`` is that fill's (the block's id, or the order's own): what relates
    the position to the order and the position events that made it."""

    instrument_id: str = attrs.field(validator=non_empty)
    quantity: Decimal = attrs.field(converter=decimal_input, validator=non_negative)
    position_id: str | None = attrs.field(default=None, validator=optional_text)
    #: None for a position not opened by a fill (units moved in) or opened before positions carried it.
    correlation_key: str | None = attrs.field(default=None, validator=optional_text)


@attrs.frozen
class AllocationLine:
    instrument_id: str = attrs.field(validator=non_empty)
    weight: Decimal = attrs.field(converter=decimal_input, validator=positive)


@exact
def _weights_sum_to_one(
    instance: Allocation,
    attribute: attrs.Attribute[tuple[AllocationLine, ...]],
    lines: tuple[AllocationLine, ...],
) -> None:
    if not lines:
        raise ValidationError("an allocation needs at least one instrument", {"field": "allocation"})
    each_is(AllocationLine, lines, "allocation")
    counts = Counter(line.instrument_id for line in lines)
    duplicates = sorted(i for i, n in counts.items() if n > 1)
    if duplicates:
        raise ValidationError(
            "each instrument may appear only once in an allocation",
            {"field": "allocation", "duplicates": duplicates},
        )
    total = sum((line.weight for line in lines), ZERO)
    if total != ONE:
        raise ValidationError(
            f"allocation weights must sum to exactly 1, not {total}",
            {"field": "allocation", "sum": str(total)},
        )


@attrs.frozen
class Allocation:
    """A model portfolio: instruments with positive weights that sum to exactly 1."""

    lines: tuple[AllocationLine, ...] = attrs.field(validator=_weights_sum_to_one)

    @classmethod
    def of(cls, weights: Mapping[str, Decimal]) -> Allocation:
        """``Allocation.of({"AAA": Decimal("0.6"), "BBB": Decimal("0.4")})``."""
        return cls(tuple(AllocationLine(i, w) for i, w in weights.items()))

    def weight_of(self, instrument_id: str) -> Decimal:
        return next((line.weight for line in self.lines if line.instrument_id == instrument_id), ZERO)


@attrs.frozen
class InstrumentTable:
    """Instruments by id, with an error that names what is missing."""

    by_id: Mapping[str, Instrument]

    @classmethod
    def of(cls, instruments: Iterable[Instrument]) -> InstrumentTable:
        table: dict[str, Instrument] = {}
        for instrument in each_is(Instrument, instruments, "instruments"):
            if instrument.instrument_id in table:
                raise ValidationError(
                    f"instrument {instrument.instrument_id} is described twice",
                    {"field": "instruments", "instrument_id": instrument.instrument_id},
                )
            table[instrument.instrument_id] = instrument
        return cls(table)

    def __getitem__(self, instrument_id: str) -> Instrument:
        try:
            return self.by_id[instrument_id]
        except KeyError:
            raise UnknownInstrument(
                f"instrument {instrument_id} is not described: add it to the instruments",
                {"instrument_id": instrument_id},
            ) from None


def check_quantity(instrument: Instrument, quantity: Decimal | int, field: str = "quantity") -> Decimal:
    quantity = check_decimal(quantity, field)
    if not is_multiple(quantity, instrument.quantity_step):
        raise ValidationError(
            f"{field} {quantity} of {instrument.instrument_id} is not a multiple of its quantity step "
            f"{instrument.quantity_step}",
            {
                "field": field,
                "instrument_id": instrument.instrument_id,
                "quantity_step": str(instrument.quantity_step),
            },
        )
    return quantity
