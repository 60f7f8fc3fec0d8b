"""Account liquidations: every position sold in full; cancelled only while NEW."""

from __future__ import annotations

from core import liquidations
from core.idempotency import check_key, fingerprint
from core.records import AccountLiquidation
from ports.driven import UnitOfWork
from ports.use_cases import UseCases, require, require_all, transaction


class Liquidations(UseCases):
    @transaction
    def create(
        self, uow: UnitOfWork, account_id: str, idempotency_key: str | None = None
    ) -> AccountLiquidation:
        key = check_key(idempotency_key)
        request = fingerprint("account liquidation", account_id)
        replayed = self.replay(uow, key, request)
        if replayed is not None:
            return require(uow.liquidations, replayed, "account liquidation")
        account = require(uow.accounts, account_id, "account")
        instruments = require_all(uow.instruments, [p.instrument_id for p in account.positions])
        now = self.now()
        decision = liquidations.create(
            account, instruments, liquidation_id=self.new_id(), ids=self.fresh_ids(), now=now
        )
        self.remember(uow, key, request, decision.result.id)
        return self.save(uow, decision, now)

    @transaction
    def cancel(self, uow: UnitOfWork, liquidation_id: str) -> AccountLiquidation:
        liquidation = require(uow.liquidations, liquidation_id, "account liquidation")
        children = uow.orders.list(parent_order_id=liquidation.id)
        account = require(uow.accounts, liquidation.account_id, "account")
        now = self.now()
        return self.save(uow, liquidations.cancel(liquidation, children, account, now), now)

    @transaction
    def get(self, uow: UnitOfWork, liquidation_id: str) -> AccountLiquidation:
        return require(uow.liquidations, liquidation_id, "account liquidation")

    @transaction
    def all(
        self, uow: UnitOfWork, account_id: str | None = None, state: str | None = None
    ) -> list[AccountLiquidation]:
        where = {k: v for k, v in (("account_id", account_id), ("state", state)) if v is not None}
        return uow.liquidations.list(**where)
