"""The journal and what holds money back, as pure functions: no storage, no clock."""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_EVEN, Decimal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core import orders
from core.accounts import estimated_costs, reserve
from core.errors import InsufficientFunds, InsufficientPosition, NotFound, ValidationError
from core.fills import CostSchedule, Fill, price_fill
from core.instruments import Instrument, Position, Side
from core.journal import (
    FEE_INCOME,
    FUNDING,
    VENUE,
    Asset,
    Audit,
    Cause,
    CauseKind,
    EntryRow,
    JournalEntry,
    LedgerAccount,
    LedgerKind,
    Posting,
    balances,
    post,
    postings_of,
    rows_of,
    statement,
    transfer,
    verify,
)
from core.lifecycle import OrderState
from core.numbers import minor_unit
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
    assert books([deposit], [holder()]).balanced
    damaged = [("D1", Posting(FUNDING, EUR, Decimal("-100.00"))), ("D1", Posting(ACC, EUR, Decimal("90.00")))]
    audit = verify(entries=rows_of([deposit]), postings=damaged, accounts=[holder()], orders=[])
    assert [d.kind for d in audit.discrepancies] == ["UNBALANCED_ENTRY", "ASSET_NOT_ZERO", "CACHED_BALANCE"]
    assert "account ACC shows 100.00 EUR but its postings sum to 90.00" in audit.discrepancies[2].message
    assert (audit.entries, audit.ledger_accounts, audit.assets, audit.accounts, audit.balanced) == (
        1,
        2,
        1,
        1,
        False,
    )


def books(journal: list[JournalEntry], accounts: list[Account], open_orders: tuple[Order, ...] = ()) -> Audit:
    """``verify`` over entries as they were written."""
    return verify(
        entries=rows_of(journal), postings=postings_of(journal), accounts=accounts, orders=open_orders
    )


def test_verify_names_a_ledger_account_that_is_neither_an_allot_account_nor_one_of_the_houses() -> None:
    ghost, bogus = LedgerAccount.client("ghost"), LedgerAccount(LedgerKind.HOUSE, "bogus")
    journal = [
        entry("D1", *transfer(FUNDING, ACC, EUR, Decimal("100.00")), kind=CauseKind.DEPOSIT),
        entry("D2", *transfer(bogus, ghost, EUR, Decimal("5.00")), kind=CauseKind.DEPOSIT),
    ]
    audit = books(journal, [holder()])
    assert [(d.kind, d.message) for d in audit.discrepancies] == [
        (
            "UNKNOWN_LEDGER_ACCOUNT",
            "entry D2 posts to house:bogus, which is not one of the house ledger accounts",
        ),
        ("UNKNOWN_LEDGER_ACCOUNT", "entry D2 posts to ghost, which is not an allot account"),
    ]


def test_verify_names_a_client_balance_below_zero_but_not_a_house_one() -> None:
    journal = [
        entry("D1", *transfer(FUNDING, ACC, EUR, Decimal("100.00")), kind=CauseKind.DEPOSIT),
        entry("W1", *transfer(ACC, FUNDING, EUR, Decimal("100.01")), kind=CauseKind.WITHDRAWAL),
    ]
    audit = books(journal, [holder("-0.01")])
    assert [(d.kind, d.message) for d in audit.discrepancies] == [
        (
            "NEGATIVE_BALANCE",
            "client ACC holds -0.01 EUR by its postings, below zero",
        ),
    ]


def test_verify_names_an_entry_without_postings_a_posting_without_an_entry_and_an_unknown_cause() -> None:
    deposit = entry("D1", *transfer(FUNDING, ACC, EUR, Decimal("100.00")), kind=CauseKind.DEPOSIT)
    rows = [*rows_of([deposit]), EntryRow("E2", "FILL"), EntryRow("E3", "GIFT")]
    postings = [
        *postings_of([deposit]),
        ("E3", Posting(FUNDING, EUR, Decimal(-1))),
        ("E3", Posting(ACC, EUR, Decimal(1))),
    ]
    postings += [(None, Posting(ACC, EUR, Decimal(-1))), (None, Posting(FUNDING, EUR, Decimal(1)))]
    audit = verify(entries=rows, postings=postings, accounts=[holder()], orders=[])
    assert [(d.kind, d.message) for d in audit.discrepancies] == [
        ("EMPTY_ENTRY", "entry E2 has no postings"),
        ("UNKNOWN_CAUSE", "entry E3 was caused by GIFT, which is no cause allot knows"),
        ("ORPHAN_POSTING", "a posting of -1 EUR to ACC belongs to no journal entry: its entry is gone"),
        (
            "ORPHAN_POSTING",
            "a posting of 1 EUR to house:funding belongs to no journal entry: its entry is gone",
        ),
    ]
    assert audit.entries == 3


def open_order(
    order_id: str, *, cash: str = "0", units: str = "0", state: OrderState = OrderState.NEW
) -> Order:
    return Order(
        id=order_id, account_id="ACC", instrument_id="X", side=Side.SELL if Decimal(units) else Side.BUY,
        cash_amount=None, quantity=Decimal(1), state=state, created_at=NOW, updated_at=NOW,
        held_cash=Decimal(cash), held_units=Decimal(units),
    )  # fmt: skip


def test_verify_names_an_account_whose_holds_are_not_what_its_open_orders_hold() -> None:
    journal = [
        entry("D1", *transfer(FUNDING, ACC, EUR, Decimal("100.00")), kind=CauseKind.DEPOSIT),
        entry("F1", *transfer(VENUE, ACC, X, Decimal(5))),
    ]
    orders_ = (open_order("O1", cash="30.00"), open_order("O2", units="2"), open_order("O3", cash="20.00"))
    agreeing = holder(units="5", reserved={"EUR": Decimal("50.00")}, held_units={"X": Decimal(2)})
    audit = books(journal, [agreeing], orders_)
    assert audit.balanced, audit.discrepancies
    assert audit.orders == 3
    finished = (*orders_[:2], open_order("O3", cash="20.00", state=OrderState.FILLED))
    audit = books(journal, [agreeing], finished)
    assert [(d.kind, d.message) for d in audit.discrepancies] == [
        ("HELD_MISMATCH", "account ACC holds back 50.00 EUR but its open orders hold 30.00"),
    ]
    audit = books(journal, [attrs.evolve(agreeing, held_units={})], orders_)
    assert [(d.kind, d.message) for d in audit.discrepancies] == [
        ("HELD_MISMATCH", "account ACC holds back 0 X (units) but its open orders hold 2"),
    ]


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


def test_a_statement_takes_a_currency_in_any_case_and_an_instrument_id_as_written() -> None:
    journal = [
        entry("D1", *transfer(FUNDING, ACC, EUR, Decimal("100.00")), kind=CauseKind.DEPOSIT),
        entry("F1", *transfer(VENUE, ACC, X, Decimal(2)), *transfer(ACC, VENUE, EUR, Decimal("20.00"))),
    ]
    assert [line.entry_id for line in statement(journal, ACC, asset="eur")] == ["D1", "F1"]
    assert [line.asset for line in statement(journal, ACC, asset="X")] == [X]
    assert statement([], ACC, asset="eur", known=(EUR,)) == []


def test_a_statement_of_an_asset_the_account_has_never_held_is_not_found() -> None:
    journal = [entry("D1", *transfer(FUNDING, ACC, EUR, Decimal("100.00")), kind=CauseKind.DEPOSIT)]
    with pytest.raises(
        NotFound, match=re.escape("account ACC has never held XYZ: its statement has EUR")
    ) as caught:
        statement(journal, ACC, asset="XYZ")
    assert caught.value.details == {"kind": "asset", "id": "XYZ", "held": ["EUR"]}
    with pytest.raises(NotFound):
        statement(journal, ACC, asset="x")  # an instrument id is matched as written


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


@pytest.mark.parametrize(
    ("currency", "value", "held"), [("EUR", "3.25", "3.25"), ("JPY", "4", "4"), ("KWD", "1.5", "1.500")]
)
def test_an_account_without_costs_holds_back_a_buys_value_in_its_minor_units_and_nothing_more(
    currency: str, value: str, held: str
) -> None:
    free = Account("ACC", currency, {currency: Decimal(1000)})
    order = orders.allocated("B", free, Instrument("X", Decimal(value)), Side.BUY, Decimal(1), "O1", NOW)
    assert (str(order.held_cash), order.held_units) == (held, Decimal(0))
    assert str(estimated_costs(free, Decimal(value), Side.BUY)) == str(minor_unit(currency) * 0)


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


def test_a_buy_filled_in_parts_pays_the_commission_minimum_once_and_completes_within_its_hold() -> None:
    costly = holder(cash="1000.00", costs=CostSchedule(commission_minimum=Decimal("5.00")))
    order = Order(
        id="O1", account_id="ACC", instrument_id="X", side=Side.BUY, cash_amount=Decimal("995.00"), quantity=None,
        state=OrderState.NEW, created_at=NOW, updated_at=NOW, held_cash=Decimal("1000.00"),
    )  # fmt: skip
    holding = attrs.evolve(costly, reserved={"EUR": Decimal("1000.00")})
    instrument = Instrument("X", Decimal(10), Decimal("0.01"))
    first = orders.book(order, holding, instrument, Decimal("29.85"), Decimal(10), NOW, "E1")
    rest = orders.book(
        first.order,
        reserve(first.account, [order], [first.order]),
        instrument,
        Decimal("69.65"),
        Decimal(10),
        NOW,
        "E2",
    )
    assert (first.order.total_cost, rest.order.total_cost, rest.order.state) == (
        Decimal("5.00"), Decimal("5.00"), OrderState.FILLED,
    )  # fmt: skip
    assert rest.account.cash == {"EUR": Decimal("0.00")}


cost_schedules = st.builds(
    CostSchedule,
    commission_rate=st.decimals("0", "0.05", places=4),
    commission_minimum=st.decimals("0", "20", places=2),
    exchange_fee_rate=st.decimals("0", "0.01", places=4),
    stamp_duty_rate=st.decimals("0", "0.01", places=4),
)


@given(
    cost_schedules,
    st.lists(st.decimals("0.01", "100000", places=2), min_size=1, max_size=8),
    st.sampled_from(Side),
)
def test_the_costs_of_an_orders_fills_add_up_to_the_costs_of_one_fill_of_its_whole_value(
    schedule: CostSchedule, values: list[Decimal], side: Side
) -> None:
    charged = Decimal(0)
    traded = Decimal(0)
    for value in values:
        fill = Fill("O1", "ACC", Instrument("X"), side, Decimal(1), value, NOW, booked_value=value)
        _, costs = price_fill(fill, schedule, "EUR", traded)
        assert min(costs.commission, costs.exchange_fee, costs.stamp_duty) >= 0
        charged += costs.total
        traded += value
    commission = max(
        schedule.commission_minimum,
        (schedule.commission_rate * traded).quantize(Decimal("0.01"), ROUND_HALF_EVEN),
    )
    fee = (schedule.exchange_fee_rate * traded).quantize(Decimal("0.01"), ROUND_HALF_EVEN)
    duty = (
        (schedule.stamp_duty_rate * traded).quantize(Decimal("0.01"), ROUND_HALF_EVEN)
        if side is Side.BUY
        else 0
    )
    assert charged == commission + fee + duty


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
