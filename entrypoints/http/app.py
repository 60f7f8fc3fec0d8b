"""The Starlette application of ``allot serve``: every route of every module's operation table, the OpenAPI
document describing them, and JSON errors for paths and methods that do not exist."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Lifespan

from entrypoints.http import accounts, admin, copy_trading, portfolio, trade, webhooks
from entrypoints.http.routing import Operation, Reply, Settings, endpoint, respond
from ports.application import Application

#: Every operation of the API, in the order the OpenAPI document lists them.
OPERATIONS: Final[tuple[Operation, ...]] = (
    *accounts.OPERATIONS,
    *admin.OPERATIONS,
    *portfolio.OPERATIONS,
    *trade.OPERATIONS,
    *copy_trading.OPERATIONS,
    *webhooks.OPERATIONS,
)


class OperationRoute(Route):
    """A route serving one operation of a table, which the OpenAPI document describes."""

    def __init__(self, app: Application, operation: Operation, settings: Settings) -> None:
        super().__init__(operation.path, endpoint(app, operation, settings), methods=[operation.method])
        self.operation = operation


def routes(
    app: Application, operations: Iterable[Operation], settings: Settings = Settings()
) -> list[BaseRoute]:
    """One Starlette route per operation, grouped by path (each dispatches on its method)."""
    by_path: dict[str, dict[str, Operation]] = {}
    for operation in operations:
        by_path.setdefault(operation.path, {})[operation.method] = operation
    return [
        OperationRoute(app, operation, settings)
        for methods in by_path.values()
        for operation in methods.values()
    ]


async def http_error(request: Request, error: Exception) -> Response:
    """A path or method that does not exist, in the same error body as every other refusal; a 405 says in
    ``Allow`` (and its details) the methods of the path: those of every route on it, not only the first's."""
    status = error.status_code if isinstance(error, HTTPException) else 500
    codes = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}
    message = {404: f"there is no route {request.url.path}", 405: f"{request.method} is not allowed here"}
    allowed = allowed_methods(request) if status == 405 else []
    details = {"allowed": allowed} if allowed else {}
    body = {"error": {"code": codes.get(status, "HTTP_ERROR"), "message": message.get(status, str(error)),
                      "details": details}}  # fmt: skip
    response = respond(Reply(status, body))
    if allowed:
        response.headers["Allow"] = ", ".join(allowed)
    return response


def allowed_methods(request: Request) -> list[str]:
    """The methods the routes on the request's path answer (HEAD with GET, as Starlette serves it)."""
    routes = request.app.router.routes
    found = {m for r in routes if isinstance(r, Route) and r.matches(request.scope)[0] is not Match.NONE
             for m in r.methods or ()}  # fmt: skip
    return sorted(found)


def create_app(
    app: Application,
    *,
    extra: Sequence[BaseRoute] = (),
    lifespan: Lifespan[Any] | None = None,
    settings: Settings = Settings(),
) -> Starlette:
    """The HTTP API over ``app``; ``extra`` routes (the sandbox, the store API) are added after the API's own.
    The OpenAPI document describes every operation served, the extra ones made by ``routes`` included."""
    from entrypoints.http.openapi import document_routes

    served = [*routes(app, OPERATIONS, settings), *extra]
    described = [route.operation for route in served if isinstance(route, OperationRoute)]
    starlette = Starlette(
        routes=[*served, *document_routes(described)],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
    starlette.router.redirect_slashes = False  # /models/ is no route (a JSON 404), not a redirect to /models
    return starlette
