"""Reading a JSON request from a file or stdin."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from adapters.serialization import UnreadableInput, parse_json


def read_request(source: str) -> Any:
    """Parse the JSON in file ``source`` (``-`` for stdin), exactly."""
    try:
        if source == "-" and sys.stdin is None:
            raise OSError("standard input is closed")
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UnreadableInput(f"cannot read the request {source}: {exc}", {"source": source}) from None
    return parse_json(text)
