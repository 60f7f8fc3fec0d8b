"""A fairness history as JSON: written as its rounds and standings, read back checked, exact fractions as text."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.serialization import MAX_FRACTION_DIGITS, structure, unstructure
from core.errors import ValidationError
from core.fairness import FairHistory, apportion_fair


def history_json(quota: str = "1/3", allocated: Any = 1, rounds: Any = 1) -> dict[str, Any]:
    return {"rounds": rounds, "standings": [{"participant": "a", "quota": quota, "allocated": allocated}]}


def test_a_history_reads_back_exactly_as_it_was_written() -> None:
    _, history = apportion_fair(7, ["a", "b", "c"], [1, 2, 4])
    written = unstructure(history)
    assert [s["quota"] for s in written["standings"]] == ["1", "2", "4"]
    _, history = apportion_fair(5, ["a", "b", "c"], [1, 1, 1], history)
    again = structure(unstructure(history), FairHistory)
    assert (again.standings, again.rounds) == (history.standings, 2)


@pytest.mark.parametrize(
    ("changed", "says"),
    [
        ({"quota": "1/0"}, "zero denominator"),
        ({"quota": "1/00"}, "zero denominator"),
        ({"quota": "1/" + "9" * MAX_FRACTION_DIGITS}, "longer than allot reads"),
        ({"quota": "0.5"}, "fraction written as text"),
        ({"quota": 0.5}, "fraction written as text"),
        ({"allocated": -1}, "no negative"),
        ({"allocated": 1.5}, "whole number"),
        ({"quota": "-1/3"}, "no negative"),
        ({"rounds": -1}, "rounds"),
    ],
)
def test_a_history_that_is_not_one_is_refused_with_a_clear_error(changed: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        structure(history_json(**changed), FairHistory)
