"""Properties of portfolio splitting, block allocation, fills and lifecycles."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

import attrs
from hypothesis import assume, given
from hypothesis import strategies as st

from core.blocks import BlockRequest, Execution, PartialFillPolicy, allocate, targets
from core.errors import AllotError, IllegalTransition
from core.fills import AccountBook, Fill, apply_fill
from core.instruments import AllocationLine, Instrument, Position, Side
from core.keys import AllocationKey, MarginHandling, Participant, UnitType
from core.lifecycle import LIFECYCLES, PORTFOLIO_ORDER, OrderState, PortfolioOrderState, follow_children
from core.portfolio import OrderType, Policy, PortfolioRequest, plan
from tests.property.strategies import decimals, holdings, instruments_and_allocation, weights


@given(instruments_and_allocation(), st.integers(1, 10**8))
def test_a_buy_spends_exactly_the_cash_amount(
    setup: tuple[list[Instrument], list[AllocationLine]], cents: int
) -> None:
    instruments, allocation = setup
    amount = Decimal(cents).scaleb(-2)
    request = PortfolioRequest(OrderType.BUY, "EUR", amount, tuple(allocation), tuple(instruments))
    try:
        result = plan(request)
    except AllotError as error:
        assert error.code == "BELOW_MINIMUM_ORDER"
        return
    assert sum(o.cash_amount or Decimal(0) for o in result.orders) == amount
    minimums = {i.instrument_id: i.min_order_amount for i in instruments}
    assert all((o.cash_amount or Decimal(0)) >= minimums[o.instrument_id] for o in result.orders)


@given(instruments_and_allocation(), st.data())
def test_a_sell_up_to_the_limit_never_exceeds_any_holding_and_sums_to_the_amount(
    setup: tuple[list[Instrument], list[AllocationLine]], data: st.DataObject
) -> None:
    instruments, _ = setup
    positions = data.draw(holdings(instruments))
    values = {
        p.instrument_id: next(i for i in instruments if i.instrument_id == p.instrument_id).value_of(
            p.quantity
        )
        for p in positions
    }
    nav = sum(values.values(), Decimal(0))
    whole_cents = sum(
        (v.quantize(Decimal("0.01"), rounding="ROUND_FLOOR") for v in values.values()), Decimal(0)
    )
    maximum = min((nav * Decimal("0.9")).quantize(Decimal("0.01"), rounding="ROUND_FLOOR"), whole_cents)
    assume(maximum >= Decimal("0.01"))
    amount = Decimal(data.draw(st.integers(1, int(maximum * 100)))).scaleb(-2)
    result = plan(PortfolioRequest(OrderType.SELL, "EUR", amount, (), tuple(instruments), tuple(positions)))
    assert sum(o.cash_amount or Decimal(0) for o in result.orders) == amount
    assert all((o.cash_amount or Decimal(0)) <= values[o.instrument_id] for o in result.orders)


@given(instruments_and_allocation(), st.data())
def test_a_rebalance_never_overspends_and_never_sells_more_than_is_held(
    setup: tuple[list[Instrument], list[AllocationLine]], data: st.DataObject
) -> None:
    instruments, allocation = setup
    positions = data.draw(holdings(instruments))
    cash = Decimal(data.draw(st.integers(0, 10**7))).scaleb(-2)
    buffer = Decimal(data.draw(st.integers(0, 10**5))).scaleb(-2)
    band = data.draw(st.sampled_from([Decimal(0), Decimal("0.01"), Decimal("0.05")]))
    request = PortfolioRequest(
        OrderType.REBALANCING, "EUR", None, tuple(allocation), tuple(instruments), tuple(positions), cash,
        Policy(cash_buffer=buffer, drift_band=band),
    )  # fmt: skip
    try:
        result = plan(request)
    except AllotError as error:
        assert error.code == "INSUFFICIENT_FUNDS"
        return
    by_id = {i.instrument_id: i for i in instruments}
    held = {p.instrument_id: p.quantity for p in positions}
    sells = [o for o in result.orders if o.side is Side.SELL]
    buys = [o for o in result.orders if o.side is Side.BUY]
    assert result.orders == (*sells, *buys)
    assert all(o.quantity is not None and 0 < o.quantity <= held[o.instrument_id] for o in sells)
    proceeds = sum((by_id[o.instrument_id].value_of(o.quantity or Decimal(0)) for o in sells), Decimal(0))
    spent = sum((o.cash_amount or Decimal(0) for o in buys), Decimal(0))
    assert cash + proceeds - spent >= min(cash + proceeds, buffer)


participants = st.lists(st.tuples(st.integers(1, 50000), st.booleans()), min_size=1, max_size=8).map(
    lambda ps: tuple(
        Participant(f"ACC{i}", Decimal(u), accept, i + 1 if accept else None)
        for i, (u, accept) in enumerate(ps)
    )
)


def unit_key(people: tuple[Participant, ...]) -> AllocationKey:
    return AllocationKey("k", UnitType.UNIT, MarginHandling.REJECT, False, "B", "E", people)


@given(participants, st.sampled_from(list(UnitType)), st.integers(1, 10**7), st.data())
def test_a_block_allocation_hands_out_exactly_what_was_filled(
    people: tuple[Participant, ...], unit_type: UnitType, amount: int, data: st.DataObject
) -> None:
    if unit_type is UnitType.PERCENTAGE:
        percents = [w * 100 for w in data.draw(weights(len(people)))]  # sum to exactly 100
        people = tuple(
            Participant(p.account_id, pct, p.accept_remainder, p.priority)
            for p, pct in zip(people, percents, strict=True)
        )
    key = AllocationKey("k", unit_type, MarginHandling.REJECT, False, "B", "E", people)
    filled = data.draw(st.integers(0, amount))
    policy = data.draw(st.sampled_from(list(PartialFillPolicy)))
    result = allocate(BlockRequest(key, Decimal(amount), filled=Decimal(filled), partial_fill_policy=policy))
    wanted = targets(key, Decimal(amount), Decimal(1))
    got = [a.quantity for a in result.allocations]
    assert sum(got) + result.error_account.quantity == Decimal(filled)
    assert all(q <= t for q, t in zip(got, wanted.participants, strict=True))
    assert sum(wanted.participants) + wanted.error == Decimal(amount)


@given(
    participants,
    st.integers(1, 10**6),
    st.lists(st.tuples(st.integers(1, 1000), decimals("0.0001", "999", 4)), min_size=1, max_size=5),
)
def test_accounts_traded_values_sum_exactly_to_the_blocks(
    people: tuple[Participant, ...], amount: int, executions: list[tuple[int, Decimal]]
) -> None:
    key = AllocationKey("k", UnitType.UNIT, MarginHandling.REJECT, False, "B", "E", people)
    fills = tuple(Execution(Decimal(q), p) for q, p in executions)
    executed = sum(f.quantity for f in fills)
    assume(executed <= amount)
    result = allocate(BlockRequest(key, Decimal(amount), fills=fills, currency="EUR"))
    block_value = sum((f.quantity * f.price for f in fills), Decimal(0)).quantize(Decimal("0.01"))
    booked = [a.traded_value or Decimal(0) for a in (*result.allocations, result.error_account)]
    assert sum(booked) == block_value


@given(
    st.lists(
        st.tuples(st.sampled_from(list(Side)), st.integers(1, 100), decimals("0.01", "500", 2)), max_size=20
    )
)
def test_fills_conserve_cash_and_positions(trades: list[tuple[Side, int, Decimal]]) -> None:
    book = AccountBook("ACC", "EUR", Decimal("0.00"))
    instrument = Instrument("X", Decimal(1))
    net_quantity, net_cash = Decimal(0), Decimal(0)
    for side, quantity, price in trades:
        fill = Fill(
            "o", "ACC", instrument, side, Decimal(quantity), price, dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
        )
        try:
            result = apply_fill(book, fill)
        except AllotError as error:
            assert error.code == "INSUFFICIENT_POSITION"
            assert side is Side.SELL
            assert Decimal(quantity) > book.quantity_of("X")
            continue
        book = result.book
        net_quantity += Decimal(quantity) if side is Side.BUY else -Decimal(quantity)
        net_cash += result.cash_movement
    assert book.quantity_of("X") == net_quantity
    assert book.cash == net_cash


all_moves = [
    (lifecycle, state, event)
    for lifecycle in LIFECYCLES
    for state in type(lifecycle.initial)
    for event in type(next(iter(lifecycle.table))[1])
]


@given(st.sampled_from(all_moves))
def test_an_illegal_transition_raises_and_a_legal_one_follows_the_table(move: tuple[Any, Any, Any]) -> None:
    lifecycle, state, event = move
    table_before = dict(lifecycle.table)
    if (state, event) in lifecycle.table:
        assert lifecycle.next(state, event) is lifecycle.table[(state, event)]
    else:
        try:
            lifecycle.next(state, event)
        except IllegalTransition as error:
            assert (error.state, error.event) == (state.value, event.value)
        else:
            raise AssertionError(f"{lifecycle.name}: {state} + {event} should be illegal")
    assert dict(lifecycle.table) == table_before


@given(st.sampled_from(list(PortfolioOrderState)), st.lists(st.sampled_from(list(OrderState)), max_size=6))
def test_a_parent_follows_its_children_only_through_legal_steps(
    state: PortfolioOrderState, children: list[OrderState]
) -> None:
    path = follow_children(PORTFOLIO_ORDER, state, children)
    previous = state
    for step in path:
        assert step in {t for (s, _), t in PORTFOLIO_ORDER.table.items() if s is previous}
        previous = step
    if children and all(c is OrderState.FILLED for c in children) and state not in PORTFOLIO_ORDER.final:
        assert path[-1] is PortfolioOrderState.FILLED


@st.composite
def percentage_keys(draw: st.DrawFn) -> AllocationKey:
    """A percentage key whose percentages have up to four decimals (so bases rarely come out whole) and sum
    to exactly 100; some participants take remainders, the rest leave them to the error account."""
    size = draw(st.integers(1, 6))
    cuts = sorted(draw(st.lists(st.integers(1, 999_999), min_size=size - 1, max_size=size - 1, unique=True)))
    bounds = [0, *cuts, 1_000_000]
    percents = [Decimal(b - a).scaleb(-4) for a, b in itertools.pairwise(bounds)]
    accepting = draw(st.lists(st.booleans(), min_size=size, max_size=size))
    people = tuple(
        Participant(f"ACC{i}", pct, accept, i + 1 if accept else None)
        for i, (pct, accept) in enumerate(zip(percents, accepting, strict=True))
    )
    margin = draw(st.sampled_from(list(MarginHandling)))
    return AllocationKey("k", UnitType.PERCENTAGE, margin, False, "B", "E", people)


@given(st.one_of(percentage_keys(), participants.map(unit_key)), st.integers(1, 10**7), st.data())
def test_no_target_and_no_allocation_of_a_key_is_ever_negative(
    key: AllocationKey, amount: int, data: st.DataObject
) -> None:
    wanted = targets(key, Decimal(amount), Decimal(1))
    assert all(t >= 0 for t in wanted.participants)
    assert wanted.error >= 0
    assert wanted.remainder >= 0
    buying_power = data.draw(
        st.none()
        | st.fixed_dictionaries({p.account_id: decimals("-100", "100000", 2) for p in key.participants})
    )
    filled = data.draw(st.none() | st.integers(0, amount).map(Decimal))
    policy = data.draw(st.sampled_from(list(PartialFillPolicy)))
    request = BlockRequest(
        attrs.evolve(key, margin_handling=MarginHandling.REDUCE) if buying_power else key,
        Decimal(amount),
        filled=filled,
        partial_fill_policy=policy,
        price=Decimal("12.50") if buying_power is not None else None,
        buying_power=buying_power,
    )
    try:
        result = allocate(request)
    except AllotError as error:
        assert error.code == "VALIDATION_ERROR"  # filled above a block that margin shrank
        assert filled is not None
        return
    quantities = [a.quantity for a in (*result.allocations, result.error_account)]
    assert all(q >= 0 for q in quantities)
    assert sum(quantities) == result.allocated_amount


@given(instruments_and_allocation(), st.data())
def test_a_sell_never_takes_more_than_the_whole_cents_of_what_is_free_of_a_holding(
    setup: tuple[list[Instrument], list[AllocationLine]], data: st.DataObject
) -> None:
    """Each cash sell is at most the value of the holding's free units (not held back by open sells), rounded
    down to the cent: selling the rounded-up value would ask for units the account does not have."""
    instruments, _ = setup
    positions = data.draw(holdings(instruments))
    by_id = {i.instrument_id: i for i in instruments}
    held_back = {
        p.instrument_id: data.draw(st.integers(0, int(p.quantity / by_id[p.instrument_id].quantity_step)))
        * by_id[p.instrument_id].quantity_step
        for p in positions
    }
    free_cents = {
        p.instrument_id: (
            (p.quantity - held_back[p.instrument_id]) * (by_id[p.instrument_id].price or Decimal(0)) * 100
        )
        // 1
        for p in positions
    }
    nav = sum((p.quantity * (by_id[p.instrument_id].price or Decimal(0)) for p in positions), Decimal(0))
    reserved = sum((q * (by_id[i].price or Decimal(0)) for i, q in held_back.items()), Decimal(0))
    limit_cents = min((nav * Decimal("0.9") - reserved) * 100 // 1, sum(free_cents.values(), Decimal(0)))
    assume(limit_cents >= 1)
    # Most of the time ask for (nearly) everything the limit allows: that is where the caps bind.
    cents = data.draw(
        st.integers(max(1, int(limit_cents) - 3), int(limit_cents)) | st.integers(1, int(limit_cents))
    )
    request = PortfolioRequest(
        OrderType.SELL, "EUR", Decimal(cents).scaleb(-2), (), tuple(instruments), tuple(positions),
        held=tuple(Position(i, q) for i, q in held_back.items() if q),
    )  # fmt: skip
    result = plan(request)
    assert sum(o.cash_amount or Decimal(0) for o in result.orders) == Decimal(cents).scaleb(-2)
    for order in result.orders:
        assert order.cash_amount is not None
        assert order.cash_amount * 100 <= free_cents[order.instrument_id], order
