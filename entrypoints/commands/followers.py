"""``allot followers``: trade followers, their suitability and their acceptance of the terms."""

from __future__ import annotations

import click

from core.instruments import AssetType
from core.investments import Suitability
from core.records import TradeFollower
from core.tenants import Owner
from entrypoints.params import TEXT, choice
from entrypoints.session import Session, rows_table, with_session

HEADERS = ["follower", "suitability", "terms accepted", "asset types", "client", "user"]


def follower_row(follower: TradeFollower) -> list[object]:
    return [follower.id, follower.suitability or "-", "yes" if follower.terms_accepted else "no",
            ", ".join(t.value for t in follower.asset_types) or "-", follower.client_id or "-",
            follower.user_id or "-"]  # fmt: skip


def shown(session: Session, follower: TradeFollower) -> None:
    session.emit(follower, lambda: rows_table(HEADERS, [follower_row(follower)]))


@click.group()
def followers() -> None:
    """Trade followers: who may invest in which leader."""


@followers.command()
@click.argument("follower_id", metavar="ID", type=TEXT)
@click.option("--client", type=TEXT, default=None, help="The client of the user it is (with --user).")
@click.option("--user", type=TEXT, default=None, help="The user it is (with --client); none: the operator's.")
@click.option("--suitability", type=choice(Suitability), default=None, help="What its suitability test gave.")
@click.option("--accept-terms", is_flag=True, help="It accepted the terms and conditions.")
@click.option("--asset-type", "asset_types", type=choice(AssetType), multiple=True,
              help="Repeat; the asset types it may legally trade.")  # fmt: skip
@with_session
def create(
    session: Session, follower_id: str, client: str | None, user: str | None, suitability: Suitability | None,
    accept_terms: bool, asset_types: tuple[AssetType, ...],
) -> None:  # fmt: skip
    """Create a follower. Its funding accounts must be its user's (without --client/--user: the operator's)."""
    if (client is None) != (user is None):
        raise click.UsageError("give --client and --user together, or neither")
    app = session.open(writes=True)
    follower = app.followers.create(
        follower_id, Owner(client, user), suitability=suitability, terms_accepted=accept_terms,
        asset_types=asset_types,
    )  # fmt: skip
    shown(session, follower)


@followers.command(name="set-suitability")
@click.argument("follower_id", metavar="ID", type=TEXT)
@click.argument("level", type=click.Choice([*(s.value for s in Suitability), "NONE"], case_sensitive=False))
@with_session
def set_suitability(session: Session, follower_id: str, level: str) -> None:
    """Set the level its suitability test gave (LOW, MEDIUM, HIGH, VERY_HIGH), or NONE to revoke it: revoking
    stops its investments out (Revoked suitability test, 30); a level below a leader's requirement flags the
    investment NOT_SUITABLE while it goes on."""
    chosen = None if level.upper() == "NONE" else Suitability(level.upper())
    shown(
        session,
        session.open(writes=True).followers.set(follower_id, suitability=chosen, create_missing=False),
    )


@followers.command(name="accept-terms")
@click.argument("follower_id", metavar="ID", type=TEXT)
@with_session
def accept_terms(session: Session, follower_id: str) -> None:
    """The follower accepted the terms and conditions."""
    shown(
        session,
        session.open(writes=True).followers.set(follower_id, terms_accepted=True, create_missing=False),
    )


@followers.command(name="revoke-terms")
@click.argument("follower_id", metavar="ID", type=TEXT)
@with_session
def revoke_terms(session: Session, follower_id: str) -> None:
    """The follower revoked the terms and conditions: its investments are stopped out (Revoked terms and
    conditions, 29) and their positions closed."""
    shown(
        session,
        session.open(writes=True).followers.set(follower_id, terms_accepted=False, create_missing=False),
    )


@followers.command(name="list")
@with_session
def list_(session: Session) -> None:
    """Every follower."""
    found = session.open(writes=False).followers.all()
    session.emit(found, lambda: rows_table(HEADERS, [follower_row(f) for f in found]))
