"""Compact JSON text: what is stored and signed is the same text whichever writer produced it."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from adapters.serialization import compact_json, to_json, unstructure
from core.records import OrderRef


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
    assert to_json(ref) == '{"id":"o-1","side":"BUY","state":"NEW"}'
    assert unstructure(ref) == {"id": "o-1", "side": "BUY", "state": "NEW"}
