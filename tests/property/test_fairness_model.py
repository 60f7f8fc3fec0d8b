"""Properties of ``apportion_fair``: fair over time, checked against the test's own exact model.

The model keeps every participant's cumulative exact quota (a ``Fraction``) and cumulative allocation (an int),
and every expectation is computed from it: a share's quota is ``total × claim / Σclaims``, worked out here, never
asked of the function under test.

A run is a sequence of allocations, from no history or (now and then) from a history as a store might hold it,
with lags of many steps. Most runs are a few allocations drawn one by one (they shrink well); about one in ten is
long (up to 1 000 allocations), generated from a seed Hypothesis draws, so that a failure names the seed and
replays exactly.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from fractions import Fraction
from typing import NamedTuple

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from core.apportion import apportion_units
from core.errors import ApportionmentError, ValidationError
from core.fairness import NO_HISTORY, FairHistory, FairSplit, Rule, Standing, apportion_fair, fair_split
from tests.property.strategies import at_most

POOL = ("ana", "ben", "cleo", "dev", "eli", "fay", "gus", "hal")
#: Long runs: up to this many allocations (one run in ten).
LONGEST = 1000
SHORTEST_LONG = 11
LONGEST_SHORT = 10

claim_values = st.one_of(st.just(0), st.integers(1, 5), st.integers(1, 1000), st.integers(1, 10**6))
totals = st.one_of(st.just(0), st.integers(1, 10), st.integers(0, 10**9))
seeds = st.integers(0, 2**32 - 1)
#: True about one time in ten (shrinks to False: a short run).
long_runs = st.integers(0, 9).map(lambda n: n == 9)


def random_claim(rng: random.Random) -> int:
    return rng.choice((0, rng.randint(1, 5), rng.randint(1, 1000), rng.randint(1, 10**6)))


def random_total(rng: random.Random) -> int:
    kind = rng.randrange(4)
    return 0 if kind == 0 else rng.randint(1, 10) if kind < 3 else rng.randint(0, 10**9)


def somebody_claims(claims: list[int]) -> list[int]:
    """The claims, with the first one made 1 if every one is zero (a split needs something to split by)."""
    return claims if sum(claims) else [1, *claims[1:]]


class Allocation(NamedTuple):
    total: int
    participants: tuple[str, ...]
    claims: tuple[int, ...]
    ranks: tuple[int, ...] | None


class Model:
    """Every participant's cumulative exact quota and allocation, in steps, in the order they first came."""

    def __init__(self) -> None:
        self.quota: dict[str, Fraction] = {}
        self.allocated: dict[str, int] = {}

    @classmethod
    def starting_from(cls, start: Sequence[tuple[str, Fraction, int]]) -> Model:
        model = cls()
        for participant, quota, allocated in start:
            model.quota[participant], model.allocated[participant] = quota, allocated
        return model

    def copy(self) -> Model:
        twin = Model()
        twin.quota, twin.allocated = dict(self.quota), dict(self.allocated)
        return twin

    def lag(self, participant: str) -> Fraction:
        return self.allocated.get(participant, 0) - self.quota.get(participant, Fraction(0))

    def apply(self, allocation: Allocation, shares: Sequence[int]) -> None:
        for participant, quota, share in zip(
            allocation.participants, quotas(allocation), shares, strict=True
        ):
            self.quota[participant] = self.quota.get(participant, Fraction(0)) + quota
            self.allocated[participant] = self.allocated.get(participant, 0) + share

    def standings(self) -> tuple[Standing, ...]:
        return tuple(Standing(p, self.quota[p], self.allocated[p]) for p in self.quota)


def quotas(allocation: Allocation) -> list[Fraction]:
    """Each participant's exact quota of this allocation: total × claim / Σclaims."""
    claim_sum = sum(allocation.claims)
    return [Fraction(allocation.total * claim, claim_sum) for claim in allocation.claims]


def everyone_within_one_step(model: Model, participants: Sequence[str]) -> bool:
    return all(abs(model.lag(p)) < 1 for p in participants)


def one_step_is_possible_within_two(model: Model, allocation: Allocation) -> bool:
    """Whether some allocation keeps every participant of this one within one step of its new cumulative quota
    while keeping each share within two steps of its own quota and taking nothing back: each new cumulative
    allocation is then ⌊Q'⌋ or ⌈Q'⌉, and A + max(0, ⌊quota⌋ − 1) to A + ⌈quota⌉ + 1 (A for a zero claim)."""
    lowest = highest = 0
    for participant, claim, quota in zip(
        allocation.participants, allocation.claims, quotas(allocation), strict=True
    ):
        given_so_far = model.allocated.get(participant, 0)
        after = model.quota.get(participant, Fraction(0)) + quota
        low = max(math.floor(after), given_so_far + max(0, math.floor(quota) - 1))
        high = min(math.ceil(after), given_so_far + (math.ceil(quota) + 1 if claim else 0))
        if low > high:
            return False
        lowest, highest = lowest + low, highest + high
    target = sum(model.allocated.get(p, 0) for p in allocation.participants) + allocation.total
    return lowest <= target <= highest


def one_step_is_possible(model: Model, allocation: Allocation) -> bool:
    """Whether some allocation keeps every participant of this one within one step of its new cumulative quota:
    Σ max(A, ⌊Q'⌋) ≤ ΣA + total ≤ Σ max(A, ⌈Q'⌉) (⌈Q'⌉ replaced by A for a zero claim)."""
    lowest = highest = 0
    for participant, claim, quota in zip(
        allocation.participants, allocation.claims, quotas(allocation), strict=True
    ):
        given_so_far = model.allocated.get(participant, 0)
        after = model.quota.get(participant, Fraction(0)) + quota
        lowest += max(given_so_far, math.floor(after))
        highest += max(given_so_far, math.ceil(after)) if claim else given_so_far
    target = sum(model.allocated.get(p, 0) for p in allocation.participants) + allocation.total
    return lowest <= target <= highest


def rank(allocation: Allocation, i: int) -> int:
    return 0 if allocation.ranks is None else allocation.ranks[i]


def deadline_shares(model: Model, allocation: Allocation) -> list[int]:
    """The rule of the module docstring, written the obvious way with exact fractions: every participant gets at
    least the floor of its new cumulative quota (never less than it already has); the steps still left go one
    each to the participants whose next step is due soonest — whose lag would reach a whole step first at
    these claims: (⌊Q'⌋ + 1 − Q') / claim from now — ties to the lower rank, then the earlier position."""
    cumulative = [
        model.quota.get(p, Fraction(0)) + quota
        for p, quota in zip(allocation.participants, quotas(allocation), strict=True)
    ]
    given_so_far = [model.allocated.get(p, 0) for p in allocation.participants]
    shares = [max(a, math.floor(q)) - a for a, q in zip(given_so_far, cumulative, strict=True)]
    due = sorted(
        (
            (math.floor(q) + 1 - q) / claim,
            rank(allocation, i),
            i,
        )
        for i, (a, q, claim) in enumerate(zip(given_so_far, cumulative, allocation.claims, strict=True))
        if claim and a <= math.floor(q) < q
    )
    for *_, i in due[: allocation.total - sum(shares)]:
        shares[i] += 1
    return shares


def catch_up_shares(model: Model, allocation: Allocation) -> list[int]:
    """The catch-up of the module docstring, written the obvious way: every share starts as low as the two-step
    rule allows (⌊quota⌋ − 1, not below 0), then each step goes to whoever is furthest behind its cumulative
    quota at that moment (ties to the lower rank, then the earlier position), never past ⌈quota⌉ + 1."""
    share_quotas = quotas(allocation)
    lowest = [max(0, math.floor(q) - 1) for q in share_quotas]
    highest = [math.ceil(q) + 1 if c else 0 for q, c in zip(share_quotas, allocation.claims, strict=True)]
    behind = [
        model.quota.get(p, Fraction(0)) + q - model.allocated.get(p, 0)
        for p, q in zip(allocation.participants, share_quotas, strict=True)
    ]
    shares = list(lowest)
    for _ in range(allocation.total - sum(lowest)):
        i = min(
            (i for i in range(len(shares)) if shares[i] < highest[i]),
            key=lambda i: (shares[i] - behind[i], rank(allocation, i), i),
        )
        shares[i] += 1
    return shares


class Behind(NamedTuple):
    """A move resolved against the model when it is played: the participants behind their quota (most behind
    first) claim equally ``short`` steps fewer than there are of them. The docstring's six-participant example is
    one: each of them may need a step to stay within one, and there are not enough."""

    short: int

    def resolve(self, model: Model) -> Allocation:
        behind = sorted((p for p in model.quota if model.lag(p) < 0), key=model.lag)
        participants = tuple(behind or model.quota or POOL[:1])
        return Allocation(
            max(0, len(participants) - self.short), participants, (1,) * len(participants), None
        )


Move = Allocation | Behind


class Run(NamedTuple):
    #: The history the run starts from: (participant, cumulative quota, cumulative allocation) each.
    start: tuple[tuple[str, Fraction, int], ...]
    moves: tuple[Move, ...]


class Step(NamedTuple):
    allocation: Allocation
    split: FairSplit
    before: Model
    after: Model


def starting_history(run: Run) -> FairHistory:
    return FairHistory.of([Standing(*standing) for standing in run.start]) if run.start else NO_HISTORY


def play(run: Run) -> Iterator[Step]:
    """Every allocation of ``run`` through ``fair_split``, each history fed to the next, beside the model."""
    history, model = starting_history(run), Model.starting_from(run.start)
    for move in run.moves:
        allocation = move.resolve(model) if isinstance(move, Behind) else move
        split = fair_split(
            allocation.total, allocation.participants, allocation.claims, history, ranks=allocation.ranks
        )
        before = model.copy()
        model.apply(allocation, split.shares)
        yield Step(allocation, split, before, model.copy())
        history = split.history


@st.composite
def fixed_claim_runs(draw: st.DrawFn) -> Run:
    """The same participants with the same claims (and ranks) every time, in any order, any totals. Equal
    claims half the time: then every tie is broken by rank and position."""
    count = draw(st.integers(1, len(POOL)))
    if draw(st.booleans()):
        claims = [draw(st.integers(1, 5))] * count
    else:
        claims = somebody_claims(draw(st.lists(claim_values, min_size=count, max_size=count)))
    ranks = draw(st.none() | st.lists(st.integers(1, 3), min_size=count, max_size=count))
    shuffled = draw(st.booleans())
    orders: list[Sequence[int]]
    if draw(long_runs):
        length, rng = draw(st.integers(SHORTEST_LONG, LONGEST)), random.Random(draw(seeds))
        orders = [rng.sample(range(count), count) if shuffled else range(count) for _ in range(length)]
        amounts = [random_total(rng) for _ in range(length)]
    else:
        amounts = draw(st.lists(totals, min_size=1, max_size=LONGEST_SHORT))
        orders = [
            draw(st.permutations(range(count))) if shuffled else range(count) for _ in range(len(amounts))
        ]
    return Run(
        (),
        tuple(
            Allocation(
                total,
                tuple(POOL[i] for i in order),
                tuple(claims[i] for i in order),
                None if ranks is None else tuple(ranks[i] for i in order),
            )
            for total, order in zip(amounts, orders, strict=True)
        ),
    )


@st.composite
def stored_histories(draw: st.DrawFn) -> tuple[tuple[str, Fraction, int], ...]:
    """A history as a store may hold it: any quotas and allocations, lags of many steps either way included."""
    names = draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=len(POOL), unique=True))
    denominator = draw(st.integers(1, 12))
    return tuple(
        (name, Fraction(draw(st.integers(0, 30 * denominator)), denominator), draw(st.integers(0, 30)))
        for name in names
    )


#: How the next allocation of a changing run differs from the one before.
SAME, NEW_CLAIMS, NEW_PARTICIPANTS, BEHIND = "same", "new claims", "new participants", "those behind"


@st.composite
def changing_runs(draw: st.DrawFn) -> Run:
    """Claims that change between allocations; participants joining, leaving (some of a small pool) and
    rejoining; stretches with nothing changed in between, so that lags can settle again; and now and then the
    participants behind their quota alone, sharing fewer steps than there are of them (``Behind``): random
    changes alone almost never leave an allocation that cannot keep everyone within one step. One run in four
    starts from a stored history instead of none."""
    start = draw(stored_histories()) if draw(st.integers(0, 3)) == 3 else ()
    long, ranked = draw(long_runs), draw(st.booleans())
    # Small claims and totals (a step is then a large part of a share) are where lags of a step or more arise.
    small = draw(st.booleans())
    rng = random.Random(draw(seeds)) if long else None
    pool = POOL[: rng.randint(3, len(POOL)) if rng else draw(st.integers(1, len(POOL)))]
    rank_of = {p: draw(st.integers(1, 3)) for p in POOL} if ranked else {}
    if rng:
        length = draw(st.integers(SHORTEST_LONG, LONGEST))
        kinds = [rng.choice((SAME, SAME, NEW_CLAIMS, NEW_PARTICIPANTS, BEHIND)) for _ in range(length)]

        def short() -> int:
            return rng.randint(1, 2)

        def participants() -> list[str]:
            return rng.sample(pool, rng.randint(1, len(pool)))

        def claims_for(count: int) -> list[int]:
            if rng.randrange(4) == 0:
                return [1] * count
            return [rng.randint(0, 3) if small else random_claim(rng) for _ in range(count)]

        def total() -> int:
            return rng.randint(0, 6) if small else random_total(rng)
    else:
        length = draw(st.integers(1, LONGEST_SHORT))
        change = st.sampled_from((SAME, NEW_CLAIMS, NEW_PARTICIPANTS, BEHIND))
        kinds = [draw(change) for _ in range(length)]

        def short() -> int:
            return draw(st.integers(1, 2))

        def participants() -> list[str]:
            return draw(st.lists(st.sampled_from(pool), min_size=1, max_size=len(pool), unique=True))

        def claims_for(count: int) -> list[int]:
            if draw(st.booleans()):
                return [1] * count
            values = st.integers(0, 3) if small else claim_values
            return draw(st.lists(values, min_size=count, max_size=count))

        def total() -> int:
            return draw(st.integers(0, 6) if small else totals)

    run: list[Move] = []
    # A stored history's participants, in its order, come back first (half the time).
    stored_first: bool = draw(st.booleans())
    chosen = [standing[0] for standing in start] if start and stored_first else []
    claims: list[int] = []
    for kind in kinds:
        if run and kind == BEHIND:
            run.append(Behind(short()))
            continue
        if (not run and not chosen) or kind == NEW_PARTICIPANTS:
            chosen = participants()
        if not run or kind != SAME:
            claims = somebody_claims(claims_for(len(chosen)))
        ranks = tuple(rank_of[p] for p in chosen) if ranked else None
        run.append(Allocation(total(), tuple(chosen), tuple(claims), ranks))
    return Run(start, tuple(run))


any_runs = fixed_claim_runs() | changing_runs()


@at_most(300)
@given(any_runs)
def test_the_shares_always_sum_to_the_total_and_none_is_negative(run: Run) -> None:
    for step in play(run):
        assert sum(step.split.shares) == step.allocation.total
        assert all(share >= 0 for share in step.split.shares)


@at_most(300)
@given(any_runs)
def test_a_zero_claim_always_gets_nothing(run: Run) -> None:
    for step in play(run):
        for claim, share in zip(step.allocation.claims, step.split.shares, strict=True):
            if claim == 0:
                assert share == 0


@at_most(300)
@given(any_runs)
def test_every_share_is_within_two_steps_of_its_own_exact_quota(run: Run) -> None:
    for step in play(run):
        for quota, share in zip(quotas(step.allocation), step.split.shares, strict=True):
            assert abs(share - quota) < 2


@at_most(300)
@given(fixed_claim_runs())
def test_every_cumulative_share_stays_within_one_step_when_the_claims_stay_the_same(
    run: Run,
) -> None:
    for step in play(run):
        for participant in step.after.quota:
            assert abs(step.after.lag(participant)) < 1, (participant, step.after.lag(participant))
        assert step.split.rule == Rule.DEADLINE
        assert step.split.history.unsettled == ()


@at_most(300)
@given(changing_runs())
def test_every_cumulative_share_stays_within_one_step_whenever_everyone_was_and_the_allocation_allows_it(
    run: Run,
) -> None:
    for step in play(run):
        participants = step.allocation.participants
        if everyone_within_one_step(step.before, participants) and one_step_is_possible(
            step.before, step.allocation
        ):
            event("within one step before, and possible")
            assert everyone_within_one_step(step.after, participants), [
                (p, step.after.lag(p)) for p in participants
            ]
            assert step.split.rule == Rule.DEADLINE
        else:
            event("not promised")


@at_most(300)
@given(changing_runs())
def test_every_cumulative_share_stays_within_one_step_whenever_the_allocation_at_hand_allows_it(
    run: Run,
) -> None:
    """The docstring's "kept whenever the allocation at hand allows it", read in full: from any history (lags of
    many steps included), if some allocation keeps each share within two steps of its quota and every
    participant of this allocation within one step, apportion_fair keeps them within one step."""
    for step in play(run):
        participants = step.allocation.participants
        if one_step_is_possible_within_two(step.before, step.allocation):
            assert everyone_within_one_step(step.after, participants), [
                (p, step.after.lag(p)) for p in participants
            ]


@at_most(300)
@given(any_runs)
def test_while_everyone_can_stay_within_one_step_the_leftover_steps_go_by_earliest_deadline(
    run: Run,
) -> None:
    for step in play(run):
        if everyone_within_one_step(step.before, step.allocation.participants) and one_step_is_possible(
            step.before, step.allocation
        ):
            assert list(step.split.shares) == deadline_shares(step.before, step.allocation)


@at_most(300)
@given(changing_runs())
def test_in_a_catch_up_each_step_goes_to_whoever_is_furthest_behind(run: Run) -> None:
    for step in play(run):
        if step.split.rule == Rule.CATCH_UP:
            assert list(step.split.shares) == catch_up_shares(step.before, step.allocation)


@at_most(300)
@given(changing_runs())
def test_a_catch_up_happens_only_when_no_allocation_could_keep_everyone_within_one_step(
    run: Run,
) -> None:
    """Where the docstring's promise does not apply, the kernel may still manage; where it does, never a catch-up."""
    for step in play(run):
        if step.split.rule == Rule.CATCH_UP:
            event("catch-up")
            assert not (
                everyone_within_one_step(step.before, step.allocation.participants)
                and one_step_is_possible(step.before, step.allocation)
            )


@at_most(300)
@given(any_runs)
def test_the_history_holds_exactly_the_models_cumulative_quotas_and_allocations(run: Run) -> None:
    for number, step in enumerate(play(run), start=1):
        history = step.split.history
        assert history.standings == step.after.standings()
        assert history.rounds == number
        assert history.unsettled == tuple(p for p in step.after.quota if abs(step.after.lag(p)) >= 1)
        for participant in step.allocation.participants:
            assert history.standing(participant) == Standing(
                participant, step.after.quota[participant], step.after.allocated[participant]
            )


@at_most(300)
@given(changing_runs())
def test_participants_absent_from_an_allocation_keep_their_standing_untouched(run: Run) -> None:
    for step in play(run):
        for participant in set(step.before.quota) - set(step.allocation.participants):
            assert step.split.history.standing(participant) == Standing(
                participant, step.before.quota[participant], step.before.allocated[participant]
            )


@at_most(300)
@given(any_runs)
def test_the_same_allocations_twice_give_the_same_shares_and_histories(run: Run) -> None:
    first = [step.split for step in play(run)]
    again = [step.split for step in play(run)]
    assert first == again


@at_most(300)
@given(any_runs, st.data())
def test_a_history_rebuilt_from_its_standings_allocates_exactly_like_the_original(
    run: Run, data: st.DataObject
) -> None:
    """What a store does: keep the standings, rebuild the history, allocate on."""
    allocations = [step.allocation for step in play(run)]
    cut = data.draw(st.integers(0, len(allocations)), label="cut")
    history = starting_history(run)
    for allocation in allocations[:cut]:
        _, history = apportion_fair(
            allocation.total, allocation.participants, allocation.claims, history, ranks=allocation.ranks
        )
    rebuilt = FairHistory.of(history.standings, history.rounds)
    assert rebuilt.standings == history.standings
    assert rebuilt.unsettled == history.unsettled
    for allocation in allocations[cut:]:
        arguments = (allocation.total, allocation.participants, allocation.claims)
        shares, history = apportion_fair(*arguments, history, ranks=allocation.ranks)
        again, rebuilt = apportion_fair(*arguments, rebuilt, ranks=allocation.ranks)
        assert again == shares
        assert rebuilt.standings == history.standings


@at_most(300)
@given(any_runs)
def test_every_split_explains_its_shares_by_its_floors_and_its_queue(run: Run) -> None:
    for step in play(run):
        split = step.split
        assert split.leftover == step.allocation.total - sum(split.floors)
        served = split.queue[: split.leftover]
        assert len(served) == split.leftover
        assert list(split.shares) == [floor + served.count(i) for i, floor in enumerate(split.floors)]


# Plain largest remainder, for comparison: right within each allocation, unfair over time.


@at_most(300)
@given(fixed_claim_runs())
def test_plain_largest_remainder_rounds_each_quota_down_or_up_in_every_allocation(
    run: Run,
) -> None:
    for allocation in run.moves:
        assert isinstance(allocation, Allocation)
        shares = apportion_units(allocation.total, allocation.claims, ranks=allocation.ranks)
        for quota, share in zip(quotas(allocation), shares, strict=True):
            assert math.floor(quota) <= share <= math.ceil(quota)


def test_with_fixed_ranks_largest_remainder_runs_ahead_and_apportion_fair_does_not() -> None:
    """Three equal claims, one step, thirty times: largest remainder gives every step to the first (its lead
    reaches 20 steps: 30 given, 10 due), apportion_fair rotates it (10 each, never a step ahead or behind)."""
    participants, claims = ("ana", "ben", "cleo"), (1, 1, 1)
    plain = [0, 0, 0]
    history = NO_HISTORY
    for allocation in range(1, 31):
        for i, share in enumerate(apportion_units(1, claims, ranks=[1, 2, 3])):
            plain[i] += share
        _, history = apportion_fair(1, participants, claims, history, ranks=[1, 2, 3])
        due = Fraction(allocation, 3)
        assert plain[0] - due == Fraction(2 * allocation, 3)  # grows by 2/3 a step every time
        assert all(abs(standing.lag) < 1 for standing in history.standings)
        assert all(standing.quota == due for standing in history.standings)
    assert plain == [30, 0, 0]
    assert [standing.allocated for standing in history.standings] == [10, 10, 10]


@at_most(50)
@given(st.integers(2, 8), st.integers(1, 200))
def test_plain_largest_remainders_lead_grows_without_bound_while_the_fair_lag_stays_below_one_step(
    count: int, rounds: int
) -> None:
    participants, claims, ranks = POOL[:count], [1] * count, list(range(count))
    plain_first, history = 0, NO_HISTORY
    for _ in range(rounds):
        plain_first += apportion_units(1, claims, ranks=ranks)[0]
        _, history = apportion_fair(1, participants, claims, history, ranks=ranks)
    assert plain_first - Fraction(rounds, count) == Fraction(rounds * (count - 1), count)
    assert all(abs(standing.lag) < 1 for standing in history.standings)


# Refusals: every wrong input is an AllotError that says what is wrong.

participant_lists = st.lists(st.sampled_from(POOL), min_size=1, max_size=len(POOL), unique=True)


@at_most(200)
@given(st.integers(max_value=-1), participant_lists)
def test_a_negative_total_is_refused(total: int, participants: list[str]) -> None:
    with pytest.raises(ApportionmentError, match="total to split must not be negative"):
        apportion_fair(total, participants, [1] * len(participants))


@at_most(200)
@given(totals, participant_lists, st.data())
def test_a_negative_claim_is_refused_and_named(
    total: int, participants: list[str], data: st.DataObject
) -> None:
    claims = data.draw(st.lists(st.integers(-5, 5), min_size=len(participants), max_size=len(participants)))
    negative = [i for i, claim in enumerate(claims) if claim < 0]
    if not negative:
        claims[0], negative = -1, [0]
    with pytest.raises(ApportionmentError, match="claims must not be negative") as caught:
        apportion_fair(total, participants, claims)
    assert caught.value.details == {"negative_claims": negative}


@at_most(200)
@given(totals, participant_lists)
def test_claims_that_are_all_zero_are_refused(total: int, participants: list[str]) -> None:
    with pytest.raises(ApportionmentError, match="every claim is zero"):
        apportion_fair(total, participants, [0] * len(participants))


@at_most(200)
@given(totals, participant_lists, st.data())
def test_a_participant_named_twice_is_refused(
    total: int, participants: list[str], data: st.DataObject
) -> None:
    twice = data.draw(st.sampled_from(participants))
    named = [*participants, twice]
    with pytest.raises(ApportionmentError, match="each participant may appear only once") as caught:
        apportion_fair(total, named, [1] * len(named))
    assert caught.value.details == {"participants": [twice]}


@at_most(200)
@given(totals, participant_lists, st.integers(1, 3))
def test_claims_and_participants_of_different_lengths_are_refused(
    total: int, participants: list[str], extra: int
) -> None:
    with pytest.raises(ApportionmentError, match="give one participant per claim"):
        apportion_fair(total, participants, [1] * (len(participants) + extra))
    with pytest.raises(ApportionmentError, match="give one participant per claim"):
        apportion_fair(total, [*participants, *POOL][: len(participants) + extra], [1] * len(participants))


@at_most(200)
@given(totals, participant_lists, st.sampled_from(["", " ", "\t", " ana", "ana ", "a\u200bb"]), st.data())
def test_an_empty_or_blank_participant_id_is_refused(
    total: int, participants: list[str], bad: str, data: st.DataObject
) -> None:
    position = data.draw(st.integers(0, len(participants)))
    named = [*participants[:position], bad, *participants[position:]]
    with pytest.raises(ValidationError, match=r"^participants must not"):
        apportion_fair(total, named, [1] * len(named))


@at_most(200)
@given(totals, participant_lists, st.integers(0, 3))
def test_ranks_and_claims_of_different_lengths_are_refused_for_new_participants(
    total: int, participants: list[str], ranks: int
) -> None:
    if ranks == len(participants):
        ranks += 1
    with pytest.raises(ApportionmentError, match="give one rank per claim"):
        apportion_fair(total, participants, [1] * len(participants), ranks=[1] * ranks)
