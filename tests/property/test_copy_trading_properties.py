"""Properties of a leader's rebalance: what each follower trades, and the post-allocation of a block's fill."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from core.blocks import Execution, book_prices
from core.copy_trading import FollowerBook, follower_trades, plan_blocks, post_allocate
from core.instruments import AllocationLine, Instrument
from core.investments import max_withdrawal

STEPS = (Decimal(1), Decimal("0.001"))


@st.composite
def blocks(draw: st.DrawFn) -> tuple[list[Decimal], Decimal, Decimal, Decimal]:
    """Followers' requests (multiples of the step), a fill of them, the step and a price."""
    step = draw(st.sampled_from(STEPS))
    units = draw(st.lists(st.integers(0, 10**6), min_size=1, max_size=40).filter(lambda u: sum(u) > 0))
    filled = draw(st.integers(0, sum(units)))
    price = Decimal(draw(st.integers(1, 10**7))).scaleb(-4)
    return [Decimal(u) * step for u in units], Decimal(filled) * step, step, price


@given(blocks())
def test_a_post_allocation_shares_exactly_the_fill_within_one_step_of_each_quota(
    drawn: tuple[list[Decimal], Decimal, Decimal, Decimal],
) -> None:
    requested, filled, step, _ = drawn
    shares = post_allocate(requested, list(range(len(requested))), filled, step)
    assert sum(shares, Decimal(0)) == filled
    asked = sum(requested, Decimal(0))
    for share, wanted in zip(shares, requested, strict=True):
        quota = Fraction(filled) * Fraction(wanted) / Fraction(asked)
        assert Decimal(0) <= share <= wanted
        assert abs(Fraction(share) - quota) < Fraction(step)
        assert share % step == 0


@given(blocks())
def test_the_followers_values_sum_exactly_to_the_blocks_value_at_its_average_price(
    drawn: tuple[list[Decimal], Decimal, Decimal, Decimal],
) -> None:
    requested, filled, step, price = drawn
    if not filled:
        return
    shares = post_allocate(requested, list(range(len(requested))), filled, step)
    booked = book_prices(shares, [Execution(filled, price)], Decimal(1), "EUR")
    block_value = (filled * price).quantize(Decimal("0.01"), ROUND_HALF_EVEN)
    assert sum((value for _, value in booked), Decimal(0)) == block_value
    assert {average for average, _ in booked} == {price}


@st.composite
def followers(draw: st.DrawFn) -> tuple[list[AllocationLine], dict[str, Instrument], list[FollowerBook]]:
    count = draw(st.integers(1, 4))
    table = {
        f"I{k}": Instrument(
            f"I{k}",
            Decimal(draw(st.integers(1, 10**6))).scaleb(-2),
            draw(st.sampled_from(STEPS)),
            currency="EUR",
        )
        for k in range(count)
    }
    raw = draw(st.lists(st.integers(1, 100), min_size=count, max_size=count))
    cents = [r * 100 // sum(raw) for r in raw]
    cents[0] += 100 - sum(cents)
    lines = [AllocationLine(i, Decimal(c) / 100) for i, c in zip(table, cents, strict=True) if c]
    books = []
    for n in range(draw(st.integers(1, 5))):
        units = {i: Decimal(draw(st.integers(0, 10**5))) * table[i].quantity_step for i in table}
        books.append(FollowerBook(f"F{n}", Decimal(draw(st.integers(0, 10**8))).scaleb(-2), units, n))
    return lines, table, books


@given(followers())
def test_a_follower_never_sells_more_than_it_holds_nor_buys_more_than_its_cash_and_sells_pay_for(
    drawn: tuple[list[AllocationLine], dict[str, Instrument], list[FollowerBook]],
) -> None:
    lines, table, books = drawn
    for book in books:
        trades = follower_trades(lines, table, book, "EUR")
        assert all(Decimal(0) < q <= book.units[i] for i, q in trades.sells.items())
        assert set(trades.sells).isdisjoint(trades.buys)
        proceeds = sum((q * table[i].priced() for i, q in trades.sells.items()), Decimal(0))
        cost = sum((q * table[i].priced() for i, q in trades.buys.items()), Decimal(0))
        assert Decimal(0) <= cost <= book.cash + proceeds
        assert all(q > 0 and q % table[i].quantity_step == 0 for i, q in trades.buys.items())


@given(followers())
def test_the_blocks_carry_every_followers_quantity_once_and_nothing_else(
    drawn: tuple[list[AllocationLine], dict[str, Instrument], list[FollowerBook]],
) -> None:
    lines, table, books = drawn
    trades = [follower_trades(lines, table, book, "EUR") for book in books]
    planned = plan_blocks(trades, {book.account_id: book.rank for book in books})
    expected = {
        (side, t.account_id, i): q
        for t in trades
        for side, wanted in (("SELL", t.sells), ("BUY", t.buys))
        for i, q in wanted.items()
    }
    carried = {
        (b.side.value, a, b.instrument_id): q
        for b in planned
        for a, q in zip(b.account_ids, b.requested, strict=True)
    }
    assert carried == expected
    assert all(list(b.ranks) == sorted(b.ranks) for b in planned)


@given(st.integers(0, 10**9), st.integers(0, 10**8), st.one_of(st.none(), st.integers(0, 10**8)))
def test_the_maximum_withdrawal_keeps_the_larger_of_the_minimum_and_the_shield(
    equity_cents: int, minimum_cents: int, shield_cents: int | None
) -> None:
    equity, minimum = Decimal(equity_cents).scaleb(-2), Decimal(minimum_cents).scaleb(-2)
    shield = None if shield_cents is None else Decimal(shield_cents).scaleb(-2)
    kept = max(minimum_cents, shield_cents or 0)
    assert max_withdrawal(equity, minimum, shield, "EUR") == Decimal(max(0, equity_cents - kept)).scaleb(-2)
