"""The ledger: statements, balances, and the check that every cent and every share is accounted for."""

from __future__ import annotations

from core import journal
from core.journal import Audit, Balance, LedgerAccount, StatementLine
from ports.driven import UnitOfWork
from ports.use_cases import UseCases, require, transaction


class Ledger(UseCases):
    @transaction
    def statement(self, uow: UnitOfWork, account_id: str, asset: str | None = None) -> list[StatementLine]:
        """An account's journal entries, oldest first, with running balances (of one asset if asked)."""
        account = require(uow.accounts, account_id, "account")
        ledger = LedgerAccount.client(account.id)
        return journal.statement(uow.journal.entries(ledger), ledger, asset)

    @transaction
    def balances(self, uow: UnitOfWork) -> list[Balance]:
        """Every ledger account's balance of every asset, house accounts included."""
        return journal.balances(uow.journal.entries())

    @transaction
    def verify(self, uow: UnitOfWork) -> Audit:
        """Every entry balances, every asset sums to zero, every cached balance equals its postings: what was
        checked and what does not hold (nothing when all is well)."""
        return journal.verify(uow.journal.postings(), uow.accounts.list())
