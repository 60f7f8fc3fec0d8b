"""Investments: a follower starts following a leader, funds, withdraws, stops; the market run ticks them on."""

from __future__ import annotations

from decimal import Decimal

import attrs

from core import copy_trading
from core.copy_trading import Situation
from core.errors import AllotError
from core.idempotency import check_key, fingerprint
from core.investments import InvestmentState, Outcome, ProcessState, Step
from core.lifecycle import ParentState
from core.market import Advanced, Failure
from core.records import Investment, TradeLeader
from core.tenants import OPERATOR, Scope, require_operator
from ports.driven import UnitOfWork
from ports.followers import follower_of
from ports.leaders import require_leader
from ports.use_cases import UseCases, list_visible, require, require_all, require_visible, transaction


@attrs.frozen
class InvestmentView:
    """An investment as its owner reads it: the record, what its account is worth, what may be withdrawn, and
    whether the follower may follow the leader and the leader has room."""

    investment: Investment
    leader: TradeLeader
    equity: Decimal
    max_withdrawal: Decimal
    authorized_to_follow: bool
    open_for_followers: bool


def _order_state(uow: UnitOfWork, investment: Investment) -> ParentState | None:
    if investment.order_id is None:
        return None
    found = uow.portfolio_orders.get(investment.order_id) or uow.liquidations.get(investment.order_id)
    return None if found is None else found.state


def _situation(uow: UnitOfWork, investment: Investment) -> Situation:
    leader = require(uow.leaders, investment.leader_id, "trade leader")
    account = (
        None if investment.account_id is None else require(uow.accounts, investment.account_id, "account")
    )
    return Situation(
        investment=investment,
        leader=leader,
        follower=uow.followers.get(investment.follower_id),
        funding_account=require(uow.accounts, investment.funding_account_id, "account"),
        account=account,
        instruments=require_all(uow.instruments, copy_trading.instruments_of(leader.lines, [account])),
        order_state=_order_state(uow, investment),
    )


#: ``shield`` left as it is.
UNCHANGED = "unchanged"


def _check_funding_account(
    uow: UnitOfWork, investment: Investment, funding_account_id: str | None, scope: Scope
) -> None:
    """Another funding account, if one is named: one the caller may see, the investment owner's, open, in its
    currency."""
    if funding_account_id is not None:
        account = require_visible(uow.accounts, funding_account_id, "account", scope)
        copy_trading.check_funding_account(account, investment, investment.currency)


def _context(
    uow: UnitOfWork, investment: Investment, funding_account_id: str | None
) -> copy_trading.FollowContext:
    """What new money in the investment is checked against, with what its own account still holds."""
    account = None if investment.account_id is None else uow.accounts.get(investment.account_id)
    held = [] if account is None else [p.instrument_id for p in account.positions]
    return copy_trading.FollowContext(
        leader=require(uow.leaders, investment.leader_id, "trade leader"),
        of_leader=uow.investments.list(leader_id=investment.leader_id),
        follower=uow.followers.get(investment.follower_id),
        funding_account=require(uow.accounts, funding_account_id or investment.funding_account_id, "account"),
        kept=copy_trading.equity(account, require_all(uow.instruments, held)),
    )


class Investments(UseCases):
    @transaction
    def start(
        self,
        uow: UnitOfWork,
        leader_id: str,
        funding_account_id: str,
        amount: Decimal,
        *,
        follower_id: str | None = None,
        shield: Decimal | None = None,
        close_positions: bool = True,
        idempotency_key: str | None = None,
        scope: Scope = OPERATOR,
    ) -> Investment:
        """Start following a leader with ``amount`` from the funding account: NEW, then the market runs take it
        through account creation, funding and the fee profile to ACTIVE. ``follower_id`` None: the caller's own."""
        key = check_key(idempotency_key)
        request = fingerprint(
            "investment", leader_id, funding_account_id, amount, follower_id, shield, close_positions
        )
        replayed = self.replay(uow, key, request)
        if replayed is not None:
            return require(uow.investments, replayed, "investment")
        leader = require_leader(uow, leader_id, scope)
        follower = (
            follower_of(uow, scope)
            if follower_id is None
            else require_visible(uow.followers, follower_id, "trade follower", scope)
        )
        if follower is None:
            follower = copy_trading.no_follower(scope.client_id, scope.user_id)
        funding = require_visible(uow.accounts, funding_account_id, "account", scope)
        now = self.now()
        decision = copy_trading.start(
            leader, follower, funding, uow.investments.list(leader_id=leader.id), amount,
            investment_id=self.new_id(), shield=shield, close_positions=close_positions, now=now,
        )  # fmt: skip
        self.remember(uow, key, request, decision.result.id)
        return self.save(uow, decision, now)

    @transaction
    def get(self, uow: UnitOfWork, investment_id: str, scope: Scope = OPERATOR) -> Investment:
        return require_visible(uow.investments, investment_id, "investment", scope)

    @transaction
    def show(self, uow: UnitOfWork, investment_id: str, scope: Scope = OPERATOR) -> InvestmentView:
        return self._view(uow, require_visible(uow.investments, investment_id, "investment", scope))

    @transaction
    def all(
        self, uow: UnitOfWork, scope: Scope = OPERATOR, leader_id: str | None = None,
        process_state: ProcessState | None = None,
    ) -> list[InvestmentView]:  # fmt: skip
        where: dict[str, str] = {}
        if leader_id is not None:
            where["leader_id"] = leader_id
        if process_state is not None:
            where["process_state"] = ProcessState(process_state).value
        return [self._view(uow, i) for i in list_visible(uow.investments, scope, **where)]

    def _view(self, uow: UnitOfWork, investment: Investment) -> InvestmentView:
        situation = _situation(uow, investment)
        leader, follower = situation.leader, situation.follower
        value = copy_trading.equity(situation.account, situation.instruments)
        others = uow.investments.list(leader_id=leader.id)
        return InvestmentView(
            investment,
            leader,
            value,
            copy_trading.maximum_withdrawal(investment, leader, situation.account, situation.instruments),
            copy_trading.authorized(leader, follower),
            copy_trading.open_for_followers(leader, others),
        )

    @transaction
    def stop(
        self,
        uow: UnitOfWork,
        investment_id: str,
        close_positions: bool | None = None,
        scope: Scope = OPERATOR,
    ) -> Investment:
        """Stop following the leader: STOPPING, then positions closed (if chosen), fee profile unassigned, STOPPED
        and the cash back on the funding account, over the next market runs."""
        investment = require_visible(uow.investments, investment_id, "investment", scope)
        now = self.now()
        return self.save(uow, copy_trading.stop(investment, now, close_positions), now)

    @transaction
    def stop_out(
        self, uow: UnitOfWork, investment_id: str, reason: Step, scope: Scope = OPERATOR
    ) -> Investment:
        """The operator stops an investment out (margin limit or non-specific); its positions are closed."""
        require_operator(scope)
        investment = require(uow.investments, investment_id, "investment")
        now = self.now()
        return self.save(uow, copy_trading.stop_out(investment, reason, now), now)

    @transaction
    def resurrect(
        self, uow: UnitOfWork, investment_id: str, amount: Decimal = Decimal(0), scope: Scope = OPERATOR
    ) -> Investment:
        investment = require_visible(uow.investments, investment_id, "investment", scope)
        now = self.now()
        context = _context(uow, investment, None)
        return self.save(uow, copy_trading.resurrect(investment, amount, now, context), now)

    @transaction
    def fund(
        self, uow: UnitOfWork, investment_id: str, amount: Decimal, funding_account_id: str | None = None,
        scope: Scope = OPERATOR,
    ) -> Investment:  # fmt: skip
        """Add ``amount`` (``PendingFunding``): moved from the funding account and invested at the next run."""
        investment = require_visible(uow.investments, investment_id, "investment", scope)
        _check_funding_account(uow, investment, funding_account_id, scope)
        now = self.now()
        context = _context(uow, investment, funding_account_id)
        return self.save(uow, copy_trading.fund(investment, amount, now, funding_account_id, context), now)

    @transaction
    def change(
        self,
        uow: UnitOfWork,
        investment_id: str,
        *,
        active: bool | None = None,
        close_positions: bool | None = None,
        shield: Decimal | str | None = UNCHANGED,
        funding: Decimal | None = None,
        funding_account_id: str | None = None,
        scope: Scope = OPERATOR,
    ) -> Investment:
        """Several changes at once, all or none (``core.copy_trading.change``): the shield, whether stopping closes
        the positions, additional funding, and stopping (``active`` false) or starting a stopped one again."""
        investment = require_visible(uow.investments, investment_id, "investment", scope)
        _check_funding_account(uow, investment, funding_account_id, scope)
        now = self.now()
        decision = copy_trading.change(
            investment, now, active=active, close_positions=close_positions, shield=shield, funding=funding,
            funding_account_id=funding_account_id, context=_context(uow, investment, funding_account_id),
        )  # fmt: skip
        return self.save(uow, decision, now)

    @transaction
    def set_shield(
        self, uow: UnitOfWork, investment_id: str, shield: Decimal | None, scope: Scope = OPERATOR
    ) -> Investment:
        investment = require_visible(uow.investments, investment_id, "investment", scope)
        now = self.now()
        return self.save(uow, copy_trading.set_shield(investment, shield, now), now)

    @transaction
    def max_withdrawal(self, uow: UnitOfWork, investment_id: str, scope: Scope = OPERATOR) -> Decimal:
        investment = require_visible(uow.investments, investment_id, "investment", scope)
        situation = _situation(uow, investment)
        return copy_trading.maximum_withdrawal(
            investment, situation.leader, situation.account, situation.instruments
        )

    @transaction
    def withdraw(
        self, uow: UnitOfWork, investment_id: str, amount: Decimal, scope: Scope = OPERATOR,
        idempotency_key: str | None = None,
    ) -> Investment:  # fmt: skip
        """Take ``amount`` out to the funding account (selling pro rata what cash does not cover)."""
        key = check_key(idempotency_key)
        request = fingerprint("withdrawal", investment_id, amount)
        replayed = self.replay(uow, key, request)
        if replayed is not None:
            return require(uow.investments, investment_id, "investment")
        investment = require_visible(uow.investments, investment_id, "investment", scope)
        situation = _situation(uow, investment)
        now = self.now()
        decision = copy_trading.withdraw(
            investment, situation.leader, situation.account, situation.funding_account, situation.instruments,
            amount, order_id=self.new_id(), ids=self.fresh_ids(), now=now,
        )  # fmt: skip
        self.remember(uow, key, request, investment.id)
        return self.save(uow, decision, now)

    # -- the worker: one tick per investment per market run

    @transaction
    def _due(self, uow: UnitOfWork) -> list[str]:
        return uow.investments.ids(state=copy_trading.TICKED_STATES)

    @transaction
    def _read(self, uow: UnitOfWork, investment_id: str) -> Investment:
        return require(uow.investments, investment_id, "investment")

    @transaction
    def _tick(
        self,
        uow: UnitOfWork,
        investment_id: str,
        seen: InvestmentState,
        outcome: Outcome | None,
        reason: str | None,
    ) -> Investment | None:
        investment = require(uow.investments, investment_id, "investment")
        now = self.now()
        decision = copy_trading.tick(
            _situation(uow, investment), outcome, reason=reason, asked_in=seen, ids=self.fresh_ids(), now=now
        )
        if not decision.changes.updated and not decision.changes.created:
            return None
        return self.save(uow, decision, now)

    def advance(self, investment_id: str) -> Investment | None:
        """One tick of one investment: the back-office step it is in (called outside any transaction), then the
        sub-states that need no one. None if nothing changed."""
        investment = self._read(investment_id)
        step = copy_trading.due_step(investment)
        outcome: Outcome | None = None
        reason: str | None = None
        if step is not None:
            try:
                outcome = self.ports.back_office.perform(step, investment)
            except (
                Exception
            ) as error:  # the back office raised: the step's ERROR sub-state, with what it said
                outcome, reason = Outcome.RAISED, f"{type(error).__name__}: {error}"
        return self._tick(investment_id, investment.state, outcome, reason)

    def advance_all(self) -> tuple[list[Advanced], list[Failure]]:
        """Tick every investment that is not stopped or blocked once; one that fails does not stop the others."""
        moved: list[Advanced] = []
        failures: list[Failure] = []
        for investment_id in self._due():
            try:
                after = self.advance(investment_id)
            except AllotError as error:
                failures.append(Failure(investment_id, error.code, error.message))
                continue
            except Exception as error:  # one broken record must not stop the run for the others
                failures.append(Failure(investment_id, "INTERNAL_ERROR", f"{type(error).__name__}: {error}"))
                continue
            if after is not None:
                moved.append(Advanced(after.id, after.state.id, after.state.title, after.process_state.value))
        return moved, failures
