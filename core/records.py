"""The engine's aggregates as immutable records: what is stored, versioned and announced.

Records carry no behaviour beyond derived values; ``core.engine`` holds the decisions over them. Ids and
timestamps are always passed in: the core never makes or reads them.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from core.blocks import PartialFillPolicy, Targets
from core.fills import CostSchedule, PositionEvent
from core.instruments import AllocationLine, Position, Side
from core.keys import AllocationKey
from core.lifecycle import KeyStatus, LiquidationState, OrderState, PortfolioOrderState
from core.portfolio import FeeSchedule, OrderType, Policy, Skipped


class AccountStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    CLOSED = "CLOSED"


@attrs.frozen
class Account:
    id: str
    currency: str
    cash: Mapping[str, Decimal]
    positions: tuple[Position, ...] = ()
    fee_schedule: FeeSchedule | None = None
    costs: CostSchedule = CostSchedule()
    status: AccountStatus = AccountStatus.ACTIVE
    next_sequence_id: int = 1
    created_at: dt.datetime | None = None
    #: Cash promised to open buy cash orders, per currency (kept by ``core.engine.reserve``).
    reserved: Mapping[str, Decimal] = attrs.field(factory=dict)

    def cash_in(self, currency: str) -> Decimal:
        return self.cash.get(currency, Decimal(0))

    def reserved_in(self, currency: str) -> Decimal:
        return self.reserved.get(currency, Decimal(0))

    def quantity_of(self, instrument_id: str) -> Decimal:
        return next((p.quantity for p in self.positions if p.instrument_id == instrument_id), Decimal(0))


@attrs.frozen
class ModelPortfolio:
    """A named allocation (model portfolio) that portfolio orders refer to by id."""

    id: str
    name: str
    lines: tuple[AllocationLine, ...]


@attrs.frozen
class Order:
    """An individual order: a cash order (``cash_amount``) or a unit order (``quantity``)."""

    id: str
    account_id: str
    instrument_id: str
    side: Side
    cash_amount: Decimal | None
    quantity: Decimal | None
    state: OrderState
    created_at: dt.datetime
    updated_at: dt.datetime
    client_reference: str | None = None
    correlation_key: str | None = None
    filled_quantity: Decimal = Decimal(0)
    traded_value: Decimal = Decimal(0)
    total_cost: Decimal = Decimal(0)
    #: For a cash order, the quantity its amount bought (or sold) at the first execution's price.
    target_quantity: Decimal | None = None
    reason: str | None = None


@attrs.frozen
class OrderRef:
    """How a parent lists its orders (as the seeds' nested ``orders`` array)."""

    id: str
    side: Side
    state: OrderState


@attrs.frozen
class PortfolioOrder:
    id: str
    account_id: str
    type: OrderType
    currency: str
    cash_amount: Decimal | None
    allocation_id: str | None
    state: PortfolioOrderState
    created_at: dt.datetime
    updated_at: dt.datetime
    orders: tuple[OrderRef, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    policy: Policy = Policy()
    reason: str | None = None


@attrs.frozen
class AccountLiquidation:
    id: str
    account_id: str
    currency: str
    state: LiquidationState
    created_at: dt.datetime
    updated_at: dt.datetime
    orders: tuple[OrderRef, ...] = ()
    cash_amount: Decimal | None = None
    management_fee: Decimal | None = None
    reason: str | None = None


@attrs.frozen
class StoredKey:
    id: str
    key: AllocationKey
    status: KeyStatus
    created_at: dt.datetime


@attrs.frozen
class BlockOrder:
    id: str
    key_id: str
    account_id: str
    instrument_id: str
    side: Side
    amount: Decimal
    state: OrderState
    created_at: dt.datetime
    updated_at: dt.datetime
    filled_quantity: Decimal = Decimal(0)
    partial_fill_policy: PartialFillPolicy = PartialFillPolicy.PRO_RATA
    #: What each participant (in key order) should get of a full fill, and the error account's part.
    targets: Targets | None = None
    #: What each participant (key order) and the error account (last) have received so far.
    allocated: tuple[Decimal, ...] = ()
    orders: tuple[OrderRef, ...] = ()
    reason: str | None = None


@attrs.frozen
class Subscription:
    id: str
    url: str
    topics: tuple[str, ...]
    secret: str
    created_at: dt.datetime
    allow_private_network: bool = False
    disabled_reason: str | None = None


@attrs.frozen
class Event:
    """The seeds' webhook envelope, minus ``webhook_id`` (set per subscription on delivery)."""

    id: str
    created_at: dt.datetime
    type: str
    object: Any


@attrs.frozen
class IdempotencyRecord:
    """What an idempotency key was first used for: the request's fingerprint and the id it created."""

    id: str
    fingerprint: str
    result_id: str


TOPIC_OF: Mapping[type, str] = {
    PortfolioOrder: "PORTFOLIO_ORDER",
    Order: "ORDER",
    AccountLiquidation: "ACCOUNT_LIQUIDATION",
    BlockOrder: "BLOCK_ORDER",
    StoredKey: "ALLOCATION_KEY",
    PositionEvent: "POSITION",
}
