"""A webhook's signature (Standard Webhooks): what ``verify`` accepts and each tampering it must refuse; and the
addresses a webhook's host may resolve to. No network: the resolver is replaced where it is used."""

from __future__ import annotations

import socket
import time

import pytest
from standardwebhooks import Webhook

from adapters.webhooks import new_secret, resolve, sign, verify
from core.errors import UnsafeWebhookUrl

SECRET = new_secret()
SENT_AT = 1_765_000_000
BODY = '{"id":"evt-1","type":"ORDER.FILLED"}'


def signed(
    secret: str = SECRET, message_id: str = "evt-1", sent_at: int = SENT_AT, body: str = BODY
) -> dict[str, str]:
    return {"webhook-id": message_id, "webhook-timestamp": str(sent_at),
            "webhook-signature": sign(secret, message_id, sent_at, body)}  # fmt: skip


def test_a_webhook_signed_with_its_secret_within_the_tolerance_is_accepted_by_allot_and_by_the_standard() -> (
    None
):
    assert verify(SECRET, signed(), BODY, now=SENT_AT + 299)
    assert verify(SECRET, signed(), BODY, now=SENT_AT - 299)
    recent = signed(sent_at=int(time.time()))  # the standard's library checks against its own clock
    assert Webhook(SECRET).verify(BODY, recent) == {"id": "evt-1", "type": "ORDER.FILLED"}


@pytest.mark.parametrize(
    ("headers", "body", "now"),
    [
        (signed(secret=new_secret()), BODY, SENT_AT),
        (signed(), BODY.replace("FILLED", "CANCELLED"), SENT_AT),
        (signed(message_id="evt-2") | {"webhook-id": "evt-1"}, BODY, SENT_AT),
        (signed() | {"webhook-timestamp": str(SENT_AT + 1)}, BODY, SENT_AT),
        (signed(), BODY, SENT_AT + 301),
        (signed(), BODY, SENT_AT - 301),
        (signed() | {"webhook-signature": "v2," + signed()["webhook-signature"].split(",", 1)[1]}, BODY, SENT_AT),
        (signed() | {"webhook-signature": ""}, BODY, SENT_AT),
        ({k: v for k, v in signed().items() if k != "webhook-id"}, BODY, SENT_AT),
        (signed() | {"webhook-timestamp": "soon"}, BODY, SENT_AT),
        (signed() | {"webhook-timestamp": "-5"}, BODY, SENT_AT),
    ],
    ids=["another secret", "a changed body", "another message id", "a changed timestamp", "too old", "from the future",
         "another scheme", "no signature", "no message id", "a timestamp that is no number", "a negative timestamp"],
)  # fmt: skip
def test_a_webhook_that_was_tampered_with_or_is_too_old_is_refused(
    headers: dict[str, str], body: str, now: int
) -> None:
    assert not verify(SECRET, headers, body, now=now)


def test_one_good_signature_among_several_is_enough_as_during_a_secret_rotation() -> None:
    old = signed(secret=new_secret())["webhook-signature"]
    headers = signed() | {"webhook-signature": f"{old} {signed()['webhook-signature']}"}
    assert verify(SECRET, headers, BODY, now=SENT_AT)


def test_a_name_that_answers_with_a_public_and_a_private_address_is_refused_as_dns_rebinding_would_use_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def both(host: str, port: int, **_: object) -> list[tuple[object, ...]]:
        return [(2, 1, 6, "", ("93.184.215.14", port)), (2, 1, 6, "", ("10.0.0.7", port))]

    monkeypatch.setattr(socket, "getaddrinfo", both)
    with pytest.raises(UnsafeWebhookUrl) as refused:
        resolve("hooks.example", 443, allow_private_network=False)
    assert refused.value.details["addresses"] == ["93.184.215.14", "10.0.0.7"]
    assert [str(a) for a in resolve("hooks.example", 443, allow_private_network=True)] == [
        "93.184.215.14",
        "10.0.0.7",
    ]
