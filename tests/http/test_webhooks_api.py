"""Webhook subscriptions and the event feed over HTTP: the secret shown once, each client receiving only its own
events (delivered by the server's worker to a real receiver on loopback), and a feed that pages by sequence number."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from standardwebhooks.webhooks import Webhook

from tests.http.conftest import Api, running_api
from tests.integration.receivers import Receiver, receiver

#: A receiver that is never reached (nothing is delivered to it in these tests): loopback, so that subscribing needs
#: no name resolution (allow_private_network).
NOWHERE = "http://127.0.0.1:9/allot"
#: Seconds a delivery may take: the server's worker delivers every second.
DELIVERY_DEADLINE = 15.0


def subscribe(api: Api, client: Any, url: str, topics: list[str]) -> dict[str, Any]:
    response = api.post(client, "/webhooks", {"url": url, "topics": topics, "allow_private_network": True})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def fund(api: Api, client: Any, account_id: str, cash: str = "100.00") -> None:
    body = {"account_id": account_id, "currency": "EUR", "cash": cash}
    assert api.post(client, "/accounts", body).status_code == 201


def wait_for(hooks: Receiver, path: str, count: int) -> None:
    deadline = time.monotonic() + DELIVERY_DEADLINE
    while len(hooks.on(path)) < count:
        assert time.monotonic() < deadline, (
            f"{path} received {len(hooks.on(path))} of {count} webhooks in time"
        )
        time.sleep(0.05)


def test_a_subscriptions_secret_is_shown_once_and_never_again(api: Api) -> None:
    created = subscribe(api, api.alice, NOWHERE, ["order", "FUNDING"])
    assert created["secret"].startswith("whsec_")
    assert created["topics"] == ["ORDER", "FUNDING"]
    shown = api.alice.get(f"/webhooks/{created['id']}").json()
    listed = api.alice.get("/webhooks").json()
    assert shown == {k: v for k, v in created.items() if k != "secret"}
    assert listed == {"data": [shown], "next": None}
    assert created["secret"] not in json.dumps([shown, listed])


def test_a_users_subscription_is_the_users_and_a_client_wide_one_the_clients(api: Api) -> None:
    alices = subscribe(api, api.alice, NOWHERE, ["ORDER"])
    desks = subscribe(api, api.desk, NOWHERE, ["ORDER"])
    assert [s["id"] for s in api.alice.get("/webhooks").json()["data"]] == [alices["id"]]
    assert api.bob.get("/webhooks").json()["data"] == []
    assert api.bob.get(f"/webhooks/{alices['id']}").status_code == 404
    assert api.alice.get(f"/webhooks/{desks['id']}").status_code == 404
    assert [s["id"] for s in api.desk.get("/webhooks").json()["data"]] == [alices["id"], desks["id"]]


def test_a_removed_subscription_stays_readable_with_its_reason(api: Api) -> None:
    created = subscribe(api, api.alice, NOWHERE, ["ORDER"])
    removed = api.alice.delete(f"/webhooks/{created['id']}")
    assert (removed.status_code, removed.json()["disabled_reason"]) == (200, "removed")
    assert api.alice.get(f"/webhooks/{created['id']}").json()["disabled_reason"] == "removed"


def test_a_subscription_that_is_not_public_or_has_unknown_topics_is_400(api: Api) -> None:
    for body in (
        {"url": "http://127.0.0.1:9/hook", "topics": ["ORDER"]},
        {"url": "https://hooks.example.com/allot", "topics": ["WEATHER"]},
        {"url": "https://hooks.example.com/allot", "topics": []},
        {"url": "https://hooks.example.com/allot", "topics": "ORDER"},
        {"url": "https://hooks.example.com/allot", "topics": ["ORDER"], "secret": "whsec_mine"},
    ):
        refused = api.post(api.alice, "/webhooks", body)
        assert refused.status_code == 400, body
        assert set(refused.json()["error"]) == {"code", "message", "details"}
    assert api.alice.get("/webhooks").json()["data"] == []


def test_another_client_gets_404_for_a_subscription_exactly_like_a_missing_one(api: Api) -> None:
    created = subscribe(api, api.alice, NOWHERE, ["ORDER"])
    for method in ("GET", "DELETE"):
        hidden = api.carol.request(method, f"/webhooks/{created['id']}")
        missing = api.carol.request(method, "/webhooks/missing")
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json()["error"]["code"] == missing.json()["error"]["code"] == "NOT_FOUND"
    assert api.carol.get("/webhooks").json()["data"] == []
    assert api.alice.get(f"/webhooks/{created['id']}").json()["disabled_reason"] is None


def test_each_subscriber_receives_only_the_events_it_may_see_signed_with_the_secret_it_was_shown(
    api: Api,
) -> None:
    with receiver() as hooks:
        acme = subscribe(api, api.desk, f"{hooks.base}/acme", ["FUNDING"])
        alice = subscribe(api, api.alice, f"{hooks.base}/alice", ["FUNDING"])
        globex = subscribe(api, api.carol, f"{hooks.base}/globex", ["FUNDING"])
        fund(api, api.alice, "ACME-1")
        fund(api, api.bob, "ACME-2")
        fund(api, api.carol, "GLOBEX-1")
        wait_for(hooks, "/acme", 2)
        wait_for(hooks, "/alice", 1)
        wait_for(hooks, "/globex", 1)
        time.sleep(1.5)  # one more round of the worker: nothing else arrives
        received = {
            path: [Webhook(secret).verify(r.body, r.headers) for r in hooks.on(path)]
            for path, secret in (
                ("/acme", acme["secret"]), ("/alice", alice["secret"]), ("/globex", globex["secret"])
            )
        }  # fmt: skip
    assert sorted(p["object"]["account_id"] for p in received["/acme"]) == ["ACME-1", "ACME-2"]
    assert [p["object"]["account_id"] for p in received["/alice"]] == ["ACME-1"]
    assert [p["object"]["account_id"] for p in received["/globex"]] == ["GLOBEX-1"]
    assert {p["type"] for ps in received.values() for p in ps} == {"FUNDING.DEPOSIT"}


def test_the_event_feed_pages_by_sequence_number_and_shows_only_the_callers_events(api: Api) -> None:
    for number in range(3):
        fund(api, api.alice, f"ACME-{number}")
    fund(api, api.carol, "GLOBEX-1")
    first = api.alice.get("/events", params={"limit": 2}).json()
    rest = api.alice.get("/events", params={"after": first["next"]}).json()
    shown = [*first["data"], *rest["data"]]
    assert [e["object"]["account_id"] for e in shown] == ["ACME-0", "ACME-1", "ACME-2"]
    assert [e["sequence"] for e in shown] == sorted(e["sequence"] for e in shown)
    assert first["next"] == first["data"][-1]["sequence"]
    assert set(shown[0]) == {"sequence", "id", "created_at", "type", "object"}
    caught_up = api.alice.get("/events", params={"after": rest["next"]}).json()
    assert caught_up == {"data": [], "next": rest["next"]}
    assert [e["object"]["account_id"] for e in api.carol.get("/events").json()["data"]] == ["GLOBEX-1"]
    assert [e["type"] for e in api.alice.get("/events", params={"topic": "order"}).json()["data"]] == []


def test_the_event_feed_refuses_what_is_not_a_sequence_number_a_page_size_or_a_topic(api: Api) -> None:
    for params in ({"after": "-1"}, {"after": "x"}, {"after": "9" * 30}, {"limit": "0"}, {"limit": "501"},
                   {"topic": "WEATHER"}, {"after": "²"}):  # fmt: skip
        response = api.alice.get("/events", params=params)
        assert response.status_code == 400, params
        assert set(response.json()["error"]) == {"code", "message", "details"}


def test_a_client_may_not_aim_a_webhook_at_a_private_network_outside_the_sandbox(tmp_path: Path) -> None:
    with running_api(tmp_path / "production.db", sandbox=False) as production:
        metadata = {"url": "http://169.254.169.254/latest/meta-data/", "topics": ["FUNDING"],
                    "allow_private_network": True}  # fmt: skip
        refused = production.post(production.alice, "/webhooks", metadata)
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "UNSAFE_WEBHOOK_URL"
        assert production.alice.get("/webhooks").json()["data"] == []


def test_a_secret_is_never_shown_again_not_even_to_a_replay_of_its_request(api: Api) -> None:
    body = {"url": "http://127.0.0.1:9/hooks", "topics": ["ORDER"], "allow_private_network": True}
    first = api.post(api.alice, "/webhooks", body, key="hook-1")
    again = api.post(api.alice, "/webhooks", body, key="hook-1")
    assert first.json()["secret"].startswith("whsec_")
    assert again.status_code == first.status_code == 201
    assert again.json() == first.json() | {"secret": "shown only in the first answer"}
