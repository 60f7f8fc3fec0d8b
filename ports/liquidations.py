"""Account liquidations: every position sold in full; cancelled only while NEW."""

from __future__ import annotations

from core import liquidations
from core.idempotency import check_key, fingerprint
from core.records import AccountLiquidation
from core.tenants import OPERATOR, Scope
from ports.driven import UnitOfWork
from ports.use_cases import UseCases, list_visible, require, require_all, require_visible, transaction


class Liquidations(UseCases):
    @transaction
    def create(
        self,
        uow: UnitOfWork,
        account_id: str,
        idempotency_key: str | None = None,
        scope: Scope = OPERATOR,
    ) -> AccountLiquidation:
        key = check_key(idempotency_key)
        request = fingerprint("account liquidation", account_id)
        replayed = self.replay(uow, key, request)
        if replayed is not None:
            return require(uow.liquidations, replayed, "account liquidation")
        account = require_visible(uow.accounts, account_id, "account", scope)
        instruments = require_all(uow.instruments, [p.instrument_id for p in account.positions])
        now = self.now()
        decision = liquidations.create(
            account, instruments, liquidation_id=self.new_id(), ids=self.fresh_ids(), now=now
        )
        self.remember(uow, key, request, decision.result.id)
        return self.save(uow, decision, now)

    @transaction
    def cancel(self, uow: UnitOfWork, liquidation_id: str, scope: Scope = OPERATOR) -> AccountLiquidation:
        liquidation = require_visible(uow.liquidations, liquidation_id, "account liquidation", scope)
        children = uow.orders.list(parent_order_id=liquidation.id)
        account = require(uow.accounts, liquidation.account_id, "account")
        now = self.now()
        return self.save(uow, liquidations.cancel(liquidation, children, account, now), now)

    @transaction
    def get(self, uow: UnitOfWork, liquidation_id: str, scope: Scope = OPERATOR) -> AccountLiquidation:
        return require_visible(uow.liquidations, liquidation_id, "account liquidation", scope)

    @transaction
    def all(
        self,
        uow: UnitOfWork,
        account_id: str | None = None,
        state: str | None = None,
        scope: Scope = OPERATOR,
    ) -> list[AccountLiquidation]:
        where = {k: v for k, v in (("account_id", account_id), ("state", state)) if v is not None}
        return list_visible(uow.liquidations, scope, **where)
