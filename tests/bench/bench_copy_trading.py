"""Benchmark: a trade leader's rebalance across many followers, and a NumPy reference of its post-allocation.

Not a test (pytest does not collect it). Run ``make bench`` or
``.venv/bin/python tests/bench/bench_copy_trading.py [--sizes 10000,100000] [--fill 0.97]``.

For each number of followers it draws a seeded book per follower (cash and holdings of 10 instruments, whole
shares for some, 0.001 steps for others), rebalances to new weights and times the three stages of the core:

- deltas: ``follower_trades`` for every follower (target = weights × equity; sells and buys);
- blocks: ``plan_blocks`` (one block per instrument and side);
- post-allocation: for every block a partial fill (``--fill`` of it, down to the step), ``post_allocate`` over
  the followers' requests and ``book_prices`` (the average price, the values apportioned to sum to the block's).

In the same run a NumPy reference does the post-allocation step (the same largest-remainder rule with the same
tie-break, in int64 units; the same conversions from and to Decimals at its edges); the two must agree exactly.
The full fill (each block filled entirely: every follower gets what it asked, no split) is timed and compared
too, and so is the NumPy reference's kernel alone (its two int64 splits, without the Decimal conversions at its
edges: the floor no Decimal-in, Decimal-out implementation can go below).
Printed: the stage times, post-allocation core / NumPy (target ≤ 5 at 100 000 followers), the growth of the
whole rebalance from the smallest to the largest size (target ≤ 12× for 10×), and the peak memory of the
largest rebalance (tracemalloc: what the rebalance allocates; target < 2 GB) and the maximum resident set of a
fresh process that draws the largest books and rebalances them (resource.getrusage; target < 2 GB).
Exit status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import decimal
import functools
import gc
import random
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import numpy as np

from core.blocks import Execution, book_prices
from core.copy_trading import (
    FollowerBook,
    FollowerTrades,
    PlannedBlock,
    follower_trades,
    plan_blocks,
    post_allocate,
)
from core.instruments import AllocationLine, Instrument

T = TypeVar("T")
CURRENCY = "EUR"
CENT = Decimal("0.01")
ONE = Decimal(1)


def instruments(rng: random.Random) -> dict[str, Instrument]:
    made = {}
    for k in range(10):
        step = Decimal(1) if k % 2 == 0 else Decimal("0.001")
        made[f"I{k}"] = Instrument(f"I{k}", Decimal(rng.randint(500, 20_000)) / 100, step, currency=CURRENCY)
    return made


def books(rng: random.Random, count: int, table: dict[str, Instrument]) -> list[FollowerBook]:
    made = []
    for n in range(count):
        units = {}
        for instrument_id, instrument in table.items():
            whole = rng.randint(0, 60)
            units[instrument_id] = (
                Decimal(whole)
                if instrument.quantity_step == 1
                else Decimal(whole * 1000 + rng.randint(0, 999)) / 1000
            )
        made.append(FollowerBook(f"F{n:06d}", Decimal(rng.randint(0, 400_000)) / 100, units, n))
    return made


def weights(rng: random.Random, table: dict[str, Instrument]) -> list[AllocationLine]:
    raw = [rng.randint(1, 20) for _ in table]
    cents = [r * 100 // sum(raw) for r in raw]
    cents[0] += 100 - sum(cents)
    return [AllocationLine(i, Decimal(c) / 100) for i, c in zip(table, cents, strict=True) if c]


def filled_part(block: PlannedBlock, step: Decimal, fill: Decimal) -> Decimal:
    return (block.amount * fill / step).to_integral_value(rounding=decimal.ROUND_FLOOR) * step


def core_post_allocation(
    blocks: Sequence[PlannedBlock], table: dict[str, Instrument], fill: Decimal
) -> list[list[tuple[Decimal, Decimal]]]:
    out = []
    for block in blocks:
        instrument = table[block.instrument_id]
        filled = filled_part(block, instrument.quantity_step, fill)
        shares = post_allocate(block.requested, block.ranks, filled, instrument.quantity_step)
        values = book_prices(
            shares, [Execution(filled, instrument.priced())], instrument.contract_size, CURRENCY
        )
        out.append([(share, value) for share, (_, value) in zip(shares, values, strict=True)])
    return out


def _largest_remainder(total: int, claims: Any, ranks: Any) -> Any:
    """Hamilton in int64: floor the quotas, one step more to the largest remainders, ties to the lower rank."""
    claim_sum = int(claims.sum())
    if total == claim_sum:
        return claims.copy()
    products = claims * total
    shares = products // claim_sum
    remainders = products % claim_sum
    leftover = total - int(shares.sum())
    order = np.lexsort((ranks, -remainders))
    shares[order[:leftover]] += 1
    return shares


def numpy_post_allocation(
    blocks: Sequence[PlannedBlock], table: dict[str, Instrument], fill: Decimal
) -> list[list[tuple[Decimal, Decimal]]]:
    out = []
    for block in blocks:
        instrument = table[block.instrument_id]
        step = instrument.quantity_step
        filled = filled_part(block, step, fill)
        requested = np.array([int(q / step) for q in block.requested], dtype=np.int64)
        ranks = np.array(block.ranks, dtype=np.int64)
        shares = _largest_remainder(int(filled / step), requested, ranks)
        value = (filled * instrument.priced() * instrument.contract_size).quantize(
            CENT, decimal.ROUND_HALF_EVEN
        )
        cents = _largest_remainder(int(value / CENT), shares, np.arange(len(shares), dtype=np.int64))
        out.append([(s * step, c * CENT) for s, c in zip(shares.tolist(), cents.tolist(), strict=True)])
    return out


def numpy_units(
    blocks: Sequence[PlannedBlock], table: dict[str, Instrument], fill: Decimal
) -> list[tuple[int, Any, Any, int]]:
    """The NumPy reference's inputs in int64 units: (filled units, requested units, ranks, value in cents)."""
    prepared = []
    for block in blocks:
        instrument = table[block.instrument_id]
        step = instrument.quantity_step
        filled = filled_part(block, step, fill)
        value = (filled * instrument.priced() * instrument.contract_size).quantize(
            CENT, decimal.ROUND_HALF_EVEN
        )
        requested = np.array([int(q / step) for q in block.requested], dtype=np.int64)
        prepared.append(
            (int(filled / step), requested, np.array(block.ranks, dtype=np.int64), int(value / CENT))
        )
    return prepared


def numpy_kernel(prepared: Sequence[tuple[int, Any, Any, int]]) -> list[tuple[Any, Any]]:
    """The NumPy reference without its conversions from and to Decimals: the two largest-remainder splits."""
    out = []
    for filled, requested, ranks, cents in prepared:
        shares = _largest_remainder(filled, requested, ranks)
        out.append((shares, _largest_remainder(cents, shares, np.arange(len(shares), dtype=np.int64))))
    return out


def timed(run: Callable[[], T]) -> tuple[float, T]:
    gc.collect()
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def best_of(repeat: int, run: Callable[[], T]) -> tuple[float, T]:
    best, result = float("inf"), run()  # the first run warms up and is not timed
    for _ in range(repeat):
        seconds, result = timed(run)
        best = min(best, seconds)
    return best, result


def rebalance(lines: Sequence[AllocationLine], table: dict[str, Instrument], followers: Sequence[FollowerBook],
              fill: Decimal) -> tuple[list[FollowerTrades], list[PlannedBlock], list[list[tuple[Decimal, Decimal]]], list[float]]:  # fmt: skip
    t0 = time.perf_counter()
    trades = [follower_trades(lines, table, book, CURRENCY) for book in followers]
    t1 = time.perf_counter()
    blocks = plan_blocks(trades, {book.account_id: book.rank for book in followers})
    t2 = time.perf_counter()
    allocated = core_post_allocation(blocks, table, fill)
    t3 = time.perf_counter()
    return trades, blocks, allocated, [t1 - t0, t2 - t1, t3 - t2]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="numbers of followers, comma-separated")
    parser.add_argument("--fill", default="0.97", help="the share of each block the venue fills")
    parser.add_argument("--repeat", type=int, default=3, help="post-allocation timings: best of this many")
    parser.add_argument("--alone", type=int, help=argparse.SUPPRESS)  # the child that measures one rebalance
    options = parser.parse_args(argv)
    sizes = [int(s) for s in options.sizes.split(",")]
    fill = Decimal(options.fill)
    rng = random.Random(20261123)
    table = instruments(rng)
    lines = weights(rng, table)
    if options.alone:  # the same books as the parent's run, then one rebalance: its resident set is measured
        for size in sizes:
            followers = books(rng, size, table)
            if size == options.alone:
                rebalance(lines, table, followers, fill)
                return 0
        return 2
    # First, while this process is still small: a child's maximum resident set counts what it shared with its
    # parent between the fork and the exec.
    run_alone = [sys.executable, __file__, "--sizes", options.sizes, "--fill", options.fill, "--alone"]
    subprocess.run([*run_alone, str(sizes[-1])], check=True)
    alone_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # kB on Linux
    totals: dict[int, float] = {}
    ratio = peak_mb = 0.0
    agree = True
    print(f"leader rebalance of {len(lines)} instruments; each block filled {fill * 100:.0f} %")
    print(
        f"{'followers':>10} {'blocks':>6} {'deltas s':>9} {'blocks s':>9} {'post s':>8} {'numpy s':>8} {'ratio':>6}"
        f" {'kernel s':>9} {'full post s':>11} {'full numpy s':>12}"
    )
    for size in sizes:
        followers = books(rng, size, table)
        _, blocks, allocated, stages = rebalance(lines, table, followers, fill)
        post, ours = best_of(options.repeat, functools.partial(core_post_allocation, blocks, table, fill))
        reference_time, reference = best_of(
            options.repeat, functools.partial(numpy_post_allocation, blocks, table, fill)
        )
        kernel_time, _ = best_of(
            options.repeat, functools.partial(numpy_kernel, numpy_units(blocks, table, fill))
        )
        full_post, full_ours = best_of(
            options.repeat, functools.partial(core_post_allocation, blocks, table, ONE)
        )
        full_reference_time, full_reference = best_of(
            options.repeat, functools.partial(numpy_post_allocation, blocks, table, ONE)
        )
        agree = agree and ours == reference == allocated and full_ours == full_reference
        stages[2] = post
        totals[size] = sum(stages)
        ratio = post / reference_time
        print(
            f"{size:>10} {len(blocks):>6} {stages[0]:>9.3f} {stages[1]:>9.3f} {post:>8.3f} {reference_time:>8.3f} {ratio:>6.2f}"
            f" {kernel_time:>9.3f} {full_post:>11.3f} {full_reference_time:>12.3f}"
        )
        if size == sizes[-1]:
            gc.collect()
            tracemalloc.start()
            rebalance(lines, table, followers, fill)
            peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        del followers, blocks, allocated
    growth = totals[sizes[-1]] / totals[sizes[0]]
    scale = sizes[-1] / sizes[0]
    print(f"core and NumPy agree exactly: {'yes' if agree else 'NO'}")
    print(f"post-allocation core / NumPy at {sizes[-1]} followers: {ratio:.2f} (target ≤ 5)")
    print(
        f"whole rebalance {sizes[0]} → {sizes[-1]} followers: {growth:.1f}× for {scale:.0f}× (target ≤ 12×)"
    )
    print(f"peak memory of the rebalance at {sizes[-1]} followers: {peak_mb:.0f} MB (target < 2048 MB)")
    whole_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"maximum resident set of a process that draws the books and rebalances {sizes[-1]} followers: "
        f"{alone_mb:.0f} MB (target < 2048 MB)"
    )
    print(
        f"(this benchmark's own process, which keeps both sizes, every result and the references: {whole_mb:.0f} MB)"
    )
    met = agree and ratio <= 5 and growth <= 12 and peak_mb < 2048 and alone_mb < 2048
    print("targets met" if met else "a target is missed")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
