"""``--sandbox``: step the simulated venue by hand (``POST /sandbox/market/run``, admin key)."""

from __future__ import annotations

from typing import Final

from starlette.routing import BaseRoute

from core.market import MarketRun
from entrypoints.http.app import routes
from entrypoints.http.routing import Access, Call, Operation, Reply, Settings, as_json
from ports.application import Application


def market_run(call: Call) -> Reply:
    return Reply(200, as_json(call.app.market.run()))


OPERATIONS: Final = (
    Operation("POST", "/sandbox/market/run", market_run,
              "Run the simulated venue once: execute every open order and block (admin key; --sandbox only)",
              "sandbox", response=MarketRun, access=Access.ADMIN, errors=(403,)),
)  # fmt: skip


def sandbox_routes(app: Application) -> list[BaseRoute]:
    return routes(app, OPERATIONS, Settings(sandbox=True))
