"""Reads across aggregates: committed events, journal entries, individual orders, explanations."""

from __future__ import annotations

import attrs

from core import copy_trading
from core.errors import NotFound
from core.explain import Explanation
from core.journal import JournalEntry, LedgerAccount
from core.records import Event, Order, ParentKind
from core.tenants import OPERATOR, Scope, only_visible
from core.webhooks import EventQuery, feed_of
from ports.driven import UnitOfWork
from ports.use_cases import UseCases, list_visible, named_accounts, require, require_visible, transaction


@attrs.frozen
class Explained:
    """What an id names (a block order or a portfolio order) and the explanation recorded when it was decided:
    ``None`` for one that has none (decided before allot recorded them, a liquidation, a trade leader's block)."""

    kind: ParentKind
    id: str
    explanation: Explanation | None


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

    @transaction
    def explanation(self, uow: UnitOfWork, record_id: str, scope: Scope = OPERATOR) -> Explained:
        """How the block order or portfolio order ``record_id`` was split, as it was recorded when it was decided.
        An id that names neither (or one the caller may not see) is ``NotFound``."""
        block = uow.blocks.get(record_id)
        if block is not None and only_visible(scope, [block], named_accounts(uow, [block])):
            instrument = require(uow.instruments, block.instrument_id, "instrument")
            return Explained(
                ParentKind.BLOCK_ORDER, block.id, copy_trading.block_explanation(block, instrument)
            )
        order = uow.portfolio_orders.get(record_id)
        if order is not None and only_visible(scope, [order]):
            return Explained(ParentKind.PORTFOLIO_ORDER, order.id, order.explanation)
        raise NotFound(
            f"no block order or portfolio order has the id {record_id}",
            {"kind": "block order or portfolio order", "id": record_id},
        )
