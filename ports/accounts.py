"""Accounts: open, deposit, withdraw, close, and read them with their value and available cash."""

from __future__ import annotations

from decimal import Decimal

from core import accounts
from core.accounts import AccountView
from core.fills import CostSchedule
from core.keys import error_account_partners
from core.numbers import ZERO
from core.portfolio import FeeSchedule
from core.records import Account
from core.tenants import OPERATOR, Scope, owner_for
from ports.driven import UnitOfWork
from ports.use_cases import (
    OPEN_STATES,
    UseCases,
    accounts_by_id,
    list_visible,
    require,
    require_visible,
    transaction,
)


class Accounts(UseCases):
    @transaction
    def open(
        self,
        uow: UnitOfWork,
        currency: str,
        cash: Decimal = ZERO,
        fee_schedule: FeeSchedule | None = None,
        costs: CostSchedule = CostSchedule(),
        account_id: str | None = None,
        scope: Scope = OPERATOR,
    ) -> Account:
        """Open an account (its id chosen, or a new one) for the caller; an id that exists is ``ALREADY_EXISTS``."""
        now = self.now()
        chosen = account_id if account_id is not None else self.new_id()
        partners = accounts_by_id(uow, error_account_partners(chosen)).values()
        decision = accounts.open_account(
            chosen, currency, cash, fee_schedule, costs, ids=self.fresh_ids(), now=now,
            owner=owner_for(scope, user_owned=True), partners=partners,
        )  # fmt: skip
        return self.save(uow, decision, now)

    @transaction
    def deposit(self, uow: UnitOfWork, account_id: str, amount: Decimal, scope: Scope = OPERATOR) -> Account:
        now = self.now()
        decision = accounts.deposit(
            require_visible(uow.accounts, account_id, "account", scope), amount, ids=self.fresh_ids(), now=now
        )
        return self.save(uow, decision, now)

    @transaction
    def withdraw(self, uow: UnitOfWork, account_id: str, amount: Decimal, scope: Scope = OPERATOR) -> Account:
        now = self.now()
        decision = accounts.withdraw(
            require_visible(uow.accounts, account_id, "account", scope), amount, ids=self.fresh_ids(), now=now
        )
        return self.save(uow, decision, now)

    @transaction
    def close(self, uow: UnitOfWork, account_id: str) -> Account:
        account = require(uow.accounts, account_id, "account")
        decision = accounts.close(account, uow.orders.list(account_id=account.id, state=OPEN_STATES))
        return self.save(uow, decision, self.now())

    @transaction
    def show(self, uow: UnitOfWork, account_id: str, scope: Scope = OPERATOR) -> AccountView:
        """The account with the market value of its securities and the cash it may still spend."""
        account = require_visible(uow.accounts, account_id, "account", scope)
        held = {
            p.instrument_id: require(uow.instruments, p.instrument_id, "instrument")
            for p in account.positions
        }
        return accounts.view(account, held)

    @transaction
    def get(self, uow: UnitOfWork, account_id: str, scope: Scope = OPERATOR) -> Account:
        return require_visible(uow.accounts, account_id, "account", scope)

    @transaction
    def all(self, uow: UnitOfWork, scope: Scope = OPERATOR) -> list[Account]:
        return list_visible(uow.accounts, scope)
