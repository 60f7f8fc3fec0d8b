"""Hypothesis strategies for allot's value objects."""

from __future__ import annotations

import itertools
from decimal import Decimal

from hypothesis import settings
from hypothesis import strategies as st

from core.instruments import AllocationLine, Instrument, Position

STEPS = [Decimal("1"), Decimal("0.01"), Decimal("0.001"), Decimal("0.000001"), Decimal("5")]


def decimals(low: str, high: str, places: int) -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=Decimal(low), max_value=Decimal(high), places=places, allow_nan=False)


@st.composite
def weights(draw: st.DrawFn, size: int) -> list[Decimal]:
    """``size`` positive weights with four decimals that sum to exactly 1."""
    cuts = sorted(draw(st.lists(st.integers(1, 9999), min_size=size - 1, max_size=size - 1, unique=True)))
    bounds = [0, *cuts, 10000]
    return [Decimal(b - a).scaleb(-4) for a, b in itertools.pairwise(bounds)]


@st.composite
def instruments_and_allocation(
    draw: st.DrawFn, min_size: int = 1, max_size: int = 6
) -> tuple[list[Instrument], list[AllocationLine]]:
    size = draw(st.integers(min_size, max_size))
    ids = [f"I{i}" for i in range(size)]
    instruments = [
        Instrument(
            i,
            price=draw(decimals("0.01", "5000", 2)),
            quantity_step=draw(st.sampled_from([Decimal(1), Decimal("0.000001"), Decimal("0.01")])),
            min_order_amount=draw(st.sampled_from([Decimal(0), Decimal(1), Decimal(25)])),
        )
        for i in ids
    ]
    return instruments, [AllocationLine(i, w) for i, w in zip(ids, draw(weights(size)), strict=True)]


@st.composite
def holdings(draw: st.DrawFn, instruments: list[Instrument]) -> list[Position]:
    positions = []
    for instrument in instruments:
        steps = draw(st.integers(0, 10**6))
        positions.append(Position(instrument.instrument_id, steps * instrument.quantity_step))
    return positions


def machine_settings(max_examples: int, stateful_step_count: int) -> settings:
    """A state machine's own budget, never more than the loaded profile allows (the "mutation" profile cuts it)."""
    return settings(
        max_examples=min(max_examples, profile().max_examples),
        stateful_step_count=min(stateful_step_count, profile().stateful_step_count),
        deadline=None,
    )


def at_most(max_examples: int) -> settings:
    """Settings for a slow property: ``max_examples``, or fewer if the loaded profile asks for fewer."""
    return settings(max_examples=min(max_examples, profile().max_examples), deadline=None)


def profile() -> settings:
    """The loaded Hypothesis profile (``--hypothesis-profile``, or "dev" from tests/conftest.py)."""
    loaded = settings.default
    assert loaded is not None
    return loaded
