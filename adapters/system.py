"""The real clock, id generator and retry jitter."""

from __future__ import annotations

import datetime as dt
import random
import uuid


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class UuidGenerator:
    def new_id(self) -> str:
        return str(uuid.uuid4())


class RandomJitter:
    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()

    def draw(self) -> float:
        return self._rng.uniform(-1.0, 1.0)
