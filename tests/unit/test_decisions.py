"""The engine's decisions as pure functions: plain records in, a decision out, no storage, no clock, no ids."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import attrs
import pytest

from core import accounts, block_orders, liquidations, market, portfolio_orders
from core.blocks import PartialFillPolicy
from core.decisions import Changes, Decision
from core.errors import (
    AccountNotEmpty,
    ConcurrentUpdate,
    CurrencyMismatch,
    InsufficientFunds,
    InsufficientPosition,
    MarginRejected,
    NotFound,
    StorageError,
    ValidationError,
)
from core.fills import CostSchedule
from core.instruments import Allocation, AllocationLine, Instrument, Position, Side
from core.keys import AllocationKey, MarginHandling, Participant, UnitType
from core.lifecycle import KeyStatus, OrderState, ParentState
from core.market import Quote, RunOutcome
from core.portfolio import FeeSchedule, OrderType, Policy
from core.records import (
    Account,
    AccountLiquidation,
    BlockOrder,
    ModelPortfolio,
    Order,
    ParentKind,
    PortfolioOrder,
    StoredKey,
)

NOW = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)


def fresh() -> Iterator[str]:
    """A supply of new ids, as the application hands the core."""
    return (f"id-{n}" for n in itertools.count(1))


def account(
    account_id: str = "ACC", opening: str = "1000.00", currency: str = "EUR", **changes: Any
) -> Account:
    opened = accounts.open_account(
        account_id, currency, Decimal(opening), None, CostSchedule(), ids=fresh(), now=NOW
    ).result
    return attrs.evolve(opened, **changes)


def test_opening_cash_is_kept_with_the_currencys_minor_units() -> None:
    assert account(opening="10").cash == {"EUR": Decimal("10.00")}
    assert account(opening="10", currency="JPY").cash == {"JPY": Decimal("10")}


@pytest.mark.parametrize("cash", ["-5", "-0.01"])
def test_opening_cash_below_zero_is_refused(cash: str) -> None:
    with pytest.raises(ValidationError, match="cash must not be negative"):
        account(opening=cash)


def test_a_fee_last_charged_after_today_is_refused_when_the_account_is_opened() -> None:
    tomorrow = FeeSchedule(Decimal("0.02"), NOW.date() + dt.timedelta(days=1))
    with pytest.raises(ValidationError, match="cannot have been charged after today") as refused:
        accounts.open_account("F", "EUR", Decimal(0), tomorrow, CostSchedule(), ids=fresh(), now=NOW)
    assert refused.value.details == {"field": "fee_since", "fee_since": "2026-11-21", "today": "2026-11-20"}
    today = FeeSchedule(Decimal("0.02"), NOW.date())
    opened = accounts.open_account("F", "EUR", Decimal(0), today, CostSchedule(), ids=fresh(), now=NOW)
    assert opened.result.fee_schedule == today


def test_a_withdrawal_may_take_only_what_open_orders_do_not_hold_back() -> None:
    holding = account(reserved={"EUR": Decimal("600.00")})
    with pytest.raises(InsufficientFunds) as refused:
        accounts.withdraw(holding, Decimal("400.01"), ids=fresh(), now=NOW)
    assert refused.value.details["available"] == "400.00"
    assert accounts.withdraw(holding, Decimal("400"), ids=fresh(), now=NOW).result.cash == {
        "EUR": Decimal("600.00")
    }


@pytest.mark.parametrize(
    "changes",
    [
        {"positions": (Position("AAA", Decimal(1)),)},
        {"cash": {"EUR": Decimal("0.01")}},
        {"cash": {"EUR": Decimal(0)}, "reserved": {"EUR": Decimal("5.00")}},
    ],
)
def test_an_account_is_closed_only_once_it_holds_nothing(changes: dict[str, Any]) -> None:
    with pytest.raises(AccountNotEmpty):
        accounts.close(account(**changes), [])
    assert accounts.close(account(opening="0"), []).result.status.value == "CLOSED"


def test_an_account_that_cannot_be_closed_is_told_what_it_still_holds_and_what_to_do() -> None:
    busy = account(
        positions=(Position("AAA", Decimal(6)), Position("BBB", Decimal("2.5"))),
        reserved={"EUR": Decimal("150.00")},
        held_units={"AAA": Decimal(6)},
    )
    open_orders = [
        Order(
            id=order_id,
            account_id="ACC",
            instrument_id=instrument,
            side=side,
            cash_amount=None,
            quantity=Decimal(6),
            state=OrderState.NEW,
            created_at=NOW,
            updated_at=NOW,
        )
        for order_id, instrument, side in (("O1", "AAA", Side.SELL), ("O2", "BBB", Side.BUY))
    ]
    with pytest.raises(AccountNotEmpty) as refused:
        accounts.close(busy, open_orders)
    assert str(refused.value) == (
        "account ACC still holds cash 1000.00 EUR; positions 6 AAA, 2.5 BBB; 2 open orders (holding back "
        "150.00 EUR, 6 AAA): let the open orders finish or cancel them, liquidate the positions, and withdraw "
        "the cash before closing it"
    )
    assert refused.value.details["open_orders"] == ["O1", "O2"]
    with pytest.raises(AccountNotEmpty, match=r"^account ACC still holds 1 open order: let the open orders"):
        accounts.close(account(opening="0"), open_orders[:1])


def test_closing_an_empty_account_saves_it_closed_and_nothing_else() -> None:
    empty = account(opening="0")
    decision = accounts.close(empty, [])
    closed = attrs.evolve(empty, status=decision.result.status)
    assert decision == Decision(closed, Changes(updated=(closed,)))
    assert closed.status.value == "CLOSED"


def test_an_account_that_is_not_empty_says_exactly_what_it_still_holds() -> None:
    busy = account(
        positions=(Position("AAA", Decimal(3)),),
        cash={"EUR": Decimal("0.01")},
        reserved={"EUR": Decimal("5.00")},
        held_units={"AAA": Decimal(2)},
    )
    with pytest.raises(
        AccountNotEmpty, match=r"^account ACC still holds cash 0\.01 EUR; positions 3 AAA"
    ) as refused:
        accounts.close(busy, [])
    assert refused.value.details == {
        "account_id": "ACC",
        "positions": ["AAA"],
        "cash": {"EUR": "0.01"},
        "held_back": {"EUR": "5.00"},
        "held_units": {"AAA": "2"},
    }


def model() -> ModelPortfolio:
    return ModelPortfolio(
        "M", "growth", (AllocationLine("AAA", Decimal("0.5")), AllocationLine("BBB", Decimal("0.5")))
    )


def priced(currency: str | None = None) -> dict[str, Instrument]:
    return {i: Instrument(i, Decimal("10.00"), Decimal("0.01"), currency=currency) for i in ("AAA", "BBB")}


def place(
    owner: Account, amount: str = "100.00", instruments: dict[str, Instrument] | None = None
) -> PortfolioOrder:
    return portfolio_orders.place(
        owner, OrderType.BUY, Decimal(amount), model(), Policy(), instruments or priced(),
        order_id="P", ids=iter(["O1", "O2"]), now=NOW,
    ).result  # fmt: skip


def test_placing_holds_back_the_cash_the_buys_may_spend_and_links_the_orders_to_their_parent() -> None:
    decision = portfolio_orders.place(
        account(), OrderType.BUY, Decimal("100.00"), model(), Policy(), priced(),
        order_id="P", ids=iter(["O1", "O2"]), now=NOW,
    )  # fmt: skip
    children = [r for r in decision.changes.created if isinstance(r, Order)]
    assert {(o.parent_order_id, o.client_reference) for o in children} == {("P", "P")}
    held = next(r for r in decision.changes.updated if isinstance(r, Account))
    assert held.reserved == {"EUR": Decimal("100.00")}
    assert [a.type for a in decision.changes.announced] == [
        "PORTFOLIO_ORDER.NEW", "ORDER.NEW", "ORDER.NEW", "PORTFOLIO_ORDER.SUBMITTED",
    ]  # fmt: skip


def test_instruments_without_a_currency_take_the_accounts_and_are_stored_with_it() -> None:
    decision = portfolio_orders.place(
        account(), OrderType.BUY, Decimal("100.00"), model(), Policy(), priced(None),
        order_id="P", ids=iter(["O1", "O2"]), now=NOW,
    )  # fmt: skip
    adopted = [r for r in decision.changes.updated if isinstance(r, Instrument)]
    assert [(i.instrument_id, i.currency) for i in adopted] == [("AAA", "EUR"), ("BBB", "EUR")]


def test_an_instrument_in_another_currency_than_the_account_is_refused() -> None:
    with pytest.raises(CurrencyMismatch):
        place(account(), instruments=priced("USD"))


def key(*participants: Participant, error: str = "ERR") -> StoredKey:
    definition = AllocationKey("k", UnitType.UNIT, MarginHandling.REJECT, False, "BLK", error, participants)
    return StoredKey("K", definition, KeyStatus.ACTIVE, NOW)


def block_accounts(currency: str = "EUR", held: str = "0") -> dict[str, Account]:
    positions = (Position("X", Decimal(held)),) if Decimal(held) else ()
    return {
        a: account(a, "1000000", currency, positions=positions if a != "BLK" else ())
        for a in ("BLK", "ERR", "A1", "A2")
    }


def place_block(side: Side, amount: str, held: str = "0", currency: str = "EUR") -> Decision[BlockOrder]:
    return block_orders.place(
        key(Participant("A1", Decimal(10)), Participant("A2", Decimal(20))), block_accounts(currency, held),
        Instrument("X", Decimal("3.33")), side, Decimal(amount), PartialFillPolicy.PRO_RATA, block_id="B",
        ids=fresh(), now=NOW,
    )  # fmt: skip


@pytest.mark.parametrize("amount", ["0", "-5", "-30"])
def test_a_block_must_be_for_more_than_nothing(amount: str) -> None:
    with pytest.raises(ValidationError, match="greater than zero"):
        place_block(Side.BUY, amount)


def test_a_sell_block_is_refused_when_an_account_holds_less_than_its_part() -> None:
    with pytest.raises(InsufficientPosition) as refused:
        place_block(Side.SELL, "95", held="30")
    assert refused.value.details["accounts"] == [{"account_id": "A2", "to_sell": "60", "held": "30"}]
    assert place_block(Side.SELL, "90", held="60").result.state is OrderState.NEW


def test_a_block_in_yen_books_whole_yen_apportioned_over_the_accounts() -> None:
    placing = place_block(Side.BUY, "90", currency="JPY")
    placed = placing.result
    allocated = [r for r in placing.changes.created if isinstance(r, Order)]
    executed = block_orders.execute(
        placed, key(Participant("A1", Decimal(10)), Participant("A2", Decimal(20))).key, Instrument("X", Decimal("3.33"), currency="JPY"),
        block_accounts("JPY"), allocated, Decimal("3.33"), Decimal(90), ids=fresh(), now=NOW,
    )  # fmt: skip
    children = [r for r in executed.changes.updated if isinstance(r, Order)]
    # 90 × 3.33 = 299.7 → 300 yen, 30 : 60 → 100 and 200
    assert [(o.account_id, o.traded_value) for o in children] == [("A1", Decimal(100)), ("A2", Decimal(200))]


def test_an_error_account_that_is_also_a_participant_is_refused() -> None:
    with pytest.raises(ValidationError, match="error account A1 cannot also be a participant"):
        key(Participant("A1", Decimal(10)), error="A1")


def test_a_refused_quote_cancels_the_order_its_parent_and_its_open_siblings_and_frees_their_cash() -> None:
    owner = account()
    parent = place(owner)
    placed = portfolio_orders.place(
        owner,
        OrderType.BUY,
        Decimal("100.00"),
        model(),
        Policy(),
        priced("EUR"),
        order_id="P",
        ids=iter(["O1", "O2"]),
        now=NOW,
    )
    children = [r for r in placed.changes.created if isinstance(r, Order)]
    holding = next(r for r in placed.changes.updated if isinstance(r, Account))
    decision = market.execute_order(
        children[0],
        holding,
        priced("EUR")["AAA"],
        Quote.refused("closed today"),
        Decimal(0),
        parent,
        children,
        ids=fresh(),
        now=NOW,
    )
    assert (decision.result.outcome, decision.result.reason) == (RunOutcome.CANCELLED, "closed today")
    updated = decision.changes.updated
    assert {o.id: o.state for o in updated if isinstance(o, Order)} == {
        "O1": OrderState.CANCELLED,
        "O2": OrderState.CANCELLED,
    }
    assert [p.state for p in updated if isinstance(p, PortfolioOrder)] == [ParentState.CANCELLED]
    assert [a.reserved for a in updated if isinstance(a, Account)] == [{"EUR": Decimal("0.00")}]
    assert [a.type for a in decision.changes.announced] == [
        "ORDER.CANCELLED",
        "ORDER.CANCELLED",
        "PORTFOLIO_ORDER.CANCELLED",
    ]


def test_a_venue_that_fills_more_than_was_asked_is_not_believed() -> None:
    owner = account()
    parent = place(owner)
    order = Order(
        id="O1", account_id="ACC", instrument_id="AAA", side=Side.BUY, cash_amount=Decimal("50.00"), quantity=None,
        state=OrderState.NEW, created_at=NOW, updated_at=NOW, parent_kind=ParentKind.PORTFOLIO_ORDER,
        parent_order_id="P",
    )  # fmt: skip
    with pytest.raises(ValidationError, match="the venue filled 6"):
        market.execute_order(
            order,
            owner,
            priced("EUR")["AAA"],
            Quote(Decimal("10.00")),
            Decimal(6),
            parent,
            [order],
            ids=fresh(),
            now=NOW,
        )


def test_a_rule_that_makes_an_execution_impossible_cancels_it_but_a_storage_failure_does_not() -> None:
    assert market.refusal(InsufficientPosition("cannot sell 3 of X: the account holds 1")) == (
        "cannot sell 3 of X: the account holds 1"
    )
    assert market.refusal(StorageError("the disk is full")) is None
    assert market.refusal(ConcurrentUpdate("changed meanwhile")) is None


def test_an_order_allocated_out_of_a_block_is_not_executed_on_its_own() -> None:
    owner = account()
    child = Order(
        id="C1", account_id="ACC", instrument_id="AAA", side=Side.BUY, cash_amount=None, quantity=Decimal(1),
        state=OrderState.NEW, created_at=NOW, updated_at=NOW, parent_kind=ParentKind.BLOCK_ORDER, parent_order_id="B",
    )  # fmt: skip
    decision = market.execute_order(
        child, owner, priced("EUR")["AAA"], Quote(Decimal(10)), Decimal(0), None, [], ids=fresh(), now=NOW
    )
    assert (decision.result.outcome, decision.changes) == (RunOutcome.SKIPPED, Changes())


def test_a_buy_block_is_refused_when_an_account_cannot_cover_what_its_part_would_hold_back() -> None:
    accounts_ = block_accounts()
    accounts_["ERR"] = account("ERR", "0")  # the remainder goes to the error account, which has no cash
    accounts_["BLK"] = account(
        "BLK", "16.64"
    )  # and its block account, which pays what it cannot, a cent too little
    with pytest.raises(InsufficientFunds) as refused:
        block_orders.place(
            key(Participant("A1", Decimal(10)), Participant("A2", Decimal(20))), accounts_,
            Instrument("X", Decimal("3.33")), Side.BUY, Decimal(35), PartialFillPolicy.PRO_RATA, block_id="B",
            ids=fresh(), now=NOW,
        )  # fmt: skip
    # a UNIT key: 10 and 20 units to the participants, the 5 left over to the error account, 5 × 3.33 to hold back
    assert refused.value.details["accounts"] == [{"account_id": "ERR", "to_hold": "16.65", "free": "0.00"}]
    assert (
        "ERR needs 16.65 and has 0.00 (its block account BLK, which pays what its error account cannot, has 16.64)"
        in (refused.value.message)
    )


def test_a_buy_blocks_error_account_short_of_cash_is_paid_by_its_block_account_in_one_balanced_entry() -> (
    None
):
    accounts_ = block_accounts()
    accounts_["ERR"] = account("ERR", "6.65")
    accounts_["BLK"] = account("BLK", "10.00")
    decision = block_orders.place(
        key(Participant("A1", Decimal(10)), Participant("A2", Decimal(20))), accounts_,
        Instrument("X", Decimal("3.33")), Side.BUY, Decimal(35), PartialFillPolicy.PRO_RATA, block_id="B",
        ids=fresh(), now=NOW,
    )  # fmt: skip
    (entry,) = decision.changes.journaled
    assert (entry.cause.kind.value, entry.cause.id) == ("ERROR_ACCOUNT_FUNDING", "B")
    assert sorted((p.ledger.name, p.amount) for p in entry.postings) == [
        ("BLK", Decimal("-10.00")),
        ("ERR", Decimal("10.00")),
    ]
    stored = {a.id: a for a in decision.changes.updated if isinstance(a, Account)}
    assert (stored["BLK"].cash_in("EUR"), stored["ERR"].cash_in("EUR")) == (Decimal("0.00"), Decimal("16.65"))
    assert stored["ERR"].reserved_in("EUR") == Decimal("16.65")


# -- what a portfolio order is placed over ---------------------------------------------------------------------

HALVES = (AllocationLine("AAA", Decimal("0.5")), AllocationLine("BBB", Decimal("0.5")))


def test_an_order_is_placed_over_its_model_portfolio_or_over_the_weights_given_with_it() -> None:
    assert portfolio_orders.chosen_allocation(model(), None) == model()
    assert portfolio_orders.chosen_allocation(None, None) is None
    assert portfolio_orders.chosen_allocation(None, HALVES) == Allocation(HALVES)


def test_weights_given_with_a_model_portfolio_are_refused() -> None:
    with pytest.raises(ValidationError, match="not both"):
        portfolio_orders.chosen_allocation(model(), HALVES)


@pytest.mark.parametrize("weights", [(), (AllocationLine("AAA", Decimal("0.5")),)])
def test_weights_given_with_an_order_sum_to_one_like_a_models(weights: tuple[AllocationLine, ...]) -> None:
    with pytest.raises(ValidationError):
        portfolio_orders.chosen_allocation(None, weights)


def test_an_order_over_weights_names_no_model_portfolio_and_trades_the_weights() -> None:
    placed = portfolio_orders.place(
        account(), OrderType.BUY, Decimal("100.00"), Allocation(HALVES), Policy(), priced(),
        order_id="P", ids=iter(["O1", "O2"]), now=NOW,
    )  # fmt: skip
    assert placed.result.allocation_id is None
    children = [r for r in placed.changes.created if isinstance(r, Order)]
    assert [(o.instrument_id, o.cash_amount) for o in children] == [
        ("AAA", Decimal("50.00")), ("BBB", Decimal("50.00")),
    ]  # fmt: skip


def test_a_liquidation_read_under_another_account_does_not_exist() -> None:
    liquidation = AccountLiquidation("L", "ACC", "EUR", ParentState.NEW, NOW, NOW)
    assert liquidations.of_account(liquidation, "ACC") is liquidation
    with pytest.raises(NotFound, match="account liquidation L does not exist"):
        liquidations.of_account(liquidation, "ACC-2")


@pytest.mark.parametrize(("free", "placed"), [("33.30", True), ("33.29", False)])
def test_a_buy_block_is_placed_when_an_account_can_pay_exactly_for_its_part_and_refused_a_cent_short(
    free: str, placed: bool
) -> None:
    accounts_ = block_accounts()
    accounts_["A1"] = account("A1", free)  # 10 of X at 3.33
    place = functools.partial(
        block_orders.place, key(Participant("A1", Decimal(10)), Participant("A2", Decimal(20))), accounts_,
        Instrument("X", Decimal("3.33")), Side.BUY, Decimal(30), PartialFillPolicy.PRO_RATA, block_id="B",
        ids=fresh(), now=NOW,
    )  # fmt: skip
    if placed:
        held = {a.id: a.reserved_in("EUR") for a in place().changes.updated if isinstance(a, Account)}
        assert held["A1"] == Decimal("33.30")
    else:
        with pytest.raises(MarginRejected) as refused:  # the key's margin handling: REJECT
            place()
        assert "A1" in str(refused.value.details)
