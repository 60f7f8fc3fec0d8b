"""Block trading, in the block-trading document's shape (PascalCase): allocation keys, block orders placed with one,
and the participating accounts' allocated orders and positions (``/port/v1``).

The document's names differ from the core's (``AllocationKeyName`` for a key's name, ``AccountKey`` for an account
id, ``Uic`` for an instrument, ``BuySell`` for a side): its bodies are the small request and view types below, and
the functions beside them only rename. Enumerations are read in either spelling (``OneTime`` or ``ONE_TIME``,
``FxSpot`` or ``FX_SPOT``) and written as the document writes them (``OneTime``, ``Buy``). Every rule is the core's.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import ClassVar, Final, TypeVar

import attrs

from adapters.serialization import Number, spelled
from core.allocation_keys import LISTED_BY_DEFAULT
from core.blocks import DEFAULT_POLICY, AccountAllocation, BlockAllocation, PartialFillPolicy
from core.errors import ValidationError
from core.explain import Explanation
from core.fairness import Fairness
from core.instruments import MAX_UIC, AssetType, Position, Side, check_uic
from core.keys import MAX_PRIORITY, AllocationKey, MarginHandling, Participant, UnitType, error_account_of
from core.lifecycle import KeyStatus, OrderState
from core.numbers import ZERO
from core.records import Order, StoredKey
from entrypoints.http.openapi import (
    DECIMAL_POSITIVE,
    POSITIVE,
    TEXT,
    Check,
    Rules,
    checked,
    one_of,
)
from entrypoints.http.routing import (
    EXPLAIN,
    PAGING,
    Call,
    Casing,
    Operation,
    Param,
    Reply,
    as_json,
    page,
    pascal,
)
from ports.blocks import BlockView

E = TypeVar("E", bound=enum.Enum)

# -- enumerations as the document spells them -------------------------------------------------------------------


def member_of(kind: type[E], text: str, field: str) -> E:
    """The member a request names, in the document's spelling or allot's, in any case (``FxSpot``, ``FX_SPOT``)."""
    members = {str(m.value).replace("_", ""): m for m in kind}
    found = members.get(text.replace("_", "").upper())
    if found is None:
        raise ValidationError(
            f"{field} {text!r} is not one of {', '.join(spelled(m) for m in kind)}",
            {"field": field, "value": text, "allowed": [spelled(m) for m in kind]},
        )
    return found


def optional_member(kind: type[E], text: str | None, field: str) -> E | None:
    return None if text is None else member_of(kind, text, field)


def spellings(kind: type[enum.Enum]) -> dict[str, Check]:
    """attrs field metadata of a text that names a member of ``kind``: the document lists its spellings."""
    return checked(one_of([spelled(m) for m in kind]))


# -- allocation keys --------------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ParticipatingAccountInfo:
    """One entry of ``ParticipatingAccountsInfo``: an account and its units (or percentage). An account that
    accepts remainders needs a ``Priority`` unique among those that do (1 = first)."""

    account_key: str = attrs.field(metadata=checked(TEXT))
    #: A JSON number, as the document writes it (read from a number or a string).
    unit_value: Number = attrs.field(metadata=checked(POSITIVE))
    accept_remainder_amount: bool = False
    priority: int | None = attrs.field(
        default=None, metadata=checked(Check({"type": "integer", "minimum": 1, "maximum": MAX_PRIORITY}))
    )
    #: One that accepts remainders has a priority (that those priorities differ, no schema can say).
    openapi_rules: ClassVar[Rules] = ({"anyOf": [
        {"properties": {"accept_remainder_amount": {"const": False}}},
        {"properties": {"priority": {"type": "integer"}}, "required": ["priority"]},
    ]},)  # fmt: skip


@attrs.frozen(kw_only=True)
class NewAllocationKey:
    """``POST /trade/v1/allocationkeys``. ``ErrorAccountKey`` (allot's addition) names the account that takes
    what the participants do not; left out (or null), it is the block account's own error
    account ``<OwnerAccountKey>-ERROR``, opened with the first key that needs it (owned like the block account,
    in its currency, with no cash)."""

    allocation_key_name: str = attrs.field(metadata=checked(TEXT))
    allocation_unit_type: str = attrs.field(metadata=spellings(UnitType))
    margin_handling: str = attrs.field(metadata=spellings(MarginHandling))
    owner_account_key: str = attrs.field(metadata=checked(TEXT))
    error_account_key: str | None = attrs.field(default=None, metadata=checked(TEXT))
    participating_accounts_info: tuple[ParticipatingAccountInfo, ...]
    one_time: bool = False
    #: allot's addition: ``Rotate`` rotates the key's remainder over the accounts that accept remainders, block
    #: after block; ``Plain`` (the default) gives it the same way every time.
    fairness: str = attrs.field(default="Plain", metadata=spellings(Fairness))
    #: At least one participant (that percentages sum to 100, that each account takes part once and that the block
    #: and error accounts are none of them, no schema can say).
    openapi_rules: ClassVar[Rules] = ({"properties": {"participating_accounts_info": {"minItems": 1}}},)


#: The core's names of what ``key_of`` renames, as the request names them (for the errors, ``Operation.renamed``).
KEY_FIELDS: Final = {
    "name": "allocation_key_name",
    "unit_type": "allocation_unit_type",
    "owner_account_id": "owner_account_key",
    "error_account_id": "error_account_key",
    "participants": "participating_accounts_info",
    "account_id": "participating_accounts_info.account_key",
    "unit_value": "participating_accounts_info.unit_value",
    "accept_remainder": "participating_accounts_info.accept_remainder_amount",
    "priority": "participating_accounts_info.priority",
}


def key_of(body: NewAllocationKey) -> AllocationKey:
    """The core's allocation key for the document's body (the core validates it)."""
    return AllocationKey(
        name=body.allocation_key_name,
        unit_type=member_of(UnitType, body.allocation_unit_type, "AllocationUnitType"),
        margin_handling=member_of(MarginHandling, body.margin_handling, "MarginHandling"),
        one_time=body.one_time,
        owner_account_id=body.owner_account_key,
        error_account_id=error_account_of(body.owner_account_key, body.error_account_key),
        participants=tuple(
            Participant(p.account_key, p.unit_value, p.accept_remainder_amount, p.priority)
            for p in body.participating_accounts_info
        ),
        fairness=member_of(Fairness, body.fairness, "Fairness"),
    )


@attrs.frozen
class AllocationKeyCreated:
    allocation_key_id: str


@attrs.frozen(kw_only=True)
class AllocationKeyDetails:
    """A key as ``GET /trade/v1/allocationkeys`` shows it: the fields it was created with, its ``Status``
    (``Active``, ``OneTime``, ``Used``, ``Expired``, ``Deleted``) and when it was created."""

    allocation_key_id: str
    allocation_key_name: str
    allocation_unit_type: str = attrs.field(metadata=spellings(UnitType))
    margin_handling: str = attrs.field(metadata=spellings(MarginHandling))
    one_time: bool
    owner_account_key: str
    error_account_key: str
    participating_accounts_info: tuple[ParticipatingAccountInfo, ...]
    status: str = attrs.field(metadata=spellings(KeyStatus))
    created_at: dt.datetime
    fairness: str = attrs.field(metadata=spellings(Fairness))


def details(stored: StoredKey) -> AllocationKeyDetails:
    key = stored.key
    return AllocationKeyDetails(
        allocation_key_id=stored.id,
        allocation_key_name=key.name,
        allocation_unit_type=spelled(key.unit_type),
        margin_handling=spelled(key.margin_handling),
        one_time=key.one_time,
        owner_account_key=key.owner_account_id,
        error_account_key=key.error_account_id,
        participating_accounts_info=tuple(
            ParticipatingAccountInfo(
                account_key=p.account_id,
                unit_value=Number(p.unit_value),
                accept_remainder_amount=p.accept_remainder,
                priority=p.priority,
            )
            for p in key.participants
        ),
        status=spelled(stored.status),
        created_at=stored.created_at,
        fairness=spelled(key.fairness),
    )


@attrs.frozen
class Distribution:
    account_key: str
    amount: Decimal


@attrs.frozen(kw_only=True)
class DistributionPreview:
    """How a key would distribute ``Amount``: each participant's part (key order), what the unit values left over
    (``RemainderAmount``) and the error account's part. Nothing is placed."""

    allocation_key_id: str
    amount: Decimal
    remainder_amount: Decimal
    distributions: tuple[Distribution, ...]
    error_account: Distribution


def distribution(part: AccountAllocation) -> Distribution:
    return Distribution(part.account_id, part.quantity)


def preview_of(key_id: str, result: BlockAllocation) -> DistributionPreview:
    return DistributionPreview(
        allocation_key_id=key_id,
        amount=result.allocated_amount,
        remainder_amount=result.remainder,
        distributions=tuple(distribution(a) for a in result.allocations),
        error_account=distribution(result.error_account),
    )


def statuses(call: Call) -> tuple[KeyStatus, ...]:
    """``Statuses=Active,OneTime`` (or repeated): the statuses asked for; none: those listed by default (Active).
    An empty one (``Statuses=``, ``Statuses=Active,``) names no status, and is refused like a misspelt one."""
    given = [part.strip() for value in call.query.get("Statuses", ()) for part in value.split(",")]
    return tuple(member_of(KeyStatus, text, "Statuses") for text in given) or LISTED_BY_DEFAULT


def create_key(call: Call) -> Reply:
    stored = call.app.keys.create(key_of(call.body), scope=call.scope, idempotency_key=call.idempotency_key)
    return Reply(201, as_json(AllocationKeyCreated(stored.id), Casing.PASCAL))


def list_keys(call: Call) -> Reply:
    found = call.app.keys.all(statuses(call), scope=call.scope)
    return page(call, [details(k) for k in found], key=lambda k: k.allocation_key_id, casing=Casing.PASCAL)


def show_key(call: Call) -> Reply:
    stored = call.app.keys.get(call.path["allocation_key_id"], scope=call.scope)
    return Reply(200, as_json(details(stored), Casing.PASCAL))


def delete_key(call: Call) -> Reply:
    stored = call.app.keys.delete(call.path["allocation_key_id"], scope=call.scope)
    return Reply(200, as_json(details(stored), Casing.PASCAL))


def preview(call: Call) -> Reply:
    key_id = call.path["allocation_key_id"]
    amount = call.decimal("Amount")
    step = call.decimal("QuantityStep", Decimal(1))
    result = call.app.keys.preview(key_id, amount, step, scope=call.scope)
    return Reply(200, as_json(preview_of(key_id, result), Casing.PASCAL))


# -- block orders -----------------------------------------------------------------------------------------------


class OrderType(enum.Enum):
    MARKET = "MARKET"  #: the simulated venue executes market orders


class DurationType(enum.Enum):
    DAY_ORDER = "DAY_ORDER"


def spelled_as(kind: type[enum.Enum]) -> Callable[[object, attrs.Attribute[str], str], None]:
    """A validator: the value names a member of ``kind`` (in the document's spelling or allot's)."""

    def check(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
        member_of(kind, value, pascal(attribute.name))

    return check


@attrs.frozen
class OrderDuration:
    duration_type: str = attrs.field(validator=spelled_as(DurationType), metadata=spellings(DurationType))


@attrs.frozen(kw_only=True)
class NewBlockOrder:
    """``POST /trade/v2/orders`` with an ``AllocationKeyId``: a block of ``Amount`` units of the instrument
    ``Uic``. ``AccountKey`` and ``AssetType``, if given, must be the key's owner account and the instrument's
    type; ``OrderType`` is ``Market`` and ``OrderDuration`` a ``DayOrder`` (the only ones allot executes).
    ``PartialFillPolicy`` (allot's addition): how a partial fill is shared (``ProRata`` or ``Priority``)."""

    allocation_key_id: str
    #: The instrument: its ``Uic`` (a whole number from 1 to 2^53 - 1; 21.0 is 21), or allot's instrument id.
    uic: int | str
    buy_sell: str = attrs.field(metadata=spellings(Side))
    amount: Decimal = attrs.field(metadata=checked(POSITIVE))
    account_key: str | None = None
    asset_type: str | None = attrs.field(default=None, metadata=spellings(AssetType))
    order_type: str = attrs.field(
        default=spelled(OrderType.MARKET), validator=spelled_as(OrderType), metadata=spellings(OrderType)
    )
    order_duration: OrderDuration | None = None
    partial_fill_policy: str = attrs.field(
        default=spelled(DEFAULT_POLICY), metadata=spellings(PartialFillPolicy)
    )
    #: A ``Uic`` given as a number is one an instrument can have (a string names allot's instrument id).
    openapi_rules: ClassVar[Rules] = ({"properties": {"uic": {"minimum": 1, "maximum": MAX_UIC}}},)


@attrs.frozen
class OrderPlaced:
    """The block's ``OrderId``; with ``?explain=true`` also ``Explanation`` (allot's addition): how the key split
    the block when it was placed, stage by stage and account by account."""

    order_id: str
    explanation: Explanation | None = None


def instrument_named(call: Call, uic: int | str) -> str:
    """The id of the instrument a request names: by its ``Uic`` (a number) or by allot's id (text)."""
    return uic if isinstance(uic, str) else call.app.instruments.by_uic(check_uic(uic)).instrument_id


#: The core's names of what ``place_block`` renames, as the request names them.
BLOCK_FIELDS: Final = {"account_id": "account_key", "instrument_id": "uic", "side": "buy_sell"}
#: The core's names of the query parameters of a distribution preview.
PREVIEW_PARAMETERS: Final = {"amount": "Amount", "step": "QuantityStep"}


def place_block(call: Call) -> Reply:
    body: NewBlockOrder = call.body
    block = call.app.blocks.place(
        body.allocation_key_id,
        instrument_named(call, body.uic),
        member_of(Side, body.buy_sell, "BuySell"),
        body.amount,
        member_of(PartialFillPolicy, body.partial_fill_policy, "PartialFillPolicy"),
        scope=call.scope,
        account_id=body.account_key,
        asset_type=optional_member(AssetType, body.asset_type, "AssetType"),
        idempotency_key=call.idempotency_key,
    )
    return Reply(202, as_json(OrderPlaced(block.id, block.explanation), Casing.PASCAL, explain=call.explain))


# -- the accounts' orders and positions -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class PortOrder:
    """An individual order as ``/port/v1/orders`` lists it. ``Amount`` is its quantity (a unit order) and
    ``CashAmount`` its cash (a cash order); ``CorrelationKey`` is always given: the block's ``OrderId`` for an order
    allocated from a block, else the order's own id (as its fills and positions carry it)."""

    order_id: str
    account_key: str
    #: The instrument's ``Uic`` (null if it has none), and allot's id for it.
    uic: int | None
    instrument_id: str
    buy_sell: str = attrs.field(metadata=spellings(Side))
    amount: Number | None
    cash_amount: Decimal | None
    filled_amount: Decimal
    traded_value: Decimal
    total_cost: Decimal
    status: str = attrs.field(metadata=spellings(OrderState))
    correlation_key: str
    external_reference: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


def port_order(order: Order, uics: Mapping[str, int | None]) -> PortOrder:
    return PortOrder(
        order_id=order.id,
        account_key=order.account_id,
        uic=uics.get(order.instrument_id),
        instrument_id=order.instrument_id,
        buy_sell=spelled(order.side),
        amount=None if order.quantity is None else Number(order.quantity),
        cash_amount=order.cash_amount,
        filled_amount=order.filled_quantity,
        traded_value=order.traded_value,
        total_cost=order.total_cost,
        status=spelled(order.state),
        correlation_key=order.traced_by,
        external_reference=order.client_reference,
        created_at=order.created_at,
        updated_at=order.updated_at,
    )


@attrs.frozen(kw_only=True)
class PortPosition:
    """A position as ``/port/v1/positions`` lists it: ``Amount`` units (a JSON number) of the instrument ``Uic``
    (its whole-number code, null if it has none; allot's ``InstrumentId`` beside it) held by ``AccountKey``.
    ``CorrelationKey`` is that of the fill that opened it (the block's ``OrderId``, or the order's own), as in its
    position events."""

    position_id: str | None
    correlation_key: str | None
    account_key: str
    uic: int | None
    instrument_id: str
    amount: Number


def port_positions(
    account_id: str, positions: Sequence[Position], uics: Mapping[str, int | None]
) -> list[PortPosition]:
    """An account's positions; ``uics``: the ``Uic`` of each instrument, by instrument id."""
    return [PortPosition(position_id=p.position_id, correlation_key=p.correlation_key, account_key=account_id,
                         uic=uics.get(p.instrument_id), instrument_id=p.instrument_id, amount=Number(p.quantity))
            for p in positions]  # fmt: skip


def port_block(view: BlockView, uics: Mapping[str, int | None]) -> PortOrder:
    """A block as its block account's ``/port/v1/orders`` lists it: its amount, what the market filled, and the
    traded value and costs of the orders it was allocated to; traced by its own id."""
    block = view.block
    return PortOrder(
        order_id=block.id,
        account_key=block.account_id,
        uic=uics.get(block.instrument_id),
        instrument_id=block.instrument_id,
        buy_sell=spelled(block.side),
        amount=Number(block.amount),
        cash_amount=None,
        filled_amount=block.filled_quantity,
        traded_value=sum((o.traded_value for o in view.orders), ZERO),
        total_cost=sum((o.total_cost for o in view.orders), ZERO),
        status=spelled(block.state),
        correlation_key=block.id,
        external_reference=None,
        created_at=block.created_at,
        updated_at=block.updated_at,
    )


def list_orders(call: Call) -> Reply:
    """An account's individual orders and the blocks placed on it (a block account's), oldest first."""
    account_id = call.required("AccountKey")
    orders = call.app.queries.account_orders(account_id, scope=call.scope)
    blocks = call.app.blocks.placed_on(account_id, scope=call.scope)
    uics = uics_of(call)
    listed = sorted(
        [*(port_order(o, uics) for o in orders), *(port_block(b, uics) for b in blocks)],
        key=lambda o: o.created_at,
    )
    return page(call, listed, key=lambda o: o.order_id, casing=Casing.PASCAL)


@attrs.frozen(kw_only=True)
class BlockOrderDetails:
    """``GET /trade/v2/orders/{OrderId}``: a block as its block account lists it (``PortOrder``), with the key it
    was placed with, why it ended if it was cancelled, and the orders it was allocated to (each with the block's
    ``OrderId`` as ``CorrelationKey``)."""

    order_id: str
    account_key: str
    allocation_key_id: str | None
    uic: int | None
    instrument_id: str
    buy_sell: str = attrs.field(metadata=spellings(Side))
    amount: Number
    filled_amount: Decimal
    traded_value: Decimal
    total_cost: Decimal
    status: str = attrs.field(metadata=spellings(OrderState))
    correlation_key: str
    reason: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    allocated_orders: tuple[PortOrder, ...]


def show_block(call: Call) -> Reply:
    view = call.app.blocks.show(call.path["order_id"], scope=call.scope)
    uics = uics_of(call)
    listed = port_block(view, uics)
    shown = BlockOrderDetails(
        order_id=listed.order_id, account_key=listed.account_key, allocation_key_id=view.block.key_id,
        uic=listed.uic, instrument_id=listed.instrument_id, buy_sell=listed.buy_sell,
        amount=Number(view.block.amount), filled_amount=listed.filled_amount, traded_value=listed.traded_value, total_cost=listed.total_cost,
        status=listed.status, correlation_key=listed.correlation_key, reason=view.block.reason,
        created_at=listed.created_at, updated_at=listed.updated_at,
        allocated_orders=tuple(port_order(o, uics) for o in view.orders),
    )  # fmt: skip
    return Reply(200, as_json(shown, Casing.PASCAL))


def uics_of(call: Call) -> dict[str, int | None]:
    """Each instrument's ``Uic``, by instrument id."""
    return {i.instrument_id: i.uic for i in call.app.instruments.all()}


def list_positions(call: Call) -> Reply:
    account = call.app.accounts.get(call.required("AccountKey"), scope=call.scope)
    listed = port_positions(account.id, account.positions, uics_of(call))
    return page(call, listed, key=lambda p: p.instrument_id, casing=Casing.PASCAL)


# -- the table --------------------------------------------------------------------------------------------------

STATUSES: Final = Param(
    "Statuses",
    "Key statuses to list, comma-separated or repeated: Active (the default), OneTime, Used, Expired, Deleted.",
    schema={"type": "array", "items": one_of([spelled(s) for s in KeyStatus]).read},
)
AMOUNT: Final = Param(
    "Amount",
    "The block amount to distribute (a decimal above zero).",
    required=True,
    schema={"type": "string", "pattern": DECIMAL_POSITIVE},
)
QUANTITY_STEP: Final = Param(
    "QuantityStep",
    "The instrument's quantity step (a decimal above zero; default 1).",
    schema={"type": "string", "pattern": DECIMAL_POSITIVE},
)
ACCOUNT_KEY: Final = Param(
    "AccountKey",
    "The account (one the caller may see).",
    required=True,
    schema={"type": "string", "pattern": r"^[^\x00]*[^\s\x00][^\x00]*$"},
)
PASCAL: Final = Casing.PASCAL

OPERATIONS: Final = (
    Operation("POST", "/trade/v1/allocationkeys", create_key,
              "Create an allocation key for the caller (a client-wide key's is the client's, seen by none of its users)", "block trading",
              body=NewAllocationKey, response=AllocationKeyCreated, status=201, casing=PASCAL, creates_work=True,
              errors=(404, 409, 422), renamed=KEY_FIELDS),
    Operation("GET", "/trade/v1/allocationkeys", list_keys,
              "The client's allocation keys: Active ones unless Statuses asks for others", "block trading",
              response=AllocationKeyDetails, casing=PASCAL, paged=True, query=(STATUSES, *PAGING)),
    Operation("GET", "/trade/v1/allocationkeys/{allocation_key_id}", show_key,
              "An allocation key, whatever its status", "block trading",
              response=AllocationKeyDetails, casing=PASCAL, errors=(404,)),
    Operation("DELETE", "/trade/v1/allocationkeys/{allocation_key_id}", delete_key,
              "Invalidate an allocation key (it stays readable by id, and can no longer be used)", "block trading",
              response=AllocationKeyDetails, casing=PASCAL, errors=(404, 409)),
    Operation("GET", "/trade/v1/allocationkeys/{allocation_key_id}/distributions", preview,
              "How the key would distribute Amount, with the remainder (nothing is placed)", "block trading",
              response=DistributionPreview, casing=PASCAL, query=(AMOUNT, QUANTITY_STEP), errors=(404, 422),
              renamed=PREVIEW_PARAMETERS),
    Operation("POST", "/trade/v2/orders", place_block,
              "Place a block order with an allocation key; the market executes it and allocates it out",
              "block trading", body=NewBlockOrder, response=OrderPlaced, status=202, casing=PASCAL,
              creates_work=True, errors=(404, 409, 422), query=(EXPLAIN,), renamed=BLOCK_FIELDS),
    Operation("GET", "/trade/v2/orders/{order_id}", show_block,
              "A block order: its amount, what was filled, its key, and the orders it was allocated to",
              "block trading", response=BlockOrderDetails, casing=PASCAL, errors=(404,)),
    Operation("GET", "/port/v1/orders", list_orders,
              "The individual orders of an account (allocated ones with their block's CorrelationKey), and the "
              "blocks placed on it", "block trading",
              response=PortOrder, casing=PASCAL, paged=True, query=(ACCOUNT_KEY, *PAGING), errors=(404,)),
    Operation("GET", "/port/v1/positions", list_positions, "The positions of an account", "block trading",
              response=PortPosition, casing=PASCAL, paged=True, query=(ACCOUNT_KEY, *PAGING), errors=(404,)),
)  # fmt: skip
