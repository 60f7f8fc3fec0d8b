"""The journal and what holds money back, as pure functions: no storage, no clock."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import attrs
import pytest

from core import orders
from core.errors import InsufficientFunds, InsufficientPosition, ValidationError
from core.fills import CostSchedule
from core.instruments import Instrument, Position, Side
from core.journal import (
    FEE_INCOME,
    FUNDING,
    VENUE,
    Asset,
    Cause,
    CauseKind,
    JournalEntry,
    LedgerAccount,
    Posting,
    balances,
    post,
    postings_of,
    statement,
    transfer,
    verify,
)
from core.lifecycle import OrderState
from core.portfolio import OrderPlan, OrderType, PlannedOrder
from core.records import Account, Order, ParentKind

NOW = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)
EUR = Asset.cash("EUR")
X = Asset.units("X")
ACC = LedgerAccount.client("ACC")


def entry(entry_id: str, *postings: Posting, kind: CauseKind = CauseKind.FILL) -> JournalEntry:
    return JournalEntry(id=entry_id, at=NOW, cause=Cause(kind, "O1"), postings=postings)


def holder(cash: str = "100.00", units: str = "0", **changes: object) -> Account:
    positions = (Position("X", Decimal(units), "E0"),) if Decimal(units) else ()
    return Account("ACC", "EUR", {"EUR": Decimal(cash)}, positions, **changes)  # type: ignore[arg-type]


def test_an_entry_whose_postings_do_not_sum_to_zero_per_asset_is_refused() -> None:
    with pytest.raises(ValidationError, match="must balance"):
        entry("E1", Posting(FUNDING, EUR, Decimal("-10")), Posting(ACC, EUR, Decimal("9.99")))
    with pytest.raises(ValidationError, match="must balance"):
        entry("E1", Posting(VENUE, X, Decimal("-1")), Posting(ACC, EUR, Decimal("1")))


def test_posting_moves_the_accounts_cash_and_opens_a_position_named_by_the_entry() -> None:
    bought = post(
        holder(),
        entry("E7", *transfer(VENUE, ACC, X, Decimal(3)), *transfer(ACC, VENUE, EUR, Decimal("30.00"))),
    )
    assert bought.cash == {"EUR": Decimal("70.00")}
    assert bought.positions == (Position("X", Decimal(3), "E7"),)


def test_a_position_keeps_its_id_while_it_grows_and_disappears_when_closed() -> None:
    grown = post(
        holder(units="2"),
        entry("E8", *transfer(VENUE, ACC, X, Decimal(1)), *transfer(ACC, VENUE, EUR, Decimal(5))),
    )
    assert grown.positions == (Position("X", Decimal(3), "E0"),)
    closed = post(
        grown, entry("E9", *transfer(ACC, VENUE, X, Decimal(3)), *transfer(VENUE, ACC, EUR, Decimal(5)))
    )
    assert closed.positions == ()


def test_an_entry_may_not_take_an_accounts_cash_below_zero() -> None:
    with pytest.raises(InsufficientFunds, match=re.escape("has 100.00 EUR; 100.01 cannot be taken")):
        post(
            holder(), entry("E1", *transfer(ACC, FUNDING, EUR, Decimal("100.01")), kind=CauseKind.WITHDRAWAL)
        )
    assert post(holder(), entry("E1", *transfer(ACC, FUNDING, EUR, Decimal("100.00")))).cash == {
        "EUR": Decimal("0.00")
    }


def test_an_entry_may_not_take_an_accounts_units_below_zero() -> None:
    with pytest.raises(InsufficientPosition, match=re.escape("holds 2 X; 2.5 cannot be taken")):
        post(
            holder(units="2"),
            entry("E1", *transfer(ACC, VENUE, X, Decimal("2.5")), *transfer(VENUE, ACC, EUR, Decimal(1))),
        )


def test_verify_names_an_unbalanced_entry_an_asset_that_is_not_zero_and_a_cache_that_disagrees() -> None:
    deposit = entry("D1", *transfer(FUNDING, ACC, EUR, Decimal("100.00")), kind=CauseKind.DEPOSIT)
    assert verify(postings_of([deposit]), [holder()]).balanced
    damaged = [("D1", Posting(FUNDING, EUR, Decimal("-100.00"))), ("D1", Posting(ACC, EUR, Decimal("90.00")))]
    audit = verify(damaged, [holder()])
    assert [d.kind for d in audit.discrepancies] == ["UNBALANCED_ENTRY", "ASSET_NOT_ZERO", "CACHED_BALANCE"]
    assert "account ACC shows 100.00 EUR but its postings sum to 90.00" in audit.discrepancies[2].message
    assert (audit.entries, audit.ledger_accounts, audit.assets, audit.accounts, audit.balanced) == (
        1,
        2,
        1,
        1,
        False,
    )


def test_balances_list_the_house_first_and_a_statement_keeps_a_running_balance() -> None:
    journal = [
        entry("D1", *transfer(FUNDING, ACC, EUR, Decimal("100.00")), kind=CauseKind.DEPOSIT),
        entry("F1", *transfer(VENUE, ACC, X, Decimal(2)), *transfer(ACC, VENUE, EUR, Decimal("20.00")),
              *transfer(ACC, FEE_INCOME, EUR, Decimal("1.50"))),
    ]  # fmt: skip
    assert [(str(b.ledger), str(b.asset), b.amount) for b in balances(journal)] == [
        ("house:fee-income", "EUR", Decimal("1.50")),
        ("house:funding", "EUR", Decimal("-100.00")),
        ("house:venue", "EUR", Decimal("20.00")),
        ("house:venue", "X (units)", Decimal(-2)),
        ("ACC", "EUR", Decimal("78.50")),
        ("ACC", "X (units)", Decimal(2)),
    ]
    lines = statement(journal, ACC, asset="EUR")
    assert [(line.entry_id, line.amount, line.balance) for line in lines] == [
        ("D1", Decimal("100.00"), Decimal("100.00")),
        ("F1", Decimal("-21.50"), Decimal("78.50")),
    ]


def sell_plan(amount: str) -> OrderPlan:
    return OrderPlan(
        OrderType.SELL, "EUR", Decimal(amount), (PlannedOrder("X", Side.SELL, cash_amount=Decimal(amount)),)
    )


@pytest.mark.parametrize(
    ("amount", "held"),
    [("95.00", "10"), ("90.00", "9"), ("105.00", "10.5")],
    ids=["rounded up to the step", "exact", "capped at what the account holds"],
)
def test_a_cash_sell_holds_the_units_its_amount_sells_rounded_up_to_the_step_within_what_is_free(
    amount: str, held: str
) -> None:
    (order,) = orders.from_plan(
        sell_plan(amount), holder(units="10.5"), {"X": Instrument("X", Decimal(10))},
        ParentKind.PORTFOLIO_ORDER, "P", iter(["O1"]), NOW,
    )  # fmt: skip
    assert (order.held_cash, order.held_units) == (Decimal(0), Decimal(held))


def test_a_buy_holds_its_amount_and_the_costs_the_schedule_estimates() -> None:
    plan = OrderPlan(
        OrderType.BUY, "EUR", Decimal(50), (PlannedOrder("X", Side.BUY, cash_amount=Decimal("50.00")),)
    )
    costly = holder(costs=CostSchedule(commission_minimum=Decimal("2.50")))
    (order,) = orders.from_plan(
        plan, costly, {"X": Instrument("X", Decimal(10))}, ParentKind.PORTFOLIO_ORDER, "P", iter(["O1"]), NOW
    )
    assert (order.held_cash, order.held_units) == (Decimal("52.50"), Decimal(0))


def test_a_blocks_buy_holds_its_value_rounded_up_to_the_cent_and_its_estimated_costs() -> None:
    costly = holder(costs=CostSchedule(commission_minimum=Decimal("1.00")))
    order = orders.allocated("B", costly, Instrument("X", Decimal("1.0842")), Side.BUY, Decimal(3), "O1", NOW)
    # 3 × 1.0842 = 3.2526 → 3.26, and the minimum commission of 1.00
    assert (order.held_cash, order.held_units, order.correlation_key) == (Decimal("4.26"), Decimal(0), "B")
    sell = orders.allocated("B", costly, Instrument("X", Decimal("1.0842")), Side.SELL, Decimal(3), "O2", NOW)
    assert (sell.held_cash, sell.held_units) == (Decimal(0), Decimal(3))


def test_a_buy_whose_value_fits_but_not_with_its_costs_is_refused_naming_what_it_costs() -> None:
    order = Order(
        id="O1", account_id="ACC", instrument_id="X", side=Side.BUY, cash_amount=None, quantity=Decimal(10),
        state=OrderState.NEW, created_at=NOW, updated_at=NOW, held_cash=Decimal("100.00"),
    )  # fmt: skip
    costly = holder(
        reserved={"EUR": Decimal("100.00")}, costs=CostSchedule(commission_minimum=Decimal("5.00"))
    )
    with pytest.raises(InsufficientFunds, match=re.escape("buying 10 X costs 105.00")):
        orders.book(order, costly, Instrument("X", Decimal(10)), Decimal(10), Decimal(10), NOW, "E1")
    cheap = attrs.evolve(costly, costs=CostSchedule())
    assert orders.book(
        order, cheap, Instrument("X", Decimal(10)), Decimal(10), Decimal(10), NOW, "E1"
    ).account.cash == {"EUR": Decimal("0.00")}


def order_of(side: Side, **fields: object) -> Order:
    base: dict[str, object] = {
        "id": "O1", "account_id": "ACC", "instrument_id": "X", "side": side, "cash_amount": None,
        "quantity": None, "state": OrderState.PROCESSING, "created_at": NOW, "updated_at": NOW,
    }  # fmt: skip
    return Order(**(base | fields))  # type: ignore[arg-type]


def test_a_cash_buy_may_still_trade_for_its_amount_less_what_its_fills_traded_and_never_below_zero() -> None:
    assert orders.unspent(
        order_of(Side.BUY, cash_amount=Decimal("100.00"), traded_value=Decimal("30.25"))
    ) == Decimal("69.75")
    assert orders.unspent(
        order_of(Side.BUY, cash_amount=Decimal("100.00"), traded_value=Decimal("100.01"))
    ) == Decimal(0)
    assert orders.unspent(order_of(Side.BUY, quantity=Decimal(5))) == Decimal(0)
    assert orders.unspent(order_of(Side.SELL, cash_amount=Decimal("100.00"))) == Decimal(0)


def test_a_sell_may_sell_exactly_every_unit_it_holds_back() -> None:
    sell = order_of(Side.SELL, quantity=Decimal(4), held_units=Decimal(4))
    account = holder(cash="0.00", units="4", held_units={"X": Decimal(4)})
    booked = orders.book(sell, account, Instrument("X", Decimal(10)), Decimal(4), Decimal(10), NOW, "E1")
    assert booked.account.cash == {"EUR": Decimal("40.00")}
    assert booked.account.quantity_of("X") == 0
    with pytest.raises(InsufficientPosition) as refused:
        orders.book(sell, account, Instrument("X", Decimal(10)), Decimal("4.5"), Decimal(10), NOW, "E1")
    assert refused.value.details == {"account_id": "ACC", "instrument_id": "X", "requested": "4.5"}
