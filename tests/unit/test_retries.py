"""A use case that loses a conflict with another writer runs again on fresh data, a bounded number of times."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import attrs
import pytest

from core.errors import ConcurrentUpdate
from ports.driven import UnitOfWork
from ports.use_cases import ATTEMPTS, UseCases, transaction


@attrs.define
class LosingStore:
    """A store whose commits lose to another writer until ``losses`` have been lost."""

    losses: int
    commits: int = 0
    runs: int = 0

    def unit_of_work(self) -> LosingStore:
        return self

    def __enter__(self) -> LosingStore:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        return None

    def commit(self) -> None:
        if self.commits < self.losses:
            self.commits += 1
            raise ConcurrentUpdate("another writer changed it first", {})
        self.commits += 1


class Counting(UseCases):
    @transaction
    def run(self, uow: UnitOfWork) -> int:
        store: Any = uow
        store.runs += 1
        return int(store.runs)


def counting(store: LosingStore) -> Counting:
    ports: Any = store
    return Counting(ports=ports)


def test_a_use_case_that_loses_fifteen_times_in_a_row_to_a_busier_writer_still_commits() -> None:
    # A portfolio order through the HTTP store, beside another process's deposits, was seen to lose eight times.
    store = LosingStore(losses=15)
    assert counting(store).run() == 16
    assert store.commits == 16


def test_a_use_case_that_never_wins_reports_the_conflict_after_its_last_attempt() -> None:
    store = LosingStore(losses=ATTEMPTS)
    with pytest.raises(ConcurrentUpdate):
        counting(store).run()
    assert store.runs == ATTEMPTS
