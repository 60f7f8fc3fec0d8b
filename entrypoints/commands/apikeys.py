"""``allot apikeys``: the keys that callers of ``allot serve`` present (``Authorization: Bearer <key>``)."""

from __future__ import annotations

import secrets

import click

from adapters.serialization import timestamp
from core.records import ApiKey
from core.tenants import Issued, shown
from entrypoints.params import TEXT
from entrypoints.session import Session, rows_table, with_session


@click.group()
def apikeys() -> None:
    """API keys for allot serve: one per client user (or client), or an admin key for the operator."""


def issued(result: Issued) -> str:
    key = result.key
    holder = "the operator (admin)" if key.admin else f"client {key.client_id}, user {key.user_id or '(any)'}"
    return (
        f"API key {key.id} for {holder}:\n\n    {result.text}\n\n"
        "This is the only time the key is shown: allot keeps only its digest. Send it as\n"
        "    Authorization: Bearer <key>"
    )


@apikeys.command()
@click.option(
    "--client", type=TEXT, help="The client (tenant) the key acts for; registered with its first key."
)
@click.option("--user", type=TEXT, help="The client's user the key acts for (owns the accounts it opens).")
@click.option(
    "--admin", is_flag=True, help="An admin key: manages instruments, prices and clients; sees everything."
)
@with_session
def create(session: Session, client: str | None, user: str | None, admin: bool) -> None:
    """Make a new API key and print it once. A key for --client and --user sees that user's accounts and the
    client's allocation keys; --client alone, everything of the client; --admin, everything."""
    app = session.open(writes=True)
    result = app.api_keys.create(secrets.token_urlsafe(32), client=client, user=user, admin=admin)
    session.emit(
        {"id": result.key.id, "key": result.text, "client_id": client, "user_id": user, "admin": admin},
        lambda: issued(result),
    )


def listed(keys: list[ApiKey]) -> str:
    return rows_table(
        ["id", "client", "user", "admin", "created", "revoked"],
        [
            [
                k.id,
                k.client_id or "-",
                k.user_id or "-",
                "yes" if k.admin else "no",
                timestamp(k.created_at),
                timestamp(k.revoked_at) if k.revoked_at else "-",
            ]
            for k in keys
        ],
    )


@apikeys.command(name="list")
@with_session
def list_keys(session: Session) -> None:
    """Every API key (never the key itself: allot does not keep it)."""
    keys = session.open(writes=False).api_keys.all()
    session.emit([shown(key) for key in keys], lambda: listed(keys))


@apikeys.command()
@click.argument("key_id", type=TEXT)
@with_session
def revoke(session: Session, key_id: str) -> None:
    """Revoke the key KEY_ID (the id shown by list): requests with it are refused from now on."""
    key = session.open(writes=True).api_keys.revoke(key_id)
    session.emit({"id": key.id, "revoked_at": key.revoked_at}, lambda: f"API key {key.id} is revoked")
