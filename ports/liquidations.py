"""Account liquidations: every position sold in full; cancelled only while NEW."""

from __future__ import annotations

from core import liquidations
from core.idempotency import check_key, fingerprint
from core.records import AccountLiquidation
from core.tenants import OPERATOR, Scope, named_owner
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
        user_id: str | None = None,
    ) -> AccountLiquidation:
        """Liquidate the account (``user_id``, if given, must be the account's user). Creating again with the same
        idempotency key returns the first liquidation."""
        key = check_key(idempotency_key)
        account = named_owner(require_visible(uow.accounts, account_id, "account", scope), user_id)
        request = fingerprint("account liquidation", account_id)
        replayed = self.replay(uow, key, request)
        if replayed is not None:
            return require(uow.liquidations, replayed, "account liquidation")
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
    def get(
        self, uow: UnitOfWork, liquidation_id: str, scope: Scope = OPERATOR, account_id: str | None = None
    ) -> AccountLiquidation:
        """A liquidation the caller may see; read under ``account_id``, only if it liquidates that account."""
        liquidation = require_visible(uow.liquidations, liquidation_id, "account liquidation", scope)
        return liquidation if account_id is None else liquidations.of_account(liquidation, account_id)

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
