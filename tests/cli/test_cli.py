"""The allot command: exit status and exact JSON, including bad input of every kind."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from core.lifecycle import OrderState
from entrypoints.bootstrap import sqlite_application
from entrypoints.cli import main
from entrypoints.render import fraction
from entrypoints.story import folded

SAMPLES = Path(__file__).parents[2] / "entrypoints" / "samples"

BUY: dict[str, Any] = {
    "type": "BUY",
    "currency": "EUR",
    "cash_amount": "100.00",
    "allocation": [
        {"instrument_id": "A", "weight": "0.3333"},
        {"instrument_id": "B", "weight": "0.3333"},
        {"instrument_id": "C", "weight": "0.3334"},
    ],
    "instruments": [{"instrument_id": "A"}, {"instrument_id": "B"}, {"instrument_id": "C"}],
}


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def split(request: object) -> tuple[int, Any, Any]:
    code, out, err = run("split", "-", stdin=request if isinstance(request, str) else json.dumps(request))
    return code, json.loads(out) if out else None, json.loads(err) if err else None


def test_split_prints_the_plan_as_exact_json() -> None:
    assert split(BUY) == (
        0,
        {
            "type": "BUY",
            "currency": "EUR",
            "cash_amount": "100.00",
            "orders": [
                {"instrument_id": "A", "side": "BUY", "cash_amount": "33.33", "quantity": None},
                {"instrument_id": "B", "side": "BUY", "cash_amount": "33.33", "quantity": None},
                {"instrument_id": "C", "side": "BUY", "cash_amount": "33.34", "quantity": None},
            ],
            "skipped": [],
        },
        None,
    )


def test_json_numbers_are_accepted_and_parsed_exactly() -> None:
    request = {**BUY, "cash_amount": 100.10}
    text = json.dumps(request).replace('"0.3333"', "0.3333")
    code, out, _ = split(text)
    assert code == 0
    # 100.10 × 0.3333 = 33.363…, × 0.3334 = 33.373…: the leftover cent goes to the largest remainder
    assert [o["cash_amount"] for o in out["orders"]] == ["33.36", "33.36", "33.38"]


def test_a_liquidation_lists_unit_orders() -> None:
    code, out, _ = split(
        {"type": "LIQUIDATION", "currency": "EUR", "positions": [{"instrument_id": "A", "quantity": "3"}]}
    )
    assert (code, out["orders"]) == (
        0,
        [{"instrument_id": "A", "side": "SELL", "cash_amount": None, "quantity": "3"}],
    )


def test_a_request_the_core_rejects_exits_1_with_the_error_on_stderr_and_nothing_on_stdout() -> None:
    code, out, err = split({**BUY, "cash": "99.99"})
    assert (code, out) == (1, None)
    assert err == {
        "error": {
            "code": "INSUFFICIENT_FUNDS",
            "message": "the account has 99.99 EUR available, 100.00 was asked for",
            "details": {"requested": "100.00", "available": "99.99", "currency": "EUR"},
        }
    }


def test_a_sell_beyond_the_nav_limit_exits_1_with_the_maximum_allowed() -> None:
    code, _, err = run("split", str(SAMPLES / "sell_beyond_limit.json"))
    body = json.loads(err)
    assert (code, body["error"]["code"], body["error"]["details"]["max_allowed"]) == (
        1,
        "NAV_LIMIT_EXCEEDED",
        "2312.79",
    )


BAD_INPUTS = {
    "not JSON at all": ("{not json", "INVALID_JSON"),
    "an unknown field": (json.dumps({**BUY, "colour": "red"}), "VALIDATION_ERROR"),
    "a missing field": (json.dumps({k: v for k, v in BUY.items() if k != "currency"}), "VALIDATION_ERROR"),
    "a value that is not a decimal": (json.dumps({**BUY, "cash_amount": "ten"}), "VALIDATION_ERROR"),
    "a negative amount": (json.dumps({**BUY, "cash_amount": "-5.00"}), "VALIDATION_ERROR"),
    "too many digits": (json.dumps({**BUY, "cash_amount": "1234567890123456789.00"}), "VALIDATION_ERROR"),
    "too many decimals for the currency": (json.dumps({**BUY, "cash_amount": "1.001"}), "VALIDATION_ERROR"),
    "NaN": (json.dumps(BUY).replace('"100.00"', "NaN"), "INVALID_JSON"),
    "a boolean where a decimal belongs": (json.dumps({**BUY, "cash_amount": True}), "VALIDATION_ERROR"),
    "an unknown order type": (json.dumps({**BUY, "type": "SHORT"}), "VALIDATION_ERROR"),
    "an unknown currency": (json.dumps({**BUY, "currency": "EURO"}), "VALIDATION_ERROR"),
    "weights that do not sum to one": (
        json.dumps({**BUY, "allocation": [{"instrument_id": "A", "weight": "0.5"}]}),
        "VALIDATION_ERROR",
    ),
    "a JSON array instead of an object": ("[1, 2]", "VALIDATION_ERROR"),
    "a string where a list belongs": (json.dumps({**BUY, "allocation": "abc"}), "VALIDATION_ERROR"),
    "an empty request": ("", "INVALID_JSON"),
}


@pytest.mark.parametrize("kind", list(BAD_INPUTS))
def test_bad_input_exits_2_with_a_stable_code_and_no_traceback(kind: str) -> None:
    text, expected_code = BAD_INPUTS[kind]
    code, out, err = run("split", "-", stdin=text)
    assert (code, out) == (2, "")
    body = json.loads(err)
    assert body["error"]["code"] == expected_code
    assert body["error"]["message"]
    assert "Traceback" not in err


def test_a_missing_request_file_exits_2_as_unreadable_input(tmp_path: Path) -> None:
    code, out, err = run("split", str(tmp_path / "nope.json"))
    assert (code, out, json.loads(err)["error"]["code"]) == (2, "", "UNREADABLE_INPUT")


def test_a_string_where_a_list_belongs_is_named_once_with_its_path() -> None:
    _, _, err = split({**BUY, "allocation": "abc"})
    assert err["error"]["details"]["errors"] == ['expected a JSON array, got "abc" @ $.allocation']


def test_a_validation_error_names_the_field_path() -> None:
    bad = {**BUY, "instruments": [{"instrument_id": "A", "price": "abc"}]}
    _, _, err = split(bad)
    assert "$.instruments[0].price" in err["error"]["message"]


def allocate(request: object) -> tuple[int, Any, Any]:
    code, out, err = run("allocate", "-", stdin=json.dumps(request))
    return code, json.loads(out) if out else None, json.loads(err) if err else None


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def test_allocate_prints_the_remainder_example_of_block_trading_as_exact_json() -> None:
    code, out, _ = allocate(sample("block_remainder.json"))
    assert (code, out) == (
        0,
        {
            "block_amount": "65000",
            "allocated_amount": "65000",
            "remainder": "5000",
            "allocations": [
                {
                    "account_id": "Demo_8328394",
                    "quantity": "11667",
                    "average_price": None,
                    "traded_value": None,
                },
                {
                    "account_id": "Demo_8328395",
                    "quantity": "23333",
                    "average_price": None,
                    "traded_value": None,
                },
                {
                    "account_id": "Demo_8328424",
                    "quantity": "30000",
                    "average_price": None,
                    "traded_value": None,
                },
            ],
            "error_account": {
                "account_id": "ERROR_8393",
                "quantity": "0",
                "average_price": None,
                "traded_value": None,
            },
        },
    )


def test_allocate_with_a_margin_reject_key_exits_1_listing_the_accounts() -> None:
    request = {**sample("block_exact.json"), "price": "1", "buying_power": {
        "Demo_8328394": "10000", "Demo_8328395": "100", "Demo_8328424": "30000"}}  # fmt: skip
    code, _, err = allocate(request)
    assert (code, err["error"]["code"]) == (1, "MARGIN_REJECTED")
    assert [a["account_id"] for a in err["error"]["details"]["accounts"]] == ["Demo_8328395"]


def test_allocate_refuses_a_key_whose_percentages_do_not_sum_to_100() -> None:
    request = sample("block_percentage.json")
    request["key"]["participants"][0]["unit_value"] = "26"
    code, _, err = allocate(request)
    assert (code, err["error"]["code"]) == (2, "VALIDATION_ERROR")


def test_enum_values_are_accepted_in_any_case_as_the_documents_write_them() -> None:
    request = sample("block_percentage.json")
    request["key"]["unit_type"] = "Percentage"
    assert allocate(request)[0] == 0


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.glob("*.json")))
def test_every_shipped_sample_runs(name: str) -> None:
    command = "allocate" if name.startswith("block_") else "split"
    code, _, err = run(command, str(SAMPLES / name))
    expected = 1 if name == "sell_beyond_limit.json" else 0
    assert code == expected, err


def test_the_demo_walks_through_every_capability() -> None:
    code, out, _ = run("demo")
    assert code == 0
    for marker in (
        "BUY", "SELL 400.00", "NAV_LIMIT_EXCEEDED", "LIQUIDATION", "REBALANCING", "11667", "ERROR_8393",
        "PRO_RATA", "Margin REDUCE", "Average price", "portfolio order  FILLED", "ILLEGAL_TRANSITION",
    ):  # fmt: skip
        assert marker in out


def test_the_demo_follows_a_leader_from_the_refusal_to_the_withdrawal_and_the_books_balance() -> None:
    code, out, _ = run("demo")
    assert code == 0
    chapter = out.split("16. Copy trading")[1].split("17. Webhooks received")[0]
    for marker in (
        "leader steady", "suitability MEDIUM or higher", "fee profile copy-standard",
        "refused: NOT_SUITABLE", "refused carl: NOT_SUITABLE",
        "7  Funding failed                  RETRY", "(+5 s)", "8  Ready                           ACTIVE",
        "SELL TECH", "12 @ 64.00 + 13 @ 64.80", "64.41600000", "BUY ENERGY",
        "27  Stopout protection limit", "9  Disabled", "service fee 0.07 EUR charged",
        "max withdrawal = equity", "anna-cash, her funding account", "the books balance:",
    ):  # fmt: skip
        assert marker in chapter, marker
    summary = next(
        line for line in chapter.splitlines() if line.startswith("INVESTMENT webhooks on loopback")
    )
    received, verified = int(summary.split()[4]), int(summary.split(",")[1].split()[0])
    assert received == verified > 0


def test_help_explains_the_exit_statuses() -> None:
    code, out, _ = run("--help")
    assert code == 0
    assert "Exit status: 0 done; 1 the request was refused" in out


def test_the_demo_refuses_to_write_its_story_into_an_existing_database(tmp_path: Path) -> None:
    existing = tmp_path / "mine.db"
    existing.write_bytes(b"")
    code, out, err = run("--json", "demo", "--db", str(existing))
    assert (code, out, json.loads(err)["error"]["code"]) == (2, "", "VALIDATION_ERROR")


def test_the_webhook_listing_shows_a_group_of_lines_that_repeats_once_with_its_count() -> None:
    assert folded(["a", "b", "c", "b", "c", "b", "c", "d"]) == [
        "a",
        "b",
        "c",
        "  (the 2 lines above, 2 more times)",
        "d",
    ]
    assert folded(["a", "a", "a", "b"]) == ["a", "  (the line above, 2 more times)", "b"]
    assert folded(["a", "a", "b", "a"]) == ["a", "a", "b", "a"]  # folding one line into one saves nothing


def test_the_demo_ends_with_every_webhook_verified() -> None:
    code, out, _ = run("demo")
    summary = next(line for line in out.splitlines() if "signatures verified" in line)
    received, verified = int(summary.split()[0]), int(summary.split(",")[1].split()[0])
    assert code == 0
    assert received == verified > 100


def leads_by_round(chapter: str) -> tuple[list[tuple[str, str]], list[list[Fraction]]]:
    """The columns (key, account) and the rows (each column's lead or lag after that round) of the table of
    "Fair over time", read back from the story's output."""
    lines = chapter.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("round "))
    words = lines[header].split()
    columns = list(zip(words[1::2], words[2::2], strict=True))
    rows: list[list[Fraction]] = []
    for number, line in enumerate(lines[header + 2 :], start=1):
        if not line.strip():
            break
        cells = line.split()
        assert int(cells[0]) == number
        rows.append([Fraction(cell) for cell in cells[1:]])
    return columns, rows


def test_the_demo_shows_plain_drifting_and_rotate_staying_within_a_step_over_the_same_12_blocks(
    tmp_path: Path,
) -> None:
    db = tmp_path / "story.db"
    code, out, _ = run("demo", "--db", str(db))
    assert code == 0
    chapter = out.split("15. Fair over time")[1].split("16. Copy trading")[0]
    columns, rows = leads_by_round(chapter)
    plain = [i for i, (key, _) in enumerate(columns) if key == "PLAIN"]
    rotate = [i for i, (key, _) in enumerate(columns) if key == "ROTATE"]
    assert len(rows) == 12
    assert len(plain) == len(rotate) == 3
    for row in rows:  # exact shares sum to the block, so the leads and lags of each key cancel out
        assert sum(row[i] for i in plain) == sum(row[i] for i in rotate) == 0
        assert all(abs(row[i]) < 1 for i in rotate)
    worst_plain = [max(row[i] for i in plain) for row in rows]
    assert worst_plain == sorted(set(worst_plain))  # it grows block after block
    assert worst_plain[-1] > 1
    worst_rotate = max(row[i] for row in rows for i in rotate)
    summary = chapter.strip().splitlines()[-1]
    assert f"PLAIN's worst lead is {fraction(worst_plain[-1], signed=True)} steps" in summary
    assert f"under ROTATE the worst lead in any round is {fraction(worst_rotate, signed=True)}" in summary
    assert "by ROTATE, 1 leftover step" in chapter  # a block's explanation, with each account's lead or lag
    assert "lead/lag" in chapter

    # The same facts from the story's database: the keys' blocks and the ROTATE key's fairness history.
    with sqlite_application(db, create=False) as app:
        accounts = sorted({account for _, account in columns})
        keys = {
            stored.key.fairness.value: stored
            for stored in app.keys.all()
            if sorted(p.account_id for p in stored.key.participants) == accounts
        }
        last = dict(zip(columns, rows[-1], strict=True))
        for fairness in ("PLAIN", "ROTATE"):
            key = keys[fairness].key
            blocks = [b for b in app.blocks.all() if b.key_id == keys[fairness].id]
            assert [b.state for b in blocks] == [OrderState.FILLED] * 12
            units = sum(Fraction(p.unit_value) for p in key.participants)
            for p in key.participants:
                exact = sum(Fraction(b.amount) for b in blocks) * Fraction(p.unit_value) / units
                given = sum(Fraction(b.allocated[b.recipients.index(p.account_id)]) for b in blocks)
                assert given - exact == last[fairness, p.account_id]
        report = app.keys.fairness(keys["ROTATE"].id)
        assert report.rounds == 12
        assert {a.account_id: a.lead for a in report.accounts} == {
            account: lead for (key_name, account), lead in last.items() if key_name == "ROTATE"
        }
    books = out.split("18. The books")[1]
    assert "the books balance:" in books
