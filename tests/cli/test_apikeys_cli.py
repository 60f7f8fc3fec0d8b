"""``allot apikeys``: keys for ``allot serve`` are shown once, stored as digests, listed and revoked."""

from __future__ import annotations

import contextlib
import sqlite3

from tests.cli.conftest import Allot


def test_a_new_key_is_printed_once_and_only_its_digest_is_stored(allot: Allot) -> None:
    issued = allot.json("apikeys", "create", "--client", "acme", "--user", "alice")
    assert issued["key"].startswith(f"allot_{issued['id']}_")
    with contextlib.closing(sqlite3.connect(allot.database)) as connection:
        bodies = " ".join(row[0] for row in connection.execute("SELECT body FROM records"))
    secret = issued["key"].rsplit("_", 1)[1]
    assert secret not in bodies
    listed = allot.json("apikeys", "list")
    assert [(k["id"], k["client_id"], k["user_id"], k["admin"]) for k in listed] == [
        (issued["id"], "acme", "alice", False)
    ]
    assert "secret_sha256" not in listed[0]
    assert issued["key"] not in allot("apikeys", "list").out


def test_a_revoked_key_is_listed_with_the_time_it_was_revoked(allot: Allot) -> None:
    issued = allot.json("apikeys", "create", "--client", "acme", "--user", "alice")
    assert f"API key {issued['id']} is revoked" in allot("apikeys", "revoke", issued["id"]).out
    (listed,) = allot.json("apikeys", "list")
    assert listed["revoked_at"] is not None


def test_the_last_admin_key_cannot_be_revoked_until_another_is_made(allot: Allot) -> None:
    first = allot.json("apikeys", "create", "--admin")
    refused = allot("apikeys", "revoke", first["id"], expect=1)
    assert "LAST_ADMIN_KEY" in refused.err
    assert allot.json("apikeys", "list")[0]["revoked_at"] is None
    allot.json("apikeys", "create", "--admin")
    assert f"API key {first['id']} is revoked" in allot("apikeys", "revoke", first["id"]).out


def test_a_user_of_one_client_cannot_be_given_a_key_of_another(allot: Allot) -> None:
    allot("apikeys", "create", "--client", "acme", "--user", "alice")
    refused = allot("apikeys", "create", "--client", "globex", "--user", "alice", expect=1)
    assert "ALREADY_EXISTS" in refused.err
    assert len(allot.json("apikeys", "list")) == 1


def test_a_key_needs_a_client_or_admin_alone(allot: Allot) -> None:
    assert "needs a client" in allot("apikeys", "create", "--user", "alice", expect=2).err
    assert (
        "admin key belongs to no client"
        in allot("apikeys", "create", "--admin", "--client", "acme", expect=2).err
    )
    assert "not usable" in allot("apikeys", "create", "--client", "a b", expect=2).err


def test_revoking_an_unknown_key_is_not_found(allot: Allot) -> None:
    setup = allot("apikeys", "create", "--admin")
    assert setup.out
    assert "NOT_FOUND" in allot("apikeys", "revoke", "0000000000000000", expect=2).err
