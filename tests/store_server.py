"""A real store API for tests: uvicorn on a free loopback port, in a thread, over one SQLite file, mounted under
``/store/v1`` as ``allot serve --store-api`` mounts it. Started and stopped with deadlines."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import attrs
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from adapters.sqlite import SqliteDatabase
from adapters.store_protocol import STORE_PATH
from entrypoints.http.server import listen
from entrypoints.http.store_api import store_app

TOKEN: Final = "store-token-for-tests-" + "x" * 21
DEADLINE: Final = 10.0


@attrs.frozen
class RunningStore:
    """A store API that is up: the server's address (the store API is under ``STORE_PATH`` of it), its token,
    and the database it serves."""

    url: str
    token: str
    database: SqliteDatabase

    @property
    def api(self) -> str:
        return self.url + STORE_PATH


@contextlib.contextmanager
def store_server(path: Path, token: str = TOKEN) -> Iterator[RunningStore]:
    """Serve the database at ``path`` (created if missing) until the block ends."""
    database = SqliteDatabase(path)
    app = Starlette(routes=[Mount(STORE_PATH, app=store_app(database, token))])
    listening = listen("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + DEADLINE
        while not server.started:
            assert time.monotonic() < deadline, "the store server did not start in time"
            assert thread.is_alive(), "the store server stopped while starting"
            time.sleep(0.01)
        yield RunningStore(f"http://127.0.0.1:{listening.getsockname()[1]}", token, database)
    finally:
        server.should_exit = True
        thread.join(DEADLINE)
        listening.close()
        database.close()
        assert not thread.is_alive(), "the store server did not stop in time"
