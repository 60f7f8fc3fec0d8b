"""Properties of a leader's rebalance: what each follower trades, and the post-allocation of a block's fill."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

from hypothesis import assume, given
from hypothesis import strategies as st

from core.blocks import Execution, book_prices
from core.copy_trading import FollowerBook, follower_trades, plan_blocks, post_allocate, withdrawal_sells
from core.instruments import AllocationLine, Instrument, Position
from core.investments import max_withdrawal
from core.records import Account

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


CENT = Decimal("0.01")


def hamilton(total: int, claims: list[int], ranks: list[int]) -> list[int]:
    """The model: every quota rounded down, one unit more to the largest remainders (ties: lower rank, then
    earlier), computed with Fractions so that nothing here leans on the kernel under test."""
    asked = sum(claims)
    quotas = [Fraction(total * claim, asked) for claim in claims]
    shares = [int(quota) for quota in quotas]
    order = sorted(range(len(claims)), key=lambda i: (-(quotas[i] - shares[i]), ranks[i], i))
    for i in order[: total - sum(shares)]:
        shares[i] += 1
    return shares


@st.composite
def rebalances(draw: st.DrawFn) -> tuple[list[AllocationLine], dict[str, Instrument], list[FollowerBook]]:
    """Instruments (whole shares or 0.001 steps, contract sizes), the leader's weights, and followers with
    holdings, cash and ranks in any order (the order of the books is not the order of the ranks); some followers
    are twins of others, so that their asks tie."""
    count = draw(st.integers(1, 4))
    table = {
        f"I{k}": Instrument(
            f"I{k}",
            Decimal(draw(st.integers(1, 10**6))).scaleb(-2),
            draw(st.sampled_from(STEPS)),
            contract_size=draw(st.sampled_from((Decimal(1), Decimal(10), Decimal("0.5")))),
            currency="EUR",
        )
        for k in range(count + draw(st.integers(0, 1)))  # perhaps one the model no longer holds
    }
    raw = draw(st.lists(st.integers(1, 100), min_size=count, max_size=count))
    cents = [r * 100 // sum(raw) for r in raw]
    cents[0] += 100 - sum(cents)
    lines = [AllocationLine(f"I{k}", Decimal(c) / 100) for k, c in enumerate(cents) if c]
    size = draw(st.integers(1, 8))
    ranks = draw(st.permutations(range(0, 3 * size, 3)))  # with gaps, as when investments have stopped
    books: list[FollowerBook] = []
    for n, rank in enumerate(ranks):
        if len(books) > 0 and draw(
            st.booleans()
        ):  # a twin of an earlier follower: equal asks, a tie to break by rank
            twin = draw(st.sampled_from(books))
            books.append(FollowerBook(f"F{n}", twin.cash, twin.units, rank))
            continue
        units = {
            i: Decimal(draw(st.integers(0, draw(st.sampled_from((20, 10**4)))))) * table[i].quantity_step
            for i in table
            if draw(st.booleans())
        }
        books.append(FollowerBook(f"F{n}", Decimal(draw(st.integers(0, 10**8))).scaleb(-2), units, rank))
    return lines, table, books


@given(rebalances(), st.data())
def test_a_rebalance_conserves_shares_and_cash_from_the_leaders_blocks_to_the_followers(
    drawn: tuple[list[AllocationLine], dict[str, Instrument], list[FollowerBook]], data: st.DataObject
) -> None:
    lines, table, books = drawn
    trades = [follower_trades(lines, table, book, "EUR") for book in books]
    for book, trade in zip(books, trades, strict=True):
        assert all(Decimal(0) < q <= book.units.get(i, Decimal(0)) for i, q in trade.sells.items())
        worth = {i: q * table[i].priced() * table[i].contract_size for i, q in trade.sells.items()}
        cost = {i: q * table[i].priced() * table[i].contract_size for i, q in trade.buys.items()}
        assert sum(cost.values(), Decimal(0)) <= book.cash + sum(worth.values(), Decimal(0))
    rank_of = {book.account_id: book.rank for book in books}
    for block in plan_blocks(trades, rank_of):
        instrument = table[block.instrument_id]
        step, size = instrument.quantity_step, instrument.contract_size
        asked = [int(q / step) for q in block.requested]
        assert [Decimal(u) * step for u in asked] == list(block.requested)  # every request on the step
        filled_units = data.draw(st.integers(0, sum(asked)), label="filled units")
        filled = Decimal(filled_units) * step
        # post_allocate breaks ties by rank wherever the followers stand: give them in a drawn order.
        order = data.draw(st.permutations(range(len(asked))), label="order")
        asked = [asked[k] for k in order]
        requested = [block.requested[k] for k in order]
        ranks = [block.ranks[k] for k in order]
        shares = post_allocate(requested, ranks, filled, step)
        # The block's fill goes to its followers entirely, each within one step of its quota, never above its ask.
        assert sum(shares, Decimal(0)) == filled
        expected = hamilton(filled_units, asked, ranks)
        assert shares == [Decimal(u) * step for u in expected]
        for share, wanted in zip(shares, requested, strict=True):
            assert Decimal(0) <= share <= wanted
            assert abs(
                Fraction(share) - Fraction(filled) * Fraction(wanted) / Fraction(block.amount)
            ) < Fraction(step)
        if not filled_units:
            continue
        # The venue fills the block in one to three executions at prices of its own.
        cuts = sorted(
            data.draw(st.lists(st.integers(1, filled_units), max_size=2, unique=True), label="cuts")
        )
        parts = [b - a for a, b in zip([0, *cuts], [*cuts, filled_units], strict=True) if b > a]
        prices = [Decimal(data.draw(st.integers(1, 10**7), label="price")).scaleb(-4) for _ in parts]
        executions = [Execution(Decimal(p) * step, price) for p, price in zip(parts, prices, strict=True)]
        booked = book_prices(shares, executions, size, "EUR")
        # The followers' values sum exactly to the block's, half-even to the cent of Σ quantity × price × size.
        notional = sum((Fraction(e.quantity) * Fraction(e.price) for e in executions), Fraction(0))
        block_cents = round(notional * Fraction(size) * 100)  # round() of a Fraction is half-even
        assert sum((value for _, value in booked), Decimal(0)) == Decimal(block_cents) * CENT
        share_units = [int(s / step) for s in shares]
        cents = hamilton(block_cents, share_units, list(range(len(shares))))
        assert [value for _, value in booked] == [Decimal(c) * CENT for c in cents]
        average = Decimal(round(notional / Fraction(filled) * 10**8)).scaleb(-8)
        assert {price for price, _ in booked} == {average}


@st.composite
def holdings(draw: st.DrawFn) -> tuple[Account, dict[str, Instrument], Decimal]:
    """An investment account's positions (whole steps, prices in cents) and a shortfall its holdings can raise."""
    count = draw(st.integers(1, 6))
    instruments, positions = {}, []
    for number in range(count):
        step = draw(st.sampled_from(STEPS))
        price = Decimal(draw(st.integers(1, 20_000))).scaleb(-2)
        instruments[f"I{number}"] = Instrument(f"I{number}", price, step)
        positions.append(Position(f"I{number}", Decimal(draw(st.integers(1, 5_000))) * step))
    account = Account("INV", "EUR", {"EUR": Decimal("0.00")}, tuple(positions))
    can_raise = sum((instruments[p.instrument_id].value_of(p.quantity) for p in positions), Decimal(0))
    most = int(can_raise.scaleb(2)) - count  # the caps round each holding's value down to the cent
    shortfall = Decimal(draw(st.integers(1, max(1, most)))).scaleb(-2)
    assume(most >= 1)
    return account, instruments, shortfall


@given(holdings())
def test_a_withdrawals_sells_raise_the_shortfall_and_no_step_of_them_could_be_left_unsold(
    drawn: tuple[Account, dict[str, Instrument], Decimal],
) -> None:
    account, instruments, shortfall = drawn
    plan = withdrawal_sells(account, instruments, shortfall)
    held = {p.instrument_id: p.quantity for p in account.positions}
    assert all(o.quantity is not None and o.cash_amount is None for o in plan.orders), "unit sells"
    sold = {o.instrument_id: o.quantity or Decimal(0) for o in plan.orders}
    raised = sum((instruments[i].value_of(q) for i, q in sold.items()), Decimal(0))
    assert raised >= shortfall
    for instrument_id, quantity in sold.items():
        instrument = instruments[instrument_id]
        assert 0 < quantity <= held[instrument_id]
        assert quantity % instrument.quantity_step == 0
        one_step_less = raised - instrument.value_of(min(instrument.quantity_step, quantity))
        assert one_step_less < shortfall, f"{instrument_id}: a step more than needed is sold"
