"""What a decision returns: the result the caller asked for, and every change to store and announce.

Every use case of the application layer makes one core call that returns a ``Decision``; the application
stores ``changes`` in one unit of work (new records, replaced records, announcements in order) and hands
``result`` back. Nothing in a decision has been written yet: a refused decision raises and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

import attrs

from core.instruments import Instrument
from core.journal import JournalEntry
from core.records import Announcement, Record

T = TypeVar("T")


@attrs.frozen
class Changes:
    """Records to create, records to replace (each at most once, in its final form), announcements in order, and
    journal entries."""

    created: tuple[Record, ...] = ()
    updated: tuple[Record, ...] = ()
    announced: tuple[Announcement, ...] = ()
    #: Journal entries to append: every movement of cash or units the decision makes.
    journaled: tuple[JournalEntry, ...] = ()

    @classmethod
    def of(
        cls,
        created: Iterable[Record] = (),
        updated: Iterable[Record] = (),
        announced: Iterable[Announcement] = (),
        journaled: Iterable[JournalEntry] = (),
    ) -> Changes:
        return cls(tuple(created), tuple(updated), tuple(announced), tuple(journaled))

    def then(self, later: Changes) -> Changes:
        """These changes followed by ``later``: a record both touch is stored once, in its final form (created if
        either creates it); announcements and entries keep their order."""
        created = {_identity(r): r for r in self.created}
        updated = {_identity(r): r for r in self.updated}
        for record in later.created:
            created[_identity(record)] = record
        for record in later.updated:
            key = _identity(record)
            if key in created:
                created[key] = record
            else:
                updated[key] = record
        return Changes(
            tuple(created.values()),
            tuple(updated.values()),
            self.announced + later.announced,
            self.journaled + later.journaled,
        )


def _identity(record: Record) -> tuple[type, str]:
    return type(record), record.instrument_id if isinstance(record, Instrument) else record.id


@attrs.frozen
class Decision(Generic[T]):
    result: T
    changes: Changes
