"""Which webhook URLs and addresses are accepted, and how subscriptions are enabled, rotated and redelivered to."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from decimal import Decimal

import pytest

from adapters.webhooks import retry_after
from core import webhooks
from core.errors import IllegalTransition, NotFound, UnsafeWebhookUrl, ValidationError
from core.records import Event, Funding, FundingKind, Subscription

NOW = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)
SECRET = "whsec_" + "A" * 32


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "127.0.0.1 is not a public address"),
        ("10.1.2.3", "not a public address"),
        ("169.254.169.254", "not a public address"),  # cloud metadata
        ("100.64.0.1", "not a public address"),  # shared address space (carrier-grade NAT)
        ("198.18.0.1", "not a public address"),  # benchmarking
        ("198.19.255.254", "not a public address"),  # benchmarking, the end of its /15
        ("192.0.0.8", "not a public address"),  # IETF protocol assignments
        ("240.0.0.1", "not a public address"),  # reserved
        ("0.1.2.3", "not a public address"),  # "this network"
        ("0.0.0.0", "not a public address"),
        ("255.255.255.255", "not a public address"),
        ("224.0.0.1", "224.0.0.1 is a multicast address"),
        ("239.255.255.250", "multicast"),
        ("::1", "not a public address"),
        ("fe80::1", "not a public address"),
        ("fd00::1", "not a public address"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "carries the IPv4 address 127.0.0.1"),  # IPv4-mapped
        ("::127.0.0.1", "carries the IPv4 address 127.0.0.1"),  # IPv4-compatible
        ("64:ff9b::7f00:1", "carries the IPv4 address 127.0.0.1"),  # NAT64
        ("64:ff9b:1::a00:1", "not a public address"),  # NAT64, local use: the whole /48
        ("64:ff9b:1:7f00:0:100:808:808", "not a public address"),
        ("fec0::1", "not a public address"),  # site-local (deprecated)
        ("5f00::1", "not a public address"),  # SRv6 segment identifiers
        ("3fff::1", "not a public address"),  # documentation
        ("2002:7f00:1::", "carries the IPv4 address 127.0.0.1"),  # 6to4
        ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", "Teredo"),
        ("2001:db8::1", "not a public address"),  # documentation
    ],
)
def test_an_address_outside_the_public_internet_is_refused_with_the_reason(address: str, why: str) -> None:
    refused = webhooks.address_refusal(ipaddress.ip_address(address))
    assert refused is not None
    assert why in refused


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "64:ff9b::808:808", "2002:808:808::"]
)
def test_a_public_address_is_accepted_also_when_it_is_carried_in_ipv6(address: str) -> None:
    assert webhooks.address_refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/x", "must be an http or https URL with a host"),
        ("file:///etc/passwd", "must be an http or https URL with a host"),
        ("http:///x", "must be an http or https URL with a host"),
        ("http://example.com:99999/x", "cannot be read"),
        ("http://example.com:0/x", "has port 0"),
        ("https://user:pw@example.com/x", "must not carry a user name or password"),
        ("http://[::127.0.0.1]/x", "carries the IPv4 address 127.0.0.1"),
        ("http://[64:ff9b::7f00:1]:8080/x", "carries the IPv4 address 127.0.0.1"),
        ("http://224.0.0.1/x", "multicast"),
    ],
)
def test_a_webhook_url_is_refused_before_anything_is_stored(url: str, why: str) -> None:
    with pytest.raises(UnsafeWebhookUrl, match=re.escape(why)):
        webhooks.subscribe(url, ["ORDER"], SECRET, False, subscription_id="S", now=NOW)


def test_a_literal_private_address_is_accepted_only_with_the_explicit_setting() -> None:
    made = webhooks.subscribe("http://127.0.0.1:9/x", ["ORDER"], SECRET, True, subscription_id="S", now=NOW)
    assert made.result.allow_private_network
    with pytest.raises(UnsafeWebhookUrl):
        webhooks.subscribe("http://127.0.0.1:9/x", ["ORDER"], SECRET, False, subscription_id="S", now=NOW)


@pytest.mark.parametrize("secret", ["abc", "whsec_abc", "whsec_" + "A" * 8, "whsec_!!!!" + "A" * 32])
def test_a_secret_that_is_not_a_standard_webhooks_secret_is_refused(secret: str) -> None:
    with pytest.raises(ValidationError, match="whsec_ followed by the base64"):
        webhooks.subscribe("https://example.com/x", ["ORDER"], secret, False, subscription_id="S", now=NOW)


def subscription(
    sid: str = "S", topics: tuple[str, ...] = ("FUNDING",), disabled: str | None = None
) -> Subscription:
    return Subscription(sid, "https://example.com/x", topics, SECRET, NOW, disabled_reason=disabled)


def test_a_disabled_subscription_can_be_enabled_but_a_removed_one_cannot() -> None:
    enabled = webhooks.enable(subscription(disabled="gave up after 7 attempts"))
    assert enabled.result.disabled_reason is None
    assert enabled.changes.updated == (enabled.result,)
    with pytest.raises(IllegalTransition, match="cannot be enabled while removed"):
        webhooks.enable(subscription(disabled=webhooks.REMOVED))


def test_a_rotated_secret_replaces_the_old_one_and_must_be_a_valid_secret() -> None:
    rotated = webhooks.rotate_secret(subscription(), "whsec_" + "B" * 32)
    assert rotated.result.secret == "whsec_" + "B" * 32
    with pytest.raises(ValidationError):
        webhooks.rotate_secret(subscription(), "not-a-secret")
    with pytest.raises(IllegalTransition):
        webhooks.rotate_secret(subscription(disabled=webhooks.REMOVED), "whsec_" + "B" * 32)


def deposit_event() -> Event:
    funding = Funding(
        id="F1", kind=FundingKind.DEPOSIT, account_id="ACC", currency="EUR", amount=Decimal(5),
        cash_after=Decimal(5), created_at=NOW,
    )  # fmt: skip
    return Event("E1", NOW, "FUNDING.DEPOSIT", funding)


def test_an_event_is_redelivered_to_every_active_subscription_of_its_topic_or_to_the_one_chosen() -> None:
    every = [
        subscription("A"),
        subscription("B", ("ORDER",)),
        subscription("C", disabled="410"),
        subscription("D"),
    ]
    assert [s.id for s in webhooks.redelivery(deposit_event(), every)] == ["A", "D"]
    assert [s.id for s in webhooks.redelivery(deposit_event(), every, "D")] == ["D"]
    with pytest.raises(IllegalTransition, match="disabled"):
        webhooks.redelivery(deposit_event(), every, "C")
    with pytest.raises(ValidationError, match="does not receive FUNDING events"):
        webhooks.redelivery(deposit_event(), every, "B")
    with pytest.raises(NotFound):
        webhooks.redelivery(deposit_event(), every, "Z")


def test_a_secret_of_24_to_64_bytes_is_accepted_and_one_byte_more_or_less_is_not() -> None:
    import base64

    for size, accepted in ((23, False), (24, True), (64, True), (65, False)):
        secret = "whsec_" + base64.b64encode(bytes(range(size))).decode()
        if accepted:
            assert webhooks.secret_key(secret) == bytes(range(size))
        else:
            with pytest.raises(ValidationError):
                webhooks.secret_key(secret)


@pytest.mark.parametrize(
    ("status", "retry_after", "delay"),
    [(429, 120.0, 120.0), (503, 120.0, 120.0), (429, 1.0, 5.0), (429, None, 5.0), (500, 120.0, 5.0),
     (429, 10**9, webhooks.MAX_RETRY_AFTER), (429, -3.0, 5.0)],
    ids=["429 asks for longer", "503 asks for longer", "asks for less than the schedule", "says nothing",
         "a 500 is not obeyed", "capped at a day", "a negative one is nothing"],
)  # fmt: skip
def test_an_endpoints_retry_after_on_429_or_503_delays_the_next_attempt_within_a_day(
    status: int, retry_after: float | None, delay: float
) -> None:
    decided = webhooks.after_attempt(status, 1, (5.0, 60.0), 0.0, retry_after)
    assert decided == webhooks.AttemptDecision(webhooks.DeliveryOutcome.RETRY, delay)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("120", 120.0), (" 7 ", 7.0), ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0), ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
     ("soon", None), ("-5", None), (None, None), ("1.5", None)],
)  # fmt: skip
def test_a_retry_after_header_is_read_as_seconds_or_as_an_http_date(
    header: str | None, seconds: float | None
) -> None:
    now = dt.datetime(2015, 10, 21, 7, 28, tzinfo=dt.UTC).timestamp()
    assert retry_after(header, now) == seconds


def test_a_failed_delivery_is_retried_on_the_documented_schedule_and_then_given_up() -> None:
    delays = [webhooks.after_attempt(500, n).delay for n in range(1, 7)]
    assert delays == [5.0, 5 * 60.0, 30 * 60.0, 2 * 3600.0, 5 * 3600.0, 10 * 3600.0]
    assert webhooks.after_attempt(500, 7).outcome is webhooks.DeliveryOutcome.GIVE_UP
    assert webhooks.after_attempt(500, 1, jitter=1.0).delay == 6.0  # + 20 %
    assert webhooks.after_attempt(500, 1, jitter=-5.0).delay == 4.0  # - 20 % at most
