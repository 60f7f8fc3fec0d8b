"""Options end one of two ways: exercised (cash-settled at a price per unit) or expired (worthless).

Either closes every position in the option: one journal entry per holder (the units back to the venue, the
settlement value to the holder), announced as an ``OPTION_EXERCISED`` or ``OPTION_EXPIRED`` position event, and
the option trades no more. An option is exercised on or before its expiry date and expires from that date on;
open orders in it must be cancelled first (they would hold back units that no longer exist).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from decimal import Decimal

import attrs

from core.decisions import Changes, Decision
from core.errors import InsufficientPosition, ValidationError
from core.fills import Costs, CostSchedule, Fill, PositionEventType, position_event
from core.instruments import Instrument, OptionEnd, Side
from core.journal import VENUE, Asset, Cause, CauseKind, JournalEntry, LedgerAccount, post, transfer
from core.numbers import ZERO, check_non_negative, exact, fmt, half_even_to, minor_unit
from core.records import Account, Announcement, Order

_EVENTS = {
    OptionEnd.EXERCISED: PositionEventType.OPTION_EXERCISED,
    OptionEnd.EXPIRED: PositionEventType.OPTION_EXPIRED,
}
_CAUSES = {OptionEnd.EXERCISED: CauseKind.OPTION_EXERCISED, OptionEnd.EXPIRED: CauseKind.OPTION_EXPIRED}


def _check(instrument: Instrument, how: OptionEnd, open_orders: Sequence[Order], today: dt.date) -> dt.date:
    if not instrument.asset_type.is_option or instrument.expiry is None:
        raise ValidationError(
            f"instrument {instrument.instrument_id} is not an option",
            {"instrument_id": instrument.instrument_id},
        )
    if instrument.ended is not None:
        raise ValidationError(
            f"option {instrument.instrument_id} was already {instrument.ended.value.lower()}",
            {"instrument_id": instrument.instrument_id, "ended": instrument.ended.value},
        )
    expiry = instrument.expiry
    if how is OptionEnd.EXERCISED and today > expiry:
        raise ValidationError(
            f"option {instrument.instrument_id} expired on {expiry.isoformat()}; it can no longer be exercised",
            {"instrument_id": instrument.instrument_id, "expiry": expiry.isoformat()},
        )
    if how is OptionEnd.EXPIRED and today < expiry:
        raise ValidationError(
            f"option {instrument.instrument_id} expires on {expiry.isoformat()}, not before",
            {"instrument_id": instrument.instrument_id, "expiry": expiry.isoformat()},
        )
    if open_orders:
        raise InsufficientPosition(
            f"open orders trade option {instrument.instrument_id}; cancel them first",
            {"instrument_id": instrument.instrument_id, "orders": [o.id for o in open_orders]},
        )
    return expiry


@exact
def end(
    instrument: Instrument,
    how: OptionEnd,
    settlement_price: Decimal,
    holders: Sequence[Account],
    open_orders: Sequence[Order],
    *,
    ids: Iterator[str],
    now: dt.datetime,
) -> Decision[Instrument]:
    """Close every position in the option: exercised at ``settlement_price`` per unit (cash-settled), or expired
    (the price is then zero)."""
    how = OptionEnd(how)
    _check(instrument, how, open_orders, now.date())
    check_non_negative(settlement_price, "settlement price")
    if how is OptionEnd.EXPIRED and settlement_price:
        raise ValidationError("an expired option settles at nothing", {"field": "price"})
    units = Asset.units(instrument.instrument_id)
    updated: list[Account] = []
    entries: list[JournalEntry] = []
    announced: list[Announcement] = []
    for holder in holders:
        position = holder.position(instrument.instrument_id)
        if position is None or not position.quantity:
            continue
        value = half_even_to(
            position.quantity * settlement_price * instrument.contract_size, minor_unit(holder.currency)
        )
        client = LedgerAccount.client(holder.id)
        entry = JournalEntry(
            id=next(ids),
            at=now,
            cause=Cause(_CAUSES[how], instrument.instrument_id),
            postings=transfer(client, VENUE, units, position.quantity)
            + transfer(VENUE, client, Asset.cash(holder.currency), value),
            memo=f"option {instrument.instrument_id} {how.value.lower()}: {fmt(position.quantity)} units, "
            f"{fmt(value)} {holder.currency}",
        )
        closed = attrs.evolve(post(holder, entry), next_sequence_id=holder.next_sequence_id + 1)
        settled = Fill(
            order_id=None,
            account_id=holder.id,
            instrument=instrument,
            side=Side.SELL,
            quantity=position.quantity,
            price=settlement_price,
            execution_time=now,
            correlation_key=position.correlation_key,  # the closing event relates to the fill that opened it
            client_id=holder.client_id,
            user_id=holder.user_id,
        )
        event = position_event(
            settled,
            position.quantity,
            ZERO,
            position.position_id or entry.id,
            value,
            Costs(ZERO, ZERO, ZERO),
            holder.currency,
            CostSchedule(),
            holder.next_sequence_id,
            _EVENTS[how],
        )
        updated.append(closed)
        entries.append(entry)
        announced.append(Announcement.of(event, event.event.value))
    ended = attrs.evolve(instrument, ended=how)
    return Decision(ended, Changes.of(updated=[ended, *updated], announced=announced, journaled=entries))
