"""``allot explain``: a block order, a portfolio order or a request, as tables or JSON; the expectations are worked
out here from the key and the weights (largest remainder, ties by priority), not copied from the output."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from tests.cli.conftest import Allot, setup_portfolio

#: Three accounts with equal unit values, each accepting remainders, priorities out of key order.
PRIORITIES = {"P1": 3, "P2": 1, "P3": 2}
UNIT_VALUE = 10
#: One block more than three times the key: a base of 10 each, and a remainder of 1 step.
AMOUNT = 31
EQUAL_KEY = {
    "name": "equal", "unit_type": "UNIT", "margin_handling": "REJECT", "one_time": False,
    "owner_account_id": "BLOCK", "error_account_id": "ERR",
    "participants": [{"account_id": account, "unit_value": str(UNIT_VALUE), "accept_remainder": True,
                      "priority": priority} for account, priority in PRIORITIES.items()],
}  # fmt: skip


def placed_block(allot: Allot) -> str:
    for account in ("BLOCK", "ERR", *PRIORITIES):
        allot("accounts", "create", "--currency", "EUR", "--cash", "1000.00", "--id", account)
    allot("instruments", "create", "FX", "--price", "1.00")
    key_id = allot("keys", "create", "-", "--json", stdin=json.dumps(EQUAL_KEY)).data["id"]
    return str(allot.json("blocks", "create", key_id, "FX", "--amount", str(AMOUNT))["id"])


def expected_remainder_stage() -> list[dict[str, Any]]:
    """The key's remainder over the three: equal claims, so equal quotas of 1/3 and a floor of 0 each; the one
    leftover step goes to the lowest priority number, the others queue behind it by priority."""
    remainder = AMOUNT - (AMOUNT // (UNIT_VALUE * 3)) * UNIT_VALUE * 3
    assert remainder == 1
    queue = sorted(PRIORITIES, key=PRIORITIES.__getitem__)
    quota = Fraction(remainder, 3)
    return [
        {
            "recipient": account,
            "claim": str(UNIT_VALUE),
            "quota": str(quota),
            "floor": "0",
            "remainder": str(quota),
            "share": "1" if queue.index(account) < remainder else "0",
            "reason": "TIE_BY_PRIORITY",
            "won_step": queue.index(account) < remainder,
            "rank": PRIORITIES[account],
            "place": queue.index(account) + 1,
            "lag": None,
        }
        for account in PRIORITIES
    ]


def test_a_block_order_is_explained_by_its_id_with_the_leftover_step_won_by_priority(allot: Allot) -> None:
    block_id = placed_block(allot)
    base, remainder = allot.json("explain", block_id)["stages"]
    assert [(line["recipient"], line["share"]) for line in base["lines"]] == [
        (account, str(UNIT_VALUE)) for account in PRIORITIES
    ]
    assert (remainder["total"], remainder["leftover_steps"]) == ("1", 1)
    assert remainder["lines"] == expected_remainder_stage()


def test_a_block_order_is_explained_as_tables_naming_it_and_the_winner_of_the_step(allot: Allot) -> None:
    block_id = placed_block(allot)
    shown = allot("explain", block_id).out
    winner = min(PRIORITIES, key=PRIORITIES.__getitem__)
    assert shown.startswith(f"block order {block_id}\n\n")
    remainder = shown.split("\n\n")[-1]
    assert remainder.startswith(
        "remainder of the key over the accounts that accept remainders: 1 in steps of 1 by LARGEST_REMAINDER"
    )
    rows = {line.split()[0]: line.split() for line in remainder.splitlines()[3:]}
    assert rows[winner][-4:] == ["1", "yes", "TIE_BY_PRIORITY", "1"]  # place, won, reason, share
    assert [row[-1] for account, row in rows.items() if account != winner] == ["0", "0"]


def test_a_portfolio_order_is_explained_by_its_id_with_the_cent_to_the_largest_remainder(
    allot: Allot,
) -> None:
    setup_portfolio(allot)
    order_id = allot.json(
        "orders", "create", "ACC", "--type", "BUY", "--amount", "100.01", "--allocation", "60/40"
    )["id"]
    cents = 10001
    weights = {"AAA": Fraction(6, 10), "BBB": Fraction(4, 10)}
    floors = {i: cents * w // 1 for i, w in weights.items()}
    winner = max(weights, key=lambda i: cents * weights[i] - floors[i])
    (stage,) = allot.json("explain", order_id)["stages"]
    assert (stage["name"], stage["total"], stage["step"], stage["leftover_steps"]) == (
        "cash over the weights", "100.01", "0.01", cents - sum(floors.values()),
    )  # fmt: skip
    assert {line["recipient"]: line["share"] for line in stage["lines"]} == {
        i: str((Decimal(floors[i] + (i == winner)) / 100).quantize(Decimal("0.01"))) for i in weights
    }
    assert [line["recipient"] for line in stage["lines"] if line["won_step"]] == [winner]
    assert allot("explain", order_id).out.startswith(f"portfolio order {order_id}\n\ncash over the weights: ")


def test_a_block_request_file_is_explained_without_a_database(allot: Allot, tmp_path: Path) -> None:
    request = tmp_path / "block.json"
    request.write_text(json.dumps({"key": EQUAL_KEY, "amount": str(AMOUNT)}))
    _, remainder = allot.json("explain", str(request))["stages"]
    assert remainder["lines"] == expected_remainder_stage()
    assert not allot.database.exists()


def test_a_portfolio_request_on_stdin_is_explained_as_a_table(allot: Allot) -> None:
    request = {"type": "BUY", "currency": "EUR", "cash_amount": "0.02",
               "allocation": [{"instrument_id": i, "weight": w} for i, w in (("A", "0.5"), ("B", "0.3"), ("C", "0.2"))],
               "instruments": [{"instrument_id": i} for i in "ABC"]}  # fmt: skip
    # 2 cents: quotas 1, 0.6 and 0.4 cents; A takes its whole cent, the leftover one goes to B (0.6 > 0.4).
    shown = allot("explain", "-", stdin=json.dumps(request)).out
    rows = {line.split()[0]: line.split() for line in shown.splitlines()[3:]}
    assert rows["A"][-2:] == ["EXACT", "0.01"]
    assert rows["B"][-3:] == ["yes", "LARGEST_REMAINDER", "0.01"]
    assert rows["C"][-2:] == ["SMALLER_REMAINDER", "0.00"]
    assert not allot.database.exists()


def test_the_explanation_of_a_request_is_the_one_allocate_and_split_print_with_explain(allot: Allot) -> None:
    block = {"key": EQUAL_KEY, "amount": str(AMOUNT)}
    explained = allot("explain", "-", "--json", stdin=json.dumps(block)).data
    assert explained == allot("allocate", "-", "--explain", stdin=json.dumps(block)).data["explanation"]


def test_a_missing_id_is_not_found_and_writes_nothing(allot: Allot) -> None:
    placed_block(allot)
    before = allot.state()
    ran = allot("explain", "no-such-id", "--json", expect=2)
    assert (ran.error["code"], ran.error["details"]["id"]) == ("NOT_FOUND", "no-such-id")
    assert ran.out == ""
    assert allot.state() == before


def test_a_liquidation_has_no_explanation_and_says_why(allot: Allot) -> None:
    setup_portfolio(allot)
    allot("orders", "create", "ACC", "--type", "BUY", "--amount", "100", "--allocation", "60/40")
    allot("market", "run")
    liquidation = allot.json("orders", "create", "ACC", "--type", "LIQUIDATION")["id"]
    assert allot("explain", liquidation).out.strip() == (
        f"portfolio order {liquidation} has no recorded explanation: it was placed before allot recorded "
        "explanations, or it is a LIQUIDATION (every position is sold in full: nothing is apportioned)"
    )
    assert allot.json("explain", liquidation) is None


def test_a_block_stored_before_explanations_were_recorded_says_it_has_none(allot: Allot) -> None:
    block_id = placed_block(allot)
    with sqlite3.connect(allot.database) as connection:
        connection.execute(
            "UPDATE records SET body = json_remove(body, '$.explanation') WHERE id = ?", (block_id,)
        )
    connection.close()
    assert allot("explain", block_id).out.startswith(f"block order {block_id} has no recorded explanation: ")
    assert allot.json("explain", block_id) is None


def test_bad_json_on_stdin_is_invalid_json_with_exit_2(allot: Allot) -> None:
    ran = allot("explain", "-", "--json", stdin='{"key": ', expect=2)
    assert ran.error["code"] == "INVALID_JSON"
    assert allot("explain", "-", stdin="{", expect=2).err.endswith("(INVALID_JSON)\n")


def test_a_block_request_with_a_bad_key_is_a_validation_error(allot: Allot) -> None:
    ran = allot("explain", "-", "--json", stdin=json.dumps({"key": {"name": "no participants"}, "amount": "1"}),
                expect=2)  # fmt: skip
    assert ran.error["code"] == "VALIDATION_ERROR"


def test_help_says_how_a_request_is_told_apart(allot: Allot) -> None:
    shown = allot("explain", "--help").out
    assert 'A request with a "key" is a block request' in " ".join(shown.split())


def test_an_id_too_long_to_be_a_file_name_is_not_found_rather_than_an_output_error(allot: Allot) -> None:
    setup_portfolio(allot)
    ran = allot("explain", "x" * 5000, "--json", expect=2)
    assert ran.error["code"] == "NOT_FOUND"
