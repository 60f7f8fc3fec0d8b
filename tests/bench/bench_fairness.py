"""Benchmark: fair allocation over time (ROTATE) against plain largest remainder with fixed ranks.

Not a test (pytest does not collect it). Run ``make bench`` or
``.venv/bin/python tests/bench/bench_fairness.py [--allocations 10000] [--accounts 1000] [--seed 1]``.

The same claims (random 1..1000, seeded) are used for ``--allocations`` allocations of random totals (seeded; a
third of them small, 1..10 steps, the rest up to 100 000). For each method it tracks every account's cumulative
lag (allocation − exact quota, in steps) exactly and prints the worst after 100, 1 000, ... allocations, and the
time per allocation of each (best of ``--repeat`` runs of the whole sequence, the history included for ROTATE).

Targets: ROTATE's worst lag < 1 step at every point (exit status 1 otherwise); plain's grows; time ROTATE / plain
≤ 2 (printed MET or NOT MET; it does not fail the run, timings depend on the machine).
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from fractions import Fraction

from core.apportion import apportion_units
from core.explain import split
from core.fairness import NO_HISTORY, FairHistory, Fairness, apportion_fair

TIME_RATIO_TARGET = 2


def scenario(allocations: int, accounts: int, seed: int) -> tuple[list[int], list[int]]:
    rng = random.Random(seed)
    claims = [rng.randint(1, 1000) for _ in range(accounts)]
    totals = [
        rng.randint(1, 10) if rng.random() < 1 / 3 else rng.randint(1, 100_000) for _ in range(allocations)
    ]
    return claims, totals


def checkpoints(allocations: int) -> list[int]:
    points, point = [], 100
    while point < allocations:
        points.append(point)
        point *= 10
    return [*points, allocations]


def worst_lags(
    totals: Sequence[int], claims: Sequence[int], shares_of: Callable[[int], list[int]]
) -> dict[int, Fraction]:
    """The worst |lag| over all accounts after each checkpoint; exact (numerators over Σclaims)."""
    claim_sum = sum(claims)
    lag = [0] * len(claims)  # × claim_sum: Σ shares × Σclaims − Σ total × claim
    marks = set(checkpoints(len(totals)))
    worst: dict[int, Fraction] = {}
    for count, total in enumerate(totals, start=1):
        for i, (share, claim) in enumerate(zip(shares_of(total), claims, strict=True)):
            lag[i] += share * claim_sum - total * claim
        if count in marks:
            worst[count] = Fraction(max(abs(x) for x in lag), claim_sum)
    return worst


def best_time(repeat: int, run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--allocations", type=int, default=10_000)
    parser.add_argument("--accounts", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    claims, totals = scenario(options.allocations, options.accounts, options.seed)
    names = [f"acct-{i:05d}" for i in range(options.accounts)]
    ranks = list(range(1, options.accounts + 1))

    state: dict[str, FairHistory] = {"history": NO_HISTORY}

    def rotate(total: int) -> list[int]:
        shares, state["history"] = apportion_fair(total, names, claims, state["history"], ranks=ranks)
        return shares

    def plain(total: int) -> list[int]:
        return apportion_units(total, claims, ranks=ranks)

    print(
        f"fairness: {options.allocations} allocations over {options.accounts} accounts (seed {options.seed})"
    )
    rotated = worst_lags(totals, claims, rotate)
    plained = worst_lags(totals, claims, plain)
    print(f"{'after':>8}  {'worst |lag| plain':>20}  {'worst |lag| ROTATE':>20}")
    for point in checkpoints(len(totals)):
        print(f"{point:>8}  {float(plained[point]):>20.3f}  {float(rotated[point]):>20.6f}")
    lag_met = all(lag < 1 for lag in rotated.values())
    print(
        f"ROTATE worst lag {float(max(rotated.values())):.6f} steps: target < 1 {'MET' if lag_met else 'NOT MET'}"
    )

    def run_rotate() -> None:
        state["history"] = NO_HISTORY
        for total in totals:
            rotate(total)

    def run_plain() -> None:
        for total in totals:
            plain(total)

    rotate_time = best_time(options.repeat, run_rotate) / len(totals)
    plain_time = best_time(options.repeat, run_plain) / len(totals)
    ratio = rotate_time / plain_time
    print(
        f"kernel (whole steps): plain {plain_time * 1e3:.3f} ms, ROTATE {rotate_time * 1e3:.3f} ms per allocation,"
        f" ratio {ratio:.2f}: target ≤ {TIME_RATIO_TARGET} {'MET' if ratio <= TIME_RATIO_TARGET else 'NOT MET'}"
    )

    # What a product split pays with its explanation (as blocks and portfolio orders record it): Decimal
    # amounts in and out, and a line per account, on a sample of the sequence; the same on both sides.
    sample = totals[: max(1, len(totals) // 10)]
    decimal_claims = [Decimal(c) for c in claims]
    step = Decimal("0.01")

    def explained(fairness: Fairness) -> Callable[[], None]:
        def run() -> None:
            history: FairHistory | None = None
            for total in sample:
                history = split("b", Decimal(total) * step, decimal_claims, step, names, fairness=fairness,
                                history=history).history  # fmt: skip

        return run

    explained_plain = best_time(options.repeat, explained(Fairness.PLAIN)) / len(sample)
    explained_rotate = best_time(options.repeat, explained(Fairness.ROTATE)) / len(sample)
    print(
        f"explained splits (Decimal, a line per account): plain {explained_plain * 1e3:.3f} ms, ROTATE "
        f"{explained_rotate * 1e3:.3f} ms per allocation, ratio {explained_rotate / explained_plain:.2f}"
    )
    return 0 if lag_met else 1


if __name__ == "__main__":
    sys.exit(main())
