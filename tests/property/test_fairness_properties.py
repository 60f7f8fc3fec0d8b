"""Properties of fair allocation over time, checked against the test's own model of cumulative quotas.

The model keeps, per participant, the cumulative exact quota (a Fraction) and the cumulative allocation, and
computes every expectation from them; it never asks ``apportion_fair`` what the answer should be.
"""

from __future__ import annotations

import math
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from core.apportion import apportion_units
from core.fairness import NO_HISTORY, FairHistory, apportion_fair
from tests.property.strategies import at_most

NAMES = [f"acct-{i}" for i in range(8)]

#: One allocation: its total, and a claim per participant taking part (absent: it left, for now).
Round = tuple[int, dict[str, int]]

totals = st.one_of(st.integers(0, 12), st.integers(0, 10**9))


def sequences(*, changing: bool, max_rounds: int) -> st.SearchStrategy[list[Round]]:
    """Sequences of allocations, mostly short, up to ``max_rounds`` long. Fixed: the same participants with the
    same claims every time. Changing: claims (zero included) and who takes part change from one to the next."""

    @st.composite
    def build(draw: st.DrawFn) -> list[Round]:
        size = draw(st.integers(1, len(NAMES)))
        length = draw(st.one_of(st.integers(1, 30), st.integers(1, max_rounds)))
        if not changing:
            claims = dict(
                zip(
                    NAMES[:size],
                    draw(st.lists(st.integers(1, 10**6), min_size=size, max_size=size)),
                    strict=True,
                )
            )
            return [(draw(totals), claims) for _ in range(length)]
        rounds: list[Round] = []
        for _ in range(length):
            present = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=len(NAMES), unique=True))
            claims = {name: draw(st.integers(0, 9)) for name in present}
            if not any(claims.values()):
                claims[present[0]] = 1
            rounds.append((draw(totals), claims))
        return rounds

    return build()


def replay(rounds: list[Round]) -> list[tuple[list[int], FairHistory]]:
    history = NO_HISTORY
    results = []
    for total, claims in rounds:
        shares, history = apportion_fair(total, list(claims), list(claims.values()), history)
        results.append((shares, history))
    return results


def within_one_step_possible(
    total: int, claims: dict[str, int], quota: dict[str, Fraction], given_: dict[str, int]
) -> bool:
    """Whether this allocation can keep every participant within one step (the model's own arithmetic): each
    was within one step before, and the floors and ceilings of the new cumulative quotas (never below what each
    already has; a zero claim may take nothing) can add up to what everyone will have after."""
    claim_sum = sum(claims.values())
    before_ok = all(abs(given_.get(p, 0) - quota.get(p, Fraction(0))) < 1 for p in claims)
    after = {p: quota.get(p, Fraction(0)) + Fraction(total * c, claim_sum) for p, c in claims.items()}
    had = {p: given_.get(p, 0) for p in claims}
    low = sum(max(had[p], math.floor(after[p])) for p in claims)
    high = sum(max(had[p], math.ceil(after[p])) if claims[p] else had[p] for p in claims)
    return before_ok and low <= sum(had.values()) + total <= high


def check(rounds: list[Round], *, fixed: bool) -> None:
    quota: dict[str, Fraction] = {}
    given_: dict[str, int] = {}
    for (total, claims), (shares, history) in zip(rounds, replay(rounds), strict=True):
        possible = within_one_step_possible(total, claims, quota, given_)
        claim_sum = sum(claims.values())
        assert sum(shares) == total
        for (participant, claim), share in zip(claims.items(), shares, strict=True):
            own = Fraction(total * claim, claim_sum)
            assert share >= 0
            assert abs(share - own) < 2
            if claim == 0:
                assert share == 0
            quota[participant] = quota.get(participant, Fraction(0)) + own
            given_[participant] = given_.get(participant, 0) + share
        lags = {p: given_[p] - quota[p] for p in claims}
        if fixed or possible:
            assert all(abs(lag) < 1 for lag in lags.values()), (total, claims, lags)
        assert {s.participant: (s.quota, s.allocated) for s in history.standings} == {
            p: (quota[p], given_[p]) for p in quota
        }


@at_most(60)
@given(sequences(changing=False, max_rounds=1000))
def test_every_cumulative_share_stays_within_one_step_when_the_claims_stay_the_same(
    rounds: list[Round],
) -> None:
    check(rounds, fixed=True)


@at_most(60)
@given(sequences(changing=True, max_rounds=1000))
def test_with_changing_claims_every_lag_stays_within_one_step_whenever_the_allocation_allows(
    rounds: list[Round],
) -> None:
    check(rounds, fixed=False)


@at_most(30)
@given(sequences(changing=True, max_rounds=200))
def test_the_same_sequence_gives_the_same_shares_and_histories(rounds: list[Round]) -> None:
    assert replay(rounds) == replay(rounds)


@given(totals, st.lists(st.integers(0, 10**6), min_size=1, max_size=20).filter(sum))
def test_plain_largest_remainder_rounds_each_quota_down_or_up(total: int, claims: list[int]) -> None:
    claim_sum = sum(claims)
    for claim, share in zip(
        claims, apportion_units(total, claims, ranks=list(range(len(claims)))), strict=True
    ):
        assert total * claim // claim_sum <= share <= -(-total * claim // claim_sum)


def test_plain_allocation_drifts_without_bound_while_rotation_stays_within_one_step() -> None:
    """Three equal claims, one step at a time, 30 times: fixed ranks give every step to the first."""
    plain_given, history, rounds = 0, NO_HISTORY, 30
    for _ in range(rounds):
        plain_given += apportion_units(1, [1, 1, 1], ranks=[1, 2, 3])[0]
        _, history = apportion_fair(1, ["a", "b", "c"], [1, 1, 1], history)
        assert max(abs(s.lag) for s in history.standings) < 1
    assert plain_given - Fraction(rounds, 3) == 20
