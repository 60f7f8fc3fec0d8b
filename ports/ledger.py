"""The ledger: statements, balances, and the check that every cent and every share is accounted for."""

from __future__ import annotations

from core import journal
from core.journal import Asset, Audit, Balance, LedgerAccount, StatementLine
from ports.driven import UnitOfWork
from ports.use_cases import OPEN_STATES, UseCases, require, transaction


class Ledger(UseCases):
    @transaction
    def statement(self, uow: UnitOfWork, account_id: str, asset: str | None = None) -> list[StatementLine]:
        """An account's journal entries, oldest first, with running balances (of one asset if asked: a currency
        in any case or an instrument id; one the account has never held is ``NOT_FOUND``)."""
        account = require(uow.accounts, account_id, "account")
        ledger = LedgerAccount.client(account.id)
        return journal.statement(
            uow.journal.entries(ledger), ledger, asset, known=(Asset.cash(account.currency),)
        )

    @transaction
    def balances(self, uow: UnitOfWork) -> list[Balance]:
        """Every ledger account's balance of every asset, house accounts included."""
        return journal.balances(uow.journal.entries())

    @transaction
    def verify(self, uow: UnitOfWork) -> Audit:
        """Check the books as stored (``core.journal.verify``) against the accounts and their open orders: what
        was checked and what does not hold (nothing when all is well)."""
        return journal.verify(
            entries=uow.journal.entry_rows(),
            postings=uow.journal.postings(),
            accounts=uow.accounts.list(),
            orders=uow.orders.list(state=OPEN_STATES),
        )
