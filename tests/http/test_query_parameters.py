"""Query parameters as clients send them: anything that is not what a route reads is a 400, never a 500."""

from __future__ import annotations

import pytest

from tests.http.conftest import Api


@pytest.mark.parametrize("limit", ["²", "٣", "¹⁰", "1.0", "+1", "-1", "0x10", "", "1" * 5000])
def test_a_limit_that_is_not_ascii_digits_is_400(api: Api, limit: str) -> None:
    response = api.alice.get("/accounts", params={"limit": limit})
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"limit": limit}
