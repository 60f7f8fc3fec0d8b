"""Portfolio orders, liquidations and individual orders, as the portfolio-order and account-liquidation documents
name them (snake_case, decimals as strings).

Each handler calls one use case with the caller's scope (and, for what creates work, the request's idempotency
key) and answers its result; every rule — who may name which user, what may be cancelled, which liquidation
belongs to which account — is the core's.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar, Final

import attrs

from core.errors import ValidationError
from core.instruments import AllocationLine
from core.portfolio import OrderType, Policy
from core.records import AccountLiquidation, Order, PortfolioOrder
from entrypoints.http.openapi import (
    POSITIVE,
    TEXT,
    Rules,
    checked,
    not_beyond_minor_units,
    one_required,
    same_if_both,
)
from entrypoints.http.routing import EXPLAIN, PAGING, Call, Operation, Param, Reply, as_json, page

# -- request bodies ---------------------------------------------------------------------------------------------


def not_of_type(*types: str) -> dict[str, Any]:
    """For the OpenAPI document: a portfolio order of none of ``types``, by its ``type`` and its ``side``."""
    others = [t.value for t in OrderType if t.value not in types]
    return {"properties": {field: {"enum": [*others, None]} for field in ("type", "side")}}


def of_type_giving(types: tuple[str, ...], *fields: str) -> dict[str, Any]:
    """For the OpenAPI document: a portfolio order of one of ``types`` (by its ``type`` or its ``side``) that gives
    one of ``fields`` (not null)."""
    return {"anyOf": [
        {"properties": {named: {"enum": list(types)}, field: {"not": {"type": "null"}}}, "required": [named, field]}
        for named in ("type", "side") for field in fields
    ]}  # fmt: skip


@attrs.frozen(kw_only=True)
class NewPortfolioOrder:
    """A portfolio order: BUY and REBALANCING over a model portfolio (``allocation_id``, its id or name) or over
    instrument weights given with the order (``allocation``), SELL of ``cash_amount`` pro rata to the holdings.
    ``user_id``, if given, must be the account's user; ``client_reference``, the caller's own reference. ``policy``: the share of NAV a sell may take (0.9), the cash
    a rebalancing keeps and its drift band. The order's type is ``type``, or ``side`` as the portfolio-order
    document names it (``"side": "SELL"``); ``currency``, if given, must be the account's."""

    account_id: str
    type: OrderType | None = None
    side: OrderType | None = None
    currency: str | None = None
    user_id: str | None = None
    cash_amount: Decimal | None = attrs.field(default=None, metadata=checked(POSITIVE))
    allocation_id: str | None = None
    allocation: tuple[AllocationLine, ...] | None = None
    policy: Policy = Policy()
    client_reference: str | None = attrs.field(default=None, metadata=checked(TEXT))
    openapi_rules: ClassVar[Rules] = (
        one_required("type", "side"),
        same_if_both("type", "side", [t.value for t in OrderType]),
        {"not": {"properties": {"allocation_id": {"type": "string"}, "allocation": {"type": "array"}},
                 "required": ["allocation_id", "allocation"]},
         "properties": {"allocation": {"minItems": 1}}},
        {"anyOf": [not_of_type("BUY", "REBALANCING"), one_required("allocation_id", "allocation")]},
        {"anyOf": [not_of_type("BUY", "SELL"), one_required("cash_amount")]},
        {"not": of_type_giving(("REBALANCING", "LIQUIDATION"), "cash_amount")},
        {"not": of_type_giving(("LIQUIDATION",), "allocation_id", "allocation")},
        # A currency given must be the account's: the cash amount has no more decimals than it has (and one not
        # given, the account's, no schema can know).
        not_beyond_minor_units("currency", "cash_amount"),
    )  # fmt: skip

    def __attrs_post_init__(self) -> None:
        if self.type is None and self.side is None:
            raise ValidationError(
                "give the order's type (or side): BUY, SELL, REBALANCING", {"field": "type"}
            )
        if self.type is not None and self.side is not None and self.type is not self.side:
            raise ValidationError(
                f"type {self.type.value} and side {self.side.value} disagree: give one of them",
                {"field": "side", "type": self.type.value, "side": self.side.value},
            )

    @property
    def order_type(self) -> OrderType:
        chosen = self.type or self.side
        assert chosen is not None  # refused when made
        return chosen


@attrs.frozen(kw_only=True)
class Requester:
    """Who asks (as the documents' platforms say): if given, the account's user."""

    user_id: str | None = None


# -- handlers ---------------------------------------------------------------------------------------------------


def place_order(call: Call) -> Reply:
    body: NewPortfolioOrder = call.body
    order = call.app.portfolio_orders.place(
        body.account_id,
        body.order_type,
        body.cash_amount,
        body.allocation_id,
        body.policy,
        call.idempotency_key,
        scope=call.scope,
        weights=body.allocation,
        user_id=body.user_id,
        client_reference=body.client_reference,
        currency=body.currency,
    )
    return Reply(202, as_json(order, explain=call.explain))


def show_order(call: Call) -> Reply:
    order = call.app.portfolio_orders.get(call.path["portfolio_order_id"], scope=call.scope)
    return Reply(200, as_json(order, explain=call.explain))


def list_orders(call: Call) -> Reply:
    state = call.one_of("state", STATE_NAMES)
    found = call.app.portfolio_orders.all(call.param("account_id"), state, scope=call.scope)
    return page(call, found, key=lambda o: o.id)


def cancel_order(call: Call) -> Reply:
    return Reply(
        200, as_json(call.app.portfolio_orders.cancel(call.path["portfolio_order_id"], scope=call.scope))
    )


def request_liquidation(call: Call) -> Reply:
    body: Requester = call.body
    order = call.app.portfolio_orders.place(
        call.path["account_id"],
        OrderType.LIQUIDATION,
        idempotency_key=call.idempotency_key,
        scope=call.scope,
        user_id=body.user_id,
    )
    return Reply(202, as_json(order, explain=call.explain))


def liquidate_account(call: Call) -> Reply:
    body: Requester = call.body
    liquidation = call.app.liquidations.create(
        call.path["account_id"], call.idempotency_key, scope=call.scope, user_id=body.user_id
    )
    return Reply(202, as_json(liquidation))


def show_liquidation(call: Call) -> Reply:
    liquidation = call.app.liquidations.get(
        call.path["liquidation_id"], scope=call.scope, account_id=call.path["account_id"]
    )
    return Reply(200, as_json(liquidation))


def show_individual_order(call: Call) -> Reply:
    return Reply(200, as_json(call.app.queries.order(call.path["order_id"], scope=call.scope)))


#: The states a portfolio order may be listed by (``?state=``).
STATE_NAMES: Final = ["NEW", "SUBMITTED", "PROCESSING", "FILLED", "CANCELLED"]
STATES: Final = {"type": "string", "enum": STATE_NAMES}

OPERATIONS: Final = (
    Operation("POST", "/portfolios/orders", place_order,
              "Place a portfolio order (BUY, SELL, REBALANCING); it is split into individual orders at once",
              "portfolio orders", body=NewPortfolioOrder, response=PortfolioOrder, status=202, creates_work=True,
              errors=(404, 409, 422), query=(EXPLAIN,)),
    Operation("GET", "/portfolios/orders", list_orders, "The caller's portfolio orders, oldest first",
              "portfolio orders", response=PortfolioOrder, paged=True, errors=(404,),
              query=(Param("account_id", "Only this account's (404 if the caller may not see the account)."),
                     Param("state", "Only those in this state.", schema=STATES), *PAGING)),
    Operation("GET", "/portfolios/orders/{portfolio_order_id}", show_order,
              "A portfolio order with its individual orders", "portfolio orders",
              response=PortfolioOrder, errors=(404,), query=(EXPLAIN,)),
    Operation("DELETE", "/portfolios/orders/{portfolio_order_id}", cancel_order,
              "Cancel a portfolio order (only while NEW or SUBMITTED) and its individual orders",
              "portfolio orders", response=PortfolioOrder, errors=(404, 409)),
    Operation("POST", "/portfolios/{account_id}/liquidation_request", request_liquidation,
              "Sell every position of the account in full: a LIQUIDATION portfolio order (its cash amount and "
              "management fee are known once every sell is filled)", "portfolio orders",
              body=Requester, response=PortfolioOrder, status=202, creates_work=True, errors=(404, 409, 422),
              query=(EXPLAIN,)),
    Operation("POST", "/accounts/{account_id}/liquidations", liquidate_account,
              "Liquidate an account: one unit sell per position (its cash amount is known once all are filled)",
              "liquidations", body=Requester, response=AccountLiquidation, status=202, creates_work=True,
              errors=(404, 409, 422)),
    Operation("GET", "/accounts/{account_id}/liquidations/{liquidation_id}", show_liquidation,
              "An account liquidation with its individual orders and, once filled, its cash amount",
              "liquidations", response=AccountLiquidation, errors=(404,)),
    Operation("GET", "/orders/{order_id}", show_individual_order,
              "An individual order; client_reference is the portfolio order or liquidation that made it",
              "orders", response=Order, errors=(404,)),
)  # fmt: skip
