"""Properties of the one apportionment kernel."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from hypothesis import assume, given
from hypothesis import strategies as st

from core.apportion import SAMPLED_SELECTION_ABOVE, _band, _hamilton, apportion, apportion_units
from core.errors import ApportionmentError
from tests.property.strategies import at_most

claims_lists = st.lists(st.integers(0, 10**6), min_size=1, max_size=40).filter(lambda c: sum(c) > 0)
totals = st.integers(0, 10**9)


def reference(total: int, claims: Sequence[int], ranks: Sequence[int] | None) -> list[int]:
    """Hamilton's method written the obvious way: sort everybody by (remainder desc, rank, index)."""
    claim_sum = sum(claims)
    shares = [total * c // claim_sum for c in claims]
    order = sorted(
        range(len(claims)),
        key=lambda i: (-(total * claims[i] % claim_sum), ranks[i] if ranks else 0, i),
    )
    for i in order[: total - sum(shares)]:
        shares[i] += 1
    return shares


@given(totals, claims_lists)
def test_shares_always_sum_to_the_total(total: int, claims: list[int]) -> None:
    assert sum(apportion_units(total, claims)) == total


@given(totals, claims_lists)
def test_every_share_is_its_quota_rounded_down_or_up(total: int, claims: list[int]) -> None:
    claim_sum = sum(claims)
    for claim, share in zip(claims, apportion_units(total, claims), strict=True):
        floor = total * claim // claim_sum
        assert floor <= share <= floor + (1 if total * claim % claim_sum else 0)


@given(totals, claims_lists, st.data())
def test_leftover_steps_go_to_the_largest_remainders_ties_by_rank_then_input_order(
    total: int, claims: list[int], data: st.DataObject
) -> None:
    ranks = data.draw(st.lists(st.integers(1, 4), min_size=len(claims), max_size=len(claims)))
    assert apportion_units(total, claims, ranks=ranks) == reference(total, claims, ranks)


@given(totals, claims_lists)
def test_the_same_input_always_gives_the_same_output(total: int, claims: list[int]) -> None:
    assert apportion_units(total, claims) == apportion_units(total, list(claims))


@given(st.integers(0, 10**6), st.lists(st.integers(0, 50), min_size=150, max_size=600), st.data())
def test_the_sampled_band_gives_the_same_shares_as_a_full_sort(
    total: int, claims: list[int], data: st.DataObject
) -> None:
    assume(sum(claims) > 0)
    ranks = data.draw(st.none() | st.lists(st.integers(1, 3), min_size=len(claims), max_size=len(claims)))

    def full_sample_band(remainders: Sequence[int], count: int) -> tuple[int, int] | None:
        # The production band with the sampling threshold lowered, so that small inputs exercise it.
        ordered = sorted(remainders, reverse=True)
        if not count:
            return None
        margin = data.draw(st.integers(0, 20))
        return ordered[min(len(ordered) - 1, count - 1 + margin)], ordered[max(0, count - 1 - margin)]

    assert _hamilton(total, claims, ranks, band_of=full_sample_band) == reference(total, claims, ranks)


@given(totals, claims_lists, st.data())
def test_caps_are_never_exceeded_and_the_total_is_still_conserved(
    total: int, claims: list[int], data: st.DataObject
) -> None:
    caps = data.draw(st.lists(st.integers(0, 10**9), min_size=len(claims), max_size=len(claims)))
    capacity = sum(cap for cap, claim in zip(caps, claims, strict=True) if claim > 0)
    if capacity < total:
        try:
            apportion_units(total, claims, caps=caps)
        except ApportionmentError:
            return
        raise AssertionError("caps that cannot hold the total must be refused")
    shares = apportion_units(total, claims, caps=caps)
    assert sum(shares) == total
    assert all(share <= cap for share, cap in zip(shares, caps, strict=True))
    assert all(share == 0 for share, claim in zip(shares, claims, strict=True) if claim == 0)


@given(
    st.integers(0, 10**8),
    st.sampled_from([Decimal("0.01"), Decimal("1"), Decimal("0.000001"), Decimal("0.05")]),
    st.lists(st.decimals(min_value=0, max_value=10**6, places=4), min_size=1, max_size=20),
)
def test_decimal_shares_are_multiples_of_the_step_and_sum_to_the_total(
    units: int, step: Decimal, claims: list[Decimal]
) -> None:
    assume(sum(claims) > 0)
    total = units * step
    shares = apportion(total, claims, step)
    assert sum(shares) == total
    assert all(share % step == 0 for share in shares)


@given(totals, claims_lists, st.data())
def test_no_share_is_ever_negative_with_or_without_caps(
    total: int, claims: list[int], data: st.DataObject
) -> None:
    caps = data.draw(st.none() | st.lists(st.integers(0, 10**9), min_size=len(claims), max_size=len(claims)))
    try:
        shares = apportion_units(total, claims, caps=caps)
    except ApportionmentError:
        assert caps is not None
        return
    assert all(share >= 0 for share in shares)


@given(
    st.lists(st.decimals(min_value=0, max_value=10**6, places=4), min_size=1, max_size=20),
    st.integers(0, 10**8),
)
def test_no_decimal_share_is_ever_negative(claims: list[Decimal], units: int) -> None:
    assume(sum(claims) > 0)
    assert all(share >= 0 for share in apportion(Decimal(units).scaleb(-2), claims, Decimal("0.01")))


#: Large enough that the kernel samples every second remainder only (a stride of 2), so that a period-2 input
#: hides half of its remainders from the sample.
PERIODIC_SIZE = 2 * 16384


def band_misses(total: int, claims: Sequence[int]) -> bool:
    """Whether the sampled band of ``_band`` fails to hold the boundary of the leftover steps for this input."""
    claim_sum = sum(claims)
    remainders = [total * claim % claim_sum for claim in claims]
    leftover = sum(remainders) // claim_sum
    band = _band(remainders, leftover)
    if band is None:  # nothing left over: no band is sampled
        return False
    low, high = band
    above = sum(1 for r in remainders if r > high)
    inside = sum(1 for r in remainders if low <= r <= high)
    return not above <= leftover <= above + inside


@at_most(40)
@given(
    st.tuples(st.integers(1, 60), st.integers(1, 60)).filter(lambda pair: pair[0] != pair[1]),
    st.integers(0, 10**7),
    st.booleans(),
)
def test_the_kernel_is_right_when_its_sampled_band_misses_a_periodic_input(
    pair: tuple[int, int], total: int, ranked: bool
) -> None:
    """Even positions claim one amount, odd positions another: the sample sees only the even ones, so its
    band describes half of the input. The kernel must notice and still give Hamilton's exact answer."""
    assert PERIODIC_SIZE > SAMPLED_SELECTION_ABOVE
    claims = [pair[i % 2] for i in range(PERIODIC_SIZE)]
    assume(band_misses(total, claims))
    ranks = [1 + i % 3 for i in range(PERIODIC_SIZE)] if ranked else None
    assert apportion_units(total, claims, ranks=ranks) == reference(total, claims, ranks)
