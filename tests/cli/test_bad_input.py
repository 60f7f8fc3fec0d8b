"""Every input the command must refuse: exit status 2, a clear message, and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import KEY, Allot, setup_key, setup_portfolio


@pytest.fixture
def ready(allot: Allot) -> Allot:
    """A database with a portfolio and a UNIT key 10 / 20 already in it."""
    setup_portfolio(allot)
    setup_key(allot)
    return allot


def key_id(allot: Allot) -> str:
    return str(allot.json("keys", "list")[0]["id"])


def refused(allot: Allot, *args: str, code: str, says: str, stdin: str | None = None) -> None:
    """The command exits 2 with ``code`` and a message that says ``says``, and the database is unchanged."""
    before = allot.state()
    ran = allot(*args, "--json", expect=2, stdin=stdin)
    assert ran.error["code"] == code, ran
    assert says in ran.error["message"], ran.error["message"]
    assert ran.out == ""
    assert allot.state() == before
    plain = allot(*args, expect=2, stdin=stdin)
    assert plain.err.strip(), plain
    assert plain.out == ""


def test_opening_cash_below_zero_is_refused(ready: Allot) -> None:
    refused(ready, "accounts", "create", "--currency", "EUR", "--cash", "-5", "--id", "NEG",
            code="VALIDATION_ERROR", says="cash must not be negative")  # fmt: skip


@pytest.mark.parametrize("amount", ["0", "-5"])
def test_a_block_of_nothing_or_less_is_refused(ready: Allot, amount: str) -> None:
    refused(ready, "blocks", "create", key_id(ready), "FX", "--amount", amount,
            code="VALIDATION_ERROR", says="amount must be greater than zero")  # fmt: skip


def test_a_block_of_nothing_is_refused_with_a_percentage_key_too(allot: Allot) -> None:
    key = {**KEY, "unit_type": "PERCENTAGE", "participants": [
        {"account_id": "P1", "unit_value": "40"}, {"account_id": "P2", "unit_value": "60"}]}  # fmt: skip
    percentage = setup_key(allot, key)
    refused(allot, "blocks", "create", percentage, "FX", "--amount", "-5",
            code="VALIDATION_ERROR", says="greater than zero")  # fmt: skip


@pytest.mark.parametrize(
    "amount",
    [
        "1_0.00",
        "１０.００",
        "١٠",
        "1E+2",
        "1e2",
        "10,00",
        ".5",
        "5.",
        "+5",
        "0x10",
        "NaN",
        "Infinity",
        " 10",
        "",
    ],
)
def test_an_amount_not_written_as_plain_ascii_digits_is_refused(ready: Allot, amount: str) -> None:
    refused(ready, "orders", "create", "ACC", "--type", "BUY", "--allocation", "60/40", "--amount", amount,
            code="VALIDATION_ERROR", says="is not a decimal number")  # fmt: skip


def test_an_amount_with_too_many_digits_is_refused(ready: Allot) -> None:
    refused(ready, "accounts", "deposit", "ACC", "1" * 19, code="VALIDATION_ERROR", says="too many digits")


def test_an_unknown_webhook_topic_is_refused(ready: Allot) -> None:
    refused(ready, "webhooks", "create", "http://127.0.0.1:9/x", "--topic", "NOPE", "--allow-private-network",
            code="VALIDATION_ERROR", says="NOPE")  # fmt: skip


@pytest.mark.parametrize("limit", ["-5", "0", "10001", "ten"])
def test_an_events_limit_outside_one_to_ten_thousand_is_refused(ready: Allot, limit: str) -> None:
    refused(ready, "events", "list", "--limit", limit, code="VALIDATION_ERROR", says=limit)


@pytest.mark.parametrize("ratio", ["2", "0", "-0.5", "1.0001"])
def test_a_partial_fill_ratio_outside_zero_to_one_is_refused(ready: Allot, ratio: str) -> None:
    ready("orders", "create", "ACC", "--type", "BUY", "--amount", "100", "--allocation", "60/40")
    refused(ready, "market", "run", "--partial-fill-ratio", ratio,
            code="VALIDATION_ERROR", says="partial fill ratio")  # fmt: skip


def test_rejecting_an_instrument_that_does_not_exist_is_refused(ready: Allot) -> None:
    ready("orders", "create", "ACC", "--type", "BUY", "--amount", "100", "--allocation", "60/40")
    refused(ready, "market", "run", "--reject", "NOPE", code="UNKNOWN_INSTRUMENT", says="NOPE")


@pytest.mark.parametrize(
    "command",
    [
        ("accounts", "create", "--currency", "EUR", "--id", ""),
        ("accounts", "create", "--currency", "EUR", "--id", "   "),
        ("allocations", "create", "", "--line", "AAA=1"),
        (
            "orders",
            "create",
            "ACC",
            "--type",
            "BUY",
            "--amount",
            "1",
            "--allocation",
            "60/40",
            "--idempotency-key",
            "",
        ),
        ("liquidations", "create", "ACC", "--idempotency-key", " "),
        ("accounts", "show", ""),
    ],
)
def test_an_empty_id_name_or_idempotency_key_is_refused(ready: Allot, command: tuple[str, ...]) -> None:
    refused(ready, *command, code="VALIDATION_ERROR", says="must not be empty")


def test_a_key_whose_error_account_is_also_a_participant_is_refused(ready: Allot) -> None:
    key = {**KEY, "error_account_id": "P1"}
    refused(ready, "keys", "create", "-", stdin=json.dumps(key),
            code="VALIDATION_ERROR", says="error account P1 cannot also be a participant")  # fmt: skip


def test_a_model_portfolio_line_without_a_weight_is_refused(ready: Allot) -> None:
    refused(ready, "allocations", "create", "odd", "--line", "AAA",
            code="VALIDATION_ERROR", says="INSTRUMENT=WEIGHT")  # fmt: skip


def test_an_unknown_option_is_a_usage_error_in_json_too(ready: Allot) -> None:
    refused(ready, "accounts", "list", "--colour", "red", code="USAGE_ERROR", says="--colour")


def test_an_unknown_command_is_a_usage_error(ready: Allot) -> None:
    refused(ready, "acounts", "list", code="USAGE_ERROR", says="acounts")


def test_an_unknown_currency_is_refused(ready: Allot) -> None:
    refused(
        ready, "accounts", "create", "--currency", "EURO", code="VALIDATION_ERROR", says="unknown currency"
    )


def test_an_order_type_that_does_not_exist_is_refused(ready: Allot) -> None:
    refused(ready, "orders", "create", "ACC", "--type", "SHORT", code="VALIDATION_ERROR", says="SHORT")


def test_splitting_a_json_array_says_an_object_was_expected(ready: Allot) -> None:
    ran = ready("split", "-", stdin="[]", expect=2)
    assert json.loads(ran.err)["error"]["message"] == "expected a JSON object, got []"


@pytest.mark.parametrize("value", ["1_0000", "１００００", "1E+4", " 10000", "10000\n", "٣٠"])
def test_a_json_request_writes_decimals_as_plainly_as_the_command_line(ready: Allot, value: str) -> None:
    key = {
        **KEY,
        "participants": [{"account_id": "P1", "unit_value": value}, {"account_id": "P2", "unit_value": "20"}],
    }
    refused(
        ready,
        "keys",
        "create",
        "-",
        stdin=json.dumps(key),
        code="VALIDATION_ERROR",
        says="is not a decimal number",
    )


@pytest.mark.parametrize(
    "account_id",
    ["A\nFAKE  EUR 99999.00", "zero\u200bwidth", "right\u202eleft", " padded", "padded ", "bell\x07"],
)
def test_an_id_with_invisible_characters_or_blanks_around_it_is_refused(
    ready: Allot, account_id: str
) -> None:
    refused(
        ready,
        "accounts",
        "create",
        "--currency",
        "EUR",
        "--id",
        account_id,
        code="VALIDATION_ERROR",
        says="id",
    )


def test_an_id_that_is_not_utf8_is_refused(ready: Allot) -> None:
    undecodable = b"\xff\xfe".decode("utf-8", "surrogateescape")
    refused(ready, "accounts", "create", "--currency", "EUR", "--id", undecodable,
            code="VALIDATION_ERROR", says="not valid text")  # fmt: skip


@pytest.mark.parametrize(
    ("url", "says"), [("http://[::1", "cannot be read"), ("http://127.0.0.1:99999/x", "cannot be read")]
)
def test_a_webhook_url_that_cannot_be_read_is_refused(ready: Allot, url: str, says: str) -> None:
    refused(ready, "webhooks", "create", url, "--topic", "ORDER", "--allow-private-network",
            code="UNSAFE_WEBHOOK_URL", says=says)  # fmt: skip


def test_json_nested_too_deeply_is_refused(ready: Allot) -> None:
    refused(ready, "keys", "create", "-", stdin="[" * 100_000, code="INVALID_JSON", says="nested too deeply")


def test_a_whole_number_too_long_to_read_is_refused_as_invalid_json(ready: Allot) -> None:
    too_long = '{"key": {}, "amount": ' + "9" * 4400 + "}"
    refused(
        ready, "keys", "create", "-", stdin=too_long, code="INVALID_JSON", says="a number allot cannot read"
    )


def test_an_empty_db_path_is_refused(ready: Allot) -> None:
    ran = ready.__class__(ready.database)("--db", "", "accounts", "list", "--json", expect=2)
    assert ran.error["code"] == "VALIDATION_ERROR"


def test_a_missing_argument_is_a_usage_error_in_json(ready: Allot) -> None:
    assert ready("split", "--json", expect=2).error["code"] == "USAGE_ERROR"


def test_json_as_the_value_of_an_option_does_not_switch_the_output(ready: Allot) -> None:
    ran = ready("accounts", "create", "--currency", "EUR", "--id", "--json")
    assert ran.out.startswith("account --json opened")


def test_a_participant_without_an_account_is_refused_as_bad_input(ready: Allot) -> None:
    key = {**KEY, "participants": [{"account_id": "", "unit_value": "10"}]}
    refused(
        ready, "keys", "create", "-", stdin=json.dumps(key), code="VALIDATION_ERROR", says="must not be empty"
    )


@pytest.mark.parametrize(
    "command",
    [
        ("market", "run", "--partial-fill-ratio", "2"),
        ("market", "run", "--reject", "NOPE"),
        ("accounts", "create", "--currency", "EUR", "--cash", "-5"),
        ("accounts", "create", "--currency", "XXX"),
        ("accounts", "deposit", "NOPE", "5"),
        ("orders", "cancel", "NOPE"),
    ],
)
def test_a_refused_command_on_a_new_path_leaves_no_database_behind(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    fresh = Allot(tmp_path / "typo.db")
    for output in ((), ("--json",)):
        ran = fresh(*command, *output, expect=None)
        assert ran.code in (1, 2), ran
        assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("escaped", "field"),
    [('"\\ud800"', "$.name"), ('"ok\\u0000"', "$.name"), ('"\\udfff-x"', "$.name")],
)
def test_a_json_request_holding_a_lone_surrogate_or_a_nul_is_refused_naming_the_field(
    ready: Allot, escaped: str, field: str
) -> None:
    text = json.dumps(KEY).replace(f'"{KEY["name"]}"', escaped, 1)
    refused(ready, "keys", "create", "-", stdin=text, code="VALIDATION_ERROR", says=field)


def test_a_json_request_giving_a_field_twice_is_refused(ready: Allot) -> None:
    text = json.dumps(KEY)[:-1] + ', "name": "another"}'
    refused(ready, "keys", "create", "-", stdin=text, code="INVALID_JSON", says="'name' is given twice")
