"""Driven ports: what the application service needs from the outside world, as protocols.

Storage is a unit of work with one repository per aggregate and an outbox: a state change and its events
are committed together or not at all. Time and ids come from ports too, so the core never makes them.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import TracebackType
from typing import Protocol, Self, TypeVar

import attrs

from core.instruments import Instrument, Side
from core.records import (
    Account,
    AccountLiquidation,
    BlockOrder,
    Event,
    IdempotencyRecord,
    ModelPortfolio,
    Order,
    PortfolioOrder,
    StoredKey,
    Subscription,
)

T = TypeVar("T")


class Repository(Protocol[T]):
    """Records of one aggregate, by id. Reads inside a unit of work see its own writes."""

    def get(self, record_id: str) -> T | None: ...

    def add(self, record: T) -> None:
        """Insert a new record (an existing id is an error)."""

    def update(self, record: T) -> None:
        """Replace a record read in this unit of work; raises ``ConcurrentUpdate`` if it changed since."""

    def list(self, **where: str) -> list[T]:
        """Records whose top-level fields equal the given values (enums by value), oldest first."""
        ...


class Outbox(Protocol):
    def add(self, event: Event) -> None:
        """Record an event; it is published (and fanned out to subscriptions) only if the unit commits."""

    def list(self, after: int = 0, limit: int = 100, topic: str | None = None) -> list[tuple[int, Event]]:
        """Committed events with their sequence numbers, in commit order."""
        ...


class UnitOfWork(Protocol):
    @property
    def accounts(self) -> Repository[Account]: ...
    @property
    def instruments(self) -> Repository[Instrument]: ...
    @property
    def allocations(self) -> Repository[ModelPortfolio]: ...
    @property
    def portfolio_orders(self) -> Repository[PortfolioOrder]: ...
    @property
    def orders(self) -> Repository[Order]: ...
    @property
    def liquidations(self) -> Repository[AccountLiquidation]: ...
    @property
    def keys(self) -> Repository[StoredKey]: ...
    @property
    def blocks(self) -> Repository[BlockOrder]: ...
    @property
    def subscriptions(self) -> Repository[Subscription]: ...
    @property
    def idempotency(self) -> Repository[IdempotencyRecord]: ...
    @property
    def outbox(self) -> Outbox: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        """Roll back whatever was not committed."""

    def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, timezone-aware UTC."""
        ...


class IdGenerator(Protocol):
    def new_id(self) -> str:
        """A new unique id (UUID4 string)."""
        ...


@attrs.frozen
class Quote:
    """The venue's price for an instrument, or why it will not trade it."""

    price: Decimal | None
    rejection: str | None = None


class Venue(Protocol):
    """An execution venue: quotes a price, then fills some or all of a quantity at it."""

    def quote(self, instrument: Instrument, side: Side) -> Quote: ...

    def fill(self, instrument: Instrument, side: Side, quantity: Decimal) -> Decimal:
        """How much of ``quantity`` is executed now (a multiple of the quantity step, at most ``quantity``)."""
        ...


#: Every repository of a unit of work: its attribute name, the record type it holds, and that type's id field.
REPOSITORIES: dict[str, tuple[type, str]] = {
    "accounts": (Account, "id"),
    "instruments": (Instrument, "instrument_id"),
    "allocations": (ModelPortfolio, "id"),
    "portfolio_orders": (PortfolioOrder, "id"),
    "orders": (Order, "id"),
    "liquidations": (AccountLiquidation, "id"),
    "keys": (StoredKey, "id"),
    "blocks": (BlockOrder, "id"),
    "subscriptions": (Subscription, "id"),
    "idempotency": (IdempotencyRecord, "id"),
}


def field_text(record: object, name: str) -> str | None:
    """A top-level field as the text a ``list(**where)`` filter compares it with (enums by value)."""
    value = getattr(record, name, None)
    if value is None:
        return None
    return str(getattr(value, "value", value))


def topic_of(event_type: str) -> str:
    """``PORTFOLIO_ORDER.SUBMITTED`` → ``PORTFOLIO_ORDER``."""
    return event_type.split(".", 1)[0]
