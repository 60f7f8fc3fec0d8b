"""``allot webhooks``: subscriptions and delivery (Standard Webhooks signatures)."""

from __future__ import annotations

import contextlib
import datetime as dt
import signal
import threading
from collections.abc import Callable, Iterator
from typing import TextIO

import attrs
import click

from adapters.webhooks import new_secret
from core.records import TOPICS, Subscription
from core.webhooks import DEFAULT_TIMEOUT, DEFAULT_WORKERS, LOG_PAGE, MAX_EVENT_PAGE, DeliveryReport
from entrypoints.params import TEXT
from entrypoints.render import counted
from entrypoints.session import Session, rows_table, with_session


def secret_options(command: Callable[..., None]) -> Callable[..., None]:
    """--secret-file (a file, or - for stdin) and --secret; neither: a new random secret."""
    command = click.option(
        "--secret", type=TEXT, help="whsec_ and the base64 of 24 to 64 bytes. Visible to other users in the "
        "process list: prefer --secret-file.",
    )(command)  # fmt: skip
    return click.option(
        "--secret-file", type=click.File("r"), help="Read the secret from this file (- for stdin)."
    )(command)


def chosen_secret(secret: str | None, secret_file: TextIO | None) -> str:
    if secret is not None and secret_file is not None:
        raise click.UsageError("give the secret once: --secret or --secret-file")
    if secret_file is not None:
        try:
            return secret_file.read().strip()
        except UnicodeDecodeError:
            raise click.BadParameter(
                "the secret file is not text (UTF-8)", param_hint="--secret-file"
            ) from None
    return secret if secret is not None else new_secret()


@click.group()
def webhooks() -> None:
    """Webhook subscriptions and delivery (Standard Webhooks signatures)."""


@webhooks.command()
@click.argument("url", type=TEXT)
@click.option("--topic", "topics", multiple=True, required=True, type=click.Choice(TOPICS, case_sensitive=False),
              help="Repeat for each topic to receive.")  # fmt: skip
@secret_options
@click.option("--allow-private-network", is_flag=True, help="Allow hosts on loopback or private networks.")
@with_session
def create(
    session: Session,
    url: str,
    topics: tuple[str, ...],
    secret: str | None,
    secret_file: TextIO | None,
    allow_private_network: bool,
) -> None:
    """Subscribe URL to topics; it receives the events committed from now on. The secret is printed this once."""
    subscription = session.open(writes=True).webhooks.subscribe(
        url, topics, chosen_secret(secret, secret_file), allow_private_network
    )
    session.emit(
        subscription, lambda: f"subscription {subscription.id} → {url}\nsecret {subscription.secret}"
    )


@webhooks.command(name="rotate-secret")
@click.argument("subscription_id", type=TEXT)
@secret_options
@with_session
def rotate_secret(
    session: Session, subscription_id: str, secret: str | None, secret_file: TextIO | None
) -> None:
    """Sign a subscription's webhooks with a new secret from now on (printed this once; the old one stops
    working at once)."""
    rotated = session.open(writes=True).webhooks.rotate_secret(
        subscription_id, chosen_secret(secret, secret_file)
    )
    session.emit(rotated, lambda: f"subscription {rotated.id}\nsecret {rotated.secret}")


@webhooks.command()
@click.argument("subscription_id", type=TEXT)
@with_session
def enable(session: Session, subscription_id: str) -> None:
    """Deliver again to a subscription that was disabled (after failures or a 410). What was dropped while it was
    disabled is not sent by this: use redeliver."""
    enabled = without_secret(session.open(writes=True).webhooks.enable(subscription_id))
    session.emit(enabled, lambda: f"subscription {enabled.id} enabled")


@webhooks.command()
@click.argument("event_id", type=TEXT)
@click.option("--subscription", "subscription_id", type=TEXT,
              help="Only to this subscription (default: every active subscription of the event's topic).")  # fmt: skip
@with_session
def redeliver(session: Session, event_id: str, subscription_id: str | None) -> None:
    """Send a committed event again, due now with a fresh retry schedule (run deliver to send it)."""
    targets = [
        without_secret(s) for s in session.open(writes=True).webhooks.redeliver(event_id, subscription_id)
    ]
    session.emit(targets, lambda: f"event {event_id} queued for {counted(len(targets), 'subscription')}")


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
@click.option("--max-seconds", type=click.FloatRange(0, min_open=True), default=60.0, show_default=True,
              help="No attempt starts after this; those under way end within --timeout.")  # fmt: skip
@click.option("--timeout", type=click.FloatRange(0, 300, min_open=True), default=DEFAULT_TIMEOUT, show_default=True,
              help="Seconds one attempt may take in all: connecting, sending and the whole answer.")  # fmt: skip
@click.option("--workers", type=click.IntRange(1, 64), default=DEFAULT_WORKERS, show_default=True,
              help="Endpoints served at the same time (each endpoint gets its webhooks one at a time).")  # fmt: skip
@with_session
def deliver(
    session: Session, loop: bool, interval: float, max_seconds: float, timeout: float, workers: int
) -> None:
    """Deliver due webhooks from the outbox (at least once; retries with backoff). SIGTERM or Ctrl-C stops it
    cleanly: the attempts under way finish and are recorded, the rest stay due (exit status 0 after SIGTERM,
    130 after Ctrl-C)."""
    app = session.open(writes=True)
    until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=max_seconds)
    total = DeliveryReport()
    with stop_on_signals() as stop:
        while not stop.is_set():
            total += app.webhooks.deliver_due(timeout=timeout, until=until, workers=workers, stop=stop)
            if not loop or dt.datetime.now(dt.UTC) >= until or not app.webhooks.due_count():
                break
            stop.wait(interval)
    stopped = " (stopped by a signal)" if stop.is_set() else ""
    session.emit(
        total,
        lambda: f"{total.delivered} delivered, {total.retrying} to retry, {total.failed} failed{stopped}",
    )
    if stop.signal == signal.SIGINT:
        raise KeyboardInterrupt  # after the report: Ctrl-C exits 130 like every command


class Stop(threading.Event):
    """Set by a signal; ``signal`` says which."""

    signal: int | None = None


@contextlib.contextmanager
def stop_on_signals() -> Iterator[Stop]:
    """An event set by SIGTERM or SIGINT (Ctrl-C) while inside, instead of ending the process mid-attempt."""
    stop = Stop()

    def received(signum: int, frame: object) -> None:
        stop.signal = signum
        stop.set()

    previous = {signum: signal.signal(signum, received) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@webhooks.command()
@click.option("--limit", type=click.IntRange(1, MAX_EVENT_PAGE), default=LOG_PAGE, show_default=True)
@with_session
def log(session: Session, limit: int) -> None:
    """The delivery log: one line per attempt, newest first."""
    attempts = session.open(writes=False).webhooks.log(limit)
    rows = [[a.at.isoformat(timespec="seconds"), a.event_id, a.attempt, a.status_code, a.outcome, a.error or ""]
            for a in attempts]  # fmt: skip
    session.emit(attempts, lambda: rows_table(["at", "event", "attempt", "status", "outcome", "error"], rows))
