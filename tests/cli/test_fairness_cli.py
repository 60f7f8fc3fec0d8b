"""``allot keys``: creating keys from a file, ``allot keys fairness`` and ROTATE keys and models on the command
line."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from tests.cli.conftest import KEY, Allot, setup_key

#: P1 and P2 (unit values 10 and 20) both accept remainders: a block of 31 leaves 1 over, shared 1 : 2.
ROTATING = {
    **KEY,
    "fairness": "ROTATE",
    "participants": [
        {"account_id": "P1", "unit_value": "10", "accept_remainder": True, "priority": 1},
        {"account_id": "P2", "unit_value": "20", "accept_remainder": True, "priority": 2},
    ],
}


def test_keys_fairness_shows_each_accounts_exact_share_allocation_and_lead(allot: Allot) -> None:
    key_id = setup_key(allot, ROTATING)
    for _ in range(3):
        allot("blocks", "create", key_id, "FX", "--amount", "31")
    report = allot.json("keys", "fairness", key_id)
    assert (report["fairness"], report["rounds"]) == ("ROTATE", 3)
    # Three remainders of one step, shared 1 : 2: exact shares 1 and 2, and rotation gives exactly those.
    shares = {
        a["account_id"]: (Fraction(a["quota"]), a["allocated"], Fraction(a["lead"]))
        for a in report["accounts"]
    }
    assert shares == {"P1": (Fraction(1), 1, Fraction(0)), "P2": (Fraction(2), 2, Fraction(0))}
    table = allot("keys", "fairness", key_id).out
    assert "after 3 block(s)" in table
    assert "lead (+) / lag (-)" in table


def test_keys_fairness_of_a_plain_key_says_it_keeps_no_history(allot: Allot) -> None:
    key_id = setup_key(allot)
    assert "a PLAIN key keeps no history" in allot("keys", "fairness", key_id).out


def test_keys_fairness_of_an_unknown_key_is_not_found(allot: Allot) -> None:
    setup_key(allot)
    ran = allot("keys", "fairness", "no-such-key", "--json", expect=2)
    assert ran.error["code"] == "NOT_FOUND"


def test_a_model_portfolio_can_be_created_rotating(allot: Allot) -> None:
    allot("instruments", "create", "AAA", "--price", "1.00")
    model = allot.json("allocations", "create", "all-in", "--line", "AAA=1", "--fairness", "rotate")
    assert model["fairness"] == "ROTATE"
    assert allot.json("allocations", "show", "all-in")["fairness"] == "ROTATE"


def test_an_unknown_fairness_is_refused_before_anything_is_written(allot: Allot) -> None:
    allot("instruments", "create", "AAA", "--price", "1.00")
    allot("allocations", "create", "all-in", "--line", "AAA=1", "--fairness", "sometimes", expect=2)
    assert allot.json("allocations", "list") == []


@pytest.mark.parametrize("given", [{}, {"error_account_id": None}], ids=["left out", "null"])
def test_a_key_file_without_an_error_account_uses_the_block_accounts_own_opened_with_the_key(
    allot: Allot, given: dict[str, None]
) -> None:
    without = {name: value for name, value in KEY.items() if name != "error_account_id"} | given
    key_id = setup_key(allot, without)
    assert allot.json("keys", "show", key_id)["key"]["error_account_id"] == "BLOCK-ERROR"
    opened = allot.json("accounts", "show", "BLOCK-ERROR")
    assert (opened["account"]["currency"], opened["account"]["cash"]) == ("EUR", {"EUR": "0.00"})
    assert allot("ledger", "verify").code == 0


def test_a_key_file_with_an_empty_error_account_is_refused(allot: Allot) -> None:
    setup_key(allot)
    refused = allot(
        "keys", "create", "-", "--json", stdin=json.dumps(KEY | {"error_account_id": ""}), expect=2
    )
    assert refused.error["code"] == "VALIDATION_ERROR"
    assert "error_account_id" in refused.error["message"]
