"""``allot market``, ``allot events`` and ``allot webhooks``."""

from __future__ import annotations

import time
from decimal import Decimal

import click

from adapters.system import SystemClock
from adapters.venue import SimulatedVenue
from adapters.webhooks import WebhookDeliverer, new_secret
from entrypoints.app import AllotGroup, App, decimal_callback, pass_app, progress_reporter, rows_table


@click.group(cls=AllotGroup)
def market() -> None:
    """The simulated venue."""


@market.command()
@click.option(
    "--partial-fill-ratio",
    callback=decimal_callback,
    default="1",
    show_default=True,
    help="Share of each order executed per run.",
)
@click.option(
    "--reject",
    multiple=True,
    metavar="INSTRUMENT",
    help="Repeat; the trading partner refuses these (orders are cancelled).",
)
@pass_app
def run(app: App, partial_fill_ratio: Decimal, reject: tuple[str, ...]) -> None:
    """Execute every open order and block order once at the price table."""
    app.venue = SimulatedVenue(partial_fill_ratio, frozenset(reject))
    result = app.engine.run_market(progress_reporter("executing"))
    app.emit(
        result,
        lambda: (
            f"{result.executions} filled, {result.partial_fills} partly filled, {result.rejections} rejected, "
            f"{result.blocks_filled} blocks filled"
        ),
    )


@click.group(cls=AllotGroup)
def events() -> None:
    """The outbox: every state change, as announced."""


@events.command(name="list")
@click.option(
    "--after", type=int, default=0, show_default=True, help="Only events after this sequence number."
)
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--topic", help="PORTFOLIO_ORDER, ORDER, ACCOUNT_LIQUIDATION, BLOCK_ORDER, POSITION ...")
@pass_app
def list_(app: App, after: int, limit: int, topic: str | None) -> None:
    """Committed events in order."""
    found = app.engine.list_events(after, limit, topic.upper() if topic else None)
    rows = [
        [seq, e.created_at.isoformat(timespec="seconds"), e.type, _object_id(e.object)] for seq, e in found
    ]
    app.emit(
        [{"seq": seq, "event": e} for seq, e in found],
        lambda: rows_table(["seq", "created_at", "type", "object"], rows),
    )


def _object_id(value: object) -> str:
    if isinstance(value, dict):
        return str(value.get("id") or value.get("source_order_id") or "")
    return str(getattr(value, "id", ""))


@click.group(cls=AllotGroup)
def webhooks() -> None:
    """Webhook subscriptions and delivery (Standard Webhooks signatures)."""


@webhooks.command()
@click.argument("url")
@click.option(
    "--topic", "topics", multiple=True, required=True, help="Repeat: PORTFOLIO_ORDER, ORDER, POSITION, ..."
)
@click.option("--secret", help="whsec_... (default: a new random secret, printed once).")
@click.option("--allow-private-network", is_flag=True, help="Allow hosts on loopback or private networks.")
@pass_app
def add(app: App, url: str, topics: tuple[str, ...], secret: str | None, allow_private_network: bool) -> None:
    """Subscribe URL to topics."""
    subscription = app.engine.add_subscription(url, topics, secret or new_secret(), allow_private_network)
    app.emit(subscription, lambda: f"subscription {subscription.id} → {url}\nsecret {subscription.secret}")


@webhooks.command(name="list")
@pass_app
def list_subscriptions(app: App) -> None:
    """Every subscription."""
    found = app.engine.list_subscriptions()
    rows = [[s.id, s.url, ",".join(s.topics), s.disabled_reason or "active"] for s in found]
    app.emit(found, lambda: rows_table(["subscription", "url", "topics", "status"], rows))


@webhooks.command()
@click.argument("subscription_id")
@pass_app
def remove(app: App, subscription_id: str) -> None:
    """Stop delivering to a subscription."""
    subscription = app.engine.remove_subscription(subscription_id)
    app.emit(subscription, lambda: f"subscription {subscription.id} removed")


@webhooks.command()
@click.option("--loop", is_flag=True, help="Keep delivering until nothing is due (or --max-seconds pass).")
@click.option(
    "--interval", type=float, default=1.0, show_default=True, help="Seconds between rounds with --loop."
)
@click.option("--max-seconds", type=float, default=60.0, show_default=True)
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds an endpoint may take.")
@pass_app
def deliver(app: App, loop: bool, interval: float, max_seconds: float, timeout: float) -> None:
    """Deliver due webhooks from the outbox (at least once; retries with backoff)."""
    deliverer = WebhookDeliverer(app.database, SystemClock(), timeout=timeout)
    deadline = time.monotonic() + max_seconds
    totals = [0, 0, 0]
    while True:
        report = deliverer.deliver_due()
        totals = [totals[0] + report.delivered, totals[1] + report.retrying, totals[2] + report.failed]
        if not loop or time.monotonic() >= deadline or not deliverer.due(1):
            break
        time.sleep(interval)
    summary = {"delivered": totals[0], "retrying": totals[1], "failed": totals[2]}
    app.emit(summary, lambda: f"{totals[0]} delivered, {totals[1]} to retry, {totals[2]} failed")


@webhooks.command()
@click.option("--limit", type=int, default=50, show_default=True)
@pass_app
def log(app: App, limit: int) -> None:
    """The delivery log: one line per attempt, newest first."""
    entries = WebhookDeliverer(app.database, SystemClock()).log(limit)
    rows = [
        [e["at"], e["event_id"], e["attempt"], e["status_code"], e["outcome"], e["error"] or ""]
        for e in entries
    ]
    app.emit(entries, lambda: rows_table(["at", "event", "attempt", "status", "outcome", "error"], rows))
