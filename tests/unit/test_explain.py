"""How each share came about: worked examples of every reason, each computed by hand in the test."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.apportion import apportion_units
from core.errors import ApportionmentError
from core.explain import Method, Reason, capped, hamilton, rotating, split
from core.fairness import NO_HISTORY, Fairness

CENT = Decimal("0.01")
ONE = Decimal(1)


def test_equal_remainders_go_to_the_lower_rank_and_the_others_lose_by_priority() -> None:
    shares, stage = hamilton("cash", 10000, [1, 1, 1], CENT, ["a", "b", "c"], ranks=[2, 1, 3])
    assert shares == [3333, 3334, 3333]
    assert [(line.quota, line.floor, line.remainder) for line in stage.lines] == [
        (Fraction(100, 3), Decimal("33.33"), Fraction(1, 300))
    ] * 3
    assert [(line.place, line.won_step, line.reason) for line in stage.lines] == [
        (2, False, Reason.TIE_BY_PRIORITY), (1, True, Reason.TIE_BY_PRIORITY), (3, False, Reason.TIE_BY_PRIORITY),
    ]  # fmt: skip
    assert (stage.method, stage.total, stage.leftover_steps) == (
        Method.LARGEST_REMAINDER,
        Decimal("100.00"),
        1,
    )


def test_each_line_names_its_recipient_its_claim_as_the_caller_gave_it_and_its_rank() -> None:
    # 1.00 in cents over weights 0.5 : 0.3 : 0.2 given to the kernel as 5 : 3 : 2; quotas 50, 30, 20 cents.
    weights = [Decimal("0.5"), Decimal("0.3"), Decimal("0.2")]
    _, stage = hamilton("w", 100, [5, 3, 2], CENT, ["x", "y", "z"], shown_claims=weights, ranks=[3, 1, 2])
    assert [(line.recipient, line.claim, line.rank, line.quota) for line in stage.lines] == [
        ("x", Decimal("0.5"), 3, Fraction(1, 2)),
        ("y", Decimal("0.3"), 1, Fraction(3, 10)),
        ("z", Decimal("0.2"), 2, Fraction(1, 5)),
    ]
    assert (stage.name, stage.step, stage.total) == ("w", CENT, Decimal("1.00"))
    _, unranked = hamilton("w", 100, [5, 3, 2], CENT, ["x", "y", "z"])
    assert [(line.claim, line.rank) for line in unranked.lines] == [
        (Decimal(5), None),
        (Decimal(3), None),
        (Decimal(2), None),
    ]


def test_distinct_remainders_are_won_by_the_largest_and_lost_by_the_smaller() -> None:
    # 10 over 1 : 2 : 4 — quotas 10/7, 20/7, 40/7; floors 1, 2, 5 leave 2 steps; remainders 3/7, 6/7, 5/7.
    shares, stage = hamilton("q", 10, [1, 2, 4], ONE, ["a", "b", "c"])
    assert shares == [1, 3, 6]
    assert [(line.remainder, line.place, line.reason) for line in stage.lines] == [
        (Fraction(3, 7), 3, Reason.SMALLER_REMAINDER),
        (Fraction(6, 7), 1, Reason.LARGEST_REMAINDER),
        (Fraction(5, 7), 2, Reason.LARGEST_REMAINDER),
    ]


def test_equal_remainders_and_ranks_go_by_position() -> None:
    _, stage = hamilton("q", 1, [1, 1], ONE, ["a", "b"], ranks=[5, 5])
    assert [(line.won_step, line.reason) for line in stage.lines] == [
        (True, Reason.TIE_BY_ORDER), (False, Reason.TIE_BY_ORDER),
    ]  # fmt: skip


def test_a_whole_quota_has_nothing_to_round_and_no_place_in_the_queue() -> None:
    _, stage = hamilton("q", 4, [1, 1], ONE, ["a", "b"])
    assert [(line.share, line.reason, line.place) for line in stage.lines] == [
        (Decimal(2), Reason.EXACT, None)
    ] * 2


def test_a_recipient_over_its_cap_stops_there_and_the_rest_is_shared_again() -> None:
    # 100 over 5 : 1 : 1 would give a 71 (cap 10): a takes 10, and b and c share 90 equally.
    shares, stage = capped("q", 100, [5, 1, 1], [10, 100, 100], ONE, ["a", "b", "c"])
    assert shares == [10, 45, 45]
    assert [(line.share, line.reason) for line in stage.lines] == [
        (Decimal(10), Reason.CAPPED), (Decimal(45), Reason.EXACT), (Decimal(45), Reason.EXACT),
    ]  # fmt: skip
    assert stage.lines[0].quota == Fraction(500, 7)


def test_rotation_gives_the_step_to_each_equal_participant_in_turn_with_their_lags() -> None:
    history = NO_HISTORY
    rounds = []
    for _ in range(3):
        shares, history, stage = rotating("r", 1, [1, 1, 1], ONE, ["a", "b", "c"], history)
        rounds.append((shares, [line.lag for line in stage.lines]))
    third = Fraction(1, 3)
    assert rounds == [
        ([1, 0, 0], [1 - third, -third, -third]),
        ([0, 1, 0], [1 - 2 * third, 1 - 2 * third, -2 * third]),
        ([0, 0, 1], [0, 0, 0]),
    ]
    assert stage.method is Method.ROTATE


def test_rotation_says_who_was_ahead_and_who_caught_up_to_a_whole_step() -> None:
    _, history, _ = rotating("r", 1, [1, 1, 1], ONE, ["a", "b", "c"])  # a ahead by 2/3
    _, _, stage = rotating("r", 2, [1, 1, 1], ONE, ["a", "b", "c"], history)
    # quotas 2/3 each: cumulative 1 each; a already has 1 (AHEAD), b and c reach a whole step (BEHIND).
    assert [(line.share, line.reason) for line in stage.lines] == [
        (Decimal(0), Reason.AHEAD), (Decimal(1), Reason.BEHIND), (Decimal(1), Reason.BEHIND),
    ]  # fmt: skip


def test_an_explanation_needs_one_recipient_per_claim() -> None:
    with pytest.raises(ApportionmentError, match="one recipient per claim"):
        hamilton("q", 1, [1, 1], ONE, ["a"])


def test_split_refuses_a_negative_cap_like_the_kernel() -> None:
    with pytest.raises(ApportionmentError, match="caps must not be negative"):
        split("q", Decimal(1), [ONE, ONE], ONE, ["a", "b"], caps=[Decimal(-1), ONE])


def test_a_rotating_split_returns_the_history_and_a_plain_one_none() -> None:
    assert split("q", Decimal(1), [ONE, ONE], ONE, ["a", "b"]).history is None
    rotated = split("q", Decimal(1), [ONE, ONE], ONE, ["a", "b"], fairness=Fairness.ROTATE)
    assert rotated.history is not None
    assert rotated.history.rounds == 1


@given(st.integers(0, 10**6), st.lists(st.integers(0, 1000), min_size=1, max_size=12).filter(sum))
def test_an_explanation_adds_up_to_the_kernels_shares(total: int, claims: list[int]) -> None:
    names = [f"r{i}" for i in range(len(claims))]
    shares, stage = hamilton("q", total, claims, ONE, names)
    assert shares == apportion_units(total, claims)
    assert [line.share for line in stage.lines] == shares
    assert sum(line.won_step for line in stage.lines) == stage.leftover_steps
    for line in stage.lines:
        assert line.quota - Fraction(line.floor) == line.remainder
        assert line.floor + line.won_step == line.share


def test_rotation_names_the_earliest_deadline_and_ties_between_equal_deadlines() -> None:
    # 1 step over 1 : 2. Round one: deadlines (1 − 1/3) / (1/3) = 2 for a, (1 − 2/3) / (2/3) = 1/2 for b.
    _, history, first = rotating("r", 1, [1, 2], ONE, ["a", "b"])
    assert [(line.won_step, line.reason) for line in first.lines] == [
        (False, Reason.LATER_DEADLINE), (True, Reason.EARLIEST_DEADLINE),
    ]  # fmt: skip
    # Round two: cumulative quotas 2/3 and 4/3; a has 0, b has 1; both next steps fall due after 1 more: a tie.
    _, _, second = rotating("r", 1, [1, 2], ONE, ["a", "b"], history)
    assert [(line.won_step, line.reason) for line in second.lines] == [
        (True, Reason.TIE_BY_ORDER), (False, Reason.TIE_BY_ORDER),
    ]  # fmt: skip
