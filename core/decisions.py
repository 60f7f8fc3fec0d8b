"""What a decision returns: the result the caller asked for, and every change to store and announce.

Every use case of the application layer makes one core call that returns a ``Decision``; the application
stores ``changes`` in one unit of work (new records, replaced records, announcements in order) and hands
``result`` back. Nothing in a decision has been written yet: a refused decision raises and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

import attrs

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


@attrs.frozen
class Decision(Generic[T]):
    result: T
    changes: Changes
