"""Test-wide settings: Hypothesis profiles and a decimal context that refuses floats."""

from __future__ import annotations

import decimal
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=100)
# CI runs every property with at least 1 000 examples (`make test` selects this profile).
settings.register_profile(
    "ci", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
# `make mutation` runs the fast tests once per mutant: few examples, the same ones every time.
settings.register_profile(
    "mutation",
    max_examples=10,
    stateful_step_count=10,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
settings.load_profile("dev")


@pytest.fixture(autouse=True)
def floats_never_reach_decimals() -> Iterator[None]:
    """A float mixed into Decimal arithmetic anywhere in a test raises FloatOperation."""
    with decimal.localcontext() as context:
        context.traps[decimal.FloatOperation] = True
        yield
