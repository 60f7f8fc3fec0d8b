"""Trade leaders: created by the operator, shown to everyone, rebalanced onto their followers."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import attrs

from core import copy_trading
from core.copy_trading import FollowerBook, Performance
from core.instruments import AllocationLine
from core.investments import Suitability
from core.lifecycle import OPEN
from core.records import Account, TradeLeader
from core.tenants import OPERATOR, Scope, require_operator, shared_only
from ports.driven import UnitOfWork
from ports.use_cases import UseCases, require, require_all, transaction


@attrs.frozen
class LeaderView:
    """A leader as a follower reads it: its terms, top holdings and performance from the journal."""

    leader: TradeLeader
    top_holdings: tuple[AllocationLine, ...]
    performance: Performance
    followers: int
    #: Whether it has room for one more follower.
    open_for_followers: bool


def require_leader(uow: UnitOfWork, leader_id: str, scope: Scope = OPERATOR) -> TradeLeader:
    """The leader (every caller may read every leader: they are the operator's, shared with all)."""
    return require(uow.leaders, leader_id, "trade leader")


def follower_books(uow: UnitOfWork, leader: TradeLeader) -> tuple[list[FollowerBook], dict[str, Account]]:
    """The accounts a rebalance realigns: those of the leader's READY investments that wait for nothing, ranked
    by the order the investments started in."""
    books: list[FollowerBook] = []
    accounts: dict[str, Account] = {}
    for account_id, rank in copy_trading.to_realign(uow.investments.list(leader_id=leader.id)):
        account = require(uow.accounts, account_id, "account")
        accounts[account.id] = account
        books.append(copy_trading.book_of(account, rank))
    return books, accounts


def open_blocks(uow: UnitOfWork, leader: TradeLeader) -> int:
    return len(uow.blocks.ids(leader_id=leader.id, state=tuple(sorted(s.value for s in OPEN))))


class Leaders(UseCases):
    @transaction
    def create(
        self,
        uow: UnitOfWork,
        leader_id: str,
        name: str,
        currency: str,
        lines: Sequence[AllocationLine],
        *,
        minimum_investment: Decimal,
        required_suitability: Suitability,
        risk_level: int = 4,
        description: str | None = None,
        max_followers: int | None = None,
        max_invested: Decimal | None = None,
        service_fee_rate: Decimal = Decimal(0),
        fee_profile: str | None = None,
        scope: Scope = OPERATOR,
    ) -> TradeLeader:
        """A new trade leader over existing, priced instruments (the operator's)."""
        require_operator(scope)
        instruments = require_all(uow.instruments, [line.instrument_id for line in lines])
        decision = copy_trading.create_leader(
            leader_id, name, currency, lines, instruments,
            minimum_investment=minimum_investment, required_suitability=required_suitability,
            risk_level=risk_level, description=description, max_followers=max_followers,
            max_invested=max_invested, service_fee_rate=service_fee_rate, fee_profile=fee_profile,
            now=self.now(), existing=uow.leaders.get(leader_id),
        )  # fmt: skip
        return self.save(uow, decision, self.now())

    @transaction
    def all(self, uow: UnitOfWork, scope: Scope = OPERATOR) -> list[TradeLeader]:
        return shared_only(scope, uow.leaders.list())

    @transaction
    def show(self, uow: UnitOfWork, leader_id: str, scope: Scope = OPERATOR) -> LeaderView:
        leader = require_leader(uow, leader_id, scope)
        investments = uow.investments.list(leader_id=leader.id)
        account_ids = [i.account_id for i in investments if i.account_id is not None]
        accounts = [require(uow.accounts, a, "account") for a in account_ids]
        instruments = require_all(uow.instruments, copy_trading.instruments_of(leader.lines, accounts))
        live = [a for a, i in zip(accounts, [i for i in investments if i.account_id], strict=True)
                if i.process_state in copy_trading.LIVE]  # fmt: skip
        value = sum((copy_trading.equity(a, instruments) for a in live), Decimal(0))
        entries = [e for a in account_ids for e in uow.journal.entries(copy_trading.ledger_of(a))]
        return LeaderView(
            leader,
            copy_trading.top_holdings(leader),
            copy_trading.performance(entries, account_ids, value),
            copy_trading.capacity(investments).followers,
            copy_trading.open_for_followers(leader, investments),
        )

    @transaction
    def rebalance(
        self, uow: UnitOfWork, leader_id: str, lines: Sequence[AllocationLine] | None = None,
        scope: Scope = OPERATOR,
    ) -> TradeLeader:  # fmt: skip
        """The leader changes its weights (or keeps them) and realigns its followers: one block per instrument and
        side; the sells now, the buys once the sells are done (at a later market run)."""
        require_operator(scope)
        leader = require(uow.leaders, leader_id, "trade leader")
        books, accounts = follower_books(uow, leader)
        wanted = copy_trading.instruments_of([*leader.lines, *(lines or ())], list(accounts.values()))
        instruments = require_all(uow.instruments, wanted)
        now = self.now()
        decision = copy_trading.rebalance(
            leader, lines, books, accounts, instruments, open_blocks=open_blocks(uow, leader),
            ids=self.fresh_ids(), now=now,
        )  # fmt: skip
        return self.save(uow, decision, now)

    @transaction
    def place_buys(self, uow: UnitOfWork, leader_id: str) -> bool:
        """Once a rebalance's sells are done, place its buys; False while they are not done (or none is due)."""
        leader = require(uow.leaders, leader_id, "trade leader")
        if not copy_trading.buys_due(leader, open_blocks(uow, leader)):
            return False
        books, accounts = follower_books(uow, leader)
        instruments = require_all(
            uow.instruments, copy_trading.instruments_of(leader.lines, list(accounts.values()))
        )
        now = self.now()
        self.save(
            uow,
            copy_trading.buy_phase(leader, books, accounts, instruments, ids=self.fresh_ids(), now=now),
            now,
        )
        return True

    @transaction
    def rebalancing(self, uow: UnitOfWork) -> list[str]:
        """The leaders whose rebalance still has its buys to place."""
        return [leader.id for leader in copy_trading.rebalancing(uow.leaders.list())]
