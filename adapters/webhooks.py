"""HTTP webhooks: Standard Webhooks signatures, a safe URL check, and the delivery worker.

Delivery is at least once, from the SQLite outbox: a delivery is marked done only after the endpoint
answered 2xx, so a worker killed mid-flight delivers again after a restart, with the same ``webhook-id``.
Redirects are never followed (``http.client`` does not), every request has an explicit timeout, and each
attempt is written to the delivery log.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import http.client
import ipaddress
import json
import random
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol
from urllib.parse import urlsplit

import attrs

from adapters.serialization import from_json, timestamp, to_json
from core.errors import UnsafeWebhookUrl
from core.records import Subscription
from core.webhooks import DEFAULT_SCHEDULE, Outcome, after_attempt
from ports.driven import Clock


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def sign(secret: str, message_id: str, sent_at: int, body: str) -> str:
    """``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body`` with the secret's key."""
    digest = hmac.new(_key(secret), f"{message_id}.{sent_at}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(
    secret: str, headers: Mapping[str, str], body: str, tolerance: int = 300, now: float | None = None
) -> bool:
    """Check a received webhook: signature over id.timestamp.body, and a timestamp within ``tolerance``."""
    message_id, sent_at = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    if not message_id or not sent_at.isdigit():
        return False
    if abs((now if now is not None else time.time()) - int(sent_at)) > tolerance:
        return False
    expected = sign(secret, message_id, int(sent_at), body).split(",", 1)[1]
    offered = [
        s.split(",", 1)[1] for s in headers.get("webhook-signature", "").split() if s.startswith("v1,")
    ]
    return any(hmac.compare_digest(expected, candidate) for candidate in offered)


def check_webhook_url(url: str, allow_private_network: bool) -> None:
    """Only http(s) URLs, and only hosts that resolve to global addresses unless private networks are allowed
    (a local receiver needs that setting)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeWebhookUrl(f"webhook URL {url!r} must be an http or https URL with a host", {"url": url})
    if allow_private_network:
        return
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port or 443)}
    except OSError:
        raise UnsafeWebhookUrl(f"webhook host {parts.hostname} does not resolve", {"url": url}) from None
    private = sorted(str(a) for a in addresses if not ipaddress.ip_address(str(a).split("%")[0]).is_global)
    if private:
        raise UnsafeWebhookUrl(
            f"webhook host {parts.hostname} resolves to non-public addresses; create the subscription with "
            "allow_private_network to deliver to a local receiver",
            {"url": url, "addresses": private},
        )


@attrs.frozen
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0


def post(url: str, body: str, headers: Mapping[str, str], timeout: float) -> int:
    """POST once; returns the status code (redirects are returned, not followed)."""
    parts = urlsplit(url)
    connection_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_type(parts.hostname or "", parts.port, timeout=timeout)
    try:
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        connection.request(
            "POST", path, body=body.encode(), headers={**headers, "content-type": "application/json"}
        )
        return connection.getresponse().status
    finally:
        connection.close()


class DeliveryStore(Protocol):
    """The SQLite database the outbox lives in (``adapters.sqlite.SqliteDatabase``)."""

    @property
    def lock(self) -> threading.RLock: ...
    @property
    def connection(self) -> sqlite3.Connection: ...
    def transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...


@attrs.define
class WebhookDeliverer:
    """Delivers due webhooks from the outbox, one attempt each per call of ``deliver_due``."""

    database: DeliveryStore
    clock: Clock
    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    timeout: float = 10.0
    rng: random.Random = attrs.field(factory=random.Random)

    def due(self, limit: int) -> list[tuple[Any, ...]]:
        with self.database.lock:
            return self.database.connection.execute(
                "SELECT d.event_seq, d.subscription_id, d.attempts, e.id, e.body, s.body "
                "FROM deliveries d JOIN events e ON e.seq = d.event_seq "
                "JOIN records s ON s.kind = 'subscriptions' AND s.id = d.subscription_id "
                "WHERE d.status = 'PENDING' AND d.next_attempt_at <= ? ORDER BY d.event_seq LIMIT ?",
                (timestamp(self.clock.now()), limit),
            ).fetchall()

    def current(self, seq: int, subscription_id: str) -> tuple[Any, ...] | None:
        """The delivery as it stands now (a 410 earlier in the batch may have dropped it)."""
        with self.database.lock:
            row: tuple[Any, ...] | None = self.database.connection.execute(
                "SELECT d.attempts, e.id, e.body, s.body FROM deliveries d JOIN events e ON e.seq = d.event_seq "
                "JOIN records s ON s.kind = 'subscriptions' AND s.id = d.subscription_id "
                "WHERE d.event_seq = ? AND d.subscription_id = ? AND d.status = 'PENDING'",
                (seq, subscription_id),
            ).fetchone()
        return row

    def deliver_due(self, limit: int = 100) -> DeliveryReport:
        report = DeliveryReport()
        for seq, subscription_id, *_ in self.due(limit):
            row = self.current(seq, subscription_id)
            if row is None:
                continue
            attempts, event_id, stored, subscription_body = row
            subscription = from_json(subscription_body, Subscription)
            if subscription.disabled_reason is not None:
                self._finish(seq, subscription_id, "DROPPED")
                continue
            envelope = json.loads(stored)
            envelope["webhook_id"] = subscription_id
            body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)
            sent_at = int(self.clock.now().timestamp())
            headers = {
                "webhook-id": event_id,
                "webhook-timestamp": str(sent_at),
                "webhook-signature": sign(subscription.secret, event_id, sent_at, body),
            }
            started = time.monotonic()
            status: int | None
            try:
                status, error = post(subscription.url, body, headers, self.timeout), None
            except (OSError, http.client.HTTPException) as exc:
                status, error = None, f"{type(exc).__name__}: {exc}"
            elapsed = int((time.monotonic() - started) * 1000)
            decision = after_attempt(status, attempts + 1, self.schedule, self.rng.uniform(-1, 1))
            self._record(
                seq,
                event_id,
                subscription,
                attempts + 1,
                status,
                error,
                elapsed,
                decision.outcome,
                decision.delay,
            )
            if decision.outcome is Outcome.DELIVERED:
                report = attrs.evolve(report, delivered=report.delivered + 1)
            elif decision.outcome is Outcome.RETRY:
                report = attrs.evolve(report, retrying=report.retrying + 1)
            else:
                report = attrs.evolve(report, failed=report.failed + 1)
        return report

    def _finish(self, seq: int, subscription_id: str, status: str) -> None:
        with self.database.transaction() as connection:
            connection.execute(
                "UPDATE deliveries SET status = ? WHERE event_seq = ? AND subscription_id = ?",
                (status, seq, subscription_id),
            )

    def _record(
        self,
        seq: int,
        event_id: str,
        subscription: Subscription,
        attempt: int,
        status: int | None,
        error: str | None,
        elapsed: int,
        outcome: Outcome,
        delay: float,
    ) -> None:
        now = self.clock.now()
        with self.database.transaction() as connection:
            connection.execute(
                "INSERT INTO delivery_log (event_id, subscription_id, attempt, at, status_code, error, duration_ms, outcome) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (event_id, subscription.id, attempt, timestamp(now), status, error, elapsed, outcome.value),
            )
            new_status = {Outcome.DELIVERED: "DELIVERED", Outcome.RETRY: "PENDING"}.get(outcome, "FAILED")
            connection.execute(
                "UPDATE deliveries SET status = ?, attempts = ?, next_attempt_at = ? WHERE event_seq = ? AND subscription_id = ?",
                (new_status, attempt, timestamp(now + dt.timedelta(seconds=delay)), seq, subscription.id),
            )
            if outcome in (Outcome.GONE, Outcome.GIVE_UP):
                reason = (
                    "the endpoint answered 410 Gone"
                    if outcome is Outcome.GONE
                    else f"gave up after {attempt} attempts"
                )
                disabled = attrs.evolve(subscription, disabled_reason=reason)
                connection.execute(
                    "UPDATE records SET body = ?, version = version + 1 WHERE kind = 'subscriptions' AND id = ?",
                    (to_json(disabled), subscription.id),
                )
                connection.execute(
                    "UPDATE deliveries SET status = 'DROPPED' WHERE subscription_id = ? AND status = 'PENDING'",
                    (subscription.id,),
                )

    def log(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.database.lock:
            rows = self.database.connection.execute(
                "SELECT event_id, subscription_id, attempt, at, status_code, error, duration_ms, outcome "
                "FROM delivery_log ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        names = (
            "event_id",
            "subscription_id",
            "attempt",
            "at",
            "status_code",
            "error",
            "duration_ms",
            "outcome",
        )
        return [dict(zip(names, row, strict=True)) for row in rows]
