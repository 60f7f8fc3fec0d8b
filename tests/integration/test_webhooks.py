"""Webhook delivery over real HTTP on loopback, from a real SQLite outbox."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from adapters.sqlite import SqliteDatabase
from adapters.system import SystemClock
from adapters.venue import SimulatedVenue
from adapters.webhooks import WebhookDeliverer, check_webhook_url, new_secret
from core.errors import UnsafeWebhookUrl
from core.instruments import AllocationLine, Instrument
from core.portfolio import OrderType
from entrypoints.bootstrap import sqlite_engine
from ports.service import Engine
from tests.fakes import ManualClock
from tests.integration.receivers import Receiver, receiver

SECRET = new_secret()


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    with receiver() as running:
        yield running


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Engine, SqliteDatabase, ManualClock]]:
    clock = ManualClock()
    engine, database = sqlite_engine(tmp_path / "hooks.db", SimulatedVenue(), clock)
    engine.create_account("EUR", Decimal("1000.00"), account_id="ACC")
    engine.add_instrument(Instrument("AAA", Decimal("10.00")))
    yield engine, database, clock
    database.close()


def announce_something(engine: Engine, count: int = 1) -> None:
    model = engine.create_allocation("all in", [AllocationLine("AAA", Decimal(1))])
    for _ in range(count):
        engine.place_portfolio_order("ACC", OrderType.BUY, Decimal("10.00"), model.id)


def subscribe(engine: Engine, hooks: Receiver, path: str) -> None:
    engine.add_subscription(hooks.base + path, ["PORTFOLIO_ORDER"], SECRET, allow_private_network=True)


def test_every_delivery_is_signed_as_standard_webhooks_verifies_it(
    setup: tuple[Engine, SqliteDatabase, ManualClock], hooks: Receiver
) -> None:
    engine, database, _ = setup
    subscribe(engine, hooks, "/ok")
    announce_something(engine)
    # Standard Webhooks checks the timestamp against the real time, so this one delivers on the system clock.
    assert WebhookDeliverer(database, SystemClock()).deliver_due().delivered == 2
    for delivery in hooks.on("/ok"):
        payload = Webhook(SECRET).verify(delivery.body, delivery.headers)
        assert payload["type"] in ("PORTFOLIO_ORDER.NEW", "PORTFOLIO_ORDER.SUBMITTED")
        assert payload["webhook_id"]
        assert delivery.headers["webhook-id"] == payload["id"]


def test_a_receiver_that_fails_once_gets_the_same_webhook_again_after_the_backoff(
    setup: tuple[Engine, SqliteDatabase, ManualClock], hooks: Receiver
) -> None:
    engine, database, clock = setup
    subscribe(engine, hooks, "/flaky")
    announce_something(engine)
    deliverer = WebhookDeliverer(database, clock, schedule=(60.0, 120.0))
    first = deliverer.deliver_due()
    assert (first.delivered, first.retrying) == (1, 1)
    assert deliverer.deliver_due().delivered == 0  # not due yet: backoff
    clock.advance(seconds=80)
    assert deliverer.deliver_due().delivered == 1
    attempts = hooks.on("/flaky")
    assert attempts[0].headers["webhook-id"] == attempts[2].headers["webhook-id"]
    assert [e["outcome"] for e in reversed(deliverer.log())] == ["RETRY", "DELIVERED", "DELIVERED"]


def test_a_410_disables_the_endpoint_at_once(
    setup: tuple[Engine, SqliteDatabase, ManualClock], hooks: Receiver
) -> None:
    engine, database, clock = setup
    subscribe(engine, hooks, "/gone")
    announce_something(engine)
    report = WebhookDeliverer(database, clock).deliver_due()
    assert report.failed == 1
    assert len(hooks.on("/gone")) == 1
    assert engine.list_subscriptions()[0].disabled_reason == "the endpoint answered 410 Gone"
    announce_something(engine)
    assert WebhookDeliverer(database, clock).deliver_due().delivered == 0


def test_a_redirect_is_not_followed_and_counts_as_a_failed_attempt(
    setup: tuple[Engine, SqliteDatabase, ManualClock], hooks: Receiver
) -> None:
    engine, database, clock = setup
    subscribe(engine, hooks, "/redirect")
    announce_something(engine)
    report = WebhookDeliverer(database, clock).deliver_due()
    assert report.retrying == 2
    assert hooks.on("/ok") == []


def test_a_receiver_that_hangs_past_the_timeout_is_retried_later(
    setup: tuple[Engine, SqliteDatabase, ManualClock], hooks: Receiver
) -> None:
    engine, database, clock = setup
    hooks.hang_seconds = 2.0
    subscribe(engine, hooks, "/hang")
    announce_something(engine)
    deliverer = WebhookDeliverer(database, clock, timeout=0.3)
    started = time.monotonic()
    report = deliverer.deliver_due()
    assert report.retrying == 2
    assert time.monotonic() - started < 1.9
    assert "timed out" in (deliverer.log()[0]["error"] or "")


def test_an_endpoint_is_disabled_when_the_schedule_is_exhausted(
    setup: tuple[Engine, SqliteDatabase, ManualClock], hooks: Receiver
) -> None:
    engine, database, clock = setup
    hooks.flaky_failures = 100
    subscribe(engine, hooks, "/flaky")
    announce_something(engine)
    deliverer = WebhookDeliverer(database, clock, schedule=(1.0,))
    deliverer.deliver_due()
    clock.advance(seconds=5)
    assert deliverer.deliver_due().failed >= 1
    assert engine.list_subscriptions()[0].disabled_reason == "gave up after 2 attempts"


def test_urls_must_be_http_and_private_hosts_need_the_explicit_setting() -> None:
    with pytest.raises(UnsafeWebhookUrl):
        check_webhook_url("ftp://example.com/x", False)
    with pytest.raises(UnsafeWebhookUrl, match="non-public"):
        check_webhook_url("http://127.0.0.1:9/x", False)
    check_webhook_url("http://127.0.0.1:9/x", True)


def test_a_worker_killed_mid_delivery_loses_nothing_after_a_restart(tmp_path: Path, hooks: Receiver) -> None:
    path = tmp_path / "kill.db"
    engine, database = sqlite_engine(path)
    engine.create_account("EUR", Decimal("1000.00"), account_id="ACC")
    engine.add_instrument(Instrument("AAA", Decimal("10.00")))
    subscribe(engine, hooks, "/slow")
    announce_something(engine, count=30)
    expected = {e.id for _, e in engine.list_events(limit=1000, topic="PORTFOLIO_ORDER")}
    database.close()
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
    ]
    worker = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while len(hooks.on("/slow")) < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    assert 0 < len({r.headers["webhook-id"] for r in hooks.on("/slow")}) < len(expected)
    subprocess.run(command, check=True, timeout=60, stdout=subprocess.DEVNULL)
    received = hooks.on("/slow")
    assert {r.headers["webhook-id"] for r in received} == expected
    bodies: dict[str, set[str]] = {}
    for r in received:
        bodies.setdefault(r.headers["webhook-id"], set()).add(json.loads(r.body)["id"])
    assert all(ids == {webhook_id} for webhook_id, ids in bodies.items())
