"""The OpenAPI 3.1 document of the API, made from the operation table, and a page that renders it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import BaseRoute, Route

from entrypoints.http.routing import Operation


def document(operations: Sequence[Operation]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for operation in operations:
        paths.setdefault(operation.path, {})[operation.method.lower()] = {
            "summary": operation.summary,
            "tags": [operation.tag],
            "responses": {str(operation.status): {"description": "done"}},
        }
    return {"openapi": "3.1.0", "info": {"title": "allot", "version": "1"}, "paths": paths}


def document_routes(operations: Sequence[Operation]) -> list[BaseRoute]:
    spec = document(operations)

    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(spec)

    async def docs(request: Request) -> HTMLResponse:
        return HTMLResponse("<html><body><h1>allot API</h1><p>See /openapi.json</p></body></html>")

    return [Route("/openapi.json", openapi), Route("/docs", docs)]
