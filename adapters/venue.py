"""A deterministic simulated execution venue driven by the instrument price table."""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal

import attrs

from core.errors import ValidationError
from core.instruments import Instrument, Side
from core.market import Quote
from core.numbers import ONE, ZERO, check_decimal, floor_to, fmt


def _ratio(instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    check_decimal(value, attribute.name)
    if not ZERO < value <= ONE:
        raise ValidationError(
            f"the partial fill ratio is the share of each order executed per run: more than 0, at most 1, "
            f"not {fmt(value)}",
            {"field": "partial_fill_ratio", "value": fmt(value)},
        )


@attrs.frozen
class SimulatedVenue:
    """Quotes each instrument at its stored price. ``partial_fill_ratio`` (0 < r ≤ 1) executes that share of
    what is asked each time (rounded down to the quantity step; the whole rest once that would be nothing);
    instruments in ``reject`` are refused, which cancels their orders as an error at the trading partner."""

    partial_fill_ratio: Decimal = attrs.field(default=ONE, validator=_ratio)
    reject: Collection[str] = frozenset()

    def quote(self, instrument: Instrument, side: Side) -> Quote:
        if instrument.instrument_id in self.reject:
            return Quote.refused(f"the trading partner rejected {instrument.instrument_id}")
        if instrument.price is None:
            return Quote.refused(f"no price for {instrument.instrument_id}")
        return Quote(instrument.price)

    def fill(self, instrument: Instrument, side: Side, quantity: Decimal) -> Decimal:
        if self.partial_fill_ratio >= 1 or quantity <= 0:
            return quantity
        part = floor_to(quantity * self.partial_fill_ratio, instrument.quantity_step)
        return part if part > ZERO else quantity
