"""A Hypothesis state machine for copy trading: three followers (one whose suitability is too low) start, fund,
withdraw from and stop investments in one leader, which rebalances to random weights, while prices move, the clock
moves on and the market runs, on the in-memory application with a back office that fails some steps first.

After every step it checks, from its own record of what it paid in and from the seed's table of sub-states: the
books verify; the money and the units in all accounts and house ledgers are those it deposited (money only enters
by deposits, units only come from the venue); no account holds less than nothing nor holds back more than it has;
every investment's process state is the one the seed gives its sub-state; a stopped investment's account holds no
cash; a refusal is an ``AllotError`` with a code and leaves the store exactly as it was.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from adapters.back_office import SimulatedBackOffice
from core.errors import AllotError
from core.instruments import AllocationLine, AssetType, Instrument
from core.investments import BackOfficeStep, Suitability
from core.journal import AssetKind
from tests.application.conftest import World
from tests.property.strategies import machine_settings

T = TypeVar("T")
ZERO = Decimal(0)
CENT = Decimal("0.01")

#: The seed's sub-states (``003``, "Investment States"): InvestmentStateId → (StateName, InvestmentProcessState).
SEED_SUB_STATES: dict[int, tuple[str, str]] = {
    **{i: (n, "PROCESSING") for i, n in (
        (1, "New"), (2, "Account creation in progress"), (3, "Account creation succeeded"),
        (5, "Funding in progress"), (6, "Funding succeeded"), (10, "Resurrected"),
        (11, "Funding pre-check in progress"), (12, "Funding pre-check succeeded"), (16, "Funding skipped"),
        (17, "Account creation entry"), (18, "Funding entry"), (19, "Funding post-check in progress"),
        (20, "Funding post-check succeeded"), (22, "Funding pre-check entry"), (24, "Funding post-check entry"),
        (100, "FeeProfile assign entry"), (101, "FeeProfile assign in progress"),
        (102, "FeeProfile assign succeeded"), (105, "FeeProfile assign skipped"), (106, "FeeProfile assign pending"),
        (200, "FeeProfile unassign entry"), (201, "FeeProfile unassign in progress"),
        (206, "FeeProfile unassign pending"),
    )},
    **{i: (n, "RETRY") for i, n in (
        (7, "Funding failed"), (13, "Funding pre-check failed"), (21, "Funding post-check failed"),
        (103, "FeeProfile assign failed"), (203, "FeeProfile unassign failed"),
    )},
    **{i: (n, "ERROR") for i, n in (
        (4, "Account creation failed"), (14, "Funding exception"), (15, "Account creation exception"),
        (23, "Funding pre-check exception"), (25, "Funding post-check exception"),
        (104, "FeeProfile assign exception"), (204, "FeeProfile unassign exception"),
    )},
    31: ("Starting", "STARTING"),
    8: ("Ready", "ACTIVE"),
    **{i: (n, "STOPPING") for i, n in (
        (26, "Stopout margin limit"), (27, "Stopout protection limit"), (28, "Stopout non-specific"),
        (29, "Revoked terms and conditions"), (30, "Revoked suitability test"), (32, "Stopping"),
    )},
    **{i: (n, "STOPPED") for i, n in (
        (9, "Disabled"), (202, "FeeProfile unassign succeeded"), (205, "FeeProfile unassign skipped"),
    )},
}  # fmt: skip

#: Who follows: id and suitability level (the leader requires MEDIUM: "low" is always refused).
FOLLOWERS = (("high", Suitability.HIGH), ("medium", Suitability.MEDIUM), ("low", Suitability.LOW))
FOLLOWER_IDS = tuple(f for f, _ in FOLLOWERS)
OPENING_CASH = Decimal("5000.00")
INSTRUMENTS = ("AAA", "BBB", "CCC")

cents = st.integers(min_value=1, max_value=400_000).map(lambda c: Decimal(c) * CENT)
#: Mostly amounts a follower could mean; now and then one that is no amount of money at all.
amounts = st.one_of(cents, cents, cents, st.sampled_from([ZERO, Decimal("-1.00"), Decimal("0.001")]))
#: No shield, or one a price move can reach.
shields = st.one_of(
    st.none(), st.none(), st.integers(min_value=0, max_value=150_000).map(lambda c: Decimal(c) * CENT)
)
prices = st.integers(min_value=100, max_value=6_000).map(lambda c: Decimal(c) * CENT)


@st.composite
def weights(draw: st.DrawFn) -> list[AllocationLine]:
    """New weights for the leader: whole percentages summing to 100 over one to three instruments."""
    first = draw(st.integers(0, 100))
    second = draw(st.integers(0, 100 - first))
    shares = (first, second, 100 - first - second)
    return [AllocationLine(i, Decimal(s) / 100) for i, s in zip(INSTRUMENTS, shares, strict=True) if s]


class CopyTradingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.world = World("memory", Path(tempfile.gettempdir()) / "unused.db")
        office = SimulatedBackOffice(
            fail={BackOfficeStep.FUNDING: 1},
            pending={BackOfficeStep.ASSIGN_FEE_PROFILE: 1, BackOfficeStep.UNASSIGN_FEE_PROFILE: 1},
        )
        self.app = self.world.open(back_office=office)
        #: What the machine deposited (money enters no other way).
        self.deposited = ZERO
        #: The investments it started, by follower, newest last.
        self.investments: dict[str, list[str]] = defaultdict(list)
        for instrument_id, price, step in (
            ("AAA", "10.00", "1"),
            ("BBB", "20.00", "0.001"),
            ("CCC", "5.00", "1"),
        ):
            self.app.instruments.add(Instrument(instrument_id, Decimal(price), Decimal(step), currency="EUR"))
        self.app.leaders.create(
            "lead", "Lead", "EUR",
            [AllocationLine("AAA", Decimal("0.5")), AllocationLine("BBB", Decimal("0.3")),
             AllocationLine("CCC", Decimal("0.2"))],
            minimum_investment=Decimal("100.00"), required_suitability=Suitability.MEDIUM,
            service_fee_rate=Decimal("0.01"), fee_profile="select",
        )  # fmt: skip
        for follower_id, level in FOLLOWERS:
            self.app.accounts.open("EUR", OPENING_CASH, account_id=f"{follower_id}-cash")
            self.deposited += OPENING_CASH
            self.app.followers.set(
                follower_id, suitability=level, terms_accepted=True, asset_types=[AssetType.STOCK]
            )

    def teardown(self) -> None:
        self.world.close()

    # -- a refusal changes nothing ---------------------------------------------------------------------------

    def attempt(self, name: str, action: Callable[[], T]) -> T | None:
        """Do ``action``; if it is refused, the refusal has a code and the store is exactly as it was."""
        store = self.world.memory
        before = (store.tables, list(store.events), list(store.journal), dict(store.deliveries))
        try:
            done = action()
        except AllotError as error:
            assert error.code, error
            assert error.code != "INTERNAL_ERROR", error
            event(f"{name} refused: {error.code}")
            after = (store.tables, list(store.events), list(store.journal), dict(store.deliveries))
            assert after == before, f"{error.code} changed the store"
            return None
        event(f"{name} done")
        return done

    def latest(self, follower_id: str) -> str | None:
        started = self.investments[follower_id]
        return started[-1] if started else None

    @initialize(
        high=st.integers(min_value=100, max_value=4_000).map(Decimal),
        medium=st.integers(min_value=100, max_value=4_000).map(Decimal),
        shield=shields,
    )
    def following(self, high: Decimal, medium: Decimal, shield: Decimal | None) -> None:
        """Two followers start invested, so that rebalances, withdrawals, stops and the shield have something to
        work on (the back office fails the first funding once: it is retried)."""
        for follower_id, amount in (("high", high), ("medium", medium)):
            started = self.app.investments.start("lead", f"{follower_id}-cash", amount, follower_id=follower_id,
                                                 shield=shield if follower_id == "medium" else None)  # fmt: skip
            self.investments[follower_id].append(started.id)
        self.run_market_until_retries_are_due(15)

    # -- what followers, the leader and the market do --------------------------------------------------------

    @rule(
        follower_id=st.sampled_from(FOLLOWER_IDS),
        amount=amounts,
        shield=shields,
        close_positions=st.booleans(),
    )
    def start(self, follower_id: str, amount: Decimal, shield: Decimal | None, close_positions: bool) -> None:
        started = self.attempt(
            "start",
            lambda: self.app.investments.start(
                "lead", f"{follower_id}-cash", amount, follower_id=follower_id, shield=shield,
                close_positions=close_positions,
            )
        )  # fmt: skip
        if follower_id == "low":
            assert started is None, "a follower below the leader's suitability was let in"
        if started is not None:
            self.investments[follower_id].append(started.id)

    @rule(follower_id=st.sampled_from(FOLLOWER_IDS), amount=amounts)
    def fund(self, follower_id: str, amount: Decimal) -> None:
        investment_id = self.latest(follower_id)
        if investment_id is not None:
            self.attempt("fund", lambda: self.app.investments.fund(investment_id, amount))

    @rule(
        follower_id=st.sampled_from(FOLLOWER_IDS),
        how=st.sampled_from(["all", "half", "more", "given"]),
        amount=amounts,
    )
    def withdraw(self, follower_id: str, how: str, amount: Decimal) -> None:
        investment_id = self.latest(follower_id)
        if investment_id is None:
            return
        most = self.app.investments.max_withdrawal(investment_id)
        chosen = {"all": most, "half": (most / 2).quantize(CENT), "more": most + CENT, "given": amount}[how]
        self.attempt("withdraw", lambda: self.app.investments.withdraw(investment_id, chosen))

    @rule(lines=weights())
    def rebalance(self, lines: list[AllocationLine]) -> None:
        self.attempt("rebalance", lambda: self.app.leaders.rebalance("lead", lines))

    @rule(follower_id=st.sampled_from(FOLLOWER_IDS), close_positions=st.none() | st.booleans())
    def stop(self, follower_id: str, close_positions: bool | None) -> None:
        investment_id = self.latest(follower_id)
        if investment_id is not None:
            self.attempt("stop", lambda: self.app.investments.stop(investment_id, close_positions))

    @rule(instrument_id=st.sampled_from(INSTRUMENTS), price=prices)
    def move_price(self, instrument_id: str, price: Decimal) -> None:
        self.app.instruments.set_price(instrument_id, price)

    @rule(wait=st.sampled_from([0, 0, 5, 30, 600, 3600]))
    def run_market(self, wait: int) -> None:
        self.world.clock.advance(seconds=wait)
        result = self.app.market.run()
        assert result.failures == (), result.failures
        for moved in result.investments:
            event(f"an investment reached {moved.state_name}")
        if result.blocks:
            event("a leader block executed")

    @rule(runs=st.integers(min_value=1, max_value=20))
    def run_market_until_retries_are_due(self, runs: int) -> None:
        """Several market runs ten minutes apart: long enough for a failed step's next attempt to be due."""
        for _ in range(runs):
            self.run_market(600)

    # -- invariants ------------------------------------------------------------------------------------------

    @invariant()
    def the_books_verify(self) -> None:
        assert self.app.ledger.verify().discrepancies == ()

    @invariant()
    def money_and_units_are_only_what_was_deposited_and_traded(self) -> None:
        accounts = self.app.accounts.all()
        cash = sum((a.cash_in("EUR") for a in accounts), ZERO)
        units: dict[str, Decimal] = defaultdict(Decimal)
        for account in accounts:
            for position in account.positions:
                units[position.instrument_id] += position.quantity
        house: dict[tuple[str, str, AssetKind], Decimal] = defaultdict(Decimal)
        for balance in self.app.ledger.balances():
            if balance.ledger.is_house:
                house[(str(balance.ledger), balance.asset.code, balance.asset.kind)] += balance.amount
        assert house[("house:funding", "EUR", AssetKind.CASH)] == -self.deposited
        venue = house[("house:venue", "EUR", AssetKind.CASH)]
        fees = house[("house:fee-income", "EUR", AssetKind.CASH)]
        assert cash + venue + fees == self.deposited
        for instrument_id in INSTRUMENTS:
            assert units[instrument_id] + house[("house:venue", instrument_id, AssetKind.UNITS)] == 0

    @invariant()
    def no_account_holds_less_than_nothing(self) -> None:
        for account in self.app.accounts.all():
            assert account.cash_in("EUR") >= 0, account
            assert account.cash_in("EUR") - account.reserved_in("EUR") >= 0, account
            for position in account.positions:
                assert position.quantity >= 0, account
                assert account.held_of(position.instrument_id) <= position.quantity, account
            held = {i for i, q in account.held_units.items() if q}
            assert held <= {p.instrument_id for p in account.positions}, account

    @invariant()
    def every_process_state_is_the_one_the_seed_gives_its_sub_state(self) -> None:
        for view in self.app.investments.all():
            investment = view.investment
            name, process = SEED_SUB_STATES[investment.state.id]
            assert (investment.state.title, investment.process_state.value) == (name, process), investment

    @invariant()
    def a_stopped_investment_leaves_no_cash_in_its_account(self) -> None:
        for view in self.app.investments.all():
            investment = view.investment
            if investment.process_state.value == "STOPPED" and investment.account_id is not None:
                assert self.app.accounts.get(investment.account_id).cash_in("EUR") == 0, investment


CopyTradingMachine.TestCase.settings = machine_settings(300, 40)
test_copy_trading_keeps_the_books_and_the_lifecycle_straight = CopyTradingMachine.TestCase
