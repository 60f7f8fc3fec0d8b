"""Reads across aggregates: committed events, journal entries, individual orders."""

from __future__ import annotations

from core.journal import JournalEntry, LedgerAccount
from core.records import Event, Order
from core.webhooks import EventQuery
from ports.driven import UnitOfWork
from ports.use_cases import UseCases, require, transaction


class Queries(UseCases):
    @transaction
    def events(self, uow: UnitOfWork, query: EventQuery = EventQuery()) -> list[tuple[int, Event]]:
        """Committed events with their sequence numbers, in commit order."""
        return uow.outbox.list(query)

    @transaction
    def journal(self, uow: UnitOfWork, ledger: LedgerAccount | None = None) -> list[JournalEntry]:
        """Journal entries in the order they were made: all, or those with a posting to ``ledger``."""
        return uow.journal.entries(ledger)

    @transaction
    def order(self, uow: UnitOfWork, order_id: str) -> Order:
        return require(uow.orders, order_id, "order")

    @transaction
    def orders(
        self,
        uow: UnitOfWork,
        account_id: str | None = None,
        state: str | None = None,
        parent_order_id: str | None = None,
    ) -> list[Order]:
        """Individual orders, all or those of one account, in one state, of one parent (oldest first)."""
        where = {"account_id": account_id, "state": state, "parent_order_id": parent_order_id}
        return uow.orders.list(**{k: v for k, v in where.items() if v is not None})
