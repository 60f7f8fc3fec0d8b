"""Benchmark: validating an allocation key and a model portfolio (allocation) grows linearly with their size.

Not a test (pytest does not collect it). Run ``make bench`` or
``.venv/bin/python tests/bench/bench_validation.py [--sizes 10000,100000] [--repeat 3]``.

For each size it builds an allocation key with that many participants (UNIT, every other participant accepting
remainders with its own priority, so every rule of the key is checked) and an allocation with that many lines
(weights summing to exactly 1), and prints the best time of ``--repeat`` runs of each: the participants or lines
alone (each value object validated as it is made), and the key or allocation from them (the rules over the
whole). The last line gives the ratio of the largest size's times to the smallest's: linear validation keeps it
near the ratio of the sizes (10 for 10 000 → 100 000), a quadratic one near its square.
"""

from __future__ import annotations

import argparse
import functools
import gc
import time
from collections.abc import Callable
from decimal import Decimal
from typing import TypeVar

from core.instruments import Allocation, AllocationLine
from core.keys import AllocationKey, MarginHandling, Participant, UnitType

T = TypeVar("T")


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
        Participant(f"account-{i:06d}", Decimal(1 + i % 7), i % 2 == 0, i // 2 + 1 if i % 2 == 0 else None)
        for i in range(size)
    )


def key(parts: tuple[Participant, ...]) -> AllocationKey:
    return AllocationKey("bench", UnitType.UNIT, MarginHandling.REJECT, False, "block", "error", parts)


def lines(size: int) -> tuple[AllocationLine, ...]:
    """``size`` lines of weight 1 / size, the last one taking what rounding leaves, so that they sum to 1."""
    weight = (Decimal(1) / size).quantize(Decimal("1e-12"), rounding="ROUND_DOWN")
    head = tuple(AllocationLine(f"instrument-{i:06d}", weight) for i in range(size - 1))
    return (*head, AllocationLine(f"instrument-{size - 1:06d}", Decimal(1) - weight * (size - 1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="10000,100000", help="comma-separated sizes (default 10000,100000)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is shown")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]

    print(f"{'size':>8}  {'participants':>12}  {'key':>8}  {'lines':>8}  {'allocation':>10}  (seconds)")
    totals: dict[int, tuple[float, float]] = {}
    for size in sizes:
        participant_time, parts = best(args.repeat, functools.partial(participants, size))
        key_time, _ = best(args.repeat, functools.partial(key, parts))
        line_time, made = best(args.repeat, functools.partial(lines, size))
        allocation_time, _ = best(args.repeat, functools.partial(Allocation, made))
        totals[size] = (participant_time + key_time, line_time + allocation_time)
        print(
            f"{size:>8}  {participant_time:>12.3f}  {key_time:>8.3f}  {line_time:>8.3f}  {allocation_time:>10.3f}"
        )
    if len(sizes) > 1:
        small, large = min(sizes), max(sizes)
        key_ratio = totals[large][0] / totals[small][0]
        allocation_ratio = totals[large][1] / totals[small][1]
        print(
            f"ratio {large}/{small} (sizes x{large / small:g}): key with its participants x{key_ratio:.1f}, "
            f"allocation with its lines x{allocation_ratio:.1f}"
        )


if __name__ == "__main__":
    main()
