"""HTTP webhooks: Standard Webhooks signatures, a safe URL check, and the sender.

This adapter knows HTTP and signing only; which deliveries are due and what follows an attempt are the delivery
queue's (kept by the storage adapter) and the core's. Redirects are never followed (``http.client`` does not) and
every request has an explicit timeout.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import ipaddress
import json
import secrets
import socket
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

import attrs

from adapters.serialization import timestamp, unstructure
from core.errors import AllotError, UnsafeWebhookUrl
from core.webhooks import SECRET_PREFIX, secret_key
from ports.driven import Delivery, SendResult


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, message_id: str, sent_at: int, body: str) -> str:
    """``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body`` with the secret's key."""
    digest = hmac.new(secret_key(secret), f"{message_id}.{sent_at}.{body}".encode(), hashlib.sha256).digest()
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
    try:
        parts = urlsplit(url)
        port = parts.port  # parsing the port checks it (1 to 65535)
    except ValueError as error:
        raise UnsafeWebhookUrl(f"webhook URL {url!r} cannot be read: {error}", {"url": url}) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeWebhookUrl(f"webhook URL {url!r} must be an http or https URL with a host", {"url": url})
    if port == 0:
        raise UnsafeWebhookUrl(f"webhook URL {url!r} has port 0", {"url": url})
    if allow_private_network:
        return
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, port or 443)}
    except OSError:
        raise UnsafeWebhookUrl(f"webhook host {parts.hostname} does not resolve", {"url": url}) from None
    private = sorted(str(a) for a in addresses if not ipaddress.ip_address(str(a).split("%")[0]).is_global)
    if private:
        raise UnsafeWebhookUrl(
            f"webhook host {parts.hostname} resolves to non-public addresses; create the subscription with "
            "allow_private_network to deliver to a local receiver",
            {"url": url, "addresses": private},
        )


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


def body_of(delivery: Delivery) -> str:
    """The webhook body: the event's envelope with ``webhook_id`` set to the subscription."""
    envelope = {
        "id": delivery.event.id,
        "created_at": timestamp(delivery.event.created_at),
        "type": delivery.event.type,
        "object": unstructure(delivery.event.object),
        "webhook_id": delivery.subscription.id,
    }
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)


@attrs.frozen
class HttpWebhookSender:
    """Signs a delivery (Standard Webhooks) and POSTs it. A problem of the endpoint or of the subscription's own
    settings (a bad URL, a bad secret) comes back as the attempt's error, never as an exception, so that one bad
    subscription cannot stop the deliveries of the others."""

    def send(self, delivery: Delivery, timeout: float) -> SendResult:
        started = time.monotonic()
        try:
            body = body_of(delivery)
            sent_at = int(time.time())
            headers = {
                "webhook-id": delivery.event.id,
                "webhook-timestamp": str(sent_at),
                "webhook-signature": sign(delivery.subscription.secret, delivery.event.id, sent_at, body),
            }
            status, error = post(delivery.subscription.url, body, headers, timeout), None
        except (OSError, http.client.HTTPException, ValueError, AllotError) as exc:
            status, error = None, f"{type(exc).__name__}: {exc}"
        return SendResult(status, error, int((time.monotonic() - started) * 1000))
