"""Copy trading through the application, on the in-memory store and on SQLite: start, fund, rebalance, withdraw,
stop; the journal balances after each."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from adapters.back_office import SimulatedBackOffice
from core.errors import AccountManaged, AllotError
from core.instruments import AllocationLine, AssetType, Instrument
from core.investments import BackOfficeStep, InvestmentState, ProcessState, Suitability
from core.keys import AllocationKey, MarginHandling, Participant, UnitType
from core.lifecycle import OrderState
from core.portfolio import OrderType
from ports.application import Application
from tests.application.conftest import World

D = Decimal


def setup(app: Application) -> None:
    app.instruments.add(Instrument("AAA", D("10.00")))
    app.instruments.add(Instrument("BBB", D("20.00")))
    app.leaders.create(
        "growth", "Growth", "EUR", [AllocationLine("AAA", D("0.6")), AllocationLine("BBB", D("0.4"))],
        minimum_investment=D("500.00"), required_suitability=Suitability.MEDIUM, service_fee_rate=D("0.01"),
        fee_profile="select",
    )  # fmt: skip
    for name, level in (("f1", Suitability.HIGH), ("f2", Suitability.MEDIUM)):
        app.accounts.open("EUR", D("5000.00"), account_id=f"{name}-cash")
        app.followers.set(name, suitability=level, terms_accepted=True, asset_types=[AssetType.STOCK])


def run_until_still(app: Application, runs: int = 20) -> None:
    for _ in range(runs):
        result = app.market.run()
        if not (result.orders or result.blocks or result.investments or result.rebalanced):
            return


def test_an_investment_goes_from_new_to_ready_and_replicates_the_leader(world: World) -> None:
    app = world.open()
    setup(app)
    investment = app.investments.start("growth", "f1-cash", D("1000.00"), follower_id="f1")
    assert investment.state == InvestmentState.NEW
    run_until_still(app)
    ready = app.investments.get(investment.id)
    assert (ready.state, ready.process_state) == (InvestmentState.READY, ProcessState.ACTIVE)
    assert ready.account_id is not None
    account = app.accounts.get(ready.account_id)
    assert {"AAA": D(60), "BBB": D(20)} == {p.instrument_id: p.quantity for p in account.positions}
    assert D("4000.00") == app.accounts.get("f1-cash").cash_in("EUR")
    assert app.ledger.verify().discrepancies == ()


def test_a_failed_funding_is_retried_on_the_schedule_and_then_succeeds(world: World) -> None:
    app = world.open(back_office=SimulatedBackOffice(fail={BackOfficeStep.FUNDING: 1}))
    setup(app)
    investment = app.investments.start("growth", "f1-cash", D("1000.00"), follower_id="f1")
    for _ in range(4):  # creation is asked in the 2nd run, the pre-check in the 3rd, the funding in the 4th
        app.market.run()
    failed = app.investments.get(investment.id)
    assert (
        failed.state, failed.process_state, failed.attempts,
    ) == (InvestmentState.FUNDING_FAILED, ProcessState.RETRY, 1)  # fmt: skip
    world.clock.advance(seconds=5)
    run_until_still(app)
    assert app.investments.get(investment.id).state == InvestmentState.READY


def test_a_leader_rebalance_sends_one_block_per_instrument_and_side_and_allocates_it_to_every_follower(
    world: World,
) -> None:
    app = world.open()
    setup(app)
    first = app.investments.start("growth", "f1-cash", D("1000.00"), follower_id="f1")
    second = app.investments.start("growth", "f2-cash", D("2000.00"), follower_id="f2")
    run_until_still(app)
    app.leaders.rebalance("growth", [AllocationLine("AAA", D("0.2")), AllocationLine("BBB", D("0.8"))])
    run_until_still(app)
    blocks = app.blocks.all()
    assert [(b.instrument_id, b.side.value) for b in blocks] == [("AAA", "SELL"), ("BBB", "BUY")]
    assert all(b.state is OrderState.FILLED for b in blocks)
    for investment, aaa, bbb in ((first, D(20), D(40)), (second, D(40), D(80))):
        account = app.accounts.get(app.investments.get(investment.id).account_id or "")
        assert {"AAA": aaa, "BBB": bbb} == {p.instrument_id: p.quantity for p in account.positions}
    assert app.ledger.verify().discrepancies == ()


def test_a_leader_rebalance_places_its_sells_first_and_its_buys_only_once_the_sells_are_filled(
    world: World,
) -> None:
    app = world.open()
    setup(app)
    app.investments.start("growth", "f1-cash", D("1000.00"), follower_id="f1")
    run_until_still(app)
    app.leaders.rebalance("growth", [AllocationLine("AAA", D("0.2")), AllocationLine("BBB", D("0.8"))])
    assert app.leaders.place_buys("growth") is False  # asked early: the sell is not done
    placed = app.blocks.all()
    assert [(b.instrument_id, b.side.value, b.state) for b in placed] == [("AAA", "SELL", OrderState.NEW)]
    run_until_still(app)
    blocks = app.blocks.all()
    assert [(b.instrument_id, b.side.value) for b in blocks] == [
        ("AAA", "SELL"),
        ("BBB", "BUY"),
    ]  # oldest first


def test_a_leader_blocks_explanation_says_how_its_traded_value_was_shared_over_the_followers(
    world: World,
) -> None:
    app = world.open()
    setup(app)
    app.investments.start("growth", "f1-cash", D("1000.00"), follower_id="f1")
    app.investments.start("growth", "f2-cash", D("2000.00"), follower_id="f2")
    run_until_still(app)
    app.leaders.rebalance("growth", [AllocationLine("AAA", D("0.2")), AllocationLine("BBB", D("0.8"))])
    run_until_still(app)
    block = app.blocks.all()[-1]
    explained = app.queries.explanation(block.id)
    assert explained.explanation is not None
    # Filled in full: each follower got what it asked for, and only the traded value was shared, by quantity.
    (values,) = explained.explanation.stages
    assert [line.claim for line in values.lines] == list(block.allocated)
    assert sum((line.share for line in values.lines), D(0)) == values.total


def test_a_withdrawal_sells_pro_rata_and_moves_the_cash_to_the_funding_account(world: World) -> None:
    app = world.open()
    setup(app)
    investment = app.investments.start("growth", "f1-cash", D("1000.00"), follower_id="f1")
    run_until_still(app)
    assert D("500.00") == app.investments.max_withdrawal(investment.id)
    with pytest.raises(AllotError) as refused:
        app.investments.withdraw(investment.id, D("500.01"))
    assert refused.value.code == "ABOVE_MAX_WITHDRAWAL"
    app.investments.withdraw(investment.id, D("300.00"))
    run_until_still(app)
    after = app.investments.get(investment.id)
    assert (D("300.00"), D(0)) == (after.withdrawn, after.pending_withdrawal)
    assert D("4300.00") == app.accounts.get("f1-cash").cash_in("EUR")
    assert app.ledger.verify().discrepancies == ()


def test_equity_below_the_shield_stops_the_investment_out_and_returns_the_money(world: World) -> None:
    app = world.open()
    setup(app)
    investment = app.investments.start(
        "growth", "f1-cash", D("1000.00"), follower_id="f1", shield=D("900.00")
    )
    run_until_still(app)
    app.instruments.set_price("AAA", D("5.00"))
    run_until_still(app)
    stopped = app.investments.get(investment.id)
    assert (stopped.state, stopped.process_state) == (InvestmentState.DISABLED, ProcessState.STOPPED)
    account = app.accounts.get(stopped.account_id or "")
    assert ((), D(0)) == (account.positions, account.cash_in("EUR"))
    assert app.accounts.get("f1-cash").cash_in("EUR") == D("4000.00") + D("700.00") - stopped.fees
    assert app.ledger.verify().discrepancies == ()


def test_a_rebalance_does_not_trip_the_shield_because_equity_counts_the_cash_the_sells_raised(
    world: World,
) -> None:
    app = world.open()
    setup(app)
    investment = app.investments.start(
        "growth", "f1-cash", D("1000.00"), follower_id="f1", shield=D("800.00")
    )
    run_until_still(app)
    app.leaders.rebalance("growth", [AllocationLine("AAA", D("0.3")), AllocationLine("BBB", D("0.7"))])
    run_until_still(app)
    assert app.investments.get(investment.id).state == InvestmentState.READY


def test_stopping_while_a_leader_block_trades_for_the_account_closes_everything_once_the_block_is_done(
    world: World,
) -> None:
    app = world.open()
    setup(app)
    investment = app.investments.start("growth", "f1-cash", D("1000.00"), follower_id="f1")
    run_until_still(app)
    app.leaders.rebalance("growth", [AllocationLine("AAA", D("0.3")), AllocationLine("BBB", D("0.7"))])
    app.market.run()  # the sells execute; the buys are placed
    app.investments.stop(investment.id)
    app.investments.advance(investment.id)  # a tick before the buy block has executed
    run_until_still(app)
    stopped = app.investments.get(investment.id)
    account = app.accounts.get(stopped.account_id or "")
    assert (InvestmentState.DISABLED, (), D(0)) == (stopped.state, account.positions, account.cash_in("EUR"))
    assert app.ledger.verify().discrepancies == ()


def test_terms_revoked_while_the_investment_is_starting_stop_it_out_once_it_is_ready(world: World) -> None:
    app = world.open()
    setup(app)
    investment = app.investments.start("growth", "f1-cash", D("1000.00"), follower_id="f1")
    app.market.run()
    app.followers.set("f1", terms_accepted=False)
    run_until_still(app)
    stopped = app.investments.get(investment.id)
    assert (stopped.state, stopped.stopped_at is not None) == (InvestmentState.DISABLED, True)


def test_an_instrument_in_another_currency_stops_neither_an_investment_nor_a_rebalance(world: World) -> None:
    app = world.open()
    setup(app)
    app.instruments.add(Instrument("EURUSD", D("1.08"), currency="USD"))
    investment = app.investments.start("growth", "f1-cash", D("1000.00"), follower_id="f1")
    run_until_still(app)
    assert app.investments.get(investment.id).state == InvestmentState.READY
    app.leaders.rebalance("growth", [AllocationLine("AAA", D("0.2")), AllocationLine("BBB", D("0.8"))])
    run_until_still(app)
    assert [b.state for b in app.blocks.all()] == [OrderState.FILLED, OrderState.FILLED]
    app.investments.withdraw(investment.id, D("300.00"))
    run_until_still(app)
    assert D("4300.00") == app.accounts.get("f1-cash").cash_in("EUR")


def test_a_price_move_between_the_sells_and_the_buys_of_a_rebalance_still_buys_with_the_cash_there_is(
    world: World,
) -> None:
    app = world.open()
    setup(app)
    investment = app.investments.start("growth", "f1-cash", D("1000.00"), follower_id="f1")
    run_until_still(app)
    app.leaders.rebalance("growth", [AllocationLine("AAA", D("0.2")), AllocationLine("BBB", D("0.8"))])
    world.open(partial_fill_ratio="0.5").market.run()  # 20 of the 40 AAA sold at 10.00
    app.instruments.set_price("AAA", D("15.00"))
    run_until_still(app)  # the other 20 at 15.00: 500.00 cash, and AAA is now above its weight again
    account = app.accounts.get(app.investments.get(investment.id).account_id or "")
    assert {"AAA": D(20), "BBB": D(45)} == {p.instrument_id: p.quantity for p in account.positions}
    assert D(0) == account.cash_in("EUR")
    assert app.ledger.verify().discrepancies == ()


def test_a_withdrawal_pays_out_exactly_what_was_asked_though_whole_shares_raise_a_little_more(
    world: World,
) -> None:
    app = world.open()
    setup(app)
    investment = app.investments.start("growth", "f1-cash", D("1000.00"), follower_id="f1")
    run_until_still(app)
    app.investments.withdraw(investment.id, D("333.33"))
    run_until_still(app)
    after = app.investments.get(investment.id)
    account = app.accounts.get(after.account_id or "")
    assert (after.withdrawn, app.accounts.get("f1-cash").cash_in("EUR")) == (D("333.33"), D("4333.33"))
    assert account.cash_in("EUR") == D("6.67")  # 20 AAA and 7 BBB raised 340.00
    assert app.ledger.verify().discrepancies == ()


def test_additional_funding_the_funding_account_cannot_cover_is_refused_and_nothing_is_left_pending(
    world: World,
) -> None:
    app = world.open()
    setup(app)
    investment = app.investments.start("growth", "f1-cash", D("1000.00"), follower_id="f1")
    run_until_still(app)
    with pytest.raises(AllotError) as refused:
        app.investments.fund(investment.id, D("99999999999.00"))
    assert refused.value.code == "INSUFFICIENT_FUNDS"
    assert app.investments.get(investment.id).pending_funding == D(0)


def test_additional_funding_whose_cash_leaves_before_it_moves_is_cancelled_not_kept_pending(
    world: World,
) -> None:
    app = world.open()
    setup(app)
    investment = app.investments.start("growth", "f1-cash", D("1000.00"), follower_id="f1")
    run_until_still(app)
    app.investments.fund(investment.id, D("500.00"))
    app.accounts.withdraw("f1-cash", D("4000.00"))
    run_until_still(app)
    after = app.investments.get(investment.id)
    assert (after.pending_funding, after.state) == (D(0), InvestmentState.READY)
    assert after.reason is not None
    assert app.ledger.verify().discrepancies == ()


def test_restarting_a_stopped_investment_is_refused_like_a_start_when_the_terms_were_revoked(
    world: World,
) -> None:
    app = world.open()
    setup(app)
    investment = app.investments.start("growth", "f1-cash", D("1000.00"), follower_id="f1")
    run_until_still(app)
    app.followers.set("f1", terms_accepted=False)
    run_until_still(app)
    assert app.investments.get(investment.id).state is InvestmentState.DISABLED
    with pytest.raises(AllotError) as refused:
        app.investments.resurrect(investment.id, D("1000.00"))
    assert refused.value.code == "TERMS_NOT_ACCEPTED"
    assert app.investments.get(investment.id).state is InvestmentState.DISABLED


def test_an_investment_whose_share_of_an_instrument_buys_less_than_one_step_becomes_active_with_that_cash_kept(
    world: World,
) -> None:
    app = world.open()
    app.instruments.add(Instrument("BBB", D("40.00"), D("0.01")))
    app.instruments.add(Instrument("AAA", D("100.00"), D("1")))
    app.leaders.create(
        "halves", "Halves", "EUR", [AllocationLine("BBB", D("0.5")), AllocationLine("AAA", D("0.5"))],
        minimum_investment=D("100.00"), required_suitability=Suitability.LOW,
    )  # fmt: skip
    app.accounts.open("EUR", D("1000.00"), account_id="f1-cash")
    app.followers.set("f1", suitability=Suitability.HIGH, terms_accepted=True, asset_types=[AssetType.STOCK])
    investment = app.investments.start("halves", "f1-cash", D("150.00"), follower_id="f1")
    run_until_still(app)
    ready = app.investments.get(investment.id)
    assert (ready.state, ready.process_state) == (InvestmentState.READY, ProcessState.ACTIVE)
    assert ready.account_id is not None
    account = app.accounts.get(ready.account_id)
    # BBB's half, 75.00, buys 1.87 at 40.00; AAA's half, 75.00, buys no whole share at 100.00 and stays cash
    assert {p.instrument_id: p.quantity for p in account.positions} == {"BBB": D("1.87")}
    assert account.cash_in("EUR") == D("150.00") - D("74.80")
    assert (ready.reason or "").startswith("75.20 EUR stays cash"), ready.reason
    placed = len(app.queries.orders(account_id=ready.account_id))
    for _ in range(3):
        app.market.run()
    assert len(app.queries.orders(account_id=ready.account_id)) == placed, "no order placed run after run"
    assert app.investments.get(investment.id).process_state is ProcessState.ACTIVE
    assert app.ledger.verify().discrepancies == ()


def ready_investment(app: Application) -> tuple[str, str]:
    """f1's investment in growth, Ready: its id and its account's."""
    setup(app)
    investment = app.investments.start("growth", "f1-cash", D("1000.00"), follower_id="f1")
    run_until_still(app)
    account_id = app.investments.get(investment.id).account_id
    assert account_id is not None
    return investment.id, account_id


def test_an_investments_account_moves_only_through_the_investment_and_its_owner_is_told_so(
    world: World,
) -> None:
    app = world.open()
    investment_id, account_id = ready_investment(app)
    before = (app.accounts.get(account_id), app.ledger.statement(account_id))
    attempts: dict[str, Callable[[], object]] = {
        "deposit": lambda: app.accounts.deposit(account_id, D("5000.00")),
        "withdrawal": lambda: app.accounts.withdraw(account_id, D("150.00")),
        "portfolio order": lambda: app.portfolio_orders.place(account_id, OrderType.SELL, D("100.00")),
        "account liquidation": lambda: app.liquidations.create(account_id),
        "closing": lambda: app.accounts.close(account_id),
        "funding from it": lambda: app.investments.fund(investment_id, D("100.00"), account_id),
        "a key naming it": lambda: app.keys.create(
            AllocationKey(
                "k",
                UnitType.UNIT,
                MarginHandling.REJECT,
                False,
                "f1-cash",
                "f2-cash",
                (Participant(account_id, D(1)),),
            )
        ),
    }
    for what, attempt in attempts.items():
        with pytest.raises(AccountManaged) as refused:
            attempt()
        assert refused.value.details == {"account_id": account_id, "investment_id": investment_id}, what
    assert (app.accounts.get(account_id), app.ledger.statement(account_id)) == before
    app.investments.withdraw(investment_id, D("100.00"))  # through the investment, within its maximum
    run_until_still(app)
    assert app.investments.get(investment_id).withdrawn == D("100.00")
    assert app.ledger.verify().discrepancies == ()
