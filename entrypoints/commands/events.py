"""``allot events``: the outbox, every state change as it was announced."""

from __future__ import annotations

import click

from core.records import TOPICS, subject_of
from core.webhooks import MAX_EVENT_PAGE, EventQuery
from entrypoints.session import Session, rows_table, with_session

FIRST_PAGE = EventQuery()


@click.group()
def events() -> None:
    """The outbox: every state change, as announced."""


@events.command(name="list")
@click.option("--after", type=click.IntRange(min=0), default=FIRST_PAGE.after, show_default=True,
              help="Only events after this sequence number.")  # fmt: skip
@click.option("--limit", type=click.IntRange(1, MAX_EVENT_PAGE), default=FIRST_PAGE.limit, show_default=True)
@click.option("--topic", type=click.Choice(TOPICS, case_sensitive=False))
@with_session
def list_(session: Session, after: int, limit: int, topic: str | None) -> None:
    """Committed events in order."""
    found = session.open(writes=False).queries.events(EventQuery(after, limit, topic))
    rows = [
        [seq, e.created_at.isoformat(timespec="seconds"), e.type, subject_of(e.object)] for seq, e in found
    ]
    session.emit(
        [{"seq": seq, "event": e} for seq, e in found],
        lambda: rows_table(["seq", "created_at", "type", "object"], rows),
    )
