"""Webhook delivery over real HTTP on loopback, from a real SQLite outbox."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from adapters.webhooks import check_webhook_url, new_secret
from core.errors import UnsafeWebhookUrl
from core.instruments import AllocationLine, Instrument
from core.portfolio import OrderType
from core.webhooks import DeliveryReport, EventQuery
from entrypoints.bootstrap import sqlite_application
from ports.application import Application
from ports.webhooks import LEASE_MARGIN
from tests.fakes import ManualClock
from tests.integration.receivers import Receiver

SECRET = new_secret()


def announce_something(app: Application, count: int = 1) -> None:
    model = app.allocations.create(f"all in {count}", [AllocationLine("AAA", Decimal(1))])
    for _ in range(count):
        app.portfolio_orders.place("ACC", OrderType.BUY, Decimal("10.00"), model.id)


def subscribe(app: Application, hooks: Receiver, path: str) -> None:
    app.webhooks.subscribe(hooks.base + path, ["PORTFOLIO_ORDER"], SECRET, allow_private_network=True)


def test_every_delivery_is_signed_as_standard_webhooks_verifies_it(app: Application, hooks: Receiver) -> None:
    subscribe(app, hooks, "/ok")
    announce_something(app)
    assert app.webhooks.deliver_due().delivered == 2
    for delivery in hooks.on("/ok"):
        payload = Webhook(SECRET).verify(delivery.body, delivery.headers)
        assert payload["type"] in ("PORTFOLIO_ORDER.NEW", "PORTFOLIO_ORDER.SUBMITTED")
        assert payload["webhook_id"]
        assert delivery.headers["webhook-id"] == payload["id"]


def test_a_receiver_that_fails_once_gets_the_same_webhook_again_after_the_backoff(
    app: Application, clock: ManualClock, hooks: Receiver
) -> None:
    subscribe(app, hooks, "/flaky")
    announce_something(app)
    first = app.webhooks.deliver_due(schedule=(60.0, 120.0))
    assert (first.delivered, first.retrying) == (
        0,
        1,
    )  # the endpoint failed: its other event waits for the next call
    assert (
        app.webhooks.deliver_due(schedule=(60.0, 120.0)).delivered == 1
    )  # that one; the first is backing off
    assert app.webhooks.deliver_due(schedule=(60.0, 120.0)).delivered == 0  # not due yet: backoff
    clock.advance(seconds=80)
    assert app.webhooks.deliver_due(schedule=(60.0, 120.0)).delivered == 1
    attempts = hooks.on("/flaky")
    assert attempts[0].headers["webhook-id"] == attempts[2].headers["webhook-id"]
    assert [a.outcome.value for a in reversed(app.webhooks.log())] == ["RETRY", "DELIVERED", "DELIVERED"]


def test_a_410_disables_the_endpoint_at_once(app: Application, hooks: Receiver) -> None:
    subscribe(app, hooks, "/gone")
    announce_something(app)
    report = app.webhooks.deliver_due()
    assert report.failed == 1
    assert len(hooks.on("/gone")) == 1
    assert app.webhooks.all()[0].disabled_reason == "the endpoint answered 410 Gone"
    announce_something(app, count=2)
    assert app.webhooks.deliver_due() == DeliveryReport()
    assert len(hooks.on("/gone")) == 1


def test_a_redirect_is_not_followed_and_counts_as_a_failed_attempt(app: Application, hooks: Receiver) -> None:
    subscribe(app, hooks, "/redirect")
    announce_something(app)
    report = app.webhooks.deliver_due()
    assert report.retrying == 1  # the endpoint rests after a failure: its other event waits for the next call
    assert hooks.on("/ok") == []


def test_a_receiver_that_hangs_past_the_timeout_is_retried_later(app: Application, hooks: Receiver) -> None:
    hooks.hang_seconds = 2.0
    subscribe(app, hooks, "/hang")
    announce_something(app)
    started = time.monotonic()
    report = app.webhooks.deliver_due(timeout=0.3)
    assert report.retrying == 1  # one deadline a call for an endpoint that does not answer
    assert time.monotonic() - started < 1.9
    assert "no answer within the deadline of 0.3 s" in (app.webhooks.log()[0].error or "")


def test_an_endpoint_is_disabled_when_the_schedule_is_exhausted(
    app: Application, clock: ManualClock, hooks: Receiver
) -> None:
    hooks.flaky_failures = 100
    subscribe(app, hooks, "/flaky")
    announce_something(app)
    app.webhooks.deliver_due(schedule=(1.0,))
    clock.advance(seconds=5)
    assert app.webhooks.deliver_due(schedule=(1.0,)).failed >= 1
    assert app.webhooks.all()[0].disabled_reason == "gave up after 2 attempts"


def test_urls_must_be_http_and_private_hosts_need_the_explicit_setting() -> None:
    with pytest.raises(UnsafeWebhookUrl):
        check_webhook_url("ftp://example.com/x", False)
    with pytest.raises(UnsafeWebhookUrl, match=r"127\.0\.0\.1 is not a public address"):
        check_webhook_url("http://127.0.0.1:9/x", False)
    check_webhook_url("http://127.0.0.1:9/x", True)


def test_a_worker_killed_mid_delivery_loses_nothing_after_a_restart(tmp_path: Path, hooks: Receiver) -> None:
    path = tmp_path / "kill.db"
    with sqlite_application(path) as app:
        app.accounts.open("EUR", Decimal("1000.00"), account_id="ACC")
        app.instruments.add(Instrument("AAA", Decimal("10.00")))
        subscribe(app, hooks, "/slow")
        announce_something(app, count=30)
        expected = {e.id for _, e in app.queries.events(EventQuery(limit=1000, topic="PORTFOLIO_ORDER"))}
    hooks.slow_seconds = 0.02
    command = [
        sys.executable,
        "-m",
        "entrypoints.cli",
        "--db",
        str(path),
        "webhooks",
        "deliver",
        "--loop",
        "--interval",
        "0.01",
        "--timeout",
        "0.5",
    ]
    worker = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while len(hooks.on("/slow")) < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(worker.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    worker.wait()
    assert 0 < len({r.headers["webhook-id"] for r in hooks.on("/slow")}) < len(expected)
    # what the dead worker had taken but not sent is due again when its lease ends: the attempt's deadline and
    # the margin for recording it
    time.sleep(max(0.0, killed_at + 0.5 + LEASE_MARGIN - time.monotonic()))
    subprocess.run(command, check=True, timeout=60, stdout=subprocess.DEVNULL)
    received = hooks.on("/slow")
    assert {r.headers["webhook-id"] for r in received} == expected
    bodies: dict[str, set[str]] = {}
    for r in received:
        bodies.setdefault(r.headers["webhook-id"], set()).add(json.loads(r.body)["id"])
    assert all(ids == {webhook_id} for webhook_id, ids in bodies.items())
