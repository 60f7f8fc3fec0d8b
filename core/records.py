"""The engine's aggregates as immutable records: what is stored, versioned and announced.

Records hold data and values derived from it; the decisions over them live in one core module per aggregate
(``core.accounts``, ``core.orders``, ``core.portfolio_orders``, ``core.liquidations``, ``core.allocation_keys``,
``core.block_orders``). Ids and timestamps are always passed in: the core never makes or reads them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Final

import attrs

from core.blocks import DEFAULT_POLICY, Execution, PartialFillPolicy, Targets
from core.explain import Explanation
from core.fairness import FairHistory, Fairness
from core.fills import CostSchedule, PositionEvent
from core.instruments import AllocationLine, AssetType, Instrument, Position, Side
from core.investments import ActiveErrorCode, InvestmentState, ProcessState, Suitability
from core.keys import AllocationKey
from core.lifecycle import OPEN, KeyStatus, OrderState, ParentState
from core.numbers import ZERO, check_decimal, minor_unit
from core.portfolio import FeeSchedule, OrderType, Policy, Skipped
from core.validators import NamedEnum, non_empty


class AccountStatus(NamedEnum):
    ACTIVE = "ACTIVE"
    CLOSED = "CLOSED"


def _balances(
    instance: object, attribute: attrs.Attribute[Mapping[str, Decimal]], value: Mapping[str, Decimal]
) -> None:
    """Balances stay within the bounds of every decimal allot reads, so a record it writes can always be read."""
    for currency, amount in value.items():
        check_decimal(amount, f"{attribute.name} in {currency}")


def in_minor_units(value: Decimal, currency: str) -> Decimal:
    """A money amount with its currency's minor units written out: no cash is ``0.00`` in EUR, not ``0``. Only
    padded, never rounded: an amount with more decimals than the currency has is kept as it is (and refused where
    it is made)."""
    unit = minor_unit(currency)
    places, exponent = unit.as_tuple().exponent, value.as_tuple().exponent
    assert isinstance(places, int)
    return value.quantize(unit) if isinstance(exponent, int) and exponent > places else value


@attrs.frozen
class Account:
    id: str = attrs.field(validator=non_empty)
    currency: str
    cash: Mapping[str, Decimal] = attrs.field(validator=_balances)
    positions: tuple[Position, ...] = ()
    fee_schedule: FeeSchedule | None = None
    costs: CostSchedule = CostSchedule()
    status: AccountStatus = attrs.field(default=AccountStatus.ACTIVE, converter=AccountStatus)
    next_sequence_id: int = 1
    created_at: dt.datetime | None = None
    #: Cash held back by open orders (what buys may still spend, with their estimated costs), per currency:
    #: the sum of their ``held_cash``, kept in step by ``core.accounts.reserve``.
    reserved: Mapping[str, Decimal] = attrs.field(factory=dict, validator=_balances)
    #: Units held back by open sells, per instrument: the sum of their ``held_units``.
    held_units: Mapping[str, Decimal] = attrs.field(factory=dict, validator=_balances)
    #: Who it belongs to (``core.tenants``): none for what the operator made.
    client_id: str | None = None
    user_id: str | None = None
    #: The investment whose account it is (``core.accounts.check_managed``): its cash and positions move only
    #: through that investment's rules — funding, withdrawals within the maximum, the leader's rebalances, a stop.
    managed_by: str | None = None

    def cash_in(self, currency: str) -> Decimal:
        return self.cash.get(currency, ZERO)

    def reserved_in(self, currency: str) -> Decimal:
        return self.reserved.get(currency, ZERO)

    def quantity_of(self, instrument_id: str) -> Decimal:
        return next((p.quantity for p in self.positions if p.instrument_id == instrument_id), ZERO)

    def held_of(self, instrument_id: str) -> Decimal:
        return self.held_units.get(instrument_id, ZERO)

    def position(self, instrument_id: str) -> Position | None:
        return next((p for p in self.positions if p.instrument_id == instrument_id), None)


@attrs.frozen
class ModelPortfolio:
    """A named allocation (model portfolio) that portfolio orders refer to by id or by name."""

    id: str
    name: str = attrs.field(validator=non_empty)
    lines: tuple[AllocationLine, ...]
    #: The client it belongs to (``core.tenants``), shared by the client's users; none for the operator's.
    client_id: str | None = None
    #: ROTATE: the cent left over when a buy is split over the weights rotates over the instruments, order after
    #: order (``history`` keeps each instrument's cumulative share, in minor units); PLAIN: it goes the same way.
    fairness: Fairness = attrs.field(default=Fairness.PLAIN, converter=Fairness)
    history: FairHistory | None = None


class ParentKind(NamedEnum):
    """What created an individual order."""

    PORTFOLIO_ORDER = "PORTFOLIO_ORDER"
    ACCOUNT_LIQUIDATION = "ACCOUNT_LIQUIDATION"
    BLOCK_ORDER = "BLOCK_ORDER"


@attrs.frozen
class Order:
    """An individual order: a cash order (``cash_amount``) or a unit order (``quantity``).

    ``parent_kind`` and ``parent_order_id`` say which portfolio order, account liquidation or block order created
    it. ``client_reference`` (the parent's id for portfolio orders and liquidations) and ``correlation_key`` (the
    block's id for allocated orders) are the fields the outside world traces orders by; the engine itself links
    orders to their parent by ``parent_order_id`` only.
    """

    id: str
    account_id: str
    instrument_id: str
    side: Side = attrs.field(converter=Side)
    cash_amount: Decimal | None
    quantity: Decimal | None
    state: OrderState = attrs.field(converter=OrderState)
    created_at: dt.datetime
    updated_at: dt.datetime
    parent_kind: ParentKind | None = attrs.field(
        default=None, converter=attrs.converters.optional(ParentKind)
    )
    parent_order_id: str | None = None
    client_reference: str | None = None
    correlation_key: str | None = None
    filled_quantity: Decimal = ZERO
    traded_value: Decimal = ZERO
    total_cost: Decimal = ZERO
    #: For a cash order, the quantity its amount bought (or sold) at the first execution's price.
    target_quantity: Decimal | None = None
    #: What the order holds back from its account while it is open: cash (a buy: what it may still spend and
    #: its estimated costs) and units (a sell: what it may still sell). Zero once it is finished.
    held_cash: Decimal = ZERO
    held_units: Decimal = ZERO
    reason: str | None = None
    #: Who it belongs to (``core.tenants``): none for what the operator made.
    client_id: str | None = None
    user_id: str | None = None

    @property
    def traced_by(self) -> str:
        """The correlation key the outside world traces the order by, always one, as its fills and the positions
        they open carry it: its block's id for an allocated order, else its own id."""
        return self.correlation_key or self.id


def holds(order: Order) -> tuple[Decimal, Decimal]:
    """What an order holds back from its account while it is open: (cash, units)."""
    return (order.held_cash, order.held_units) if order.state in OPEN else (ZERO, ZERO)


@attrs.frozen
class OrderRef:
    """How a parent lists its orders (as the documents' nested ``orders`` array)."""

    id: str
    side: Side = attrs.field(converter=Side)
    state: OrderState = attrs.field(converter=OrderState)


@attrs.frozen
class PortfolioOrder:
    id: str
    account_id: str
    type: OrderType = attrs.field(converter=OrderType)
    currency: str
    cash_amount: Decimal | None
    allocation_id: str | None
    state: ParentState = attrs.field(converter=ParentState)
    created_at: dt.datetime
    updated_at: dt.datetime
    orders: tuple[OrderRef, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    policy: Policy = Policy()
    #: The caller's own reference for the order (the documents' ``client_reference``), as it was given.
    client_reference: str | None = None
    #: A LIQUIDATION's management fee, known once every sell is filled.
    management_fee: Decimal | None = None
    reason: str | None = None
    #: Who it belongs to (``core.tenants``): none for what the operator made.
    client_id: str | None = None
    user_id: str | None = None
    #: How its cash was split over the instruments, recipient by recipient (none for a liquidation).
    explanation: Explanation | None = None

    @property
    def settles_when_filled(self) -> bool:
        """Only a LIQUIDATION learns its cash amount from its fills; the other types were given one."""
        return self.type is OrderType.LIQUIDATION


@attrs.frozen
class AccountLiquidation:
    id: str
    account_id: str
    currency: str
    state: ParentState = attrs.field(converter=ParentState)
    created_at: dt.datetime
    updated_at: dt.datetime
    orders: tuple[OrderRef, ...] = ()
    cash_amount: Decimal | None = None
    management_fee: Decimal | None = None
    reason: str | None = None
    #: Who it belongs to (``core.tenants``): none for what the operator made.
    client_id: str | None = None
    user_id: str | None = None

    @property
    def settles_when_filled(self) -> bool:
        return True


@attrs.frozen
class StoredKey:
    id: str
    key: AllocationKey
    status: KeyStatus = attrs.field(converter=KeyStatus)
    created_at: dt.datetime
    #: Who it belongs to (``core.tenants``): the user who made it (none: the client's, made client-wide), none at
    #: all for the operator's. Every account it names is visible to its owner.
    client_id: str | None = None
    #: A ROTATE key's fairness history: each remainder account's cumulative quota and allocation, in steps.
    history: FairHistory | None = None
    user_id: str | None = None

    @property
    def account_ids(self) -> tuple[str, ...]:
        """Every account the key names: its caller must see them all (``core.tenants``)."""
        return self.key.accounts


@attrs.frozen(kw_only=True)
class BlockOrder:
    """A block trade placed on the key's owner account and allocated out to the participants; or a trade leader's
    block (``leader_id``), post-allocated to its followers once the market is done with it."""

    id: str
    #: The allocation key it was placed with; none for a leader's block.
    key_id: str | None
    account_id: str
    instrument_id: str
    side: Side = attrs.field(converter=Side)
    amount: Decimal
    state: OrderState = attrs.field(converter=OrderState)
    created_at: dt.datetime
    updated_at: dt.datetime
    #: The currency traded values are booked in: the instrument's, which is the accounts'.
    currency: str
    #: What each participant (in key order) should get of a full fill, and the error account's part.
    targets: Targets
    filled_quantity: Decimal = ZERO
    partial_fill_policy: PartialFillPolicy = attrs.field(default=DEFAULT_POLICY, converter=PartialFillPolicy)
    #: The accounts the block is allocated to: the key's participants in key order, then its error account.
    recipients: tuple[str, ...] = ()
    #: What each recipient (in the order of ``recipients``) has received so far.
    allocated: tuple[Decimal, ...] = ()
    orders: tuple[OrderRef, ...] = ()
    reason: str | None = None
    #: Who it belongs to (``core.tenants``): the owner of the key it was placed with; none for the operator's.
    client_id: str | None = None
    user_id: str | None = None
    #: The trade leader whose rebalance placed it (its ``account_id`` is then the leader's id); its executions
    #: are kept in ``executions`` and allocated to the followers at their average price when it is done.
    leader_id: str | None = None
    executions: tuple[Execution, ...] = ()
    #: How the key split the block when it was placed (its base, its remainder, margin cuts), recipient by recipient.
    explanation: Explanation | None = None

    @property
    def account_ids(self) -> tuple[str, ...]:
        """Every account the block names, the block account first: its caller must see them all
        (``core.tenants``). A leader's block names accounts only through its followers' investments."""
        return () if self.leader_id is not None else (self.account_id, *self.recipients)


@attrs.frozen
class Subscription:
    id: str
    url: str
    topics: tuple[str, ...]
    secret: str
    created_at: dt.datetime
    allow_private_network: bool = False
    disabled_reason: str | None = None
    #: Who it belongs to (``core.tenants``): the user who made it, or the client (made client-wide); none for the
    #: operator's. It receives the events its owner may see.
    client_id: str | None = None
    user_id: str | None = None


class FundingKind(NamedEnum):
    DEPOSIT = "DEPOSIT"
    WITHDRAWAL = "WITHDRAWAL"


@attrs.frozen(kw_only=True)
class Funding:
    """Cash moved between an account and the outside world, as announced (``FUNDING.DEPOSIT`` or
    ``FUNDING.WITHDRAWAL``); the journal entry with the same id records it."""

    id: str
    kind: FundingKind = attrs.field(converter=FundingKind)
    account_id: str
    currency: str
    amount: Decimal
    cash_after: Decimal
    created_at: dt.datetime
    #: Who it belongs to (``core.tenants``): none for what the operator made.
    client_id: str | None = None
    user_id: str | None = None


@attrs.frozen
class IdempotencyRecord:
    """What an idempotency key was first used for: the request's fingerprint and the id it created."""

    id: str
    fingerprint: str
    result_id: str


@attrs.frozen(kw_only=True)
class Client:
    """A tenant: a platform or an asset manager, with its users (``core.tenants``)."""

    id: str
    created_at: dt.datetime


@attrs.frozen(kw_only=True)
class User:
    """A user of a client; owns accounts."""

    id: str
    client_id: str
    created_at: dt.datetime


@attrs.frozen(kw_only=True)
class ApiKey:
    """A stored API key: the SHA-256 of its secret, never the secret. An admin key acts as the operator."""

    id: str
    secret_sha256: str
    client_id: str | None
    user_id: str | None
    admin: bool
    created_at: dt.datetime
    revoked_at: dt.datetime | None = None


class RequestState(NamedEnum):
    IN_FLIGHT = "IN_FLIGHT"
    DONE = "DONE"
    #: The first attempt failed on the server's side (not the caller's): the key may be used again.
    ABANDONED = "ABANDONED"


@attrs.frozen(kw_only=True)
class StoredResponse:
    """An HTTP request made with an idempotency key: its fingerprint, and the response once there is one."""

    id: str
    fingerprint: str
    state: RequestState = attrs.field(converter=RequestState)
    started_at: dt.datetime
    status: int | None = None
    body: str | None = None


@attrs.frozen(kw_only=True)
class TradeLeader:
    """A strategy that followers invest in: its model (weights) and the terms of following it. The operator's,
    shared with every client."""

    id: str = attrs.field(validator=non_empty)
    name: str = attrs.field(validator=non_empty)
    currency: str
    lines: tuple[AllocationLine, ...]
    minimum_investment: Decimal
    required_suitability: Suitability = attrs.field(converter=Suitability)
    #: 1 (lowest) to 7 (highest), as the leader's documents state it.
    risk_level: int = 4
    description: str | None = None
    max_followers: int | None = None
    max_invested: Decimal | None = None
    #: The annual service fee on equity (0.01 = 1 % a year), charged for the days held when an investment stops.
    service_fee_rate: Decimal = ZERO
    #: The back office's fee profile for its investments; none: the fee-profile steps are skipped.
    fee_profile: str | None = None
    #: The asset types of the instruments of its model: a follower must be allowed to trade all of them.
    asset_types: tuple[AssetType, ...] = ()
    #: Its rebalance has placed its sells; its buys are placed once those are done.
    rebalancing: bool = False
    created_at: dt.datetime
    updated_at: dt.datetime
    client_id: str | None = None

    @property
    def user_id(self) -> None:
        return None


@attrs.frozen(kw_only=True)
class TradeFollower:
    """A user who invests in trade leaders: the suitability level its test gave, whether it accepted the terms and
    conditions, and the asset types it may legally trade."""

    id: str = attrs.field(validator=non_empty)
    suitability: Suitability | None = attrs.field(
        default=None, converter=attrs.converters.optional(Suitability)
    )
    terms_accepted: bool = False
    asset_types: tuple[AssetType, ...] = ()
    created_at: dt.datetime
    updated_at: dt.datetime
    client_id: str | None = None
    user_id: str | None = None


def _process_of_state(
    instance: Investment, attribute: attrs.Attribute[ProcessState], value: ProcessState
) -> None:
    if value is not instance.state.process:
        raise ValueError(
            f"an investment in {instance.state.value} is {instance.state.process.value}, not {value.value}"
        )


@attrs.frozen(kw_only=True)
class Investment:
    """A follower's investment in a leader: its own account, kept a proportional replica of the leader's model,
    funded from (and returned to) the follower's funding account."""

    id: str = attrs.field(validator=non_empty)
    leader_id: str
    follower_id: str
    funding_account_id: str
    currency: str
    #: What the investment was started with.
    amount: Decimal
    state: InvestmentState = attrs.field(converter=InvestmentState)
    #: Follows from ``state``; stored so that lists can be filtered by it.
    process_state: ProcessState = attrs.field(converter=ProcessState, validator=_process_of_state)
    created_at: dt.datetime
    updated_at: dt.datetime
    #: The investment account, once the back office created it.
    account_id: str | None = None
    #: Set while ACTIVE when something outside needs attention (the investment goes on).
    error_code: ActiveErrorCode | None = attrs.field(
        default=None, converter=attrs.converters.optional(ActiveErrorCode)
    )
    #: Below this equity the investment is stopped out (protection limit) and its positions are closed.
    shield: Decimal | None = None
    #: Whether stopping it closes its positions (the documents' ``PositionsCloseOnActivation``).
    close_positions: bool = True
    #: Money asked for but not yet moved from the funding account; zero once funding is completed.
    pending_funding: Decimal = ZERO
    #: Money asked for that a sell is raising; moved to the funding account once the sell is done.
    pending_withdrawal: Decimal = ZERO
    #: The portfolio order or account liquidation the investment waits for.
    order_id: str | None = None
    #: Attempts of the current back-office step, and when the next one is due.
    attempts: int = 0
    next_attempt_at: dt.datetime | None = None
    #: What the back office last said when a step did not succeed.
    reason: str | None = None
    funded: Decimal = ZERO
    withdrawn: Decimal = ZERO
    fees: Decimal = ZERO
    activated_at: dt.datetime | None = None
    stopped_at: dt.datetime | None = None
    client_id: str | None = None
    user_id: str | None = None

    def __attrs_post_init__(self) -> None:
        """Its money in its currency's minor units (``in_minor_units``): the zeros it starts with included."""
        for name in ("pending_funding", "pending_withdrawal", "funded", "withdrawn", "fees"):
            object.__setattr__(self, name, in_minor_units(getattr(self, name), self.currency))


#: The records that own individual orders and move with them (``core.parents``).
ParentRecord = PortfolioOrder | AccountLiquidation

#: Everything a unit of work stores.
Record = (
    Account
    | Instrument
    | ModelPortfolio
    | PortfolioOrder
    | Order
    | AccountLiquidation
    | StoredKey
    | BlockOrder
    | Subscription
    | IdempotencyRecord
    | Client
    | User
    | ApiKey
    | StoredResponse
    | TradeLeader
    | TradeFollower
    | Investment
)

#: Everything an event can carry as its ``object``: the record as committed, or a position event.
Announced = (
    PortfolioOrder
    | Order
    | AccountLiquidation
    | BlockOrder
    | StoredKey
    | PositionEvent
    | Funding
    | Investment
)

#: The topic of each announced type: an event's type is ``<TOPIC>.<STATE>``.
TOPIC_OF: Final[Mapping[type, str]] = {
    PortfolioOrder: "PORTFOLIO_ORDER",
    Order: "ORDER",
    AccountLiquidation: "ACCOUNT_LIQUIDATION",
    BlockOrder: "BLOCK_ORDER",
    StoredKey: "ALLOCATION_KEY",
    PositionEvent: "POSITION",
    Funding: "FUNDING",
    Investment: "INVESTMENT",
}
#: Which type an event of each topic carries.
TYPE_OF_TOPIC: Final[Mapping[str, type]] = {topic: kind for kind, topic in TOPIC_OF.items()}
#: Every topic a webhook subscription may choose.
TOPICS: Final[tuple[str, ...]] = tuple(TOPIC_OF.values())


@attrs.frozen
class Announcement:
    """What a decision announces: ``<TOPIC>.<STATE>`` and the snapshot it carries (the record as committed)."""

    type: str
    object: Announced

    @classmethod
    def of(cls, record: Announced, state: str) -> Announcement:
        return cls(f"{TOPIC_OF[type(record)]}.{state}", record)


@attrs.frozen
class Event:
    """A committed announcement: the documents' webhook envelope, minus ``webhook_id`` (set per subscription
    when delivered)."""

    id: str
    created_at: dt.datetime
    type: str
    object: Announced

    @property
    def topic(self) -> str:
        """``PORTFOLIO_ORDER.SUBMITTED`` → ``PORTFOLIO_ORDER``."""
        return topic_of(self.type)


def topic_of(event_type: str) -> str:
    return event_type.split(".", 1)[0]


def announce(record: PortfolioOrder | Order | AccountLiquidation | BlockOrder) -> Announcement:
    """The announcement of a record's current state: ``ORDER.FILLED`` with the order as it is now."""
    return Announcement.of(record, record.state.value)


def refs(orders: Iterable[Order]) -> tuple[OrderRef, ...]:
    """How a parent lists its orders."""
    return tuple(OrderRef(o.id, o.side, o.state) for o in orders)


def subject_of(announced: Announced) -> str:
    """The id of what an event is about (for a position event: the order whose fill it records; for funding:
    the account)."""
    if isinstance(announced, PositionEvent):
        return announced.source_order_id or announced.position_id
    if isinstance(announced, Funding):
        return announced.account_id
    return announced.id
