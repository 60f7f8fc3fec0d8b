"""What the webhook tests share: a loopback receiver, a clock that stands still, an application on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from core.instruments import Instrument
from entrypoints.bootstrap import sqlite_application
from ports.application import Application
from tests.fakes import FixedJitter, ManualClock
from tests.integration.receivers import Receiver, receiver


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    with receiver() as running:
        yield running


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def app(tmp_path: Path, clock: ManualClock) -> Iterator[Application]:
    with sqlite_application(tmp_path / "hooks.db", clock=clock, jitter=FixedJitter()) as opened:
        opened.accounts.open("EUR", Decimal("1000.00"), account_id="ACC")
        opened.instruments.add(Instrument("AAA", Decimal("10.00")))
        yield opened
