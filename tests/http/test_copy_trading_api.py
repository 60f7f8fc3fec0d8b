"""Copy trading over HTTP, as the auto-trading document shows it: a user sets its suitability and accepts the terms,
reads the trade leaders, starts an investment that the market runs take to Active, funds it, withdraws from it and
stops it — on a real server, with the refusals, tenant isolation and signed INVESTMENT webhooks."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from core.instruments import AllocationLine, Instrument
from core.investments import Suitability
from tests.http.conftest import Api
from tests.integration.receivers import Receiver, receiver

D = Decimal
LEADER, FUNDS = "growth", "ALICE-FUNDS"
DELIVERY_DEADLINE = 15.0


def create_growth(api: Api) -> None:
    """The operator's leader: 60 % AAA, 40 % BBB, at least 500.00 EUR, Medium suitability."""
    api.app.leaders.create(
        LEADER, "Growth", "EUR", [AllocationLine("AAA", D("0.6")), AllocationLine("BBB", D("0.4"))],
        minimum_investment=D("500.00"), required_suitability=Suitability.MEDIUM, risk_level=5,
        description="Stocks for the long run",
    )  # fmt: skip


def open_funds(api: Api, client: httpx.Client, account_id: str) -> None:
    opened = api.post(client, "/accounts", {"account_id": account_id, "currency": "EUR", "cash": "5000.00"})
    assert opened.status_code == 201, opened.text


@pytest.fixture
def growth(api: Api) -> Api:
    """The operator's leader (``create_growth``) and alice's funds."""
    create_growth(api)
    open_funds(api, api.alice, FUNDS)
    return api


def become_follower(api: Api, client: httpx.Client, level: str = "High") -> dict[str, Any]:
    body = {"SuitabilityLevel": level, "TermsAndConditionsAccepted": True, "LegalAssetTypes": ["Stock"]}
    answer = client.patch("/at/v3/tradefollowers/me", json=body)
    assert answer.status_code == 200, answer.text
    shown: dict[str, Any] = answer.json()
    return shown


def start(api: Api, amount: str = "1000.00", **extra: Any) -> httpx.Response:
    body = {"TradeLeaderId": LEADER, "FundingAccountKey": FUNDS, "Amount": amount, **extra}
    return api.post(api.alice, "/at/v3/investments", body)


def run_market(api: Api, times: int = 1) -> None:
    for _ in range(times):
        assert api.admin.post("/sandbox/market/run").status_code == 200


def run_until(api: Api, investment_id: str, state_name: str, runs: int = 25) -> dict[str, Any]:
    for _ in range(runs):
        shown: dict[str, Any] = api.alice.get(f"/at/v3/investments/{investment_id}").json()
        if shown["StateName"] == state_name:
            return shown
        run_market(api)
    raise AssertionError(f"investment {investment_id} is {shown['StateName']}, not {state_name}")


def active_investment(api: Api) -> str:
    become_follower(api, api.alice)
    started = start(api)
    assert started.status_code == 202, started.text
    investment_id: str = started.json()["InvestmentId"]
    run_until(api, investment_id, "Ready")
    return investment_id


def refusal(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_a_leaders_top_holdings_name_each_instrument_by_its_uic_number_beside_its_id(api: Api) -> None:
    api.app.instruments.add(Instrument("MBTN1", D("5.00"), uic=32160052))
    api.app.leaders.create(
        "SWISS", "Swiss", "EUR", [AllocationLine("MBTN1", D("1"))],
        minimum_investment=D("500.00"), required_suitability=Suitability.LOW,
    )  # fmt: skip
    (listed,) = api.carol.get("/at/v3/tradeleaders").json()["Data"]
    shown = api.carol.get("/at/v3/tradeleaders/SWISS").json()
    expected = [{"Uic": 32160052, "InstrumentId": "MBTN1", "Weight": "1"}]
    assert (listed["TopHoldings"], shown["TopHoldings"]) == (expected, expected)


def test_a_follower_reads_its_settings_and_changes_only_what_it_sends(growth: Api) -> None:
    api = growth
    assert api.alice.get("/at/v3/tradefollowers/me").json() == {
        "SuitabilityLevel": None, "TermsAndConditionsAccepted": False, "LegalAssetTypes": [],
    }  # fmt: skip
    assert become_follower(api, api.alice, "VERY_HIGH") == {
        "SuitabilityLevel": "VeryHigh", "TermsAndConditionsAccepted": True, "LegalAssetTypes": ["Stock"],
    }  # fmt: skip
    changed = api.alice.patch("/at/v3/tradefollowers/me", json={"LegalAssetTypes": ["Stock", "Etf"]})
    assert changed.json() == {
        "SuitabilityLevel": "VeryHigh", "TermsAndConditionsAccepted": True, "LegalAssetTypes": ["Etf", "Stock"],
    }  # fmt: skip
    assert api.alice.get("/at/v3/tradefollowers/me").json() == changed.json()
    assert api.carol.get("/at/v3/tradefollowers/me").json()["SuitabilityLevel"] is None
    assert (
        refusal(api.alice.patch("/at/v3/tradefollowers/me", json={"SuitabilityLevel": "Extreme"}))[0] == 400
    )
    assert refusal(api.admin.get("/at/v3/tradefollowers/me")) == (403, "FORBIDDEN")


def test_every_caller_reads_the_leaders_with_their_terms_performance_and_room(growth: Api) -> None:
    api = growth
    listed = api.carol.get("/at/v3/tradeleaders").json()
    assert listed["Next"] is None
    assert listed["Data"] == [{
        "TradeLeaderId": LEADER, "Name": "Growth", "Description": "Stocks for the long run", "Currency": "EUR",
        "MinimumInvestment": "500.00", "RequiredSuitabilityLevel": "Medium", "RiskLevel": 5, "AssetTypes": ["Stock"],
        "TopHoldings": [
            {"Uic": None, "InstrumentId": "AAA", "Weight": "0.6"}, {"Uic": None, "InstrumentId": "BBB", "Weight": "0.4"},
        ],
    }]  # fmt: skip
    shown = api.alice.get(f"/at/v3/tradeleaders/{LEADER}").json()
    assert shown["Performance"] == {
        "Invested": "0",
        "Withdrawn": "0",
        "Fees": "0",
        "Value": "0",
        "ReturnRatio": None,
    }
    assert (shown["Followers"], shown["IsOpenForFollowers"]) == (0, True)
    assert refusal(api.alice.get("/at/v3/tradeleaders/missing")) == (404, "NOT_FOUND")


def test_an_investment_runs_to_active_is_funded_withdrawn_from_and_stopped(growth: Api) -> None:
    api = growth
    become_follower(api, api.alice)
    started = start(api, InvestmentShieldAmount="100.00", PositionsCloseOnActivation=True)
    assert started.status_code == 202, started.text
    new = started.json()
    assert (new["InvestmentProcessState"], new["InvestmentStateId"], new["StateName"]) == (
        "Processing",
        1,
        "New",
    )
    assert (new["IsActive"], new["IsAuthorizedToFollow"], new["ErrorCode"]) == (True, True, None)
    assert (new["Amount"], new["PendingFunding"], new["InvestmentShieldAmount"]) == (
        "1000.00",
        "1000.00",
        "100.00",
    )
    investment_id = new["InvestmentId"]

    active = run_until(api, investment_id, "Ready")
    assert (active["InvestmentProcessState"], active["InvestmentStateId"]) == ("Active", 8)
    assert D(active["PendingFunding"]) == 0
    assert (active["Equity"], active["MaxWithdrawal"]) == (
        "1000.00",
        500,
    )  # a JSON number, as the document has it
    assert active["AccountKey"] is not None
    leader = api.alice.get(f"/at/v3/tradeleaders/{LEADER}").json()
    assert (leader["Followers"], leader["Performance"]["Invested"]) == (1, "1000.00")

    funded = api.alice.patch(f"/at/v3/investments/{investment_id}", json={"PendingFunding": "200.00"})
    assert (funded.status_code, funded.json()["PendingFunding"]) == (200, "200.00"), funded.text
    again = api.alice.patch(f"/at/v3/investments/{investment_id}", json={"PendingFunding": "50.00"})
    assert refusal(again) == (422, "FUNDING_PENDING")
    funded_in = run_until_funded(api, investment_id)
    assert funded_in["Equity"] == "1200.00"

    most = api.alice.get(f"/at/v3/investments/{investment_id}/maxwithdrawal").json()
    assert most == {"InvestmentId": investment_id, "Currency": "EUR", "MaxWithdrawal": 700}
    above = withdraw(api, investment_id, "700.01")
    assert refusal(above) == (422, "ABOVE_MAX_WITHDRAWAL")
    assert above.json()["error"]["details"]["max_withdrawal"] == "700.00"
    withdrawn = withdraw(api, investment_id, "300.00")
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["PendingWithdrawal"] == "300.00"
    run_market(api, 3)
    assert api.alice.get(f"/accounts/{FUNDS}").json()["account"]["cash"] == {"EUR": "4100.00"}

    stopping = api.alice.patch(
        f"/at/v3/investments/{investment_id}", json={"IsActive": False, "PositionsCloseOnActivation": True}
    )
    assert stopping.status_code == 200, stopping.text
    assert (stopping.json()["InvestmentProcessState"], stopping.json()["IsActive"]) == ("Stopping", False)
    stopped = run_until(api, investment_id, "Disabled")
    assert (stopped["InvestmentProcessState"], stopped["InvestmentStateId"], stopped["Equity"]) == (
        "Stopped", 9, "0.00",
    )  # fmt: skip
    assert api.alice.get(f"/accounts/{FUNDS}").json()["account"]["cash"] == {"EUR": "5000.00"}
    listed = api.alice.get("/at/v3/investments", params={"InvestmentProcessState": "Stopped"}).json()
    assert [i["InvestmentId"] for i in listed["Data"]] == [investment_id]
    assert (
        api.alice.get("/at/v3/investments", params={"InvestmentProcessState": "Active"}).json()["Data"] == []
    )


def run_until_funded(api: Api, investment_id: str, runs: int = 25) -> dict[str, Any]:
    for _ in range(runs):
        run_market(api)
        shown: dict[str, Any] = api.alice.get(f"/at/v3/investments/{investment_id}").json()
        if D(shown["PendingFunding"]) == 0 and shown["StateName"] == "Ready":
            run_market(api, 3)  # the money moved in is invested by an order of its own
            return shown
    raise AssertionError(f"the funding of {investment_id} is still pending")


def withdraw(api: Api, investment_id: str, amount: str) -> httpx.Response:
    return api.alice.put(
        f"/at/v3/investments/{investment_id}/withdraw", json={"Amount": amount},
        headers={"Idempotency-Key": f"withdraw-{amount}"},
    )  # fmt: skip


def test_a_follower_below_the_required_suitability_is_refused_with_its_code_and_nothing_is_started(
    growth: Api,
) -> None:
    api = growth
    become_follower(api, api.alice, "Low")
    refused = start(api)
    assert refusal(refused) == (422, "NOT_SUITABLE")
    assert set(refused.json()["error"]) == {"code", "message", "details"}
    assert api.alice.get("/at/v3/investments").json() == {"Data": [], "Next": None}


def test_an_amount_below_the_leaders_minimum_investment_is_refused(growth: Api) -> None:
    become_follower(growth, growth.alice)
    assert refusal(start(growth, "499.99")) == (422, "BELOW_MINIMUM_INVESTMENT")


def test_starting_an_investment_needs_an_idempotency_key_and_the_same_key_starts_it_once(growth: Api) -> None:
    api = growth
    become_follower(api, api.alice)
    body = {"TradeLeaderId": LEADER, "FundingAccountKey": FUNDS, "Amount": "1000.00"}
    assert refusal(api.alice.post("/at/v3/investments", json=body)) == (400, "IDEMPOTENCY_KEY_MISSING")
    first = api.post(api.alice, "/at/v3/investments", body, key="start-1")
    second = api.post(api.alice, "/at/v3/investments", body, key="start-1")
    assert (first.status_code, second.json()) == (202, first.json())
    assert len(api.alice.get("/at/v3/investments").json()["Data"]) == 1


def test_a_patch_that_is_refused_in_part_changes_nothing(growth: Api) -> None:
    api = growth
    investment_id = active_investment(api)
    path = f"/at/v3/investments/{investment_id}"
    before = api.alice.get(path).json()
    for body in ({"InvestmentShieldAmount": "300.00", "PendingFunding": "-5"},
                 {"InvestmentShieldAmount": "300.00", "IsActive": False, "PendingFunding": "10.00"},
                 {"InvestmentShieldAmount": "300.00", "FundingAccountKey": FUNDS},
                 {"InvestmentShieldAmount": "300.00", "PendingFunding": "10.00", "FundingAccountKey": "missing"}):  # fmt: skip
        assert api.alice.patch(path, json=body).status_code in (400, 404, 422), body
    assert api.alice.get(path).json() == before
    shielded = api.alice.patch(
        path, json={"InvestmentShieldAmount": "300.00", "PositionsCloseOnActivation": False}
    )
    assert (shielded.json()["InvestmentShieldAmount"], shielded.json()["PositionsCloseOnActivation"]) == (
        "300.00",
        False,
    )
    removed = api.alice.patch(path, json={"InvestmentShieldAmount": None}).json()
    assert (removed["InvestmentShieldAmount"], removed["PositionsCloseOnActivation"]) == (None, False)
    assert api.alice.patch(path, json={}).json()["InvestmentShieldAmount"] is None


def test_another_clients_investment_answers_exactly_like_a_missing_one(growth: Api) -> None:
    api = growth
    investment_id = active_investment(api)
    for method, suffix, body in (("GET", "", None), ("PATCH", "", {"IsActive": False}),
                                 ("GET", "/maxwithdrawal", None), ("PUT", "/withdraw", {"Amount": "1.00"})):  # fmt: skip
        hidden = api.carol.request(method, f"/at/v3/investments/{investment_id}{suffix}", json=body,
                                   headers={"Idempotency-Key": f"carol-{method}-{suffix}"})  # fmt: skip
        missing = api.carol.request(method, f"/at/v3/investments/missing{suffix}", json=body,
                                    headers={"Idempotency-Key": f"carol-missing-{method}-{suffix}"})  # fmt: skip
        assert hidden.status_code == missing.status_code == 404
        assert json.loads(json.dumps(hidden.json()).replace(investment_id, "missing")) == missing.json()
    assert api.carol.get("/at/v3/investments").json()["Data"] == []
    assert api.bob.get("/at/v3/investments").json()["Data"] == []
    assert api.alice.get(f"/at/v3/investments/{investment_id}").json()["IsActive"] is True


def wait_for(hooks: Receiver, path: str, count: int) -> None:
    deadline = time.monotonic() + DELIVERY_DEADLINE
    while len(hooks.on(path)) < count:
        assert time.monotonic() < deadline, (
            f"{path} received {len(hooks.on(path))} of {count} webhooks in time"
        )
        time.sleep(0.05)


def test_every_change_of_state_is_a_signed_investment_webhook_to_the_investors_client(growth: Api) -> None:
    api = growth
    with receiver() as hooks:
        answer = api.post(api.alice, "/webhooks", {"url": f"{hooks.base}/acme", "topics": ["INVESTMENT"],
                                                   "allow_private_network": True})  # fmt: skip
        secret = answer.json()["secret"]
        others = api.post(api.carol, "/webhooks", {"url": f"{hooks.base}/globex", "topics": ["INVESTMENT"],
                                                   "allow_private_network": True})  # fmt: skip
        assert others.status_code == 201
        investment_id = active_investment(api)
        states = api.alice.get(f"/at/v3/investments/{investment_id}").json()
        assert states["StateName"] == "Ready"
        wait_for(hooks, "/acme", 2)
        time.sleep(1.5)  # one more round of the worker
        payloads = [Webhook(secret).verify(r.body, r.headers) for r in hooks.on("/acme")]
        assert hooks.on("/globex") == []
    types = [p["type"] for p in payloads]
    assert types[0] == "INVESTMENT.PROCESSING"
    assert "INVESTMENT.ACTIVE" in types
    assert {p["object"]["id"] for p in payloads} == {investment_id}


def test_an_investments_own_account_refuses_its_owners_withdrawals_and_cannot_fund_the_investment(
    growth: Api,
) -> None:
    api = growth
    investment_id = active_investment(api)
    shown = api.alice.get(f"/at/v3/investments/{investment_id}").json()
    account_id = shown["AccountKey"]
    before = api.alice.get(f"/accounts/{account_id}").json()
    taken = api.post(api.alice, f"/accounts/{account_id}/withdrawals", {"amount": "150.00"})
    assert refusal(taken) == (422, "ACCOUNT_MANAGED")
    self_funded = api.alice.patch(f"/at/v3/investments/{investment_id}",
                                  json={"PendingFunding": "100.00", "FundingAccountKey": account_id})  # fmt: skip
    assert refusal(self_funded) == (422, "ACCOUNT_MANAGED")
    assert api.alice.get(f"/accounts/{account_id}").json() == before
    assert api.alice.get(f"/at/v3/investments/{investment_id}").json()["FundingAccountKey"] == FUNDS
