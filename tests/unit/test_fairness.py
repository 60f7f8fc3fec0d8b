"""Fair allocation over time: worked examples, the impossible case, and histories from outside."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import pytest

from core.errors import ApportionmentError, ValidationError
from core.fairness import NO_HISTORY, FairHistory, Rule, Standing, apportion_fair, fair_split

SIX = ["a", "b", "c", "d", "e", "f"]


def test_six_equal_participants_then_two_steps_for_the_three_behind_is_a_catch_up_that_still_conserves() -> (
    None
):
    first, history = apportion_fair(3, SIX, [1] * 6)
    behind = [p for p, share in zip(SIX, first, strict=True) if share == 0]
    assert len(behind) == 3  # three got a step (lead 1/2), three none (lag 1/2)
    split = fair_split(2, behind, [1, 1, 1], history)
    # Each of the three needs a step to stay within one of its cumulative quota 1/2 + 2/3; there are two.
    assert split.rule == Rule.CATCH_UP
    assert sorted(split.shares) == [0, 1, 1]
    lags = [s.lag for s in split.history.standings if s.participant in behind]
    assert sorted(lags) == [Fraction(-7, 6), Fraction(-1, 6), Fraction(-1, 6)]


def test_a_participant_that_leaves_keeps_its_standing_and_picks_up_where_it_left_off() -> None:
    _, history = apportion_fair(1, ["a", "b"], [1, 1])  # a: 1 of 1/2
    _, history = apportion_fair(5, ["b"], [1], history)
    assert history.standing("a") == Standing("a", Fraction(1, 2), 1)
    shares, history = apportion_fair(1, ["a", "b"], [1, 1], history)
    assert shares == [0, 1]  # a was ahead by 1/2: b, behind by 1/2, gets the step
    assert history.standing("a") == Standing("a", Fraction(1), 1)


def test_equal_deadlines_go_to_the_lower_rank_then_the_earlier_position() -> None:
    assert apportion_fair(1, ["a", "b", "c"], [1, 1, 1], ranks=[3, 1, 2])[0] == [0, 1, 0]
    assert apportion_fair(1, ["a", "b", "c"], [1, 1, 1], ranks=[2, 2, 2])[0] == [1, 0, 0]


def test_a_history_round_trips_through_its_standings() -> None:
    _, history = apportion_fair(7, ["a", "b", "c"], [1, 2, 4])
    _, history = apportion_fair(5, ["a", "c"], [3, 1], history)
    again = FairHistory.of(history.standings, history.rounds)
    assert again.standings == history.standings
    assert apportion_fair(9, ["a", "b"], [1, 1], again) == apportion_fair(9, ["a", "b"], [1, 1], history)


@pytest.mark.parametrize(
    ("standings", "says"),
    [
        ([Standing("a", Fraction(-1), 0)], "no negative"),
        ([Standing("a", Fraction(1), -1)], "no negative"),
        ([Standing("a", Fraction(1), 1), Standing("a", Fraction(1), 1)], "appears once"),
        ([Standing(" a", Fraction(1), 1)], "blanks"),
    ],
)
def test_a_history_from_outside_is_checked(standings: list[Standing], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        FairHistory.of(standings)


def test_a_history_counts_in_whole_numbers() -> None:
    with pytest.raises(TypeError):
        FairHistory.checked(["a"], [1.5], [1], 2)  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("call", "says"),
    [
        (lambda: apportion_fair(-1, ["a"], [1]), "must not be negative"),
        (lambda: apportion_fair(1, ["a"], [-1]), "must not be negative"),
        (lambda: apportion_fair(1, ["a", "b"], [0, 0]), "every claim is zero"),
        (lambda: apportion_fair(1, ["a", "a"], [1, 1]), "only once"),
        (lambda: apportion_fair(1, ["a"], [1, 1]), "one participant per claim"),
        (lambda: apportion_fair(1, ["a", "b"], [1, 1], ranks=[1]), "one rank per claim"),
    ],
)
def test_impossible_requests_are_refused_with_a_clear_message(call: Callable[[], object], says: str) -> None:
    with pytest.raises(ApportionmentError, match=says):
        call()


def test_an_empty_participant_id_is_refused() -> None:
    with pytest.raises(ValidationError, match="must not be empty"):
        apportion_fair(1, [""], [1])


def test_the_history_is_only_a_fair_history() -> None:
    with pytest.raises(ValidationError, match="FairHistory"):
        apportion_fair(1, ["a"], [1], {"a": 1})  # type: ignore[arg-type]


def test_no_history_is_the_empty_history() -> None:
    assert (NO_HISTORY.standings, NO_HISTORY.rounds) == ((), 0)


def test_fairness_on_a_portfolio_request_that_does_not_split_cash_over_weights_is_refused() -> None:
    from core.portfolio import OrderType, PortfolioRequest, plan

    sell = PortfolioRequest(type=OrderType.SELL, currency="EUR", cash_amount=1, fairness="ROTATE")
    with pytest.raises(ValidationError, match="applies to a BUY"):
        plan(sell)
    _, history = apportion_fair(1, ["A"], [1])
    with pytest.raises(ValidationError, match="only used with fairness ROTATE"):
        plan(PortfolioRequest(type=OrderType.BUY, currency="EUR", cash_amount=1, history=history))


def test_a_history_with_a_plain_key_is_refused() -> None:
    from core.blocks import BlockRequest, allocate
    from core.keys import AllocationKey, Participant

    key = AllocationKey("k", "UNIT", "REJECT", False, "O", "E", (Participant("A", 1, True, 1),))
    _, history = apportion_fair(1, ["A"], [1])
    with pytest.raises(ValidationError, match="only used with a ROTATE key"):
        allocate(BlockRequest(key, 3, history=history))


def test_equal_deadlines_go_by_rank_on_later_allocations_too() -> None:
    # Round one: equal deadlines, b has rank 1. Round two (the same participants): a and c tie, c has the lower rank.
    shares, history = apportion_fair(1, ["a", "b", "c"], [1, 1, 1], ranks=[3, 1, 2])
    assert shares == [0, 1, 0]
    shares, history = apportion_fair(1, ["a", "b", "c"], [1, 1, 1], history, ranks=[3, 1, 2])
    assert shares == [0, 0, 1]


def test_steps_given_back_after_a_margin_cut_leave_the_exact_share_so_the_participant_is_behind() -> None:
    # A is due 1.5 steps and got 2; B is due 0.5 and got none: both within a step of their share
    history = FairHistory.checked(["A", "B"], [3, 1], [2, 0], 2)
    back = history.given_back({"A": 1})
    assert [(s.participant, s.quota, s.allocated) for s in back.standings] == [
        ("A", Fraction(3, 2), 1),
        ("B", Fraction(1, 2), 0),
    ]
    assert back.unsettled == ()


def test_a_participant_given_back_a_step_or_more_below_its_share_is_unsettled() -> None:
    history = FairHistory.checked(["A", "B"], [3, 1], [2, 0], 2)
    assert history.given_back({"A": 2}).unsettled == ("A",)


def test_an_unsettled_participant_stays_unsettled_even_when_what_it_gives_back_brings_it_level() -> None:
    # A is due 1 step and was given 3 (two ahead): giving 2 back levels it, but its history was not settled
    history = FairHistory.checked(["A", "B"], [2, 2], [3, 1], 2)
    assert history.unsettled == ("A",)
    assert history.given_back({"A": 2}).unsettled == ("A",)


def test_giving_back_a_negative_number_of_steps_is_refused() -> None:
    history = FairHistory.checked(["A", "B"], [3, 1], [2, 0], 2)
    with pytest.raises(ValidationError):
        history.given_back({"A": -1})
