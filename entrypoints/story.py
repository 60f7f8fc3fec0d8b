"""The engine's story for ``allot demo`` (filled in below)."""

from __future__ import annotations

from collections.abc import Callable


def run_story(echo: Callable[[str], None], db: str | None) -> None:
    echo("")
