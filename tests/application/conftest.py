"""The application on every storage adapter: each test runs on the in-memory store and on a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from adapters.memory import MemoryStore
from entrypoints.bootstrap import memory_application, sqlite_application
from ports.application import Application
from tests.fakes import FixedJitter, ManualClock, SequentialIds


@attrs.define
class World:
    """One store, a clock the test moves, and applications on that store (each with its venue's settings)."""

    storage: str
    path: Path
    clock: ManualClock = attrs.field(factory=ManualClock)
    ids: SequentialIds = attrs.field(factory=SequentialIds)
    memory: MemoryStore = attrs.field(factory=MemoryStore)
    opened: list[Application] = attrs.field(factory=list)

    def open(
        self, partial_fill_ratio: str = "1", reject: tuple[str, ...] = (), back_office: Any = None
    ) -> Application:
        """An application on this world's store; the venue executes ``partial_fill_ratio`` of each order and
        refuses the instruments in ``reject``."""
        options: dict[str, Any] = {
            "partial_fill_ratio": Decimal(partial_fill_ratio), "reject": reject,
            "clock": self.clock, "ids": self.ids, "jitter": FixedJitter(), "back_office": back_office,
        }  # fmt: skip
        app = (
            memory_application(self.memory, **options)
            if self.storage == "memory"
            else sqlite_application(self.path, **options)
        )
        self.opened.append(app)
        return app

    def close(self) -> None:
        for app in self.opened:
            app.close()


@pytest.fixture(params=["memory", "sqlite"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    opened = World(request.param, tmp_path / "allot.db")
    yield opened
    opened.close()
