"""Benchmark: keys, blocks, fair splits and model portfolios grow linearly with their size.

Not a test (pytest does not collect it). Run ``make bench`` or
``.venv/bin/python tests/bench/bench_validation.py [--sizes 10000,100000,1000000] [--repeat 1]``.

For each size it times, best of ``--repeat`` runs:

- **key**: an allocation key with that many participants (UNIT, every other participant accepting remainders with
  its own priority, so every rule of the key is checked), participants made and validated, then the key;
- **block**: a block over that key allocated (``core.blocks.allocate``, what ``allot allocate`` and the key
  preview run), with a remainder for the accounts that accept one;
- **fair split**: a ROTATE split over that many claims explained (``core.explain.split``), then a second one that
  starts from the first one's history, as the next block of a ROTATE key does;
- **allocation**: a model portfolio with that many lines (weights summing to exactly 1).

Then, for each pair of sizes next to each other, the growth of each time per tenfold size. Linear work grows about
10× per decade, quadratic work 100×. The target is at most ``GROWTH_TARGET`` per decade for every measure; the
script exits 1 if any is above it.
"""

from __future__ import annotations

import argparse
import functools
import gc
import itertools
import math
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Final, TypeVar

from core.blocks import BlockRequest, allocate
from core.explain import split
from core.fairness import Fairness
from core.instruments import Allocation, AllocationLine
from core.keys import AllocationKey, MarginHandling, Participant, UnitType

T = TypeVar("T")

#: The most each measure may grow per tenfold size: linear work with some room for memory effects.
GROWTH_TARGET: Final = 12.0
MEASURES: Final = ("key", "block", "fair split", "allocation")


def best(repeat: int, run: Callable[[], T]) -> tuple[float, T]:
    """The shortest time of ``repeat`` runs, and what the last one returned."""
    times: list[float] = []
    result: T | None = None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    assert result is not None
    return min(times), result


def participants(size: int) -> tuple[Participant, ...]:
    return tuple(
        Participant(f"account-{i:07d}", Decimal(1 + i % 7), i % 2 == 0, i // 2 + 1 if i % 2 == 0 else None)
        for i in range(size)
    )


def key(parts: tuple[Participant, ...]) -> AllocationKey:
    return AllocationKey("bench", UnitType.UNIT, MarginHandling.REJECT, False, "block", "error", parts)


def made_key(size: int) -> AllocationKey:
    return key(participants(size))


def block(made: AllocationKey) -> object:
    """Three times the key's unit values and a remainder of 5 units for the accounts that accept one."""
    total = sum((p.unit_value for p in made.participants), Decimal(0))
    return allocate(BlockRequest(made, total * 3 + 5))


def fair_splits(size: int) -> object:
    claims = [Decimal(1 + i % 7) for i in range(size)]
    names = [f"account-{i:07d}" for i in range(size)]
    total = Decimal(size * 3 + size // 3 + 1)
    first = split("bench", total, claims, Decimal(1), names, fairness=Fairness.ROTATE)
    return split("bench", total, claims, Decimal(1), names, fairness=Fairness.ROTATE, history=first.history)


def lines(size: int) -> tuple[AllocationLine, ...]:
    """``size`` lines of weight 1 / size, the last one taking what rounding leaves, so that they sum to 1."""
    weight = (Decimal(1) / size).quantize(Decimal("1e-12"), rounding="ROUND_DOWN")
    head = tuple(AllocationLine(f"instrument-{i:07d}", weight) for i in range(size - 1))
    return (*head, AllocationLine(f"instrument-{size - 1:07d}", Decimal(1) - weight * (size - 1)))


def allocation(size: int) -> object:
    return Allocation(lines(size))


def measure(size: int, repeat: int) -> dict[str, float]:
    key_time, made = best(repeat, functools.partial(made_key, size))
    return {
        "key": key_time,
        "block": best(repeat, functools.partial(block, made))[0],
        "fair split": best(repeat, functools.partial(fair_splits, size))[0],
        "allocation": best(repeat, functools.partial(allocation, size))[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="10000,100000,1000000", help="comma-separated sizes (default 10000,100000,1000000)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement; the best is shown")
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))

    print(f"{'size':>9}  " + "  ".join(f"{name:>10}" for name in MEASURES) + "  (seconds)")
    times: dict[int, dict[str, float]] = {}
    for size in sizes:
        times[size] = measure(size, args.repeat)
        print(f"{size:>9}  " + "  ".join(f"{times[size][name]:>10.3f}" for name in MEASURES), flush=True)
    worst = 0.0
    for small, large in itertools.pairwise(sizes):
        decades = math.log10(large / small)
        growth = {name: (times[large][name] / times[small][name]) ** (1 / decades) for name in MEASURES}
        worst = max(worst, *growth.values())
        shown = ", ".join(f"{name} x{value:.1f}" for name, value in growth.items())
        print(f"growth per tenfold size, {small} -> {large}: {shown} (target <= x{GROWTH_TARGET:g})")
    if worst > GROWTH_TARGET:
        print(f"FAIL: a measure grows x{worst:.1f} per tenfold size, above x{GROWTH_TARGET:g}")
        sys.exit(1)
    print(f"OK: every measure grows at most x{worst:.1f} per tenfold size")


if __name__ == "__main__":
    main()
