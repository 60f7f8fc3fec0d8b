"""Portfolio orders: placed (split into individual orders at once), cancelled, read with their orders."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from core import portfolio_orders
from core.idempotency import check_key, fingerprint
from core.instruments import AllocationLine
from core.lifecycle import ParentState
from core.portfolio import OrderType, Policy
from core.records import Order, PortfolioOrder
from core.tenants import OPERATOR, Scope, named_owner
from ports.allocations import find_model
from ports.driven import UnitOfWork
from ports.use_cases import UseCases, list_visible, require, require_all, require_visible, transaction


class PortfolioOrders(UseCases):
    @transaction
    def place(
        self,
        uow: UnitOfWork,
        account_id: str,
        order_type: OrderType,
        cash_amount: Decimal | None = None,
        allocation: str | None = None,
        policy: Policy = Policy(),
        idempotency_key: str | None = None,
        scope: Scope = OPERATOR,
        weights: Sequence[AllocationLine] | None = None,
        user_id: str | None = None,
        client_reference: str | None = None,
        currency: str | None = None,
    ) -> PortfolioOrder:
        """Place a portfolio order over a model portfolio (``allocation``, its id or name) or over ``weights`` given
        with the order. ``user_id``, if given, must be the account's user. Placing again with the same idempotency
        key and request returns the first order."""
        key = check_key(idempotency_key)
        account = named_owner(require_visible(uow.accounts, account_id, "account", scope), user_id)
        model = find_model(uow, allocation, scope) if allocation is not None else None
        chosen = portfolio_orders.chosen_allocation(model, weights)
        model_id = model.id if model is not None else None
        ad_hoc = () if weights is None else (tuple(weights),)
        request = fingerprint(
            "portfolio order",
            account_id,
            order_type,
            cash_amount,
            model_id,
            policy,
            client_reference,
            *ad_hoc,
            *(() if currency is None else (currency,)),
        )
        replayed = self.replay(uow, key, request)
        if replayed is not None:
            return require(uow.portfolio_orders, replayed, "portfolio order")
        needed = portfolio_orders.instruments_needed(account, chosen)
        instruments = require_all(uow.instruments, needed)
        now = self.now()
        decision = portfolio_orders.place(
            account, order_type, cash_amount, chosen, policy, instruments,
            order_id=self.new_id(), ids=self.fresh_ids(), now=now, client_reference=client_reference,
            currency=currency,
        )  # fmt: skip
        self.remember(uow, key, request, decision.result.id)
        return self.save(uow, decision, now)

    @transaction
    def cancel(self, uow: UnitOfWork, order_id: str, scope: Scope = OPERATOR) -> PortfolioOrder:
        """The client cancels (only while NEW or SUBMITTED); its orders are cancelled with it."""
        order = require_visible(uow.portfolio_orders, order_id, "portfolio order", scope)
        children = uow.orders.list(parent_order_id=order.id)
        account = require(uow.accounts, order.account_id, "account")
        now = self.now()
        return self.save(uow, portfolio_orders.cancel(order, children, account, now), now)

    @transaction
    def get(self, uow: UnitOfWork, order_id: str, scope: Scope = OPERATOR) -> PortfolioOrder:
        return require_visible(uow.portfolio_orders, order_id, "portfolio order", scope)

    @transaction
    def find(self, uow: UnitOfWork, order_id: str) -> PortfolioOrder | None:
        return uow.portfolio_orders.get(order_id)

    @transaction
    def all(
        self,
        uow: UnitOfWork,
        account_id: str | None = None,
        state: str | None = None,
        scope: Scope = OPERATOR,
    ) -> list[PortfolioOrder]:
        """The portfolio orders the caller may see, of one account (which the caller must see) and in one state if
        asked, oldest first."""
        if account_id is not None:
            require_visible(uow.accounts, account_id, "account", scope)
        chosen_state = None if state is None else ParentState(state).value  # a state that is none: 400
        where = {k: v for k, v in (("account_id", account_id), ("state", chosen_state)) if v is not None}
        return list_visible(uow.portfolio_orders, scope, **where)

    @transaction
    def orders_of(self, uow: UnitOfWork, parent_id: str) -> list[Order]:
        """The individual orders a portfolio order, an account liquidation or a block order created."""
        return uow.orders.list(parent_order_id=parent_id)
