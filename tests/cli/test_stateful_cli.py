"""The stateful commands on a real SQLite file, as an operator would use them."""

from __future__ import annotations

import json

from tests.cli.conftest import KEY, Allot, setup_key, setup_portfolio


def test_an_operator_places_a_buy_runs_the_market_and_sees_it_filled(allot: Allot) -> None:
    setup_portfolio(allot)
    placed = allot.json(
        "orders", "create", "ACC", "--type", "BUY", "--amount", "1000", "--allocation", "60/40"
    )
    assert (placed["state"], placed["cash_amount"]) == ("SUBMITTED", "1000.00")
    assert "orders: 2 filled" in allot("market", "run").out
    assert allot.json("orders", "show", placed["id"])["state"] == "FILLED"
    account = allot.json("accounts", "show", "ACC")
    assert (account["nav"], account["account"]["cash"]) == ("1000.00", {"EUR": "4000.00"})


def test_tables_are_the_default_and_json_can_come_before_the_command(allot: Allot) -> None:
    setup_portfolio(allot)
    header = allot("instruments", "list").out.splitlines()[0]
    assert header.split("  ")[0] == "instrument"
    assert "contract size" in header
    assert [i["instrument_id"] for i in allot("--json", "instruments", "list").data] == ["AAA", "BBB"]


def test_a_model_portfolio_is_shown_by_name_or_id(allot: Allot) -> None:
    setup_portfolio(allot)
    by_name = allot.json("allocations", "show", "60/40")
    assert allot.json("allocations", "show", by_name["id"]) == by_name
    assert [line["weight"] for line in by_name["lines"]] == ["0.6", "0.4"]


def test_a_refused_cancellation_exits_1_with_the_error(allot: Allot) -> None:
    setup_portfolio(allot)
    placed = allot.json(
        "orders", "create", "ACC", "--type", "BUY", "--amount", "1000.00", "--allocation", "60/40"
    )
    allot("market", "run", "--partial-fill-ratio", "0.5")
    refused = allot("orders", "cancel", placed["id"], "--json", expect=1)
    assert refused.error["code"] == "ILLEGAL_TRANSITION"
    assert refused.out == ""


def test_errors_are_one_sentence_without_json_and_a_body_with_it(allot: Allot) -> None:
    setup_portfolio(allot)
    plain = allot("accounts", "show", "NOPE", expect=2)
    assert plain.err == "allot: account NOPE does not exist (NOT_FOUND)\n"
    assert allot("accounts", "show", "NOPE", "--json", expect=2).error == {
        "code": "NOT_FOUND",
        "message": "account NOPE does not exist",
        "details": {"kind": "account", "id": "NOPE"},
    }


def test_an_idempotency_key_reused_for_another_request_exits_1(allot: Allot) -> None:
    setup_portfolio(allot)
    first = ("orders", "create", "ACC", "--type", "BUY", "--allocation", "60/40", "--idempotency-key", "k1")
    allot(*first, "--amount", "10.00")
    assert allot(*first, "--amount", "20.00", "--json", expect=1).error["code"] == "IDEMPOTENCY_KEY_REUSED"


def test_an_account_that_exists_already_exits_1(allot: Allot) -> None:
    setup_portfolio(allot)
    again = allot("accounts", "create", "--currency", "EUR", "--id", "ACC", "--json", expect=1)
    assert again.error["code"] == "ALREADY_EXISTS"


def test_keys_blocks_and_events_from_the_command_line(allot: Allot) -> None:
    key = setup_key(allot)
    preview = allot.json("keys", "preview", key, "95")
    assert [a["quantity"] for a in preview["allocations"]] == ["30", "60"]
    assert preview["error_account"]["quantity"] == "5"
    block = allot.json("blocks", "create", key, "FX", "--amount", "95")
    allot("market", "run")
    shown = allot.json("blocks", "show", block["id"])["block"]
    assert shown["state"] == "FILLED"
    assert list(zip(shown["recipients"], shown["allocated"], strict=True)) == [
        ("P1", "30"),
        ("P2", "60"),
        ("ERR", "5"),
    ]
    table = allot("blocks", "show", block["id"]).out.splitlines()
    assert [line.split()[:3] for line in table[3:]][-1] == ["ERR", "(error", "account)"]
    types = [e["event"]["type"] for e in allot.json("events", "list", "--topic", "BLOCK_ORDER")]
    assert types == ["BLOCK_ORDER.NEW", "BLOCK_ORDER.PROCESSING", "BLOCK_ORDER.FILLED"]
    assert [k["id"] for k in allot.json("keys", "list")] == [key]
    assert [b["id"] for b in allot.json("blocks", "list", "--state", "FILLED")] == [block["id"]]


def test_a_block_is_cancelled_from_the_command_line(allot: Allot) -> None:
    key = setup_key(allot)
    block = allot.json("blocks", "create", key, "FX", "--amount", "90")
    assert allot.json("blocks", "cancel", block["id"])["state"] == "CANCELLED"
    assert "blocks: 0 filled" in allot("market", "run").out


def test_an_oversized_sell_block_is_refused_and_later_runs_still_work(allot: Allot) -> None:
    key = setup_key(allot)
    refused = allot(
        "blocks", "create", key, "FX", "--side", "sell", "--amount", "1000000", "--json", expect=1
    )
    assert refused.error["code"] == "INSUFFICIENT_POSITION"
    setup_portfolio(allot)
    allot("orders", "create", "ACC", "--type", "BUY", "--amount", "100", "--allocation", "60/40")
    assert "orders: 2 filled" in allot("market", "run").out


def test_the_market_run_summary_names_what_the_venue_refused(allot: Allot) -> None:
    setup_portfolio(allot)
    placed = allot.json(
        "orders", "create", "ACC", "--type", "BUY", "--amount", "100", "--allocation", "60/40"
    )
    summary = allot("market", "run", "--reject", "BBB").out
    refused = placed["orders"][1]["id"]
    assert f"cancelled {refused}: the trading partner rejected BBB" in summary
    assert "orders: 1 filled, 0 partly filled, 1 cancelled" in summary


def test_liquidations_are_listed(allot: Allot) -> None:
    setup_portfolio(allot)
    allot("orders", "create", "ACC", "--type", "BUY", "--amount", "100", "--allocation", "60/40")
    allot("market", "run")
    liquidation = allot.json("liquidations", "create", "ACC")
    allot("market", "run")
    listed = allot.json("liquidations", "list", "--account", "ACC", "--state", "filled")
    assert [(x["id"], x["cash_amount"]) for x in listed] == [
        (liquidation["id"], "85.00")
    ]  # 6 AAA at 10.00 and 1 BBB at 25.00


def test_webhook_subscriptions_refuse_private_hosts_without_the_flag(allot: Allot) -> None:
    refused = allot("webhooks", "create", "http://127.0.0.1:9/x", "--topic", "ORDER", "--json", expect=2)
    assert refused.error["code"] == "UNSAFE_WEBHOOK_URL"
    allot("webhooks", "create", "http://127.0.0.1:9/x", "--topic", "order", "--allow-private-network")
    assert "127.0.0.1" in allot("webhooks", "list").out


def test_a_write_command_says_when_it_creates_the_database(allot: Allot) -> None:
    created = allot("accounts", "create", "--currency", "EUR")
    assert created.err == f"allot: created a new database at {allot.database}\n"
    assert allot("accounts", "create", "--currency", "EUR").err == ""


def test_the_key_file_format_is_the_json_of_the_documents(allot: Allot) -> None:
    key = setup_key(allot, {**KEY, "unit_type": "Unit", "margin_handling": "Reject"})
    assert allot.json("keys", "show", key)["key"]["unit_type"] == "UNIT"
    assert json.loads(allot("keys", "show", key, "--json").out)["status"] == "ACTIVE"


def test_a_second_nominal_sell_says_what_the_first_holds_back_and_suggests_no_liquidation(
    allot: Allot,
) -> None:
    setup_portfolio(allot)
    allot("orders", "create", "ACC", "--type", "BUY", "--amount", "1000.00", "--allocation", "60/40")
    allot("market", "run")
    allot("orders", "create", "ACC", "--type", "SELL", "--amount", "900.00")
    refused = allot("orders", "create", "ACC", "--type", "SELL", "--amount", "900.00", expect=1)
    assert "open orders already hold back 915.00 EUR of it: at most 0.00 EUR can be sold" in refused.err
    assert "liquidation" not in refused.err


def test_a_rebalancing_while_a_liquidation_holds_everything_says_open_orders_hold_it_back(
    allot: Allot,
) -> None:
    setup_portfolio(allot)
    allot("orders", "create", "ACC", "--type", "BUY", "--amount", "5000.00", "--allocation", "60/40")
    allot("market", "run")
    allot("liquidations", "create", "ACC")
    refused = allot("orders", "create", "ACC", "--type", "REBALANCING", "--allocation", "60/40", expect=1)
    assert "nothing to invest: open orders hold back 5000.00 EUR of the account" in refused.err
    assert "as large as the whole portfolio" not in refused.err


def test_closing_an_account_that_is_not_empty_names_its_cash_positions_and_open_orders(allot: Allot) -> None:
    setup_portfolio(allot)
    allot("orders", "create", "ACC", "--type", "BUY", "--amount", "1000.00", "--allocation", "60/40")
    refused = allot("accounts", "close", "ACC", expect=1)
    assert "account ACC still holds cash 5000.00 EUR; 2 open orders (holding back 1000.00 EUR)" in refused.err
    assert "let the open orders finish or cancel them and withdraw the cash before closing it" in refused.err
    assert allot.json("accounts", "show", "ACC")["account"]["status"] == "ACTIVE"
