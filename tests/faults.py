"""Real storage faults for tests: a damaged or truncated file, a file or folder this process may not write to,
a database that has no room left to grow.

``read_only`` uses what really stops a write on this machine. For an ordinary user that is the permission bits
(``chmod``). Root ignores permission bits, so for root the file or folder is made immutable (``chattr +i``):
the kernel then refuses root's writes too, with ``EPERM`` instead of ``EACCES``. SQLite handles both the same
way (it falls back to opening the file read-only, and cannot create its ``-wal`` and ``-shm`` files in a folder
it may not write), so a test under either proves what allot does when the operating system refuses a write.
Neither is a pretence inside SQLite (such as ``PRAGMA query_only``): the refusal comes from the kernel.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters import sqlite as sqlite_adapter


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make the file or folder ``path`` read-only for this process for the duration of the block."""
    if os.geteuid() != 0:
        mode = stat.S_IMODE(path.stat().st_mode)
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True, check=False)
    assert made.returncode == 0, f"this test needs chattr to protect a file from root: {made.stderr}"
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def compact(path: Path) -> tuple[int, int]:
    """Rewrite the database without free pages (so that every page after the first holds tables or indexes) and
    with nothing left in a WAL file beside it; returns its number of pages and their size in bytes."""
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA journal_mode = DELETE")
        connection.execute("VACUUM")
        connection.execute("PRAGMA journal_mode = WAL")
        pages: int = connection.execute("PRAGMA page_count").fetchone()[0]
        size: int = connection.execute("PRAGMA page_size").fetchone()[0]
    return pages, size


def zero_pages(path: Path, count: int = 3) -> None:
    """Overwrite ``count`` pages in the middle of the database with zeros, as a failing disk might."""
    pages, size = compact(path)
    assert pages > count + 2, f"the database has only {pages} pages"
    middle = pages // 2
    with path.open("r+b") as file:
        for page in range(middle, middle + count):
            file.seek(page * size)
            file.write(bytes(size))


def truncate(path: Path) -> None:
    """Cut the database in half, as a copy that stopped early would."""
    pages, size = compact(path)
    with path.open("r+b") as file:
        file.truncate(pages // 2 * size)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def no_room_to_grow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every database allot opens from now on may not grow beyond the pages it has, a new one beyond its first
    page (``PRAGMA max_page_count``, set as SQLite opens the file): a write that needs one more page fails inside
    SQLite exactly as on a full disk (``SQLITE_FULL``), and is handled by the same code."""
    opened = sqlite_adapter._open

    def full(path: Path, mode: str) -> sqlite3.Connection:
        connection = opened(path, mode)
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count = {max(pages, 1)}")
        return connection

    monkeypatch.setattr(sqlite_adapter, "_open", full)
