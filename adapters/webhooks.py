"""HTTP webhooks: Standard Webhooks signatures, a safe URL check, and the sender.

This adapter knows HTTP and signing only; which deliveries are due and what follows an attempt are the delivery
queue's (kept by the storage adapter) and the core's; which addresses are public is the core's rule. The address is
checked when it is connected to — the one actually connected to, not only the name when subscribing — so a name
that later resolves to loopback (DNS rebinding) is refused. Redirects are never followed (``http.client`` does not),
and an attempt has one deadline for connecting, sending and reading the whole answer.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import hashlib
import heapq
import hmac
import http.client
import ipaddress
import itertools
import math
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Final

import attrs

from adapters.serialization import compact_json, timestamp, unstructure
from core.errors import AllotError, UnsafeWebhookUrl
from core.webhooks import (
    SECRET_PREFIX,
    IPAddress,
    address_refusal,
    check_url,
    delivered,
    literal_address,
    parse_url,
    secret_key,
)
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


def resolve(host: str, port: int, allow_private_network: bool) -> list[IPAddress]:
    """The addresses ``host`` resolves to now that webhooks may go to, in the resolver's order; an
    ``UnsafeWebhookUrl`` when there are none (unresolvable, or only non-public addresses)."""
    literal = literal_address(host)
    try:
        found = [literal] if literal is not None else [
            ipaddress.ip_address(str(info[4][0]).split("%")[0])
            for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        ]  # fmt: skip
    except (OSError, UnicodeError):
        raise UnsafeWebhookUrl(f"webhook host {host} does not resolve", {"host": host}) from None
    addresses = list(dict.fromkeys(found))
    if allow_private_network:
        return addresses
    refusals = [refused for a in addresses if (refused := address_refusal(a)) is not None]
    if refusals:  # one non-public answer is enough to distrust the name (DNS rebinding answers with both)
        raise UnsafeWebhookUrl(
            f"webhook host {host} resolves to an address that is not public ({'; '.join(refusals)}); create the "
            "subscription with allow_private_network to deliver to a local receiver",
            {"host": host, "addresses": [str(a) for a in addresses]},
        )
    return addresses


def check_webhook_url(url: str, allow_private_network: bool) -> None:
    """A URL webhooks may be sent to: the core's rules, and a host that resolves now to public addresses only
    (unless private networks are allowed). The sender checks again on every connection."""
    check_url(url, allow_private_network)
    parts = parse_url(url)
    resolve(parts.hostname or "", parts.port or _DEFAULT_PORT[parts.scheme], allow_private_network)


_DEFAULT_PORT: Final = {"http": 80, "https": 443}


class DeadlineExceeded(OSError):
    """The attempt took longer than its deadline (connect, send and the whole response together)."""


@attrs.define
class _Deadline:
    """A whole attempt's time limit: each blocking step gets what is left of it, and a watchdog shuts the
    connection's socket down when it runs out, so that an endpoint trickling its answer a byte at a time is cut
    off too (by file descriptor: TLS takes the socket object over, not the descriptor)."""

    seconds: float
    started: float = attrs.field(factory=time.monotonic)
    descriptor: int | None = None
    expired: bool = False
    finished: bool = False
    _lock: threading.Lock = attrs.field(factory=threading.Lock)

    def left(self) -> float:
        left = self.seconds - (time.monotonic() - self.started)
        if left <= 0:
            raise DeadlineExceeded(f"no answer within the deadline of {self.seconds:g} s")
        return left

    @property
    def overdue(self) -> bool:
        """The watchdog fired, or a socket timeout (of the same length) beat it to it."""
        return self.expired or time.monotonic() - self.started >= self.seconds

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self.descriptor = sock.fileno()

    def expire(self) -> None:
        with self._lock:
            if self.finished:
                return
            self.expired = True
            if self.descriptor is not None:
                handle = socket.socket(fileno=self.descriptor)
                with contextlib.suppress(OSError):
                    handle.shutdown(socket.SHUT_RDWR)
                handle.detach()  # the descriptor stays the connection's to close

    def finish(self) -> None:
        """The attempt is over: the watchdog must not touch the descriptor (it may be reused once closed)."""
        with self._lock:
            self.finished = True


class _Watchdog:
    """One thread that ends every attempt whose deadline has passed (a thread per attempt cost more than the
    attempt itself on a kept-alive connection). A finished attempt is dropped once it is the next one due."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._due: list[tuple[float, int, _Deadline]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: _Deadline) -> None:
        with self._changed:
            heapq.heappush(self._due, (deadline.started + deadline.seconds, next(self._order), deadline))
            if self._thread is None or not self._thread.is_alive():  # not yet started, or in a forked child
                self._thread = threading.Thread(target=self._run, name="webhook-watchdog", daemon=True)
                self._thread.start()
            self._changed.notify()

    def _run(self) -> None:
        with self._changed:
            while True:
                if not self._due:
                    self._changed.wait()
                    continue
                when, _, deadline = self._due[0]
                left = when - time.monotonic()
                if left > 0 and not deadline.finished:
                    self._changed.wait(left)
                    continue
                heapq.heappop(self._due)
                deadline.expire()  # does nothing to an attempt already finished


WATCHDOG: Final = _Watchdog()


class _CheckedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection whose socket comes from ``open_socket`` (which connects only to a checked address)
    rather than from resolving the host again. No proxy tunnel: webhooks go straight to their endpoint."""

    open_socket: Callable[[], socket.socket]

    def connect(self) -> None:
        self.sock = self.open_socket()


class _CheckedHTTPSConnection(http.client.HTTPSConnection, _CheckedHTTPConnection):
    """The same over TLS: ``HTTPSConnection.connect`` gets the socket from the checked connect above it and
    wraps it, verifying the certificate for the URL's host name."""


class Endpoint:
    """POSTs to one webhook URL, one request after another, over one connection while the endpoint keeps it
    open (a new one, checked again, after it closes). Each request has one deadline for connecting, sending and
    reading the whole answer."""

    #: Errors of a kept-alive connection the endpoint closed between two requests: sent again once, on a new one.
    STALE: Final = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)

    def __init__(self, url: str, allow_private_network: bool) -> None:
        parts = parse_url(url)
        self.host, self.port = parts.hostname or "", parts.port or _DEFAULT_PORT[parts.scheme]
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.https = parts.scheme == "https"
        self.allow_private_network = allow_private_network
        self.connection: _CheckedHTTPConnection | None = None
        self.deadline = _Deadline(0.0)

    def _connect(self) -> socket.socket:
        last: OSError = OSError(f"webhook host {self.host} has no address")
        for candidate in resolve(self.host, self.port, self.allow_private_network):
            try:
                sock = socket.create_connection((str(candidate), self.port), self.deadline.left())
            except OSError as error:
                last = error
                continue
            # the request's headers and body go out in two writes: without this, the body of a request on a
            # kept-alive connection waits for the endpoint's delayed acknowledgement of the headers (40 ms)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.deadline.watch(sock)
            return sock
        raise last

    def post(self, body: str, headers: Mapping[str, str], timeout: float) -> tuple[int, float | None]:
        """POST once within ``timeout`` seconds in all — the answer's whole body included: one that does not end
        in time is no answer, whatever its status line said; returns the status code (redirects are returned,
        not followed) and the answer's ``Retry-After`` in seconds, if any."""
        self.deadline = _Deadline(timeout)
        WATCHDOG.watch(self.deadline)
        try:
            reused = self.connection is not None
            try:
                return self._exchange(body, headers, timeout)
            except self.STALE:
                if not reused or self.deadline.overdue:
                    raise
                self.close()  # the endpoint closed it after the last answer: once more, on a new connection
                return self._exchange(body, headers, timeout)
        except (OSError, http.client.HTTPException):
            self.close()
            if self.deadline.overdue:
                raise DeadlineExceeded(f"no answer within the deadline of {timeout:g} s") from None
            raise
        finally:
            self.deadline.finish()

    def _exchange(self, body: str, headers: Mapping[str, str], timeout: float) -> tuple[int, float | None]:
        connection = self.connection
        if connection is None:
            connection_type = _CheckedHTTPSConnection if self.https else _CheckedHTTPConnection
            connection = self.connection = connection_type(self.host, self.port, timeout=timeout)
            connection.open_socket = self._connect
        elif connection.sock is not None:
            connection.sock.settimeout(timeout)
            self.deadline.watch(connection.sock)
        connection.request(
            "POST", self.path, body=body.encode(), headers={**headers, "content-type": "application/json"}
        )
        response = connection.getresponse()
        response.read()  # the whole answer counts against the deadline
        if self.deadline.overdue:  # the watchdog ended a body that would not end: read() saw that as its end
            raise DeadlineExceeded(f"no whole answer within the deadline of {timeout:g} s")
        if response.will_close:
            self.close()
        return response.status, retry_after(response.getheader("retry-after"))

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """A ``Retry-After`` header in seconds: delay-seconds, or an HTTP date (seconds from ``now``, the clock's if
    not given); None when there is none or it cannot be read."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def body_of(delivery: Delivery) -> str:
    """The webhook body: the event's envelope with ``webhook_id`` set to the subscription."""
    envelope = {
        "id": delivery.event.id,
        "created_at": timestamp(delivery.event.created_at),
        "type": delivery.event.type,
        "object": unstructure(delivery.event.object),
        "webhook_id": delivery.subscription.id,
    }
    return compact_json(envelope)


@attrs.frozen
class HttpWebhookSender:
    """Signs deliveries (Standard Webhooks) and POSTs them. A problem of the endpoint or of the subscription's own
    settings (a bad URL, a bad secret) comes back as the attempt's error, never as an exception, so that one bad
    subscription cannot stop the deliveries of the others."""

    def send(
        self,
        deliveries: Sequence[Delivery],
        timeout: float,
        within: float = math.inf,
        stop: threading.Event | None = None,
    ) -> list[SendResult]:
        results: list[SendResult] = []
        if not deliveries:
            return results
        subscription = deliveries[0].subscription
        ends = time.monotonic() + within
        endpoint: Endpoint | None = None
        try:
            for delivery in deliveries:
                left = ends - time.monotonic()
                if left <= 0 or (results and stop is not None and stop.is_set()):
                    break
                started = time.monotonic()
                try:
                    body = body_of(delivery)
                    sent_at = int(time.time())
                    headers = {
                        "webhook-id": delivery.event.id,
                        "webhook-timestamp": str(sent_at),
                        "webhook-signature": sign(subscription.secret, delivery.event.id, sent_at, body),
                    }
                    endpoint = endpoint or Endpoint(subscription.url, subscription.allow_private_network)
                    status, wait = endpoint.post(body, headers, min(timeout, left))
                    error = None
                except (OSError, http.client.HTTPException, ValueError, AllotError) as exc:
                    status, wait, error = None, None, f"{type(exc).__name__}: {exc}"
                results.append(SendResult(status, error, int((time.monotonic() - started) * 1000), wait))
                if not delivered(status):
                    break  # the endpoint's next deliveries wait for this one's retry
        finally:
            if endpoint is not None:
                endpoint.close()
        return results
