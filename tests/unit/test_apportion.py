from __future__ import annotations

from decimal import Decimal

import pytest

from core.apportion import _hamilton, apportion, apportion_units, split_off_step
from core.errors import ApportionmentError, OffStep


def test_a_hundred_euros_over_three_equal_claims_gives_the_extra_cent_to_the_first() -> None:
    assert apportion(Decimal("100.00"), [Decimal(1), Decimal(1), Decimal(1)], Decimal("0.01")) == [
        Decimal("33.34"),
        Decimal("33.33"),
        Decimal("33.33"),
    ]


def test_the_leftover_step_goes_to_the_largest_remainder() -> None:
    # quotas 1.4, 2.6, 6.0 → floors 1, 2, 6, one step left for the .6
    assert apportion_units(10, [14, 26, 60]) == [1, 3, 6]


def test_equal_remainders_go_to_the_lower_rank_first() -> None:
    assert apportion_units(1, [1, 1, 1], ranks=[3, 1, 2]) == [0, 1, 0]


def test_equal_remainders_and_equal_ranks_go_to_the_earlier_input() -> None:
    assert apportion_units(2, [1, 1, 1], ranks=[5, 5, 5]) == [1, 1, 0]


def test_a_capped_recipient_gets_its_cap_and_the_rest_is_split_among_the_others() -> None:
    assert apportion_units(10, [1, 1, 8], caps=[5, 5, 3]) == [4, 3, 3]


def test_caps_that_are_not_multiples_of_the_step_are_rounded_down() -> None:
    assert apportion(
        Decimal("1.00"), [Decimal(1), Decimal(1)], Decimal("0.10"), caps=[Decimal("0.35"), Decimal(5)]
    ) == [Decimal("0.30"), Decimal("0.70")]


def test_fractional_claims_are_used_exactly() -> None:
    assert apportion(
        Decimal("1000.00"), [Decimal("0.3333"), Decimal("0.3333"), Decimal("0.3334")], Decimal("0.01")
    ) == [
        Decimal("333.30"),
        Decimal("333.30"),
        Decimal("333.40"),
    ]


def test_zero_claims_get_nothing_even_when_capped_others_are_full() -> None:
    assert apportion_units(4, [0, 2, 2], caps=[9, 2, 2]) == [0, 2, 2]


def test_all_zero_claims_are_an_error() -> None:
    with pytest.raises(ApportionmentError, match="every claim is zero"):
        apportion_units(5, [0, 0])


def test_a_negative_claim_is_an_error() -> None:
    with pytest.raises(ApportionmentError, match="must not be negative") as caught:
        apportion_units(5, [1, -1])
    assert caught.value.details == {"negative_claims": [1]}


def test_caps_too_small_for_the_total_are_an_error() -> None:
    with pytest.raises(ApportionmentError, match="at most 4 of the 5") as caught:
        apportion_units(5, [1, 1], caps=[2, 2])
    assert caught.value.code == "APPORTIONMENT_IMPOSSIBLE"


def test_a_total_off_the_step_is_an_error() -> None:
    with pytest.raises(OffStep) as caught:
        apportion(Decimal("10.005"), [Decimal(1)], Decimal("0.01"))
    assert caught.value.details == {"field": "total", "value": "10.005", "step": "0.01"}


def test_split_off_step_returns_the_sub_step_leftover_instead_of_dropping_it() -> None:
    assert split_off_step(Decimal("10.005"), Decimal("0.01")) == (Decimal("10.00"), Decimal("0.005"))


def test_a_total_of_zero_gives_zero_shares() -> None:
    assert apportion_units(0, [3, 4]) == [0, 0]


def test_a_sampled_band_that_misses_the_boundary_falls_back_to_the_exact_answer() -> None:
    claims = [7, 3, 5, 11, 13, 2, 9]

    def wrong_band(remainders: object, count: int) -> tuple[int, int]:
        return (10**9, 10**9)  # a band no remainder falls in

    assert _hamilton(100, claims, None, band_of=wrong_band) == apportion_units(100, claims)


def test_large_inputs_take_the_sampled_path_and_give_the_same_shares_as_a_full_sort() -> None:
    claims = [(i * 7919) % 1000 + 1 for i in range(20_000)]

    def no_band(remainders: object, count: int) -> None:
        return None

    assert apportion_units(1_000_003, claims) == _hamilton(1_000_003, claims, None, band_of=no_band)


def periodic(even: int, odd: int) -> list[int]:
    """32 768 claims alternating ``even``, ``odd``: the sampled band sees only the even positions."""
    return [even if i % 2 == 0 else odd for i in range(2 * 16384)]


def test_when_the_unsampled_half_has_the_smaller_remainders_they_still_get_the_steps_left_over() -> None:
    # Σclaims = 16 384 × 4 = 65 536; total = 7 × 65 536 + 21 000. Even quota 3T/65 536 has remainder 63 000,
    # odd quota T/65 536 has remainder 21 000; 21 000 steps are left over: every even position (16 384) and
    # then the first 4 616 odd positions. The sample (even positions only) puts them all in a band of 63 000.
    total = 7 * 65536 + 21000
    expected = [3 * 7 + 1 if i % 2 == 0 else 7 + (1 if i < 2 * 4616 else 0) for i in range(2 * 16384)]
    assert ((3 * total) // 65536, total // 65536) == (3 * 7, 7)  # the floors used above
    assert apportion_units(total, periodic(3, 1)) == expected


def test_when_the_unsampled_half_has_the_larger_remainders_only_as_many_steps_as_are_left_are_given() -> None:
    # total = 7 × 65 536 + 5 000: even remainder 5 000, odd remainder 15 000, 5 000 steps left over. The
    # sample's band (5 000) puts all 16 384 odd positions above it; only the first 5 000 may get a step.
    total = 7 * 65536 + 5000
    expected = [7 if i % 2 == 0 else 21 + (1 if i < 2 * 5000 else 0) for i in range(2 * 16384)]
    shares = apportion_units(total, periodic(1, 3))
    assert sum(shares) == total
    assert shares == expected


def test_caps_of_recipients_without_a_claim_give_no_room_to_the_others() -> None:
    # Only the second recipient claims anything, and its cap holds 2 of the 5: the first one's cap of 10 is room
    # nobody may use.
    with pytest.raises(ApportionmentError, match="at most 2 of the 5") as caught:
        apportion_units(5, [0, 1], caps=[10, 2])
    assert caught.value.details == {"total": 5, "capacity": 2}


def test_after_a_recipient_is_capped_equal_remainders_still_go_to_the_lower_rank() -> None:
    # 4 over claims 4, 1, 1 gives the first 2 > its cap 1: it gets 1, and 3 is split again over the other two:
    # 1.5 each, floors 1 and 1, and the leftover step goes to rank 1 (the third), not to the earlier input.
    assert apportion_units(4, [4, 1, 1], ranks=[9, 2, 1], caps=[1, 5, 5]) == [1, 1, 2]


def test_a_refused_cap_list_says_what_is_wrong_with_it() -> None:
    with pytest.raises(ApportionmentError, match="give one cap per claim") as wrong_length:
        apportion_units(1, [1, 1], caps=[1])
    assert wrong_length.value.details == {"claims": 2, "caps": 1}
    with pytest.raises(ApportionmentError, match="caps must not be negative") as negative:
        apportion_units(1, [1, 1], caps=[-1, 1])
    assert negative.value.details == {"caps": [-1, 1]}


def test_a_total_one_step_below_zero_is_refused_not_split() -> None:
    with pytest.raises(ApportionmentError) as refused:
        apportion(Decimal("-0.01"), [Decimal(1), Decimal(1)], Decimal("0.01"))
    assert refused.value.details == {"total": -1}


def test_a_cap_just_below_zero_is_refused_rather_than_rounded_to_nothing() -> None:
    with pytest.raises(ApportionmentError) as refused:
        apportion(Decimal(1), [Decimal(1), Decimal(1)], Decimal(1), caps=[Decimal("-0.5"), Decimal(5)])
    assert refused.value.details == {"caps": ["-0.5", "5"]}


def test_a_leftover_of_a_negative_amount_is_refused() -> None:
    with pytest.raises(OffStep) as refused:
        split_off_step(Decimal("-0.01"), Decimal("0.01"))
    assert refused.value.details == {"total": "-0.01"}
