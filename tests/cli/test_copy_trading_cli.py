"""``allot leaders``, ``allot followers`` and ``allot investments`` on a real SQLite file."""

from __future__ import annotations

import time

from tests.cli.conftest import Allot


def setup(allot: Allot) -> None:
    allot("instruments", "create", "AAA", "--price", "10.00")
    allot("instruments", "create", "BBB", "--price", "20.00")
    allot("accounts", "create", "--currency", "EUR", "--cash", "5000", "--id", "f1-cash")
    allot("accounts", "create", "--currency", "EUR", "--cash", "5000", "--id", "f2-cash")
    allot("leaders", "create", "growth", "--name", "Growth", "--currency", "EUR", "--line", "AAA=0.6", "--line",
          "BBB=0.4", "--minimum-investment", "500", "--suitability", "MEDIUM", "--fee-profile", "select")  # fmt: skip
    allot("followers", "create", "f1", "--suitability", "HIGH", "--accept-terms", "--asset-type", "STOCK")
    allot("followers", "create", "f2", "--suitability", "LOW", "--accept-terms", "--asset-type", "STOCK")


def runs(allot: Allot, count: int, *options: str) -> list[str]:
    """The investments' sub-states after each of ``count`` market runs."""
    seen = []
    for _ in range(count):
        moved = allot.json("market", "run", *options)["investments"]
        seen += [f"{m['state_id']} {m['state_name']}" for m in moved]
    return seen


def test_a_follower_below_the_required_suitability_is_refused_with_its_own_code(allot: Allot) -> None:
    setup(allot)
    refused = allot("investments", "start", "growth", "--follower", "f2", "--from", "f2-cash", "--amount", "500",
                    "--json", expect=1)  # fmt: skip
    assert refused.error["code"] == "NOT_SUITABLE"
    assert allot.json("investments", "list") == []


def test_an_investment_is_started_funded_after_a_failure_and_becomes_ready(allot: Allot) -> None:
    setup(allot)
    started = allot.json(
        "investments", "start", "growth", "--follower", "f1", "--from", "f1-cash", "--amount", "1000"
    )
    assert (started["state"], started["process_state"]) == ("NEW", "PROCESSING")
    seen = runs(allot, 4, "--back-office-fail", "FUNDING")
    assert seen == ["2 Account creation in progress", "11 Funding pre-check in progress", "5 Funding in progress",
            "7 Funding failed"]  # fmt: skip
    time.sleep(5.1)  # the first retry is due 5 seconds after the failure
    seen = runs(allot, 6)
    assert seen[-1] == "8 Ready"
    shown = allot("investments", "show", started["id"]).out
    assert "8 Ready" in shown
    assert "ACTIVE" in shown
    as_json = allot.json("investments", "show", started["id"])
    assert (as_json["investment"]["InvestmentStateId"], as_json["investment"]["StateName"]) == (8, "Ready")
    announced = [e["event"]["object"] for e in allot.json("events", "list", "--topic", "investment")]
    assert [(o["InvestmentStateId"], o["StateName"]) for o in announced][-1] == (8, "Ready")
    assert all(o["StateName"] and isinstance(o["InvestmentStateId"], int) for o in announced)
    assert "the books balance" in allot("ledger", "verify").out


def test_set_suitability_of_a_follower_that_does_not_exist_is_not_found(allot: Allot) -> None:
    ran = allot("followers", "set-suitability", "nobody", "HIGH", "--json", expect=2)
    assert ran.error["code"] == "NOT_FOUND"


def test_a_leader_rebalance_is_placed_and_shown(allot: Allot) -> None:
    setup(allot)
    started = allot.json(
        "investments", "start", "growth", "--follower", "f1", "--from", "f1-cash", "--amount", "1000"
    )
    runs(allot, 7)
    assert allot.json("investments", "show", started["id"])["investment"]["process_state"] == "ACTIVE"
    allot("leaders", "rebalance", "growth", "--line", "AAA=0.3", "--line", "BBB=0.7")
    runs(allot, 3)
    blocks = allot.json("blocks", "list")
    assert [(b["instrument_id"], b["side"], b["state"]) for b in blocks] == [
        ("AAA", "SELL", "FILLED"),
        ("BBB", "BUY", "FILLED"),
    ]
    shown = allot("leaders", "show", "growth").out
    assert "BBB 0.7, AAA 0.3" in shown
    assert allot.json("investments", "max-withdrawal", started["id"])["max_withdrawal"] == "500.00"


def test_a_stopped_investment_that_kept_its_positions_is_resurrected_without_new_money_skipping_funding(
    allot: Allot,
) -> None:
    setup(allot)
    started = allot.json("investments", "start", "growth", "--follower", "f1", "--from", "f1-cash", "--amount",
                         "1000", "--keep-positions")  # fmt: skip
    runs(allot, 7)
    allot("investments", "stop", started["id"])
    runs(allot, 6)
    stopped = allot.json("investments", "show", started["id"])["investment"]
    assert stopped["process_state"] == "STOPPED"
    assert (stopped["pending_funding"], stopped["pending_withdrawal"]) == ("0.00", "0.00")
    assert allot.json("investments", "max-withdrawal", started["id"])["max_withdrawal"] == "0.00"
    back = allot.json("investments", "resurrect", started["id"])
    assert (back["InvestmentStateId"], back["StateName"]) == (10, "Resurrected")
    assert runs(allot, 8)[-1] == "8 Ready"
    announced = [e["event"]["object"] for e in allot.json("events", "list", "--topic", "investment", "--limit",
                                                            "1000")]  # fmt: skip
    after = [f"{o['InvestmentStateId']} {o['StateName']}" for o in announced]
    assert "16 Funding skipped" in after[after.index("10 Resurrected") :]
    assert "the books balance" in allot("ledger", "verify").out


def test_resurrecting_with_too_little_kept_and_no_new_money_is_refused_below_the_minimum(
    allot: Allot,
) -> None:
    setup(allot)
    started = allot.json(
        "investments", "start", "growth", "--follower", "f1", "--from", "f1-cash", "--amount", "1000"
    )
    runs(allot, 7)
    allot("investments", "stop", started["id"])  # its positions closed: nothing is kept
    runs(allot, 6)
    refused = allot("investments", "resurrect", started["id"], "--json", expect=1)
    assert refused.error["code"] == "BELOW_MINIMUM_INVESTMENT"
    assert allot.json("investments", "show", started["id"])["investment"]["process_state"] == "STOPPED"
