"""Accounts: open, deposit, withdraw, close, and read them with their value and available cash."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Protocol

from core import accounts
from core.accounts import AccountView
from core.decisions import Decision
from core.fills import CostSchedule
from core.idempotency import check_key, fingerprint
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


class CashMovement(Protocol):
    """A core rule that moves cash in or out of an account (``accounts.deposit``, ``accounts.withdraw``)."""

    __name__: str

    def __call__(
        self, account: Account, amount: Decimal, *, ids: Iterator[str], now: dt.datetime
    ) -> Decision[Account]: ...


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
        idempotency_key: str | None = None,
    ) -> Account:
        """Open an account (its id chosen, or a new one) for the caller; an id that exists is ``ALREADY_EXISTS``.
        Opening again with the same idempotency key and request returns the account the first opened."""
        key = check_key(idempotency_key)
        request = fingerprint("account", currency, cash, fee_schedule, costs, account_id)
        opened = self.done_before(uow, key, request, uow.accounts, "account")
        if opened is not None:
            return opened
        now = self.now()
        chosen = account_id if account_id is not None else self.new_id()
        partners = accounts_by_id(uow, error_account_partners(chosen)).values()
        decision = accounts.open_account(
            chosen, currency, cash, fee_schedule, costs, ids=self.fresh_ids(), now=now,
            owner=owner_for(scope, user_owned=True), partners=partners,
        )  # fmt: skip
        self.remember(uow, key, request, decision.result.id)
        return self.save(uow, decision, now)

    @transaction
    def deposit(
        self, uow: UnitOfWork, account_id: str, amount: Decimal, scope: Scope = OPERATOR,
        idempotency_key: str | None = None,
    ) -> Account:  # fmt: skip
        """Cash in, once per idempotency key: the same key and request again return the account."""
        return self._move_cash(uow, accounts.deposit, account_id, amount, scope, idempotency_key)

    @transaction
    def withdraw(
        self, uow: UnitOfWork, account_id: str, amount: Decimal, scope: Scope = OPERATOR,
        idempotency_key: str | None = None,
    ) -> Account:  # fmt: skip
        """Cash out, once per idempotency key: the same key and request again return the account."""
        return self._move_cash(uow, accounts.withdraw, account_id, amount, scope, idempotency_key)

    def _move_cash(
        self, uow: UnitOfWork, move: CashMovement, account_id: str, amount: Decimal, scope: Scope,
        idempotency_key: str | None,
    ) -> Account:  # fmt: skip
        account = require_visible(uow.accounts, account_id, "account", scope)
        key, request = check_key(idempotency_key), fingerprint(move.__name__, account_id, amount)
        if self.replay(uow, key, request) is not None:
            return account
        now = self.now()
        decision = move(account, amount, ids=self.fresh_ids(), now=now)
        self.remember(uow, key, request, account.id)
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
