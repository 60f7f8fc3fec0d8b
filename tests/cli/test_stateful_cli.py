"""The stateful commands on a real SQLite file, as an operator would use them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from entrypoints.cli import main


@pytest.fixture
def allot(tmp_path: Path) -> Any:
    database = str(tmp_path / "ops.db")

    def run(*args: str, expect: int = 0) -> Any:
        result = CliRunner().invoke(main, ["--db", database, *args])
        assert result.exit_code == expect, result.stdout + result.stderr
        if "--json" in args and expect == 0:
            return json.loads(result.stdout)
        return result.stdout if expect == 0 else json.loads(result.stderr)

    return run


def setup_portfolio(allot: Any) -> str:
    allot("accounts", "create", "--currency", "EUR", "--cash", "5000.00", "--id", "ACC")
    allot("instruments", "add", "AAA", "--price", "10.00", "--step", "0.001")
    allot("instruments", "add", "BBB", "--price", "25.00")
    model = allot("allocations", "create", "60/40", "--line", "AAA=0.6", "--line", "BBB=0.4", "--json")
    return str(model["id"])


def test_an_operator_places_a_buy_runs_the_market_and_sees_it_filled(allot: Any) -> None:
    model = setup_portfolio(allot)
    placed = allot(
        "orders", "place", "ACC", "--type", "BUY", "--amount", "1000.00", "--allocation", model, "--json"
    )
    assert placed["state"] == "SUBMITTED"
    assert "2 filled" in allot("market", "run")
    shown = allot("orders", "show", placed["id"], "--json")
    assert shown["state"] == "FILLED"
    account = allot("accounts", "show", "ACC", "--json")
    assert account["nav"] == "1000.00"
    assert account["account"]["cash"] == {"EUR": "4000.00"}


def test_tables_are_the_default_and_json_can_come_before_the_command(allot: Any) -> None:
    setup_portfolio(allot)
    table = allot("instruments", "list")
    assert table.splitlines()[0].split() == [
        "instrument",
        "price",
        "step",
        "min",
        "order",
        "contract",
        "size",
    ]
    assert [i["instrument_id"] for i in allot("--json", "instruments", "list")] == ["AAA", "BBB"]


def test_a_refused_cancellation_exits_1_with_the_error(allot: Any) -> None:
    model = setup_portfolio(allot)
    placed = allot(
        "orders", "place", "ACC", "--type", "BUY", "--amount", "1000.00", "--allocation", model, "--json"
    )
    allot("market", "run", "--partial-fill-ratio", "0.5")
    error = allot("orders", "cancel", placed["id"], expect=1)
    assert error["error"]["code"] == "ILLEGAL_TRANSITION"


def test_an_idempotency_key_reused_for_another_request_exits_1(allot: Any) -> None:
    model = setup_portfolio(allot)
    allot(
        "orders",
        "place",
        "ACC",
        "--type",
        "BUY",
        "--amount",
        "10.00",
        "--allocation",
        model,
        "--idempotency-key",
        "k1",
    )
    error = allot(
        "orders",
        "place",
        "ACC",
        "--type",
        "BUY",
        "--amount",
        "20.00",
        "--allocation",
        model,
        "--idempotency-key",
        "k1",
        expect=1,
    )
    assert error["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"


def test_a_bad_decimal_option_exits_2(allot: Any) -> None:
    setup_portfolio(allot)
    error = allot("accounts", "deposit", "ACC", "1,5", expect=2)
    assert error["error"]["code"] == "VALIDATION_ERROR"


def test_an_unknown_account_exits_1_as_not_found(allot: Any) -> None:
    assert allot("accounts", "show", "NOPE", expect=1)["error"]["code"] == "NOT_FOUND"


def test_keys_blocks_and_events_from_the_command_line(allot: Any, tmp_path: Path) -> None:
    for account in ("BLOCK", "ERR", "P1", "P2"):
        allot("accounts", "create", "--currency", "EUR", "--cash", "100000.00", "--id", account)
    allot("instruments", "add", "FX", "--price", "1.00")
    key = {
        "name": "half", "unit_type": "PERCENTAGE", "margin_handling": "REJECT", "one_time": False,
        "owner_account_id": "BLOCK", "error_account_id": "ERR",
        "participants": [{"account_id": "P1", "unit_value": "50"}, {"account_id": "P2", "unit_value": "50"}],
    }  # fmt: skip
    (tmp_path / "key.json").write_text(json.dumps(key))
    stored = allot("keys", "create", str(tmp_path / "key.json"), "--json")
    preview = allot("keys", "preview", stored["id"], "101", "--json")
    assert [a["quantity"] for a in preview["allocations"]] == ["50", "50"]
    assert preview["error_account"]["quantity"] == "1"
    block = allot("blocks", "place", stored["id"], "FX", "--amount", "101", "--json")
    allot("market", "run")
    assert allot("blocks", "show", block["id"], "--json")["state"] == "FILLED"
    types = [e["event"]["type"] for e in allot("events", "list", "--topic", "BLOCK_ORDER", "--json")]
    assert types == ["BLOCK_ORDER.NEW", "BLOCK_ORDER.PROCESSING", "BLOCK_ORDER.FILLED"]
    listed = allot("keys", "list", "--json")
    assert [k["id"] for k in listed] == [stored["id"]]


def test_webhook_subscriptions_refuse_private_hosts_without_the_flag(allot: Any) -> None:
    error = allot("webhooks", "add", "http://127.0.0.1:9/x", "--topic", "ORDER", expect=2)
    assert error["error"]["code"] == "UNSAFE_WEBHOOK_URL"
    allot("webhooks", "add", "http://127.0.0.1:9/x", "--topic", "ORDER", "--allow-private-network")
    assert "127.0.0.1" in allot("webhooks", "list")
