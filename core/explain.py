"""Why each recipient got what it got: the apportionment kernel's decisions, recipient by recipient.

Every split in allot rounds exact quotas to steps, and someone gets the leftover steps. An ``Explanation`` lists the
stages of one allocation (the key's remainder, a partial fill, the cash of a portfolio order over its weights, ...);
each stage lists, per recipient, its claim, its exact quota (a fraction), the floor, the remainder, its rank, its
place in the queue for the leftover steps, whether it won one and why, its share, and for fair allocations its
cumulative lead (positive) or lag (negative) in steps afterwards.

The explanation is computed by the same functions that decide (``hamilton``, ``capped`` and ``rotating`` return the
shares and their stage together), so what it says is what happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Final

import attrs

from core.apportion import apportion_units, capped_rounds, decimals_of_shares, units_of_claims
from core.errors import ApportionmentError
from core.fairness import NO_HISTORY, FairHistory, Fairness, FairSplit, Rule, fair_split
from core.numbers import (
    check_counts,
    check_decimal,
    check_decimals,
    check_positive,
    exact,
    from_units,
    to_units,
)
from core.validators import NamedEnum


class Method(NamedEnum):
    """How a stage shared its total."""

    LARGEST_REMAINDER = "LARGEST_REMAINDER"  #: floors, then the leftover steps to the largest remainders
    ROTATE = "ROTATE"  #: floors of the cumulative quotas, then the leftover steps by earliest deadline
    BASE = "BASE"  #: the allocation key's base: percentages rounded down, or whole multiples of unit values
    PRIORITY = "PRIORITY"  #: filled one after another in priority order
    MARGIN = "MARGIN"  #: cut to what each participant can pay for


class Reason(NamedEnum):
    """Why a recipient's share is what it is."""

    EXACT = "EXACT"  #: its quota was a whole number of steps: nothing to round
    LARGEST_REMAINDER = (
        "LARGEST_REMAINDER"  #: won a leftover step: its remainder was larger than every loser's
    )
    SMALLER_REMAINDER = (
        "SMALLER_REMAINDER"  #: no leftover step: its remainder was smaller than every winner's
    )
    TIE_BY_PRIORITY = (
        "TIE_BY_PRIORITY"  #: an equal remainder (or deadline): the lower rank (priority) went first
    )
    TIE_BY_ORDER = (
        "TIE_BY_ORDER"  #: an equal remainder (or deadline) and rank: the earlier position went first
    )
    CAPPED = "CAPPED"  #: its share stops at its cap; what it could not take went to the others
    EARLIEST_DEADLINE = "EARLIEST_DEADLINE"  #: won a leftover step: its next step fell due before the others'
    LATER_DEADLINE = "LATER_DEADLINE"  #: no leftover step: others' next steps fell due first
    AHEAD = "AHEAD"  #: it was ahead of its cumulative share: less than its quota this time
    BEHIND = "BEHIND"  #: it was behind: its cumulative quota reached a whole step it did not have yet
    CATCH_UP = (
        "CATCH_UP"  #: every lag could not stay within one step: steps went to whoever was furthest behind
    )
    MARGIN_REDUCED = "MARGIN_REDUCED"  #: cut to what its buying power pays for
    REMAINDER_ACCOUNT = "REMAINDER_ACCOUNT"  #: it accepts remainders: it shares the key's remainder
    ERROR_ACCOUNT = "ERROR_ACCOUNT"  #: the key's error account: it takes what the participants do not
    BASE = "BASE"  #: the key's base for it, rounded down
    PRIORITY_ORDER = "PRIORITY_ORDER"  #: filled in priority order until the fill ran out
    BELOW_MINIMUM_ORDER = (
        "BELOW_MINIMUM_ORDER"  #: its share was below the instrument's minimum order: left out
    )


@attrs.frozen(kw_only=True)
class Line:
    """One recipient in one stage. Amounts are in the stage's unit (cash or quantity); ``quota`` and
    ``remainder`` are exact fractions of it; ``lag`` (fair stages) is in steps."""

    recipient: str
    claim: Decimal
    quota: Fraction
    floor: Decimal
    remainder: Fraction
    share: Decimal
    reason: Reason = attrs.field(converter=Reason)
    won_step: bool = False
    rank: int | None = None
    place: int | None = None
    lag: Fraction | None = None


@attrs.frozen(kw_only=True)
class Stage:
    """One split of an allocation: ``total`` shared in multiples of ``step`` by ``method``."""

    name: str
    method: Method = attrs.field(converter=Method)
    total: Decimal
    step: Decimal
    leftover_steps: int = 0
    lines: tuple[Line, ...] = ()
    note: str = ""


@attrs.frozen
class Explanation:
    """The stages of one allocation, in the order they were decided."""

    stages: tuple[Stage, ...] = ()

    def then(self, *stages: Stage) -> Explanation:
        return Explanation((*self.stages, *stages))


#: The remainder of an exact quota.
NO_REMAINDER: Final = Fraction(0)


def hamilton(
    name: str,
    total: int,
    claims: Sequence[int],
    step: Decimal,
    recipients: Sequence[str],
    *,
    shown_claims: Sequence[Decimal] | None = None,
    ranks: Sequence[int] | None = None,
) -> tuple[list[int], Stage]:
    """``apportion_units`` (largest remainder) and its stage. ``shown_claims`` are the claims as the caller knows
    them (Decimals); the integer ``claims`` are what the kernel divides by."""
    shares = apportion_units(total, claims, ranks=ranks)
    _one_each(recipients, claims)
    claim_sum = sum(claims)
    remainders = [total * claim % claim_sum for claim in claims]
    floors = [total * claim // claim_sum for claim in claims]
    leftover = total - sum(floors)
    queue = list(range(len(claims)))
    if ranks is not None:
        queue.sort(key=list(ranks).__getitem__)
    queue.sort(key=remainders.__getitem__, reverse=True)
    places = {i: place for place, i in enumerate(queue, start=1)}
    # quota = total × claim / Σ claims steps, in the step's unit: one exact fraction each, reduced once
    step_numerator, step_denominator = step.as_integer_ratio()
    unit = claim_sum * step_denominator
    lines = []
    for i, recipient in enumerate(recipients):
        won = places[i] <= leftover
        exact_quota = remainders[i] == 0
        reason = Reason.EXACT if exact_quota else _rivalry(i, won, queue, leftover, remainders, ranks)
        lines.append(
            Line(
                recipient=recipient,
                claim=Decimal(claims[i]) if shown_claims is None else shown_claims[i],
                quota=Fraction(total * claims[i] * step_numerator, unit),
                floor=from_units(floors[i], step),
                remainder=NO_REMAINDER if exact_quota else Fraction(remainders[i] * step_numerator, unit),
                share=from_units(shares[i], step),
                reason=reason,
                won_step=won,
                rank=None if ranks is None else ranks[i],
                place=places[i] if remainders[i] else None,
            )
        )
    stage = Stage(
        name=name,
        method=Method.LARGEST_REMAINDER,
        total=from_units(total, step),
        step=step,
        leftover_steps=leftover,
        lines=tuple(lines),
    )
    return shares, stage


def capped(
    name: str,
    total: int,
    claims: Sequence[int],
    caps: Sequence[int],
    step: Decimal,
    recipients: Sequence[str],
    *,
    shown_claims: Sequence[Decimal] | None = None,
) -> tuple[list[int], Stage]:
    """``apportion_units`` with caps, and its stage: who stopped at its cap, and how the others shared the rest
    (the kernel shares again without the capped recipients until nobody is over)."""
    _one_each(recipients, claims)
    shares, open_, remaining = capped_rounds(
        total, check_counts(claims, "claims"), None, check_counts(caps, "caps")
    )
    shown = [Decimal(c) for c in claims] if shown_claims is None else list(shown_claims)
    last: dict[int, Line] = {}
    leftover = 0
    if open_:
        _, inner = hamilton(
            name, remaining, [claims[i] for i in open_], step, [recipients[i] for i in open_],
            shown_claims=[shown[i] for i in open_],
        )  # fmt: skip
        last = dict(zip(open_, inner.lines, strict=True))
        leftover = inner.leftover_steps
    claim_sum = sum(claims)
    lines = []
    for i, recipient in enumerate(recipients):
        if i in last:
            lines.append(last[i])
            continue
        quota = Fraction(total * claims[i], claim_sum) * Fraction(step)
        share = from_units(shares[i], step)
        lines.append(
            Line(
                recipient=recipient,
                claim=shown[i],
                quota=quota,
                floor=share,
                remainder=quota - Fraction(share),
                share=share,
                reason=Reason.CAPPED if claims[i] else Reason.EXACT,
            )
        )
    return shares, Stage(
        name=name,
        method=Method.LARGEST_REMAINDER,
        total=from_units(total, step),
        step=step,
        leftover_steps=leftover,
        lines=tuple(lines),
        note="a capped recipient's quota is of the whole; the others' are of what the capped ones left",
    )


def rotating(
    name: str,
    total: int,
    claims: Sequence[int],
    step: Decimal,
    recipients: Sequence[str],
    history: FairHistory = NO_HISTORY,
    *,
    shown_claims: Sequence[Decimal] | None = None,
    ranks: Sequence[int] | None = None,
) -> tuple[list[int], FairHistory, Stage]:
    """``apportion_fair`` and its stage: floors of the cumulative quotas, the queue by deadline, the lags after."""
    split = fair_split(total, recipients, claims, history, ranks=ranks)
    stage = rotation_stage(
        name, split, total, claims, step, recipients, shown_claims=shown_claims, ranks=ranks
    )
    return list(split.shares), split.history, stage


def rotation_stage(
    name: str,
    split: FairSplit,
    total: int,
    claims: Sequence[int],
    step: Decimal,
    recipients: Sequence[str],
    *,
    shown_claims: Sequence[Decimal] | None = None,
    ranks: Sequence[int] | None = None,
) -> Stage:
    claim_sum = sum(claims)
    in_steps = Fraction(step)
    places = split.places
    first_key: dict[
        int, int
    ] = {}  # each participant's deadline (or how far behind it was) at its first place in the queue
    for i, key in zip(split.candidates, split.keys, strict=True):
        first_key.setdefault(i, key)
    keys = [first_key.get(i, 0) for i in range(len(claims))]
    standings = {s.participant: s for s in split.history.standings}  # once, not a search per recipient
    lines = []
    for i, recipient in enumerate(recipients):
        quota = Fraction(total * claims[i], claim_sum)
        won = split.shares[i] > split.floors[i]
        if split.rule == Rule.CATCH_UP:
            reason = Reason.CATCH_UP
        elif not places[i]:
            share = split.shares[i]
            reason = Reason.EXACT if share == quota else Reason.AHEAD if share < quota else Reason.BEHIND
        else:
            reason = _rivalry(i, won, split.queue, split.leftover, keys, ranks)
            if reason is Reason.LARGEST_REMAINDER:
                reason = Reason.EARLIEST_DEADLINE
            elif reason is Reason.SMALLER_REMAINDER:
                reason = Reason.LATER_DEADLINE
        standing = standings[recipient]  # every participant of an allocation is in the history after it
        past_floor = standing.quota - (standing.allocated - split.shares[i] + split.floors[i])
        lines.append(
            Line(
                recipient=recipient,
                claim=Decimal(claims[i]) if shown_claims is None else shown_claims[i],
                quota=quota * in_steps,
                floor=from_units(split.floors[i], step),
                remainder=past_floor * in_steps,
                share=from_units(split.shares[i], step),
                reason=reason,
                won_step=won,
                rank=None if ranks is None else ranks[i],
                place=places[i] or None,
                lag=standing.lag,
            )
        )
    return Stage(
        name=name,
        method=Method.ROTATE,
        total=from_units(total, step),
        step=step,
        leftover_steps=split.leftover,
        lines=tuple(lines),
        note="" if split.rule == Rule.DEADLINE else "catch-up: not every lag could stay within one step",
    )


def _one_each(recipients: Sequence[str], claims: Sequence[int]) -> None:
    if len(recipients) != len(claims):
        raise ApportionmentError(
            "give one recipient per claim", {"claims": len(claims), "recipients": len(recipients)}
        )


def _rivalry(
    i: int,
    won: bool,
    queue: Sequence[int],
    leftover: int,
    keys: Sequence[int],
    ranks: Sequence[int] | None,
) -> Reason:
    """Why ``i`` won or lost a leftover step: against the first loser (if it won) or the last winner (if it lost),
    by a better key, or at an equal key by rank or by position."""
    if won:
        rival = queue[leftover] if leftover < len(queue) else None
    else:
        rival = queue[leftover - 1] if leftover > 0 else None
    if rival is None or keys[rival] != keys[i]:
        return Reason.LARGEST_REMAINDER if won else Reason.SMALLER_REMAINDER
    if ranks is not None and ranks[rival] != ranks[i]:
        return Reason.TIE_BY_PRIORITY
    return Reason.TIE_BY_ORDER


@attrs.frozen
class Split:
    """A split with its explanation: what ``apportion`` (or ``apportion_fair``) gives, and its stage."""

    shares: list[Decimal]
    stage: Stage
    #: The history after a ROTATE split (none for a plain one).
    history: FairHistory | None = None


@exact
def split(
    name: str,
    total: Decimal,
    claims: Sequence[Decimal],
    step: Decimal,
    recipients: Sequence[str],
    *,
    ranks: Sequence[int] | None = None,
    caps: Sequence[Decimal] | None = None,
    fairness: Fairness = Fairness.PLAIN,
    history: FairHistory | None = None,
) -> Split:
    """``apportion(total, claims, step, ranks=ranks, caps=caps)`` — or with ``fairness`` ROTATE ``apportion_fair``
    with ``history`` — and how each share came about. The same checks and the same kernel as ``apportion``: the
    Decimal front end of every split that is explained."""
    step = check_positive(step, "step")
    total_units = to_units(check_decimal(total, "total"), step, "total")
    amounts, scale = check_decimals(claims, "claims")
    units = units_of_claims(amounts, scale)
    after = None
    if caps is not None:
        checked = [check_decimal(cap, "caps") for cap in caps]
        if any(cap < 0 for cap in checked):
            raise ApportionmentError("caps must not be negative", {"caps": [str(cap) for cap in checked]})
        shares, stage = capped(name, total_units, units, [int(cap // step) for cap in checked], step, recipients,
                               shown_claims=amounts)  # fmt: skip
    elif Fairness(fairness) is Fairness.ROTATE:
        shares, after, stage = rotating(
            name,
            total_units,
            units,
            step,
            recipients,
            history or NO_HISTORY,
            shown_claims=amounts,
            ranks=ranks,
        )
    else:
        shares, stage = hamilton(
            name, total_units, units, step, recipients, shown_claims=amounts, ranks=ranks
        )
    return Split(decimals_of_shares(shares, step), stage, after)
