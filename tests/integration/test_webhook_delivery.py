"""Delivery that one bad or slow endpoint cannot stop: deadlines, concurrency, connect-time address checks, and a
worker that stops cleanly. Real HTTP servers on loopback, real SQLite."""

from __future__ import annotations

import datetime as dt
import json
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import attrs
import pytest

from adapters.webhooks import HttpWebhookSender, new_secret
from core.instruments import AllocationLine, Instrument
from core.portfolio import OrderType
from core.records import Subscription
from core.webhooks import EventQuery
from entrypoints.bootstrap import memory_application, sqlite_application
from ports.application import Application
from ports.driven import Delivery
from tests.fakes import FixedJitter, ManualClock
from tests.integration.receivers import Receiver, serving


def announce(app: Application, count: int = 1) -> None:
    """``count`` portfolio orders: two PORTFOLIO_ORDER events each (NEW, SUBMITTED)."""
    model = app.allocations.create(f"all in {count}", [AllocationLine("AAA", Decimal(1))])
    for _ in range(count):
        app.portfolio_orders.place("ACC", OrderType.BUY, Decimal("10.00"), model.id)


def subscribe(app: Application, url: str) -> str:
    return app.webhooks.subscribe(url, ["PORTFOLIO_ORDER"], new_secret(), allow_private_network=True).id


@attrs.define
class Trickler:
    """An endpoint that answers one byte at a time, forever: a per-read timeout never fires on it."""

    port: int = 0
    sent: int = 0
    closed_by_peer: threading.Event = attrs.field(factory=threading.Event)


@contextmanager
def trickler(pause: float = 0.1) -> Iterator[Trickler]:
    state = Trickler()
    listener = socket.create_server(("127.0.0.1", 0))
    state.port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.recv(65536)
                answer = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100_000
                for byte in answer:
                    if stop.is_set():
                        return
                    try:
                        connection.sendall(bytes([byte]))
                    except OSError:
                        state.closed_by_peer.set()
                        break
                    state.sent += 1
                    time.sleep(pause)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_an_endpoint_that_trickles_its_answer_is_cut_off_at_the_deadline(app: Application) -> None:
    with trickler() as slow:
        subscribe(app, f"http://127.0.0.1:{slow.port}/hook")
        announce(app)
        report = app.webhooks.deliver_due(timeout=0.5, limit=1)
        assert slow.closed_by_peer.wait(5)
    assert report.retrying == 1
    attempt = app.webhooks.log()[0]
    assert attempt.error == "DeadlineExceeded: no answer within the deadline of 0.5 s"
    assert slow.sent < 100  # a per-read timeout would have let it trickle on to the end of 100 000 bytes


@attrs.define
class Concurrency:
    base: str = ""
    in_flight: int = 0
    most: int = 0
    paths: list[str] = attrs.field(factory=list)


@contextmanager
def counting_server(hold: float) -> Iterator[Concurrency]:
    """An endpoint that holds every request for ``hold`` seconds and counts how many it holds at once."""
    state = Concurrency()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            with lock:
                state.in_flight += 1
                state.most = max(state.most, state.in_flight)
                state.paths.append(self.path)
            time.sleep(hold)
            with lock:
                state.in_flight -= 1
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with serving(Handler) as base:
        state.base = base
        yield state


def test_different_endpoints_are_served_at_the_same_time_each_one_webhook_at_a_time(app: Application) -> None:
    with counting_server(hold=0.3) as server:
        for path in ("/a", "/b", "/c"):
            subscribe(app, server.base + path)
        announce(app, count=2)  # 4 events for each of the 3 endpoints
        report = app.webhooks.deliver_due(workers=8)
    assert report.delivered == 12
    assert server.most == 3  # one per endpoint: never two webhooks to the same endpoint at once
    assert sorted(server.paths) == ["/a"] * 4 + ["/b"] * 4 + ["/c"] * 4


def test_the_pool_bounds_how_many_endpoints_are_served_at_once(app: Application) -> None:
    with counting_server(hold=0.2) as server:
        for path in ("/a", "/b", "/c", "/d"):
            subscribe(app, server.base + path)
        announce(app)
        report = app.webhooks.deliver_due(workers=2)
    assert (report.delivered, server.most) == (8, 2)


def test_no_attempt_starts_after_the_round_must_end_and_what_is_left_stays_due(
    app: Application, hooks: Receiver, clock: ManualClock
) -> None:
    subscribe(app, hooks.base + "/ok")
    announce(app)
    report = app.webhooks.deliver_due(until=clock.now())
    assert (report.delivered, report.retrying, report.failed) == (0, 0, 0)
    assert hooks.received == []
    assert app.webhooks.due_count(limit=10) == 2


def test_an_attempt_gets_no_more_time_than_is_left_of_the_round(
    app: Application, hooks: Receiver, clock: ManualClock
) -> None:
    hooks.hang_seconds = 5.0
    subscribe(app, hooks.base + "/hang")
    announce(app)
    app.webhooks.deliver_due(limit=1, timeout=60, until=clock.now() + dt.timedelta(seconds=0.4))
    assert app.webhooks.log()[0].error == "DeadlineExceeded: no answer within the deadline of 0.4 s"


def test_one_subscription_with_a_broken_secret_and_port_does_not_stop_the_others(
    tmp_path: Path, hooks: Receiver
) -> None:
    path = tmp_path / "broken.db"
    with sqlite_application(path, jitter=FixedJitter()) as app:
        app.accounts.open("EUR", Decimal("1000.00"), account_id="ACC")
        app.instruments.add(Instrument("AAA", Decimal("10.00")))
        broken, good = subscribe(app, hooks.base + "/broken"), subscribe(app, hooks.base + "/ok")
        announce(app)
    with sqlite3.connect(path) as connection:  # as an old release, or a hand edit, could have left it
        body = json.loads(
            connection.execute("SELECT body FROM records WHERE id = ?", (broken,)).fetchone()[0]
        )
        body.update(secret="abc", url="http://127.0.0.1:99999/x")
        connection.execute("UPDATE records SET body = ? WHERE id = ?", (json.dumps(body), broken))
    connection.close()
    with sqlite_application(path, jitter=FixedJitter()) as app:
        report = app.webhooks.deliver_due()
        errors = {a.error for a in app.webhooks.log() if a.subscription_id == broken}
    assert (report.delivered, report.retrying) == (2, 1)  # the broken one rests after its first failure
    assert len(hooks.on("/ok")) == 2
    assert all(e is not None and "secret" in e for e in errors), errors
    assert good != broken


def sent_to(url: str, allow_private_network: bool) -> Delivery:
    app = memory_application()
    app.accounts.open("EUR", Decimal("1.00"), account_id="ACC")
    (_, event), *_ = app.queries.events(EventQuery(limit=1))
    subscription = Subscription("S", url, ("FUNDING",), new_secret(), event.created_at, allow_private_network)
    return Delivery(1, event, subscription, 0)


def test_the_address_is_checked_when_connecting_not_only_when_subscribing(hooks: Receiver) -> None:
    # a subscription made while the name pointed at a public address, now resolving to loopback (DNS rebinding)
    port = hooks.base.rsplit(":", 1)[1]
    for host in ("127.0.0.1", "localhost"):
        [result] = HttpWebhookSender().send([sent_to(f"http://{host}:{port}/ok", False)], 2.0, 2.0)
        assert result.status_code is None
        assert result.error is not None
        assert "not a public address" in result.error
    assert hooks.received == []
    [result] = HttpWebhookSender().send([sent_to(f"http://localhost:{port}/ok", True)], 2.0, 2.0)
    assert result.status_code == 204


def test_a_name_that_resolves_elsewhere_at_delivery_than_at_subscription_is_refused(
    app: Application, hooks: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = int(hooks.base.rsplit(":", 1)[1])
    answers = {"now": "93.184.215.14"}
    real = socket.getaddrinfo

    def rebinding_dns(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "hooks.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers["now"], port))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
    app.webhooks.subscribe(f"http://hooks.example:{port}/ok", ["PORTFOLIO_ORDER"], new_secret())
    answers["now"] = "127.0.0.1"
    announce(app)
    report = app.webhooks.deliver_due()
    assert report.retrying == 1  # its other event rests with it until the next call
    assert hooks.received == []
    assert "127.0.0.1 is not a public address" in (app.webhooks.log()[0].error or "")


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_a_signal_stops_a_looping_worker_after_it_records_the_attempt_under_way(
    tmp_path: Path, hooks: Receiver, signum: int, status: int
) -> None:
    path = tmp_path / "term.db"
    with sqlite_application(path) as app:
        app.accounts.open("EUR", Decimal("1000.00"), account_id="ACC")
        app.instruments.add(Instrument("AAA", Decimal("10.00")))
        subscribe(app, hooks.base + "/hang")
        announce(app, count=3)
    hooks.hang_seconds = 1.0
    command = [sys.executable, "-m", "entrypoints.cli", "--db", str(path), "--json", "webhooks", "deliver",
               "--loop", "--timeout", "10", "--max-seconds", "120"]  # fmt: skip
    worker = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not hooks.on("/hang") and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.send_signal(signum)
    out, err = worker.communicate(timeout=20)
    assert worker.returncode == status, err
    assert json.loads(out) == {"delivered": 1, "retrying": 0, "failed": 0}
    with sqlite_application(path) as app:
        assert [a.status_code for a in app.webhooks.log()] == [204]
        assert app.webhooks.due_count(limit=10) == 5


def test_two_workers_at_once_never_send_the_same_delivery_twice(tmp_path: Path) -> None:
    path = tmp_path / "two.db"
    with counting_server(hold=0.3) as server:
        with sqlite_application(path, jitter=FixedJitter()) as app:
            app.accounts.open("EUR", Decimal("1000.00"), account_id="ACC")
            app.instruments.add(Instrument("AAA", Decimal("10.00")))
            subscribe(app, server.base + "/one")
            announce(app, count=2)  # 4 deliveries to one endpoint
        reports = []

        def worker() -> None:
            with sqlite_application(path, jitter=FixedJitter()) as own:
                reports.append(own.webhooks.deliver_due())

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        with sqlite_application(path) as app:
            attempts = app.webhooks.log()
    assert sum(r.delivered for r in reports) == 4
    assert len(server.paths) == 4
    assert sorted((a.event_id, a.attempt) for a in attempts) == sorted({(a.event_id, 1) for a in attempts})
    assert len(attempts) == 4


def test_a_dead_endpoint_costs_one_deadline_a_call_and_the_healthy_one_gets_every_event_in_it(
    app: Application, hooks: Receiver
) -> None:
    hooks.hang_seconds = 3.0
    dead = subscribe(app, f"{hooks.base}/hang")
    subscribe(app, f"{hooks.base}/ok")
    announce(app, 10)  # 20 events for each endpoint
    report = app.webhooks.deliver_due(timeout=0.5)
    assert len(hooks.on("/ok")) == 20
    assert (report.delivered, report.retrying) == (20, 1)
    assert [a.subscription_id for a in app.webhooks.log(100) if a.outcome.value != "DELIVERED"] == [dead], (
        "one attempt to the dead endpoint; its 19 other events wait for the next call, not 19 more deadlines"
    )


def test_events_made_while_a_slow_attempt_runs_reach_a_healthy_endpoint_before_it_ends(
    app: Application, hooks: Receiver
) -> None:
    hooks.slow_seconds = 2.0
    subscribe(app, f"{hooks.base}/slow")
    subscribe(app, f"{hooks.base}/ok")
    announce(app, 1)
    delivering = threading.Thread(target=lambda: app.webhooks.deliver_due(timeout=5.0))
    delivering.start()
    deadline = time.monotonic() + 5
    while len(hooks.on("/ok")) < 2:
        assert time.monotonic() < deadline, "the first events did not arrive"
        time.sleep(0.01)
    announce(app, 2)  # while the slow endpoint still holds its attempt: four events more
    delivering.join(30)
    assert not delivering.is_alive()
    paths = [r.path for r in hooks.received]
    assert paths.count("/ok") == 6
    second_slow = [i for i, path in enumerate(paths) if path == "/slow"][1]
    assert paths[:second_slow].count("/ok") == 6, "the new events waited for the slow attempt to end"


def test_a_429_with_retry_after_is_not_tried_again_before_the_endpoint_asked(
    app: Application, hooks: Receiver, clock: ManualClock
) -> None:
    subscribe(app, f"{hooks.base}/busy")
    announce(app, 1)
    app.webhooks.deliver_due()
    assert len(hooks.on("/busy")) == 1  # the other event of the order rests with its endpoint
    clock.advance(seconds=60)  # past the first retry's 5 s, within the endpoint's 120 s
    app.webhooks.deliver_due()
    assert len(hooks.on("/busy")) == 2, "only the event not tried yet"
    clock.advance(seconds=61)
    app.webhooks.deliver_due()
    assert len(hooks.on("/busy")) == 3


def test_a_200_whose_body_never_ends_is_no_answer_and_is_tried_again(
    app: Application, hooks: Receiver
) -> None:
    subscribe(app, f"{hooks.base}/endless")
    announce(app, 1)
    report = app.webhooks.deliver_due(timeout=0.5, limit=1)
    assert (report.delivered, report.retrying) == (0, 1)
    (attempt,) = app.webhooks.log()
    assert str(attempt.error).startswith("DeadlineExceeded"), attempt.error


@attrs.define
class KeepAlive:
    """An HTTP/1.1 endpoint that keeps connections open; it may close one after every ``close_after`` requests
    without saying so (as an endpoint whose idle timeout ran out does)."""

    base: str = ""
    connections: list[int] = attrs.field(factory=list)  # the client port of each request
    ids: list[str] = attrs.field(factory=list)
    close_after: int = 0


@contextmanager
def keep_alive() -> Iterator[KeepAlive]:
    state = KeepAlive()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        served = 0

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            state.connections.append(self.client_address[1])
            state.ids.append(self.headers["webhook-id"])
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()
            self.served += 1
            if state.close_after and self.served % state.close_after == 0:
                self.close_connection = (
                    True  # closed with no "Connection: close": the client finds out on reuse
                )

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with serving(Handler) as base:
        state.base = base
        yield state


def test_an_endpoints_webhooks_go_one_after_another_over_one_kept_alive_connection(app: Application) -> None:
    with keep_alive() as endpoint:
        subscribe(app, endpoint.base + "/ok")
        announce(app, count=5)
        report = app.webhooks.deliver_due()
    assert report.delivered == 10
    assert len(endpoint.ids) == len(set(endpoint.ids)) == 10
    assert len(set(endpoint.connections)) == 1


def test_a_kept_alive_connection_the_endpoint_closed_is_opened_again_and_every_webhook_arrives_once(
    app: Application,
) -> None:
    with keep_alive() as endpoint:
        endpoint.close_after = 3
        subscribe(app, endpoint.base + "/ok")
        announce(app, count=5)
        report = app.webhooks.deliver_due()
    assert (report.delivered, report.retrying) == (10, 0)
    assert len(endpoint.ids) == len(set(endpoint.ids)) == 10
    assert len(set(endpoint.connections)) == 4  # 3 + 3 + 3 + 1


def test_a_run_stops_at_its_first_failure_and_what_it_had_not_sent_is_due_again_at_once(
    app: Application, hooks: Receiver
) -> None:
    subscribe(app, hooks.base + "/flaky")  # fails its first attempt only
    announce(app, count=2)
    report = app.webhooks.deliver_due()
    assert (report.delivered, report.retrying) == (0, 1)
    assert len(hooks.on("/flaky")) == 1
    assert app.webhooks.due_count(limit=10) == 3  # the other three; the failed one waits for its retry
    again = app.webhooks.deliver_due()
    assert again.delivered == 3
