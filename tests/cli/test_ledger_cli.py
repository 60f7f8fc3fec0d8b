"""``allot ledger`` on a real SQLite file: statements, balances, and a verify that catches tampering."""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from decimal import Decimal

from tests.cli.conftest import Allot, setup_portfolio


def invested(allot: Allot) -> None:
    """ACC (5 000.00 EUR) buys 1 000.00 of the 60/40 model and withdraws 500.00."""
    setup_portfolio(allot)
    allot("orders", "create", "ACC", "--type", "BUY", "--amount", "1000.00", "--allocation", "60/40")
    allot("market", "run")
    allot("accounts", "withdraw", "ACC", "500.00")


def tamper(allot: Allot, sql: str) -> None:
    with sqlite3.connect(allot.database) as connection:
        assert connection.execute(sql).rowcount == 1
    connection.close()


def test_a_statement_lists_each_entry_with_what_caused_it_and_the_running_balance(allot: Allot) -> None:
    invested(allot)
    lines = allot.json("ledger", "statement", "ACC", "--asset", "EUR")
    causes = [line["cause"]["kind"] for line in lines]
    assert causes == ["DEPOSIT", "FILL", "FILL", "WITHDRAWAL"]
    running = [line["balance"] for line in lines]
    assert running == ["5000.00", "4400.00", "4000.00", "3500.00"]
    fills = {line["cause"]["id"] for line in lines if line["cause"]["kind"] == "FILL"}
    orders = {o["id"] for o in allot.json("orders", "list", "--individual")}
    assert fills == orders
    table = allot("ledger", "statement", "ACC").out
    assert "WITHDRAWAL" in table.splitlines()[-1]
    assert "AAA" in table  # units are on the statement too


def test_balances_list_the_house_accounts_and_every_asset_sums_to_zero(allot: Allot) -> None:
    invested(allot)
    balances = allot.json("ledger", "balances")
    owners = {(b["ledger"]["kind"], b["ledger"]["name"]) for b in balances}
    assert {("HOUSE", "venue"), ("HOUSE", "funding"), ("CLIENT", "ACC")} <= owners
    per_asset: dict[str, Decimal] = defaultdict(Decimal)
    for b in balances:
        per_asset[b["asset"]["code"]] += Decimal(b["amount"])
    assert set(per_asset) == {"EUR", "AAA", "BBB"}
    assert set(per_asset.values()) == {Decimal(0)}
    assert "house:funding" in allot("ledger", "balances").out


def test_verify_passes_after_everything_and_says_what_it_checked(allot: Allot) -> None:
    invested(allot)
    ran = allot("ledger", "verify")
    assert ran.out.startswith("the books balance: 4 entries checked, each balanced")
    checked = allot.json("ledger", "verify")
    assert (checked["balanced"], checked["entries"], checked["discrepancies"]) == (True, 4, [])


def test_verify_exits_1_naming_a_posting_changed_behind_allots_back(allot: Allot) -> None:
    invested(allot)
    tamper(allot, "UPDATE postings SET amount = '-499.99' WHERE amount = '-500.00'")
    ran = allot("ledger", "verify", expect=1)
    assert "does not balance" in ran.err
    assert "(UNBALANCED_ENTRY)" in ran.err
    body = json.loads(allot("ledger", "verify", "--json", expect=1).out)
    kinds = [d["kind"] for d in body["discrepancies"]]
    assert body["balanced"] is False
    assert kinds[0] == "UNBALANCED_ENTRY"
    assert "ASSET_NOT_ZERO" in kinds
    assert "CACHED_BALANCE" in kinds
    # reading the damaged entry back is a storage error, said in one sentence
    damaged = allot("ledger", "statement", "ACC", expect=3)
    assert "damaged" in damaged.err


def test_a_posting_that_is_no_longer_a_number_is_a_storage_error_not_a_crash(allot: Allot) -> None:
    invested(allot)
    tamper(allot, "UPDATE postings SET amount = 'lots' WHERE amount = '-500.00'")
    ran = allot("ledger", "verify", expect=3)
    assert "journal posting" in ran.err
    assert "STORAGE_ERROR" in ran.err


def test_verify_exits_1_when_an_accounts_cash_no_longer_matches_its_postings(allot: Allot) -> None:
    invested(allot)
    tamper(
        allot,
        "UPDATE records SET body = json_set(body, '$.cash.EUR', '3600.00') WHERE kind = 'accounts' AND id = 'ACC'",
    )
    ran = allot("ledger", "verify", expect=1)
    assert "account ACC shows 3600.00 EUR but its postings sum to 3500.00" in ran.err


def test_a_statement_takes_a_currency_in_lower_case_and_refuses_an_asset_never_held(allot: Allot) -> None:
    invested(allot)
    lines = allot.json("ledger", "statement", "ACC", "--asset", "eur")
    assert [line["balance"] for line in lines] == ["5000.00", "4400.00", "4000.00", "3500.00"]
    refused = allot("ledger", "statement", "ACC", "--asset", "XYZ", expect=2)
    assert "account ACC has never held XYZ: its statement has EUR, AAA, BBB (NOT_FOUND)" in refused.err


def test_a_statement_of_an_unknown_account_is_not_found(allot: Allot) -> None:
    invested(allot)
    ran = allot("ledger", "statement", "NOPE", expect=2)
    assert "NOPE" in ran.err


def test_reading_the_ledger_of_a_missing_database_creates_nothing(allot: Allot) -> None:
    ran = allot("ledger", "verify", expect=3)  # storage: there is no database to check
    assert "DATABASE_NOT_FOUND" in ran.err
    assert not allot.database.exists()


def test_an_option_is_created_with_its_expiry_and_exercised_from_the_command_line(allot: Allot) -> None:
    allot("accounts", "create", "--currency", "EUR", "--cash", "2000.00", "--id", "OPT")
    allot("instruments", "create", "C700", "--price", "2.50", "--asset-type", "stock_option",
          "--expiry", "2099-12-18", "--symbol", "ASML 700C")  # fmt: skip
    allot("allocations", "create", "calls", "--line", "C700=1")
    allot("orders", "create", "OPT", "--type", "BUY", "--amount", "1000.00", "--allocation", "calls")
    allot("market", "run")
    shown = allot.json("instruments", "show", "C700")
    assert (shown["symbol"], shown["expiry"], shown["asset_type"]) == (
        "ASML 700C",
        "2099-12-18",
        "STOCK_OPTION",
    )
    refused = allot("instruments", "expire", "C700", expect=2)
    assert "expires on 2099-12-18, not before" in refused.err
    allot("instruments", "exercise", "C700", "--price", "3.00")
    account = allot.json("accounts", "show", "OPT")["account"]
    assert (account["cash"], account["positions"]) == ({"EUR": "2200.00"}, [])  # 400 × 3.00 paid out
    events = [e["event"]["type"] for e in allot.json("events", "list", "--topic", "POSITION")]
    assert events == ["POSITION.NEW", "POSITION.OPTION_EXERCISED"]
    assert allot.json("ledger", "verify")["balanced"] is True
    assert "(exercised)" in allot("instruments", "list").out


def test_an_option_without_an_expiry_is_refused_and_nothing_is_stored(allot: Allot) -> None:
    allot("accounts", "create", "--currency", "EUR", "--id", "ANY")
    before = allot.state()
    ran = allot("instruments", "create", "C1", "--price", "1", "--asset-type", "stock_option", expect=2)
    assert "is an option: it needs an expiry date" in ran.err
    assert allot.state() == before


def test_an_exercised_option_can_no_longer_be_bought_and_the_refusal_names_it(allot: Allot) -> None:
    allot("accounts", "create", "--currency", "USD", "--cash", "10000", "--id", "O1")
    allot("instruments", "create", "C", "--price", "5.25", "--asset-type", "stock_option",
          "--expiry", "2099-12-18", "--contract-size", "100", "--currency", "USD")  # fmt: skip
    allot("allocations", "create", "o", "--line", "C=1")
    allot("orders", "create", "O1", "--type", "BUY", "--amount", "1000", "--allocation", "o")
    allot("market", "run")
    allot("instruments", "exercise", "C", "--price", "7.5")
    before = allot.state()
    refused = allot("orders", "create", "O1", "--type", "BUY", "--amount", "600", "--allocation", "o", "--json",
                    expect=1)  # fmt: skip
    assert refused.error["code"] == "INSTRUMENT_ENDED"
    assert "option C was exercised and no longer trades" in refused.error["message"]
    assert allot.state() == before
    assert allot.json("accounts", "show", "O1")["account"]["positions"] == []


def test_an_option_past_its_expiry_date_cannot_be_bought_from_the_command_line(allot: Allot) -> None:
    allot("accounts", "create", "--currency", "USD", "--cash", "10000", "--id", "O1")
    allot("instruments", "create", "OLD", "--price", "5.25", "--asset-type", "stock_option",
          "--expiry", "2020-01-17", "--currency", "USD")  # fmt: skip
    allot("allocations", "create", "old", "--line", "OLD=1")
    refused = allot("orders", "create", "O1", "--type", "BUY", "--amount", "100", "--allocation", "old", "--json",
                    expect=1)  # fmt: skip
    assert refused.error["code"] == "INSTRUMENT_ENDED"
    assert refused.error["details"] == {"instrument_id": "OLD", "expiry": "2020-01-17"}


def test_a_fee_larger_than_the_proceeds_takes_what_the_account_has_and_later_liquidations_still_work(
    allot: Allot,
) -> None:
    allot("accounts", "create", "--currency", "EUR", "--cash", "1000", "--id", "A", "--fee-rate", "0.9",
          "--fee-since", "1900-01-01")  # fmt: skip
    allot("instruments", "create", "AAA", "--price", "10.00")
    allot("allocations", "create", "all", "--line", "AAA=1")
    allot("orders", "create", "A", "--type", "BUY", "--amount", "1000", "--allocation", "all")
    allot("market", "run")
    first = allot.json("liquidations", "create", "A")
    allot("market", "run")
    settled = allot.json("liquidations", "show", first["id"])
    assert (settled["state"], settled["management_fee"], settled["cash_amount"]) == (
        "FILLED",
        "1000.00",
        "0.00",
    )
    assert allot.json("accounts", "show", "A")["account"]["cash"] == {"EUR": "0.00"}
    allot("accounts", "deposit", "A", "500")
    allot("orders", "create", "A", "--type", "BUY", "--amount", "500", "--allocation", "all")
    allot("market", "run")
    second = allot.json("liquidations", "create", "A")
    allot("market", "run")
    again = allot.json("liquidations", "show", second["id"])
    assert (again["state"], again["management_fee"], again["cash_amount"]) == ("FILLED", "0.00", "500.00")
    assert allot.json("ledger", "verify")["balanced"] is True


def test_a_fee_date_in_the_future_is_refused_and_nothing_is_stored(allot: Allot) -> None:
    ran = allot("accounts", "create", "--currency", "EUR", "--id", "F", "--fee-rate", "0.02",
                "--fee-since", "2100-01-01", "--json", expect=2)  # fmt: skip
    assert ran.error["code"] == "VALIDATION_ERROR"
    assert "the management fee cannot have been charged after today" in ran.error["message"]
    assert not allot.database.exists()


def test_a_fee_rate_above_one_hundred_percent_a_year_is_refused(allot: Allot) -> None:
    ran = allot(
        "accounts", "create", "--currency", "EUR", "--id", "F", "--fee-rate", "1.5", "--json", expect=2
    )
    assert ran.error["code"] == "VALIDATION_ERROR"
    assert "annual_rate must be between 0 and 1" in ran.error["message"]


def verify_fails(allot: Allot) -> list[dict[str, str]]:
    """What ``ledger verify`` found wrong: it exits 1 naming the first discrepancy, and ``--json`` lists them all."""
    ran = allot("ledger", "verify", expect=1)
    body = json.loads(allot("ledger", "verify", "--json", expect=1).out)
    assert body["balanced"] is False
    first = body["discrepancies"][0]
    assert f"{first['message']} ({first['kind']})" in ran.err
    found: list[dict[str, str]] = body["discrepancies"]
    return found


def test_verify_exits_1_naming_a_posting_to_a_client_ledger_account_that_is_no_account(allot: Allot) -> None:
    invested(allot)
    with sqlite3.connect(allot.database) as connection:
        connection.executescript(
            "insert into journal(id,at,cause_kind,cause_id,memo) "
            "values('x','2026-11-22T00:00:00Z','DEPOSIT','x','fake');"
            "insert into postings values((select max(seq) from journal),'CLIENT:ghost','CASH:EUR','-100.00');"
            "insert into postings values((select max(seq) from journal),'HOUSE:funding','CASH:EUR','100.00');"
        )
    connection.close()
    found = verify_fails(allot)
    assert [d["kind"] for d in found] == ["UNKNOWN_LEDGER_ACCOUNT", "NEGATIVE_BALANCE"]
    assert "ghost" in found[0]["message"]
    assert "ghost holds -100.00 EUR" in found[1]["message"]


def test_verify_exits_1_naming_a_house_ledger_account_that_is_not_one_of_the_house(allot: Allot) -> None:
    invested(allot)
    tamper(
        allot,
        "UPDATE postings SET ledger = 'HOUSE:bogus' WHERE ledger = 'HOUSE:funding' AND amount = '500.00'",
    )
    (found,) = verify_fails(allot)
    assert found["kind"] == "UNKNOWN_LEDGER_ACCOUNT"
    assert "house:bogus" in found["message"]


def test_verify_exits_1_naming_a_journal_entry_without_postings(allot: Allot) -> None:
    invested(allot)
    tamper(
        allot,
        "INSERT INTO journal (id, at, cause_kind, cause_id, memo) "
        "VALUES ('E-empty', '2026-11-22T00:00:00Z', 'DEPOSIT', 'E-empty', 'nothing')",
    )
    (found,) = verify_fails(allot)
    assert found["kind"] == "EMPTY_ENTRY"
    assert "E-empty" in found["message"]


def test_verify_exits_1_naming_postings_whose_journal_entry_is_gone(allot: Allot) -> None:
    invested(allot)
    tamper(allot, "DELETE FROM journal WHERE cause_kind = 'WITHDRAWAL'")
    found = verify_fails(allot)
    assert [d["kind"] for d in found] == ["ORPHAN_POSTING", "ORPHAN_POSTING"]
    assert "-500.00 EUR to ACC" in found[0]["message"]


def test_verify_exits_1_naming_an_entry_whose_cause_is_no_kind_allot_knows(allot: Allot) -> None:
    invested(allot)
    tamper(allot, "UPDATE journal SET cause_kind = 'GIFT' WHERE cause_kind = 'WITHDRAWAL'")
    (found,) = verify_fails(allot)
    assert found["kind"] == "UNKNOWN_CAUSE"
    assert "GIFT" in found["message"]
    # the other commands still refuse to read the damaged entry
    assert "STORAGE_ERROR" in allot("ledger", "statement", "ACC", expect=3).err


def test_verify_exits_1_when_what_an_account_holds_back_is_not_what_its_open_orders_hold(
    allot: Allot,
) -> None:
    setup_portfolio(allot)
    allot("orders", "create", "ACC", "--type", "BUY", "--amount", "1000.00", "--allocation", "60/40")
    assert (
        allot("ledger", "verify")
        .out.rstrip()
        .endswith("and what they hold back to the holds of 2 open orders")
    )
    tamper(
        allot,
        "UPDATE records SET body = json_set(body, '$.reserved.EUR', '10.00') WHERE kind = 'accounts' AND id = 'ACC'",
    )
    (found,) = verify_fails(allot)
    assert found["kind"] == "HELD_MISMATCH"
    assert "account ACC holds back 10.00 EUR but its open orders hold 1000.00" in found["message"]


def test_verify_exits_1_when_units_held_back_are_not_what_the_open_sells_hold(allot: Allot) -> None:
    invested(allot)
    allot("orders", "create", "ACC", "--type", "SELL", "--amount", "100.00", "--allocation", "60/40")
    assert allot.json("ledger", "verify")["balanced"] is True
    tamper(
        allot,
        "UPDATE records SET body = json_set(body, '$.held_units.AAA', '1') WHERE kind = 'accounts' AND id = 'ACC'",
    )
    (found,) = verify_fails(allot)
    assert found["kind"] == "HELD_MISMATCH"
    assert "account ACC holds back 1 AAA (units) but its open orders hold 6" in found["message"]
