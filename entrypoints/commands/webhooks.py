"""``allot webhooks``: subscriptions and delivery (Standard Webhooks signatures)."""

from __future__ import annotations

import datetime as dt
import time

import attrs
import click

from adapters.webhooks import new_secret
from core.records import TOPICS, Subscription
from core.webhooks import DEFAULT_TIMEOUT, LOG_PAGE, MAX_EVENT_PAGE, DeliveryReport
from entrypoints.params import TEXT
from entrypoints.session import Session, rows_table, with_session


@click.group()
def webhooks() -> None:
    """Webhook subscriptions and delivery (Standard Webhooks signatures)."""


@webhooks.command()
@click.argument("url", type=TEXT)
@click.option("--topic", "topics", multiple=True, required=True, type=click.Choice(TOPICS, case_sensitive=False),
              help="Repeat for each topic to receive.")  # fmt: skip
@click.option(
    "--secret", type=TEXT, help="whsec_ and the base64 of 24 to 64 bytes (default: a new random secret)."
)
@click.option("--allow-private-network", is_flag=True, help="Allow hosts on loopback or private networks.")
@with_session
def create(
    session: Session, url: str, topics: tuple[str, ...], secret: str | None, allow_private_network: bool
) -> None:
    """Subscribe URL to topics; it receives the events committed from now on."""
    subscription = session.open(writes=True).webhooks.subscribe(
        url, topics, secret or new_secret(), allow_private_network
    )
    session.emit(
        subscription, lambda: f"subscription {subscription.id} → {url}\nsecret {subscription.secret}"
    )


def without_secret(subscription: Subscription) -> Subscription:
    """A subscription as it is shown after it was created: its secret is printed only once, then only hinted at."""
    return attrs.evolve(subscription, secret=subscription.secret[:10] + "…")


HEADERS = ["subscription", "url", "topics", "status"]


def row(s: Subscription) -> list[object]:
    return [s.id, s.url, ",".join(s.topics), s.disabled_reason or "active"]


@webhooks.command(name="list")
@with_session
def list_(session: Session) -> None:
    """Every subscription (secrets only hinted at)."""
    found = [without_secret(s) for s in session.open(writes=False).webhooks.all()]
    session.emit(found, lambda: rows_table(HEADERS, [row(s) for s in found]))


@webhooks.command()
@click.argument("subscription_id", type=TEXT)
@with_session
def show(session: Session, subscription_id: str) -> None:
    """One subscription (its secret only hinted at)."""
    found = without_secret(session.open(writes=False).webhooks.get(subscription_id))
    session.emit(found, lambda: rows_table(HEADERS, [row(found)]))


@webhooks.command()
@click.argument("subscription_id", type=TEXT)
@with_session
def delete(session: Session, subscription_id: str) -> None:
    """Stop delivering to a subscription (it stays listed as removed)."""
    subscription = session.open(writes=True).webhooks.unsubscribe(subscription_id)
    session.emit(subscription, lambda: f"subscription {subscription.id} removed")


@webhooks.command()
@click.option("--loop", is_flag=True, help="Keep delivering until nothing is due (or --max-seconds pass).")
@click.option("--interval", type=click.FloatRange(0, 3600), default=1.0, show_default=True,
              help="Seconds between rounds with --loop.")  # fmt: skip
@click.option("--max-seconds", type=click.FloatRange(0, min_open=True), default=60.0, show_default=True)
@click.option("--timeout", type=click.FloatRange(0, 300, min_open=True), default=DEFAULT_TIMEOUT, show_default=True,
              help="Seconds an endpoint may take.")  # fmt: skip
@with_session
def deliver(session: Session, loop: bool, interval: float, max_seconds: float, timeout: float) -> None:
    """Deliver due webhooks from the outbox (at least once; retries with backoff)."""
    app = session.open(writes=True)
    until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=max_seconds)
    total = DeliveryReport()
    while True:
        total += app.webhooks.deliver_due(timeout=timeout, until=until)
        if not loop or dt.datetime.now(dt.UTC) >= until or not app.webhooks.due_count():
            break
        time.sleep(interval)
    session.emit(
        total, lambda: f"{total.delivered} delivered, {total.retrying} to retry, {total.failed} failed"
    )


@webhooks.command()
@click.option("--limit", type=click.IntRange(1, MAX_EVENT_PAGE), default=LOG_PAGE, show_default=True)
@with_session
def log(session: Session, limit: int) -> None:
    """The delivery log: one line per attempt, newest first."""
    attempts = session.open(writes=False).webhooks.log(limit)
    rows = [[a.at.isoformat(timespec="seconds"), a.event_id, a.attempt, a.status_code, a.outcome, a.error or ""]
            for a in attempts]  # fmt: skip
    session.emit(attempts, lambda: rows_table(["at", "event", "attempt", "status", "outcome", "error"], rows))
