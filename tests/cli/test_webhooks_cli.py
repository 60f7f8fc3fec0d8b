"""Webhook subscriptions from the command line: secrets kept out of sight, rotation, enabling, redelivery."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from adapters.webhooks import new_secret
from tests.cli.conftest import Allot
from tests.faults import read_only
from tests.integration.receivers import Receiver, receiver


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    with receiver() as running:
        yield running


def create(allot: Allot, url: str, *options: str, stdin: str | None = None) -> dict[str, str]:
    made: dict[str, str] = allot(
        "webhooks",
        "create",
        url,
        "--topic",
        "FUNDING",
        "--allow-private-network",
        *options,
        "--json",
        stdin=stdin,
    ).data
    return made


def test_a_secret_can_be_read_from_stdin_or_a_file_and_is_never_listed_again(
    allot: Allot, tmp_path: Path
) -> None:
    from_stdin, from_file = new_secret(), new_secret()
    (tmp_path / "secret").write_text(from_file + "\n")
    assert (
        create(allot, "http://127.0.0.1:9/a", "--secret-file", "-", stdin=from_stdin + "\n")["secret"]
        == from_stdin
    )
    assert (
        create(allot, "http://127.0.0.1:9/b", "--secret-file", str(tmp_path / "secret"))["secret"]
        == from_file
    )
    listing = allot("webhooks", "list", "--json").out + allot("webhooks", "list").out
    assert from_stdin not in listing
    assert from_file not in listing
    refused = allot("webhooks", "create", "http://127.0.0.1:9/c", "--topic", "FUNDING", "--allow-private-network",
                    "--secret-file", "-", expect=2, stdin="abc")  # fmt: skip
    assert "whsec_ followed by the base64" in refused.err


def test_a_rotated_secret_is_shown_once_and_signs_from_then_on(allot: Allot, hooks: Receiver) -> None:
    made = create(allot, hooks.base + "/ok")
    rotated = allot("webhooks", "rotate-secret", made["id"], "--json").data
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != made["secret"]
    assert rotated["secret"] not in allot("webhooks", "show", made["id"], "--json").out
    allot("accounts", "create", "--currency", "EUR", "--cash", "5", "--id", "ACC")
    allot("webhooks", "deliver")
    (received,) = hooks.on("/ok")
    Webhook(rotated["secret"]).verify(
        received.body, received.headers
    )  # raises unless signed with the new one


def test_a_subscription_disabled_by_a_410_can_be_enabled_and_an_event_redelivered_to_it(
    allot: Allot, hooks: Receiver
) -> None:
    made = create(allot, hooks.base + "/gone")
    allot("accounts", "create", "--currency", "EUR", "--cash", "5", "--id", "ACC")
    allot("webhooks", "deliver")
    assert "410" in allot("webhooks", "show", made["id"]).out
    (event,) = allot.json("events", "list", "--topic", "FUNDING")
    refused = allot("webhooks", "redeliver", event["event"]["id"], "--subscription", made["id"], expect=1)
    assert "ILLEGAL_TRANSITION" in refused.err
    allot("webhooks", "enable", made["id"])
    assert allot("webhooks", "redeliver", event["event"]["id"]).out.strip() == (
        f"event {event['event']['id']} queued for 1 subscription"
    )
    allot("webhooks", "deliver")
    assert [r.headers["webhook-id"] for r in hooks.on("/gone")] == [event["event"]["id"]] * 2


def test_a_removed_subscription_cannot_be_enabled_and_an_unknown_event_cannot_be_redelivered(
    allot: Allot,
) -> None:
    made = create(allot, "http://127.0.0.1:9/x")
    allot("webhooks", "delete", made["id"])
    before = allot.state()
    assert (
        "cannot be enabled while removed (ILLEGAL_TRANSITION)"
        in allot("webhooks", "enable", made["id"], expect=1).err
    )
    assert "NOT_FOUND" in allot("webhooks", "redeliver", "no-such-event", expect=2).err
    assert allot.state() == before


def test_a_read_only_database_refuses_deliver_before_any_webhook_is_sent(
    allot: Allot, hooks: Receiver
) -> None:
    create(allot, hooks.base + "/ok")
    allot("accounts", "create", "--currency", "EUR", "--cash", "5", "--id", "ACC")
    with read_only(allot.database):
        refused = allot("webhooks", "deliver", expect=3)
        assert "READ_ONLY_DATABASE" in refused.err
        assert "READ_ONLY_DATABASE" in allot("market", "run", expect=3).err
        assert allot.json("webhooks", "list")[0]["id"]  # reads still work
    assert hooks.received == []
    allot("webhooks", "deliver")  # writable again: the side files a read left behind do not stand in the way
    assert len(hooks.on("/ok")) == 1


def test_a_secret_file_that_is_not_text_is_refused_as_bad_usage(allot: Allot, tmp_path: Path) -> None:
    (tmp_path / "binary").write_bytes(b"\xff\xfe")
    refused = allot("webhooks", "create", "http://127.0.0.1:9/x", "--topic", "FUNDING", "--allow-private-network",
                    "--secret-file", str(tmp_path / "binary"), expect=2)  # fmt: skip
    assert "the secret file is not text" in refused.err
