"""apportion_fair worked out by hand: the six-participant catch-up step by step, boundaries, histories, ranks."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from core.errors import ApportionmentError, ValidationError
from core.fairness import NO_HISTORY, FairHistory, Rule, Standing, apportion_fair, fair_split

SIX = ["p1", "p2", "p3", "p4", "p5", "p6"]


def lags(history: FairHistory) -> dict[str, Fraction]:
    return {standing.participant: standing.lag for standing in history.standings}


def test_one_step_over_three_equal_claims_goes_round_instead_of_to_the_first_every_time() -> None:
    # Each quota is 1/3 a time. Round 1: all due at once, the first gets it. Round 2: the first is 1 step in at
    # 2/3 (no candidate), the others' next steps are due together, the earlier (ben) gets it. Round 3: cleo.
    history = NO_HISTORY
    rounds = []
    for _ in range(3):
        shares, history = apportion_fair(1, ["ana", "ben", "cleo"], [1, 1, 1], history)
        rounds.append(shares)
    assert rounds == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert history.standings == tuple(Standing(p, Fraction(1), 1) for p in ("ana", "ben", "cleo"))
    assert history.rounds == 3


def test_equal_deadlines_go_to_the_lower_rank() -> None:
    # Ranks 3, 1, 2: ben first; then ana and cleo are due together (2/3 of a step each), cleo's rank is lower.
    history = NO_HISTORY
    rounds = []
    for _ in range(3):
        shares, history = apportion_fair(1, ["ana", "ben", "cleo"], [1, 1, 1], history, ranks=[3, 1, 2])
        rounds.append(shares)
    assert rounds == [[0, 1, 0], [0, 0, 1], [1, 0, 0]]


def test_the_next_step_goes_to_whoever_would_fall_a_whole_step_behind_first() -> None:
    # Claims 2 : 3, one step a time: quotas 2/5 and 3/5 a round.
    # Round 1: ana's step is due in (1 − 2/5) / 2 = 3/10, ben's in (1 − 3/5) / 3 = 2/15: ben.
    # Round 2: quotas 4/5 and 6/5 (ben has 1): ana due in (1 − 4/5) / 2 = 1/10, ben in (2 − 6/5) / 3 = 4/15: ana.
    history = NO_HISTORY
    rounds = []
    for _ in range(5):
        shares, history = apportion_fair(1, ["ana", "ben"], [2, 3], history)
        rounds.append(shares)
    assert rounds == [[0, 1], [1, 0], [0, 1], [1, 0], [0, 1]]
    assert lags(history) == {"ana": 0, "ben": 0}  # 2 of 2 and 3 of 3


def test_a_zero_claim_gets_nothing_and_its_quota_does_not_move() -> None:
    shares, history = apportion_fair(5, ["ana", "ben"], [0, 1])
    assert shares == [0, 5]
    assert history.standing("ana") == Standing("ana", Fraction(0), 0)
    assert history.standing("ben") == Standing("ben", Fraction(5), 5)


def test_a_participant_who_leaves_keeps_its_standing_and_picks_it_up_when_it_comes_back() -> None:
    # Round 1: ana gets the step (+2/3), ben and cleo are 1/3 behind.
    # Round 2 without ana: ben and cleo at 1/3 + 1/2 = 5/6 each; ben gets the step (+1/6), cleo is 5/6 behind.
    # Round 3, ana back: cleo's quota reaches 5/6 + 1/3 = 7/6, its floor is 1: it gets the step.
    _, history = apportion_fair(1, ["ana", "ben", "cleo"], [1, 1, 1])
    shares, history = apportion_fair(1, ["ben", "cleo"], [1, 1], history)
    assert shares == [1, 0]
    assert history.standing("ana") == Standing("ana", Fraction(1, 3), 1)
    shares, history = apportion_fair(1, ["ana", "ben", "cleo"], [1, 1, 1], history)
    assert shares == [0, 0, 1]
    assert lags(history) == {"ana": Fraction(1, 3), "ben": Fraction(-1, 6), "cleo": Fraction(-1, 6)}


def test_the_six_participant_example_of_the_docstring_ends_in_a_catch_up_and_still_conserves() -> None:
    # Round 1: six equal claims share 3: the first three get one (+1/2 each), the others are 1/2 behind.
    first = fair_split(3, SIX, [1] * 6)
    assert first.shares == (1, 1, 1, 0, 0, 0)
    assert first.rule == Rule.DEADLINE
    # Round 2: p4, p5, p6 claim 2 steps equally (2/3 each): each is then 1/2 + 2/3 = 7/6 behind and needs a step
    # to stay within one; there are two. Catch-up: every share may go from 0 (⌊2/3⌋ − 1, not below 0) to 2
    # (⌈2/3⌉ + 1); the steps go to whoever is furthest behind: all 7/6, so p4 then p5 (input order).
    second = fair_split(2, SIX[3:], [1, 1, 1], first.history)
    assert second.rule == Rule.CATCH_UP
    assert second.shares == (1, 1, 0)
    assert sum(second.shares) == 2
    assert second.floors == (0, 0, 0)
    assert second.leftover == 2
    assert second.queue == (0, 1, 2, 0, 1, 2)  # each one's first step (7/6 behind), then its second (1/6)
    assert second.places == (1, 2, 3)
    assert lags(second.history) == {
        "p1": Fraction(1, 2), "p2": Fraction(1, 2), "p3": Fraction(1, 2),
        "p4": Fraction(-1, 6), "p5": Fraction(-1, 6), "p6": Fraction(-7, 6),
    }  # fmt: skip
    assert second.history.unsettled == ("p6",)
    # Round 3: all six claim 6 steps equally (1 each). Quotas: p1-p3 3/2 (they have 1), p4-p5 13/6 (1),
    # p6 13/6 (0). Floors first: p4, p5 one step, p6 two; the two steps left go by deadline: p1-p3 are due in
    # 2 − 3/2 = 1/2, p4-p5 in 3 − 13/6 = 5/6: p1 and p2. Everyone is back within one step.
    third = fair_split(6, SIX, [1] * 6, second.history)
    assert third.rule == Rule.DEADLINE
    assert third.shares == (1, 1, 0, 1, 1, 2)
    assert third.floors == (0, 0, 0, 1, 1, 2)
    assert lags(third.history) == {
        "p1": Fraction(1, 2), "p2": Fraction(1, 2), "p3": Fraction(-1, 2),
        "p4": Fraction(-1, 6), "p5": Fraction(-1, 6), "p6": Fraction(-1, 6),
    }  # fmt: skip
    assert third.history.unsettled == ()


def test_a_lag_of_exactly_one_step_counts_as_unsettled() -> None:
    # Four equal claims share 2: ana and ben +1/2, cleo and dev −1/2. Then cleo and dev share 1 (1/2 each): each
    # reaches a quota of exactly 1 with nothing yet; one step for two: cleo gets it, dev is exactly 1 behind.
    _, history = apportion_fair(2, ["ana", "ben", "cleo", "dev"], [1, 1, 1, 1])
    split = fair_split(1, ["cleo", "dev"], [1, 1], history)
    assert split.rule == Rule.CATCH_UP
    assert split.shares == (1, 0)
    assert lags(split.history)["dev"] == -1
    assert split.history.unsettled == ("dev",)


def test_a_history_round_trips_through_its_standings() -> None:
    standings = (Standing("ana", Fraction(1, 2), 1), Standing("ben", Fraction(2, 3), 0))
    history = FairHistory.of(standings, rounds=4)
    assert history.participants == ("ana", "ben")
    assert (history.quotas, history.denominator) == ((3, 4), 6)  # 1/2 = 3/6, 2/3 = 4/6
    assert history.allocated == (1, 0)
    assert history.standings == standings
    assert history.rounds == 4
    assert history.unsettled == ()
    assert FairHistory.of(history.standings, history.rounds) == history


def test_an_empty_history_is_the_empty_history() -> None:
    assert FairHistory.of(()) == NO_HISTORY
    assert NO_HISTORY.standing("ana") is None


def test_a_checked_history_recomputes_who_is_a_step_or_more_off() -> None:
    # ana 2 given for a quota of 0 (2 ahead), ben 0 for 1 (exactly 1 behind), cleo 1 for 3/2 (within one).
    history = FairHistory.checked(["ana", "ben", "cleo"], [0, 2, 3], [2, 0, 1], 2)
    assert history.unsettled == ("ana", "ben")
    assert history.standing("cleo") == Standing("cleo", Fraction(3, 2), 1)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((["ana"], [-1], [0], 1), "no negative quota or allocation"),
        ((["ana"], [0], [-1], 1), "no negative quota or allocation"),
        ((["ana", "ana"], [0, 0], [0, 0], 1), "each participant appears once"),
        ((["ana", "ben"], [0], [0, 0], 1), "a quota and an allocation per participant"),
        ((["ana"], [0], [0, 0], 1), "a quota and an allocation per participant"),
        ((["ana"], [0], [0], 0), "history.denominator must be a whole number at least 1"),
        (([""], [0], [0], 1), "history.participants must not be empty"),
        ((["ana "], [0], [0], 1), "history.participants must not start or end with blanks"),
    ],
)
def test_a_checked_history_refuses_what_no_allocation_can_have_left(
    arguments: tuple[Any, ...], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        FairHistory.checked(*arguments)


def test_a_checked_history_names_the_repeated_participant() -> None:
    with pytest.raises(ValidationError) as caught:
        FairHistory.checked(["ana", "ben", "ana"], [0, 0, 0], [0, 0, 0], 1)
    assert caught.value.details == {"field": "history.participants", "repeated": ["ana"]}


@pytest.mark.parametrize(
    "arguments",
    [
        (["ana"], [0.5], [0], 2),
        (["ana"], [1], [1.0], 1),
        (["ana"], [1], [1], 2.0),
        (["ana"], [True], [1], 1),
    ],
)
def test_a_checked_history_refuses_floats_and_bools(arguments: tuple[Any, ...]) -> None:
    with pytest.raises(TypeError, match="must be an int"):
        FairHistory.checked(*arguments)


def test_a_standings_lag_is_what_it_was_given_minus_its_exact_share() -> None:
    assert Standing("ana", Fraction(7, 3), 3).lag == Fraction(2, 3)
    assert Standing("ana", Fraction(7, 3), 1).lag == Fraction(-4, 3)


@pytest.mark.parametrize(
    ("total", "participants", "claims", "message", "details"),
    [
        (-1, ["ana"], [1], "the total to split must not be negative", {"total": -1}),
        (5, ["ana", "ben"], [1, -2], "claims must not be negative", {"negative_claims": [1]}),
        (5, ["ana", "ben"], [0, 0], "there is nothing to split by: every claim is zero", {"total": 5, "recipients": 2}),
        (5, ["ana", "ben", "cleo"], [1, 1], "give one participant per claim", {"claims": 2, "participants": 3}),
        (5, ["ana", "ben", "ana"], [1, 1, 1], "each participant may appear only once", {"participants": ["ana"]}),
    ],
)  # fmt: skip
def test_impossible_splits_are_refused_with_what_is_wrong(
    total: int, participants: list[str], claims: list[int], message: str, details: dict[str, Any]
) -> None:
    with pytest.raises(ApportionmentError, match=message) as caught:
        apportion_fair(total, participants, claims)
    assert caught.value.details == details


@pytest.mark.parametrize("participant", ["", "   ", " ana", "ana\n", "a\u200bna"])
def test_an_empty_or_blank_participant_id_is_invalid(participant: str) -> None:
    with pytest.raises(ValidationError, match=r"^participants must not"):
        apportion_fair(1, ["ben", participant], [1, 1])


def test_a_history_that_is_not_a_fair_history_is_refused() -> None:
    with pytest.raises(ValidationError, match="history must be a FairHistory"):
        apportion_fair(1, ["ana"], [1], history={"ana": 1})  # type: ignore[arg-type]


def test_a_float_total_or_claim_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="total must be an int"):
        apportion_fair(1.0, ["ana"], [1])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="claims must be an int"):
        apportion_fair(1, ["ana"], [0.5])  # type: ignore[list-item]


def test_ranks_of_the_wrong_length_are_refused_for_new_participants() -> None:
    with pytest.raises(ApportionmentError, match="give one rank per claim") as caught:
        apportion_fair(1, ["ana", "ben", "cleo"], [1, 1, 1], ranks=[3, 2])
    assert caught.value.details == {"claims": 3, "ranks": 2}


@pytest.mark.parametrize("ranks", [[3, 2], [5, 5, 5, 0]], ids=["too few", "too many"])
def test_ranks_of_the_wrong_length_are_refused_for_the_same_participants_as_last_time(
    ranks: list[int],
) -> None:
    _, history = apportion_fair(1, ["ana", "ben", "cleo"], [1, 1, 1])
    with pytest.raises(ApportionmentError, match="give one rank per claim"):
        apportion_fair(1, ["ana", "ben", "cleo"], [1, 1, 1], history, ranks=ranks)
