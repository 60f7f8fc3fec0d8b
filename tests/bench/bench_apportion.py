"""Benchmark: the core apportionment kernel against a vectorised NumPy largest-remainder reference.

Not a test (pytest does not collect it). Run ``make bench`` or
``.venv/bin/python tests/bench/bench_apportion.py [--sizes 10000,100000,1000000] [--repeat 5]``.

For each size it draws random claims, apportions a total with ``core.apportion_units`` and with the NumPy
reference below, checks that both give identical shares, and prints the best time of ``--repeat`` runs of
each, the ratio core / NumPy, and the peak memory of one core run (tracemalloc). Targets:
at 1 000 000 claims ratio ≤ 4 (moonshot ≤ 3), time(1 000 000) / time(100 000) ≤ 12, peak memory < 500 MB.
"""

from __future__ import annotations

import argparse
import functools
import gc
import random
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from core.apportion import apportion_units

T = TypeVar("T")

TOTAL = 987_654_321_987  # units (e.g. cents): large enough that every claim gets a non-trivial quota


def numpy_reference(total: int, claims: Any) -> list[int]:
    """Hamilton's method, vectorised: floor the quotas, then one step each to the largest remainders,
    ties to the earlier index (a stable sort), exactly like the core with no ranks."""
    claim_sum = int(claims.sum())
    products = claims.astype(object) * total if total * int(claims.max()) >= 2**63 else claims * total
    shares = (products // claim_sum).astype(np.int64)
    remainders = (products % claim_sum).astype(np.int64)
    leftover = total - int(shares.sum())
    order = np.argsort(-remainders, kind="stable")
    shares[order[:leftover]] += 1
    result: list[int] = shares.tolist()
    return result


def best_of(repeat: int, run: Callable[[], T]) -> tuple[float, T]:
    best, result = float("inf"), run()  # the first run warms up and is not timed
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def peak_memory_mb(run: Callable[[], object]) -> float:
    gc.collect()
    tracemalloc.start()
    run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20261121)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = random.Random(args.seed)
    # Claims below 10**6 keep total × claim inside int64, so the reference stays fully vectorised.
    total = TOTAL // 10**3
    print(f"apportioning {total} units; best of {args.repeat} runs each", flush=True)
    print(
        f"{'claims':>10}  {'core s':>9}  {'numpy s':>9}  {'core/numpy':>10}  {'core peak MB':>12}  identical"
    )
    times: dict[int, float] = {}
    ok = True
    for size in sizes:
        claims = [rng.randint(1, 999_999) for _ in range(size)]
        array = np.array(claims, dtype=np.int64)
        core_run = functools.partial(apportion_units, total, claims)
        core_time, core_shares = best_of(args.repeat, core_run)
        numpy_time, numpy_shares = best_of(args.repeat, functools.partial(numpy_reference, total, array))
        identical = core_shares == numpy_shares
        ok &= identical and sum(core_shares) == total
        peak = peak_memory_mb(core_run)
        times[size] = core_time
        print(
            f"{size:>10}  {core_time:>9.4f}  {numpy_time:>9.4f}  {core_time / numpy_time:>10.2f}  {peak:>12.1f}  {identical}",
            flush=True,
        )
    if 100_000 in times and 1_000_000 in times:
        print(f"time(1 000 000) / time(100 000) = {times[1_000_000] / times[100_000]:.2f}  (target ≤ 12)")
    print("targets at 1 000 000 claims: core/numpy ≤ 4 (moonshot ≤ 3), peak memory < 500 MB")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
