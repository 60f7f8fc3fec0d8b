"""Fair over time: leftover steps that rotate across repeated allocations.

Largest remainder with fixed tie-breaks gives the leftover steps of a split to the same recipients every time the
same claims come back: over a year of monthly savings plans, or a daily block with one key, an account can be many
steps ahead of its exact share. ``apportion_fair`` keeps a **history** instead: per participant, the cumulative
exact quota (a fraction of a step) and the cumulative allocation (whole steps). Its lag (allocation − quota) is the
participant's lead (positive) or lag (negative) in steps.

Each allocation:

1. adds every participant's exact quota ``total × claim / Σclaims`` to its cumulative quota;
2. gives every participant at least the floor of its new cumulative quota, never taking back a step already given;
3. gives the steps still left one by one to the participants whose next step is due soonest: the one whose lag
   would reach a whole step first if the claims stayed as they are (earliest deadline first: Tijdeman's rule for
   the chairman assignment problem, which for fixed claims is Balinski and Young's quota method). Equal deadlines
   go to the lower rank (priority ascending), then to the earlier position in the input.

What it promises, always: the shares sum to the total, none is negative, a zero claim gets nothing, every share is
within two steps of its own exact quota (``|share − quota| < 2``), and the same inputs give the same outputs.

When the same participants come back with the same claims (the same key or model, any totals, in any order),
every cumulative allocation also stays strictly within one step of its cumulative quota (``|lag| < 1``).

When claims change or participants join and leave, no rule that cannot see the future can promise that: six
participants share 3 steps equally (three get one, three none: lags ±½), then the three without one claim 2 steps
between them; each needs a step to stay within one step of its quota, and there are only two. So ``|lag| < 1`` is
kept whenever the allocation at hand allows it, and otherwise the steps go to whoever is furthest behind (within
two steps of each share's quota), which brings the lags back within one step as soon as allocations allow.

The work is whole numbers: bulk floors, then only the leftover steps are sorted.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from fractions import Fraction
from itertools import islice, repeat
from operator import add, floordiv, le, mod, mul, sub

import attrs

from core.apportion import checked_split
from core.errors import ApportionmentError, ValidationError
from core.numbers import check_count, check_counts
from core.validators import NamedEnum, check_text


@attrs.frozen
class Standing:
    """One participant in a history: its cumulative exact quota and what it was given, in steps."""

    participant: str
    quota: Fraction
    allocated: int

    @property
    def lag(self) -> Fraction:
        """Lead (positive) or lag (negative), in steps: what it was given minus its exact share."""
        return self.allocated - self.quota


def _history_shape(instance: FairHistory, attribute: attrs.Attribute[int], value: int) -> None:
    """What every history must be (cheap, checked on every allocation); ``FairHistory.checked`` checks the rest."""
    _one_each(instance.participants, instance.quotas, instance.allocated)
    check_count(value, "history.denominator", minimum=1)


def _one_each(participants: Sequence[str], quotas: Sequence[int], allocated: Sequence[int]) -> None:
    if not len(participants) == len(quotas) == len(allocated):
        raise ValidationError(
            "a fairness history needs a quota and an allocation per participant",
            {"field": "history", "participants": len(participants), "quotas": len(quotas),
             "allocated": len(allocated)},
        )  # fmt: skip


@attrs.frozen
class FairHistory:
    """Every participant's cumulative exact quota and cumulative allocation, in steps.

    The quotas are kept as whole numerators over one common ``denominator`` (the history stays exact and
    every allocation is integer work); ``standings`` shows them as fractions.
    """

    participants: tuple[str, ...] = ()
    quotas: tuple[int, ...] = ()
    allocated: tuple[int, ...] = ()
    denominator: int = attrs.field(default=1, validator=_history_shape)
    #: How many allocations the history has seen.
    rounds: int = 0
    #: The participants a whole step or more ahead or behind (only after an allocation that could not avoid it).
    unsettled: tuple[str, ...] = ()

    @classmethod
    def checked(
        cls,
        participants: Sequence[str],
        quotas: Sequence[int],
        allocated: Sequence[int],
        denominator: int,
        rounds: int = 0,
    ) -> FairHistory:
        """A history from outside (a store, a request): every part checked, the lags recomputed."""
        if len(set(participants)) != len(participants):
            raise ValidationError(
                "each participant appears once in a fairness history",
                {"field": "history.participants", "repeated": _repeated(participants)},
            )
        for participant in participants:
            check_text(participant, "history.participants")
        check_counts(quotas, "history.quotas")
        check_counts(allocated, "history.allocated")
        check_count(denominator, "history.denominator", minimum=1)
        check_count(rounds, "history.rounds")
        if (quotas and min(quotas) < 0) or (allocated and min(allocated) < 0):
            raise ValidationError(
                "a fairness history holds no negative quota or allocation", {"field": "history"}
            )
        _one_each(participants, quotas, allocated)
        unsettled = tuple(
            p
            for p, quota, steps in zip(participants, quotas, allocated, strict=True)
            if abs(steps * denominator - quota) >= denominator
        )
        return _normalised(tuple(participants), quotas, allocated, denominator, rounds, unsettled)

    @classmethod
    def of(cls, standings: Sequence[Standing], rounds: int = 0) -> FairHistory:
        """A history from its standings (each quota an exact fraction)."""
        denominator = math.lcm(1, *(s.quota.denominator for s in standings))
        quotas = [s.quota.numerator * (denominator // s.quota.denominator) for s in standings]
        participants = [s.participant for s in standings]
        return cls.checked(participants, quotas, [s.allocated for s in standings], denominator, rounds)

    @property
    def standings(self) -> tuple[Standing, ...]:
        return tuple(
            Standing(participant, Fraction(quota, self.denominator), allocated)
            for participant, quota, allocated in zip(
                self.participants, self.quotas, self.allocated, strict=True
            )
        )

    def given_back(self, steps: Mapping[str, int]) -> FairHistory:
        """The history with ``steps`` taken off what each named participant was given (steps it could not take
        after all, e.g. cut by margin). Their exact quotas stay: they are behind by as much."""
        if not steps:
            return self
        allocated = list(self.allocated)
        position = {p: i for i, p in enumerate(self.participants)}  # not .index() per step: linear, not n × m
        for participant, count in steps.items():
            allocated[position[participant]] -= check_count(count, "steps", minimum=0)
        was_unsettled = set(self.unsettled)
        unsettled = tuple(
            p
            for p, quota, given in zip(self.participants, self.quotas, allocated, strict=True)
            if p in was_unsettled or abs(given * self.denominator - quota) >= self.denominator
        )
        return attrs.evolve(self, allocated=tuple(allocated), unsettled=unsettled)

    def standing(self, participant: str) -> Standing | None:
        try:
            index = self.participants.index(participant)
        except ValueError:
            return None
        return Standing(participant, Fraction(self.quotas[index], self.denominator), self.allocated[index])


class Fairness(NamedEnum):
    """How an allocation key or a model portfolio hands out the steps left after rounding down."""

    PLAIN = (
        "PLAIN"  #: largest remainder; equal remainders by priority, then by order: the same way every time
    )
    ROTATE = (
        "ROTATE"  #: ``apportion_fair``: the leftover steps rotate, cumulative shares stay within one step
    )


#: The empty history: no allocation yet.
NO_HISTORY = FairHistory()


class Rule(NamedEnum):
    """Which rule placed the steps of a fair allocation."""

    DEADLINE = "DEADLINE"  #: every cumulative share kept within one step; leftover steps by earliest deadline
    CATCH_UP = "CATCH_UP"  #: that was impossible this time: the steps went to whoever was furthest behind


@attrs.frozen
class FairSplit:
    """A fair allocation and how it came about (what ``explain`` reports)."""

    shares: tuple[int, ...]
    history: FairHistory
    rule: Rule
    #: Per participant (input order): the steps it got before the leftover steps were handed out.
    floors: tuple[int, ...]
    #: The order in which the participants (input positions) were offered the leftover steps: the first
    #: ``leftover`` of them got one. In a catch-up a participant may be offered more than one step.
    queue: tuple[int, ...]
    #: How many leftover steps there were.
    leftover: int
    #: Who contended for them (input positions, one entry per step a participant could take) and what ordered
    #: them: each one's deadline (ascending), or in a catch-up how far behind it was (descending).
    candidates: tuple[int, ...] = ()
    keys: tuple[int, ...] = ()

    @property
    def places(self) -> tuple[int, ...]:
        """Per participant: its (first) place in the queue, 1 = served first; 0 if it was not in it."""
        places = [0] * len(self.shares)
        for place, i in enumerate(self.queue, start=1):
            if places[i] == 0:
                places[i] = place
        return tuple(places)


def apportion_fair(
    total: int,
    participants: Sequence[str],
    claims: Sequence[int],
    history: FairHistory = NO_HISTORY,
    *,
    ranks: Sequence[int] | None = None,
) -> tuple[list[int], FairHistory]:
    """Split ``total`` steps over ``participants`` in proportion to their ``claims``, fairly over time.

    Returns the shares (input order) and the history after this allocation; participants the history knows
    that are not in this allocation keep their standing untouched. See the module docstring for the rule and
    what it promises.
    """
    split = fair_split(total, participants, claims, history, ranks=ranks)
    return list(split.shares), split.history


def fair_split(
    total: int,
    participants: Sequence[str],
    claims: Sequence[int],
    history: FairHistory = NO_HISTORY,
    *,
    ranks: Sequence[int] | None = None,
) -> FairSplit:
    """``apportion_fair`` with what ``explain`` needs to say how each share came about."""
    total, claims, ranks = _checked(total, participants, claims, history, ranks)
    claim_sum = sum(claims)
    old = history.denominator
    common = old * claim_sum // math.gcd(old, claim_sum)
    if not history.unsettled and min(claims) > 0 and tuple(participants) == history.participants:
        split = _settled(total, claims, ranks, history, common)
        if split is not None:
            return split
    return _general(total, participants, claims, ranks, history, common)


def _settled(
    total: int, claims: list[int], ranks: list[int] | None, history: FairHistory, common: int
) -> FairSplit | None:
    """The usual case, in as few passes as possible: the same participants as last time, every one of them within
    one step of its quota, and an allocation that can keep them there (``None`` when it cannot)."""
    claim_sum = sum(claims)
    scale_old, weight = common // history.denominator, total * (common // claim_sum)
    quotas = history.quotas if scale_old == 1 else list(map(mul, history.quotas, repeat(scale_old)))
    given = history.allocated
    biggest = max(claims)
    reach = biggest * biggest  # separates any two different deadlines after the floor division below
    cumulative: list[int] = []
    lower: list[int] = []  # the floor of each new cumulative quota, or what it already has if that is more
    candidates: list[int] = []  # who can take one more step: at the floor of a quota that is not whole
    deadlines: list[
        int
    ] = []  # when that step is due: (1 − fraction) / weight from now, scaled to whole numbers
    # One plain loop: the hot path of every fair allocation, about a third faster than a pass per quantity.
    keep, floor_at, can_take, due = cumulative.append, lower.append, candidates.append, deadlines.append
    for i, (quota, steps, claim) in enumerate(zip(quotas, given, claims, strict=True)):
        quota += claim * weight
        keep(quota)
        floor, fraction = divmod(quota, common)
        if floor >= steps:
            floor_at(floor)
            if fraction:
                can_take(i)
                due((common - fraction) * reach // claim)
        else:
            floor_at(steps)
    leftover = sum(given) + total - sum(lower)
    if not 0 <= leftover <= len(candidates):
        return None
    if ranks is None or all(map(le, ranks, islice(ranks, 1, None))):
        # Ranks that never fall in input order break ties as the input order does: one sort of whole numbers,
        # each deadline × the count + its position (so equal deadlines stay in input order), no key function.
        size = len(claims)
        ordered = list(map(add, map(mul, deadlines, repeat(size)), candidates))
        ordered.sort()
        queue = list(map(mod, ordered, repeat(size)))
    else:
        queue = _queue(candidates, deadlines, ranks, descending=False)
    allocated = list(lower)
    for i in queue[:leftover]:
        allocated[i] += 1
    # Not reduced to lowest terms: with the same claims the denominator stays Σclaims, and this stays cheap.
    after = FairHistory(history.participants, tuple(cumulative), tuple(allocated), common, history.rounds + 1)
    floors_given = tuple(map(sub, lower, given))
    shares = tuple(map(sub, allocated, given))
    return FairSplit(
        shares,
        after,
        Rule.DEADLINE,
        floors_given,
        tuple(queue),
        leftover,
        tuple(candidates),
        tuple(deadlines),
    )


def _general(
    total: int,
    participants: Sequence[str],
    claims: list[int],
    ranks: list[int] | None,
    history: FairHistory,
    common: int,
) -> FairSplit:
    """Any allocation: participants joining and leaving, lags of a step or more, or claims that cannot keep every
    lag within one step this time (then the steps go to whoever is furthest behind)."""
    claim_sum = sum(claims)
    scale_old, scale_new = common // history.denominator, common // claim_sum
    index_of = {participant: i for i, participant in enumerate(history.participants)}
    quotas = [quota * scale_old for quota in history.quotas]
    allocated = list(history.allocated)
    names = list(history.participants)
    rows: list[int] = []
    for participant in participants:
        row = index_of.get(participant)
        if row is None:
            row = len(names)
            names.append(participant)
            quotas.append(0)
            allocated.append(0)
        rows.append(row)
    given = [allocated[row] for row in rows]
    exact = [total * claim for claim in claims]  # each quota × Σclaims
    cumulative = [quotas[row] + share * scale_new for row, share in zip(rows, exact, strict=True)]
    for row, quota in zip(rows, cumulative, strict=True):
        quotas[row] = quota
    # Each share's own window: within two steps of its quota, and nothing for a zero claim.
    low = [max(0, share // claim_sum - 1) for share in exact]
    high = [-(-share // claim_sum) + 1 if claim else 0 for share, claim in zip(exact, claims, strict=True)]
    lower = [
        min(max(a, quota // common, a + s), a + h)
        for a, quota, s, h in zip(given, cumulative, low, high, strict=True)
    ]
    upper = [
        min(max(a, -(-quota // common)), a + h) for a, quota, h in zip(given, cumulative, high, strict=True)
    ]
    target = sum(given) + total
    if all(u >= lo for u, lo in zip(upper, lower, strict=True)) and sum(lower) <= target <= sum(upper):
        rule = Rule.DEADLINE
        floors = [lo - a for lo, a in zip(lower, given, strict=True)]
        biggest = max(claims)
        reach = biggest * biggest
        candidates = [i for i, (lo, u) in enumerate(zip(lower, upper, strict=True)) if u > lo]
        deadlines = [((lower[i] + 1) * common - cumulative[i]) * reach // claims[i] for i in candidates]
        queue = _queue(candidates, deadlines, ranks, descending=False)
        keys = deadlines
    else:
        rule = Rule.CATCH_UP
        floors = low
        slots: list[int] = []  # one per step a participant may still take, in input order
        behind: list[int] = []  # how far behind it is before that step (× the common denominator)
        for i, (a, s, h) in enumerate(zip(given, low, high, strict=True)):
            for extra in range(s, h):
                slots.append(i)
                behind.append(cumulative[i] - (a + extra) * common)
        queue = _queue(slots, behind, ranks, descending=True)
        candidates, keys = slots, behind
    shares = list(floors)
    leftover = total - sum(floors)
    for i in queue[:leftover]:
        shares[i] += 1
    for row, share in zip(rows, shares, strict=True):
        allocated[row] += share
    unsettled = tuple(
        name
        for name, quota, steps in zip(names, quotas, allocated, strict=True)
        if abs(steps * common - quota) >= common
    )
    after = _normalised(tuple(names), quotas, allocated, common, history.rounds + 1, unsettled)
    return FairSplit(
        tuple(shares), after, rule, tuple(floors), tuple(queue), leftover, tuple(candidates), tuple(keys)
    )


def _queue(
    candidates: list[int], keys: list[int], ranks: Sequence[int] | None, *, descending: bool
) -> list[int]:
    """``candidates`` (participants' positions, in input order, a position possibly repeated) ordered by their
    ``keys``; equal keys go to the lower rank, then to the earlier position: two stable sorts give exactly that."""
    order = list(range(len(candidates)))
    if ranks is not None and not all(map(le, ranks, islice(ranks, 1, None))):
        # (ranks that never fall in input order break no tie the input order would not break the same way)
        by_rank = list(map(ranks.__getitem__, candidates))
        order.sort(key=by_rank.__getitem__)
    order.sort(key=keys.__getitem__, reverse=descending)
    return list(map(candidates.__getitem__, order))


def _normalised(
    participants: tuple[str, ...],
    quotas: Sequence[int],
    allocated: Sequence[int],
    denominator: int,
    rounds: int,
    unsettled: tuple[str, ...],
) -> FairHistory:
    divisor = math.gcd(denominator, *quotas)
    return FairHistory(
        participants,
        tuple(quotas) if divisor == 1 else tuple(map(floordiv, quotas, repeat(divisor))),
        tuple(allocated),
        denominator // divisor,
        rounds,
        unsettled,
    )


def _checked(
    total: int,
    participants: Sequence[str],
    claims: Sequence[int],
    history: FairHistory,
    ranks: Sequence[int] | None,
) -> tuple[int, list[int], list[int] | None]:
    claims, ranks = checked_split(total, claims, ranks)
    if not isinstance(history, FairHistory):
        raise ValidationError("history must be a FairHistory", {"field": "history"})
    if len(participants) != len(claims):
        raise ApportionmentError(
            "give one participant per claim", {"claims": len(claims), "participants": len(participants)}
        )
    if ranks is not None and len(ranks) != len(claims):
        raise ApportionmentError("give one rank per claim", {"claims": len(claims), "ranks": len(ranks)})
    if tuple(participants) == history.participants:
        return total, claims, ranks  # the same participants as last time: checked then
    for participant in participants:
        check_text(participant, "participants")
    if len(set(participants)) != len(participants):
        raise ApportionmentError(
            "each participant may appear only once", {"participants": _repeated(participants)}
        )
    return total, claims, ranks


def _repeated(participants: Sequence[str]) -> list[str]:
    return sorted(p for p, n in Counter(participants).items() if n > 1)
