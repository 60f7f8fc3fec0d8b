"""Compact JSON text: what is stored and signed is the same text whichever writer produced it."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import attrs
from hypothesis import given
from hypothesis import strategies as st

from adapters.serialization import compact_json, to_json, unstructure
from core.explain import Explanation, split
from core.portfolio import OrderType
from core.records import OrderRef, PortfolioOrder


def reference(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


#: Any text, lone surrogates and control characters included.
any_text = st.text(st.characters(codec=None, exclude_categories=()))

json_data = st.recursive(
    st.none() | st.booleans() | st.integers() | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=20,
)


@given(json_data)
def test_compact_json_is_exactly_the_text_the_json_module_writes(data: Any) -> None:
    assert compact_json(data) == reference(data)


def test_a_whole_number_beyond_64_bits_is_written_in_full() -> None:
    big = {"units": 2**64 + 1, "owed": -(2**70)}
    assert compact_json(big) == '{"units":18446744073709551617,"owed":-1180591620717411303424}'


def test_a_lone_surrogate_is_written_as_the_json_module_writes_it() -> None:
    assert compact_json(["\ud800"]) == reference(["\ud800"])


def test_text_beyond_ascii_is_written_as_it_is_and_controls_escaped() -> None:
    assert (
        compact_json({"name": "Zürich €", "note": "a\tb\x01"}) == '{"name":"Zürich €","note":"a\\tb\\u0001"}'
    )


def test_a_record_is_written_compactly_with_its_members_by_value() -> None:
    ref = OrderRef("o-1", "BUY", "NEW")
    assert to_json(ref) == '{"id":"o-1","side":"BUY","state":"NEW","status":"NEW"}'
    assert unstructure(ref) == {"id": "o-1", "side": "BUY", "state": "NEW", "status": "NEW"}


def placed(total: str, state: str = "NEW") -> PortfolioOrder:
    stage = split(
        "cash over the weights", Decimal(total), [Decimal(1), Decimal(2)], Decimal("0.01"), ["A", "B"]
    ).stage
    moment = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
    return PortfolioOrder(
        "po-1", "ACC", OrderType.BUY, "EUR", Decimal(total), None, state, moment, moment,
        explanation=Explanation((stage,)),
    )  # fmt: skip


def test_records_sharing_an_explanation_are_each_written_in_full() -> None:
    new = placed("10.00")
    submitted = attrs.evolve(new, state="SUBMITTED")
    assert [to_json(new), to_json(submitted)] == [compact_json(unstructure(r)) for r in (new, submitted)]
    assert json.loads(to_json(submitted))["explanation"]["stages"][0]["total"] == "10.00"


def test_a_record_written_after_another_carries_its_own_explanation() -> None:
    first, second = placed("10.00"), placed("20.00")
    assert to_json(first) != to_json(second)
    assert json.loads(to_json(second))["explanation"] == unstructure(second)["explanation"]
    assert json.loads(to_json(first))["explanation"] == unstructure(first)["explanation"]
