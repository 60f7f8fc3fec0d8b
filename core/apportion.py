"""The one apportionment kernel: every split in allot goes through here.

``apportion(total, claims, step)`` divides ``total`` into multiples of ``step`` in proportion to ``claims``:

- conservation: the shares sum to ``total`` exactly;
- quota rule: each share is its exact quota ``total × claim / Σclaims`` rounded down or up to the step;
- largest remainder (Hamilton): the steps left after rounding every quota down go to the largest remainders;
- deterministic ties: equal remainders go first to the lower ``rank`` (priority ascending), then to the
  earlier position in the input;
- caps (optional): no share exceeds its cap; what a capped recipient cannot take is apportioned again over
  the others, in proportion to their claims.

The work happens in integers (``apportion_units``). The Decimal front end only converts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Final

from core.errors import ApportionmentError, OffStep
from core.numbers import (
    EXACT,
    check_count,
    check_counts,
    check_decimal,
    check_decimals,
    check_positive,
    exact,
    to_units,
)

#: Inputs with more recipients than this take the fast path of ``_band``: a sample of the remainders
#: narrows the competition for the leftover steps to a thin band, which alone is sorted.
SAMPLED_SELECTION_ABOVE: Final = 4096


def apportion_units(
    total: int,
    claims: Sequence[int],
    *,
    ranks: Sequence[int] | None = None,
    caps: Sequence[int] | None = None,
) -> list[int]:
    """Split the whole number ``total`` over non-negative integer ``claims`` (see the module docstring).

    Every number here is an int (``TypeError`` otherwise: a float would make the split inexact).
    """
    claims, ranks = checked_split(total, claims, ranks)
    if caps is not None:
        caps = check_counts(caps, "caps")
    if caps is None:
        return _hamilton(total, claims, ranks)
    return _capped(total, claims, ranks, caps)


def checked_split(
    total: int, claims: Sequence[int], ranks: Sequence[int] | None
) -> tuple[list[int], list[int] | None]:
    """What every split of whole numbers needs (``apportion_units``, ``apportion_fair``): an int total not below
    zero, int claims not below zero and not all zero, and one int rank per claim if there are ranks."""
    check_count(total, "total", minimum=None)
    checked = check_counts(claims, "claims")
    checked_ranks = None if ranks is None else check_counts(ranks, "ranks")
    if total < 0:
        raise ApportionmentError("the total to split must not be negative", {"total": total})
    if checked and min(checked) < 0:
        raise ApportionmentError(
            "claims must not be negative",
            {"negative_claims": [i for i, claim in enumerate(checked) if claim < 0]},
        )
    if sum(checked) == 0:
        raise ApportionmentError(
            "there is nothing to split by: every claim is zero",
            {"total": total, "recipients": len(checked)},
        )
    if checked_ranks is not None and len(checked_ranks) != len(checked):
        raise ApportionmentError(
            "give one rank per claim", {"claims": len(checked), "ranks": len(checked_ranks)}
        )
    return checked, checked_ranks


def _hamilton(
    total: int,
    claims: Sequence[int],
    ranks: Sequence[int] | None,
    band_of: Callable[[Sequence[int], int], tuple[int, int] | None] | None = None,
) -> list[int]:
    claim_sum = sum(claims)
    remainders = [total * claim % claim_sum for claim in claims]
    # Σ floor(quota) = total − Σremainder / Σclaims, so the number of steps left after rounding down is:
    leftover = sum(remainders) // claim_sum
    band = (band_of or _band)(remainders, leftover)
    if band is not None:
        low, high = band
        # One pass rounds every quota down and already gives a step to each remainder above the band.
        shares = [
            total * claim // claim_sum + (remainder > high)
            for claim, remainder in zip(claims, remainders, strict=True)
        ]
        still_to_give = total - sum(shares)
        contenders = [i for i, remainder in enumerate(remainders) if low <= remainder <= high]
        if 0 <= still_to_give <= len(contenders):
            for index in _best(contenders, remainders, ranks, still_to_give):
                shares[index] += 1
            return shares
    # Small input, or a sample that missed the boundary: every recipient contends.
    shares = [total * claim // claim_sum for claim in claims]
    for index in _best(list(range(len(claims))), remainders, ranks, leftover):
        shares[index] += 1
    return shares


def _best(
    contenders: list[int], remainders: Sequence[int], ranks: Sequence[int] | None, count: int
) -> list[int]:
    """The ``count`` contenders with the largest remainders; ties to the lower rank, then the lower index.

    ``contenders`` must be in input order; two stable sorts then give exactly that tie-break.
    """
    if count == 0:
        return []
    if ranks is not None:
        contenders.sort(key=ranks.__getitem__)
    contenders.sort(key=remainders.__getitem__, reverse=True)
    return contenders[:count]


def _band(remainders: Sequence[int], count: int) -> tuple[int, int] | None:
    """For large inputs, a band ``(low, high)`` of remainder values that holds the ``count``-th largest.

    A regular sample of the remainders estimates where the boundary lies; recipients above the band
    surely get a leftover step, those below surely do not, and only the band is sorted. The caller checks
    that the band really holds the boundary and falls back to sorting everything if it does not:
    slower, never wrong.
    """
    size = len(remainders)
    if size <= SAMPLED_SELECTION_ABOVE or count == 0:
        return None
    sample = sorted(remainders[:: max(1, size // 16384)], reverse=True)
    position = count * len(sample) // size
    margin = 16 + 3 * int(len(sample) ** 0.5)  # six standard deviations of a quantile estimate
    high = sample[max(0, position - margin)]
    low = sample[min(len(sample) - 1, position + margin)]
    return low, high


def _capped(total: int, claims: Sequence[int], ranks: Sequence[int] | None, caps: Sequence[int]) -> list[int]:
    return capped_rounds(total, claims, ranks, caps)[0]


def capped_rounds(
    total: int, claims: Sequence[int], ranks: Sequence[int] | None, caps: Sequence[int]
) -> tuple[list[int], list[int], int]:
    """The capped split, the recipients it did not cap (input order) and what they shared in the last round
    (what ``core.explain`` shows)."""
    if len(caps) != len(claims):
        raise ApportionmentError("give one cap per claim", {"claims": len(claims), "caps": len(caps)})
    if any(cap < 0 for cap in caps):
        raise ApportionmentError("caps must not be negative", {"caps": list(caps)})
    room = sum(cap for cap, claim in zip(caps, claims, strict=True) if claim > 0)
    if room < total:
        raise ApportionmentError(
            f"the caps can hold at most {room} of the {total} to split",
            {"total": total, "capacity": room},
        )
    shares = [0] * len(claims)
    open_ = [i for i, claim in enumerate(claims) if claim > 0]
    remaining = total
    while True:
        split = _hamilton(
            remaining,
            [claims[i] for i in open_],
            None if ranks is None else [ranks[i] for i in open_],
        )
        over = [i for i, share in zip(open_, split, strict=True) if share > caps[i]]
        if not over:
            for i, share in zip(open_, split, strict=True):
                shares[i] = share
            return shares, open_, remaining
        # Whoever would get more than the cap gets exactly the cap; the rest is split again without them.
        for i in over:
            shares[i] = caps[i]
            remaining -= caps[i]
        capped = set(over)
        open_ = [i for i in open_ if i not in capped]


@exact
def apportion(
    total: Decimal | int,
    claims: Sequence[Decimal | int],
    step: Decimal | int = Decimal(1),
    *,
    ranks: Sequence[int] | None = None,
    caps: Sequence[Decimal | int] | None = None,
) -> list[Decimal]:
    """Split ``total`` into multiples of ``step`` in proportion to ``claims``.

    ``total`` must be a multiple of ``step`` (see ``split_off_step`` to set a sub-step leftover aside
    explicitly). A cap that is not a multiple of the step is rounded down to one: no share exceeds it.
    Amounts are Decimals or ints within the bounds of ``check_decimal``; ranks are ints.

    >>> [str(s) for s in apportion(Decimal("100.00"), [Decimal(1)] * 3, Decimal("0.01"))]
    ['33.34', '33.33', '33.33']
    """
    step = check_positive(step, "step")
    total = check_decimal(total, "total")
    amounts, scale = check_decimals(claims, "claims")
    total_units = to_units(total, step, "total")
    claim_units = units_of_claims(amounts, scale)
    checked_caps = None if caps is None else [check_decimal(cap, "caps") for cap in caps]
    if checked_caps is not None and any(cap < 0 for cap in checked_caps):  # -0.5 would round down to 0 units
        raise ApportionmentError("caps must not be negative", {"caps": [str(cap) for cap in checked_caps]})
    cap_units = None if checked_caps is None else [int(cap // step) for cap in checked_caps]
    shares = apportion_units(total_units, claim_units, ranks=ranks, caps=cap_units)
    return decimals_of_shares(shares, step)


def units_of_claims(amounts: Sequence[Decimal], scale: int) -> list[int]:
    """Claims checked by ``check_decimals`` as whole numbers (each × 10^``scale``, ``scale`` from the check):
    the integer claims of ``apportion_units``, in proportion to the Decimals."""
    if scale == 0:  # every exponent is 0 or more: each claim is a whole number already
        return [int(claim) for claim in amounts]
    return [int(EXACT.scaleb(claim, scale)) for claim in amounts]


def decimals_of_shares(shares: Sequence[int], step: Decimal) -> list[Decimal]:
    """``from_units`` of every share: the shares of ``apportion_units`` as multiples of ``step``."""
    multiply = EXACT.multiply  # from_units inlined: this runs once per recipient of every large split
    return [multiply(Decimal(share), step) for share in shares]


@exact
def split_off_step(total: Decimal | int, step: Decimal | int) -> tuple[Decimal, Decimal]:
    """``(whole, leftover)``: the largest multiple of ``step`` (greater than zero) not above ``total``, and what
    is left.

    The leftover is returned so that the caller decides where it goes; it is never dropped.
    """
    total = check_decimal(total, "total")
    step = check_positive(step, "step")
    if total < 0:
        raise OffStep("cannot split a negative amount into steps", {"total": str(total)})
    whole = (total // step) * step
    return whole, total - whole
