"""Reads across aggregates: committed events, journal entries, individual orders."""

from __future__ import annotations

from core.journal import JournalEntry, LedgerAccount
from core.records import Event, Order
from core.tenants import OPERATOR, Scope
from core.webhooks import EventQuery, feed_of
from ports.driven import UnitOfWork
from ports.use_cases import UseCases, list_visible, require_visible, transaction


class Queries(UseCases):
    @transaction
    def events(
        self, uow: UnitOfWork, query: EventQuery = EventQuery(), scope: Scope = OPERATOR
    ) -> list[tuple[int, Event]]:
        """Committed events the caller may see, with their sequence numbers, in commit order."""
        return uow.outbox.list(feed_of(query, scope))

    @transaction
    def journal(self, uow: UnitOfWork, ledger: LedgerAccount | None = None) -> list[JournalEntry]:
        """Journal entries in the order they were made: all, or those with a posting to ``ledger``."""
        return uow.journal.entries(ledger)

    @transaction
    def order(self, uow: UnitOfWork, order_id: str, scope: Scope = OPERATOR) -> Order:
        return require_visible(uow.orders, order_id, "order", scope)

    @transaction
    def orders(
        self,
        uow: UnitOfWork,
        account_id: str | None = None,
        state: str | None = None,
        parent_order_id: str | None = None,
        scope: Scope = OPERATOR,
    ) -> list[Order]:
        """Individual orders, all or those of one account, in one state, of one parent (oldest first)."""
        where = {"account_id": account_id, "state": state, "parent_order_id": parent_order_id}
        return list_visible(uow.orders, scope, **{k: v for k, v in where.items() if v is not None})

    @transaction
    def account_orders(self, uow: UnitOfWork, account_id: str, scope: Scope = OPERATOR) -> list[Order]:
        """The individual orders of one account the caller may see (oldest first); an account the caller may not
        see is ``NotFound``, like a missing one."""
        account = require_visible(uow.accounts, account_id, "account", scope)
        return list_visible(uow.orders, scope, account_id=account.id)
