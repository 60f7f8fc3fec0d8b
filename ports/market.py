"""The market: one run executes every open order and block once at the venue, each in its own transaction.

Anything that makes one execution impossible (the trading partner refuses it, an account no longer holds what a
sell needs) cancels that order or block with the reason; the run goes on with the others and reports all of it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from core import market
from core.errors import AllotError, NotFound, StorageError
from core.market import Executed, Failure, MarketRun, Quote
from core.records import AccountLiquidation, Order, ParentKind, ParentRecord, PortfolioOrder
from ports.driven import Repository, UnitOfWork
from ports.investments import Investments
from ports.leaders import Leaders
from ports.use_cases import UseCases, require, transaction

Progress = Callable[[int, int], None]

#: Where the parent of an individual order is stored, by kind (orders of a block move with their block).
PARENTS: Mapping[
    ParentKind, Callable[[UnitOfWork], Repository[PortfolioOrder] | Repository[AccountLiquidation]]
] = {
    ParentKind.PORTFOLIO_ORDER: lambda uow: uow.portfolio_orders,
    ParentKind.ACCOUNT_LIQUIDATION: lambda uow: uow.liquidations,
}


def parent_of(uow: UnitOfWork, order: Order) -> tuple[ParentRecord | None, list[Order]]:
    """The order's portfolio order or account liquidation, and all its orders in the order they were made."""
    if order.parent_kind is None or order.parent_order_id is None:
        return None, []
    parent = PARENTS[order.parent_kind](uow).get(order.parent_order_id)
    if parent is None:
        raise NotFound(
            f"the parent {order.parent_order_id} of order {order.id} does not exist", {"id": order.id}
        )
    return parent, uow.orders.list(parent_order_id=parent.id)


class Market(UseCases):
    def run(self, progress: Progress | None = None) -> MarketRun:
        """Execute every open order and block once; report what happened to each, and what could not be done.

        An order or block whose execution is refused (by the trading partner or by a rule of the core) is
        cancelled with the reason; one the store could not write is left as it was and listed as a failure."""
        order_ids, block_ids = self._due()
        total = len(order_ids) + len(block_ids)
        done: dict[str, list[Executed]] = {"orders": [], "blocks": []}
        failures: list[Failure] = []
        work: list[tuple[str, str, Callable[[str, str | None], Executed]]]
        work = [("orders", i, self._execute_order) for i in order_ids]
        work += [("blocks", i, self._execute_block) for i in block_ids]
        for count, (kind, record_id, execute) in enumerate(work, 1):
            try:
                done[kind].append(self._attempt(execute, record_id))
            except AllotError as error:
                failures.append(
                    Failure(record_id, error.code, error.message, isinstance(error, StorageError))
                )
            except Exception as error:  # one broken record must not stop the run for the others
                failures.append(Failure(record_id, "INTERNAL_ERROR", f"{type(error).__name__}: {error}"))
            if progress is not None:
                progress(count, total)
        rebalanced = self._place_buys(failures)
        moved, stuck = Investments(self.ports).advance_all()
        return MarketRun(
            tuple(done["orders"]),
            tuple(done["blocks"]),
            tuple(failures + stuck),
            tuple(moved),
            tuple(rebalanced),
        )

    def _place_buys(self, failures: list[Failure]) -> list[str]:
        """The leaders whose rebalance's sells are done place their buys (the buys execute at the next run)."""
        leaders = Leaders(self.ports)
        placed: list[str] = []
        for leader_id in leaders.rebalancing():
            try:
                if leaders.place_buys(leader_id):
                    placed.append(leader_id)
            except AllotError as error:
                failures.append(Failure(leader_id, error.code, error.message))
        return placed

    @staticmethod
    def _attempt(execute: Callable[[str, str | None], Executed], record_id: str) -> Executed:
        """Execute at the venue; if that is impossible, cancel with the reason (the core says which errors
        mean impossible), else let the error through."""
        try:
            return execute(record_id, None)
        except AllotError as error:
            reason = market.refusal(error)
            if reason is None:
                raise
            return execute(record_id, reason)

    @transaction
    def _due(self, uow: UnitOfWork) -> tuple[list[str], list[str]]:
        """The ids of what the run executes, oldest first (only ids: a record is read in its own transaction, so
        one that cannot be read fails alone)."""
        orders = uow.orders.ids(state=market.RUN_STATES, parent_kind=market.RUN_PARENTS)
        return orders, uow.blocks.ids(state=market.RUN_STATES)

    @transaction
    def _execute_order(self, uow: UnitOfWork, order_id: str, refusal: str | None) -> Executed:
        """Execute one order at the venue; with a ``refusal``, cancel it for that reason instead."""
        order = require(uow.orders, order_id, "order")
        account = require(uow.accounts, order.account_id, "account")
        instrument = require(uow.instruments, order.instrument_id, "instrument")
        parent, siblings = parent_of(uow, order)
        quote = (
            Quote.refused(refusal) if refusal is not None else self.ports.venue.quote(instrument, order.side)
        )
        now = self.now()
        request = market.order_request(order, account, instrument, quote, now.date())
        filled = self.ports.venue.fill(instrument, order.side, request)
        decision = market.execute_order(
            order, account, instrument, quote, filled, parent, siblings, ids=self.fresh_ids(), now=now
        )
        return self.save(uow, decision, now)

    @transaction
    def _execute_block(self, uow: UnitOfWork, block_id: str, refusal: str | None) -> Executed:
        """Execute what is left of a block and allocate it out; with a ``refusal``, cancel it instead."""
        block = require(uow.blocks, block_id, "block order")
        key = None if block.key_id is None else require(uow.keys, block.key_id, "allocation key").key
        instrument = require(uow.instruments, block.instrument_id, "instrument")
        accounts = {a: require(uow.accounts, a, "account") for a in block.recipients}
        children = uow.orders.list(parent_order_id=block.id)
        quote = (
            Quote.refused(refusal) if refusal is not None else self.ports.venue.quote(instrument, block.side)
        )
        now = self.now()
        request = market.block_request(block, instrument, quote, now.date())
        filled = self.ports.venue.fill(instrument, block.side, request)
        decision = market.execute_block(
            block, key, instrument, accounts, children, quote, filled, ids=self.fresh_ids(), now=now
        )
        return self.save(uow, decision, now)
