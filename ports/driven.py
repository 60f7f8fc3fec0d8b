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
    accounts: Repository[Account]
    instruments: Repository[Instrument]
    allocations: Repository[ModelPortfolio]
    portfolio_orders: Repository[PortfolioOrder]
    orders: Repository[Order]
    liquidations: Repository[AccountLiquidation]
    keys: Repository[StoredKey]
    blocks: Repository[BlockOrder]
    subscriptions: Repository[Subscription]
    idempotency: Repository[IdempotencyRecord]
    outbox: Outbox

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
