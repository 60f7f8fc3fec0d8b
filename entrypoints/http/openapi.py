"""The OpenAPI 3.1 document of the API, made from the operation table alone, and a page that renders it.

Every ``Operation`` becomes one operation of the document: its summary and tag, the bearer key it needs, its
path and query parameters, the ``Idempotency-Key`` header when it creates work, its request body, its success
response (a page ``{data, next}`` for lists) and the error responses it can give, all sharing one ``Error``
schema. Bodies are described by walking their attrs classes field by field into ``components/schemas``, in the
route's casing, exactly as the one cattrs converter reads and writes them (``adapters.serialization``): decimals
are strings (a request may also give a whole JSON number), enums their names, tuples arrays, datetimes RFC 3339.

A type is described once per casing and direction: a request's schema refuses unknown fields and requires the
fields without a default; a response's schema requires every field, since the converter always writes them all —
but ``explanation``, which an answer carries only when the request asks for it (``?explain=true``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import html
import re
import types
import typing
import uuid
from collections.abc import Mapping, Sequence, Set
from decimal import Decimal
from fractions import Fraction
from typing import Any, Final

import attrs
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import BaseRoute, Route

from adapters.serialization import ON_REQUEST, HistoryShape
from core.fairness import FairHistory
from core.numbers import MAX_DECIMAL_PLACES, MAX_INTEGER_DIGITS
from entrypoints.http.routing import MAX_BODY, Access, Casing, Operation, pascal

TITLE: Final = "allot"
VERSION: Final = "1"

#: A decimal as allot writes it: plain digits, an optional minus sign and decimal point, never an exponent.
DECIMAL_WRITTEN: Final = r"^-?[0-9]+(\.[0-9]+)?$"
#: A decimal as ``core.numbers.parse_decimal`` reads it: the same syntax, at most 18 significant digits before
#: the point (leading zeros do not count) and 12 after it.
DECIMAL_READ: Final = rf"^-?0*[0-9]{{1,{MAX_INTEGER_DIGITS}}}(\.[0-9]{{1,{MAX_DECIMAL_PLACES}}})?$"
_LARGEST_WHOLE: Final = 10**MAX_INTEGER_DIGITS - 1

#: Each error status: its name in ``components/responses`` and what it means.
ERRORS: Final[Mapping[int, tuple[str, str]]] = {
    400: ("BadRequest", "Bad input: malformed JSON, an unknown or missing field, a decimal beyond its bounds, "
                        "a bad query parameter, or no Idempotency-Key on a request that creates work."),
    401: ("Unauthorized", "No API key, or an unknown or revoked one: send Authorization: Bearer <key>."),
    403: ("Forbidden", "This key may not call this route (it needs an admin key)."),
    404: ("NotFound", "No such object, or one of another tenant's (the two answer alike)."),
    409: ("Conflict", "It exists already, its state does not allow this, it changed meanwhile, or a request with "
                      "this Idempotency-Key is still running."),
    413: ("PayloadTooLarge", f"The request body is over {MAX_BODY} bytes."),
    422: ("Unprocessable", "Refused by a business rule (insufficient funds, the NAV limit, ...), or this "
                           "Idempotency-Key was used for another request."),
    503: ("Unavailable", "The storage is unavailable for now: retry later with the same Idempotency-Key."),
}  # fmt: skip

ERROR_SCHEMA: Final = {
    "type": "object",
    "description": "Every refusal: a stable code, a message that says what to do, and details.",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "examples": ["INSUFFICIENT_FUNDS"]},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
            "required": ["code", "message", "details"],
        }
    },
    "required": ["error"],
}

_PATH_PARAMETER: Final = re.compile(r"{([^}:]+)(?::([^}]+))?}")


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"anyOf": [dict(schema), {"type": "null"}]}


class Schemas:
    """``components/schemas``: one schema per attrs class, casing and direction, made as they are met."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {
            "Error": ERROR_SCHEMA,
            "Decimal": {
                "type": "string",
                "pattern": DECIMAL_WRITTEN,
                "description": "A decimal number written exactly, as a string (never an exponent).",
                "examples": ["400.00"],
            },
            "Fraction": {
                "description": 'An exact fraction, written as text: "7/3", "-1/3", or a whole number "2".',
                "type": "string",
                "pattern": "^-?[0-9]+(/[0-9]+)?$",
            },
            "DecimalInput": {
                "description": f"A decimal number: a string of plain digits with at most {MAX_INTEGER_DIGITS} "
                f'before and {MAX_DECIMAL_PLACES} after the point (e.g. "400.00"). A JSON number is read '
                "exactly too, never through a float.",
                "anyOf": [
                    {"type": "string", "pattern": DECIMAL_READ},
                    {"type": "integer", "minimum": -_LARGEST_WHOLE, "maximum": _LARGEST_WHOLE},
                ],
            },
        }
        self._names: dict[tuple[type, Casing, bool], str] = {}
        self._owners: dict[str, type] = {}

    def of(self, hint: Any, casing: Casing, request: bool) -> dict[str, Any]:
        """The JSON schema of a value of type ``hint`` as the converter writes it (``request``: as it reads it)."""
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if hint is Any or hint is object:
            return {}
        if hint is None or hint is type(None):
            return {"type": "null"}
        if origin in (typing.Union, types.UnionType):
            others = [self.of(arg, casing, request) for arg in args if arg is not type(None)]
            if len(others) < len(args):
                others.append({"type": "null"})
            return others[0] if len(others) == 1 else {"anyOf": others}
        if origin is typing.Literal:
            return {"enum": list(args)}
        if typing.get_origin(hint) is typing.Annotated:
            return self.of(args[0], casing, request)
        if origin is not None:
            return self._generic(origin, args, casing, request)
        if not isinstance(hint, type):
            raise TypeError(f"the OpenAPI document cannot describe {hint!r}")
        if hint is FairHistory:  # written as its rounds and standings (``adapters.serialization``)
            return self.of(HistoryShape, casing, request)
        if attrs.has(hint):
            return _ref(self._component(hint, casing, request))
        if issubclass(hint, enum.Enum):
            values = [member.value for member in hint]
            kind = "string" if all(isinstance(v, str) for v in values) else "integer"
            return {"type": kind, "enum": values}
        return self._scalar(hint, request)

    def _scalar(self, hint: type, request: bool) -> dict[str, Any]:
        if issubclass(hint, bool):
            return {"type": "boolean"}
        if issubclass(hint, int):
            return {"type": "integer"}
        if issubclass(hint, Decimal):
            return _ref("DecimalInput" if request else "Decimal")
        if issubclass(hint, Fraction):
            return _ref("Fraction")
        if issubclass(hint, float):
            return {"type": "number"}
        if issubclass(hint, str):
            return {"type": "string"}
        if issubclass(hint, dt.datetime):
            return {"type": "string", "format": "date-time"}
        if issubclass(hint, dt.date):
            return {"type": "string", "format": "date"}
        if issubclass(hint, uuid.UUID):
            return {"type": "string", "format": "uuid"}
        if hint in (dict, list, tuple):
            return {"type": "object" if hint is dict else "array"}
        raise TypeError(f"the OpenAPI document cannot describe the type {hint.__qualname__}")

    def _generic(self, origin: Any, args: tuple[Any, ...], casing: Casing, request: bool) -> dict[str, Any]:
        if isinstance(origin, type) and issubclass(origin, Mapping):
            values = self.of(args[1], casing, request) if len(args) == 2 else {}
            return {"type": "object", "additionalProperties": values}
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            items = [self.of(arg, casing, request) for arg in args]
            return {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}
        if isinstance(origin, type) and issubclass(origin, Sequence | Set):
            schema = {"type": "array", "items": self.of(args[0], casing, request) if args else {}}
            return schema | ({"uniqueItems": True} if issubclass(origin, Set) else {})
        raise TypeError(f"the OpenAPI document cannot describe {origin!r}{list(args)}")

    def _component(self, cls: type, casing: Casing, request: bool) -> str:
        key = (cls, casing, request)
        if key in self._names:
            return self._names[key]
        name = (
            self._name(cls) + ("_Pascal" if casing is Casing.PASCAL else "") + ("_Input" if request else "")
        )
        self._names[key] = name
        self.components[name] = {}  # taken before the fields, so that a class may refer to itself
        self.components[name] = self._object(cls, casing, request)
        return name

    def _name(self, cls: type) -> str:
        """The class's own name, or its dotted path when another class of that name came first."""
        for name in (cls.__name__, f"{cls.__module__}.{cls.__qualname__}"):
            if self._owners.setdefault(name, cls) is cls:
                return name
        raise AssertionError(f"two classes at {cls.__module__}.{cls.__qualname__}")

    def _object(self, cls: type, casing: Casing, request: bool) -> dict[str, Any]:
        hints = typing.get_type_hints(cls)
        fields = [f for f in attrs.fields(cls) if f.init]
        named = pascal if casing is Casing.PASCAL else str
        schema: dict[str, Any] = {"type": "object", "title": cls.__name__}
        if cls.__doc__ and not cls.__doc__.startswith(f"{cls.__name__}("):
            schema["description"] = " ".join(cls.__doc__.split())
        schema["properties"] = {named(f.name): self.of(hints[f.name], casing, request) for f in fields}
        required = [
            named(f.name)
            for f in fields
            if (f.default is attrs.NOTHING if request else f.name not in ON_REQUEST)
        ]
        if required:
            schema["required"] = required
        schema["additionalProperties"] = False
        return schema


def _success(operation: Operation, schemas: Schemas) -> dict[str, Any]:
    response = operation.response
    if response is None:
        schema: dict[str, Any] = {}
    elif isinstance(response, Mapping):
        schema = dict(response)
    else:
        schema = schemas.of(response, operation.casing, request=False)
    if operation.paged:
        named = pascal if operation.casing is Casing.PASCAL else str
        schema = {
            "type": "object",
            "description": "One page, oldest first; `next` is the `after` of the following page (null on the last).",
            "properties": {named("data"): {"type": "array", "items": schema},
                           named("next"): {"type": ["string", "null"]}},
            "required": [named("data"), named("next")],
            "additionalProperties": False,
        }  # fmt: skip
    return {"description": operation.summary, "content": {"application/json": {"schema": schema}}}


def error_statuses(operation: Operation) -> list[int]:
    """The refusals a route may answer: the common ones by what the route is, and its own."""
    if operation.access is Access.PUBLIC:
        return sorted(set(operation.errors))
    statuses = {400, 401, 409, 422, 503, *operation.errors}
    if operation.access is Access.ADMIN:
        statuses.add(403)
    if _PATH_PARAMETER.search(operation.path):
        statuses.add(404)
    if operation.body is not None:
        statuses.add(413)
    return sorted(statuses)


def _parameters(operation: Operation) -> list[dict[str, Any]]:
    made: list[dict[str, Any]] = []
    for match in _PATH_PARAMETER.finditer(operation.path):
        name, convertor = match.groups()
        schema = (
            {"type": "integer", "minimum": 0} if convertor == "int" else {"type": "string", "minLength": 1}
        )
        made.append({"name": name, "in": "path", "required": True, "schema": schema})
    for param in operation.query:
        made.append({"name": param.name, "in": "query", "required": param.required,
                     "description": param.description, "schema": dict(param.schema)})  # fmt: skip
    if operation.creates_work:
        made.append({
            "name": "Idempotency-Key", "in": "header", "required": True,
            "description": "A unique string per piece of work (a UUID, say): the same key and body get the first "
                           "response again; the same key with another body is 422; while the first runs, 409.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"\S"},
        })  # fmt: skip
    return made


def describe(operation: Operation, schemas: Schemas) -> dict[str, Any]:
    """One operation of the document."""
    name = re.sub(r"\W+", "_", f"{operation.method.lower()}{operation.path}").strip("_")
    described: dict[str, Any] = {"operationId": name, "summary": operation.summary, "tags": [operation.tag]}
    if operation.access is not Access.PUBLIC:
        described["security"] = [{"bearer": []}]
    parameters = _parameters(operation)
    if parameters:
        described["parameters"] = parameters
    if operation.body is not None:
        body = schemas.of(operation.body, operation.casing, request=True)
        described["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    responses: dict[str, Any] = {str(operation.status): _success(operation, schemas)}
    for status in error_statuses(operation):
        responses[str(status)] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
    described["responses"] = responses
    return described


#: The two routes that describe the API, described too.
_SELF: Final = {
    "/openapi.json": {"get": {"operationId": "get_openapi_json", "summary": "This document (OpenAPI 3.1)",
                              "tags": ["docs"], "responses": {"200": {"description": "The document",
                              "content": {"application/json": {"schema": {"type": "object"}}}}}}},
    "/docs": {"get": {"operationId": "get_docs", "summary": "This document as a web page", "tags": ["docs"],
                      "responses": {"200": {"description": "The page",
                      "content": {"text/html": {"schema": {"type": "string"}}}}}}},
}  # fmt: skip


def document(operations: Sequence[Operation]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``operations`` (and of the two routes that serve it)."""
    schemas = Schemas()
    paths: dict[str, Any] = {}
    for operation in operations:
        paths.setdefault(operation.path, {})[operation.method.lower()] = describe(operation, schemas)
    paths.update(_SELF)
    errors = {
        name: {"description": meaning, "content": {"application/json": {"schema": _ref("Error")}}}
        for name, meaning in ERRORS.values()
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "Order splitting and block allocation over HTTP. Every route but /healthz (and this "
            "document) needs Authorization: Bearer <key>; a POST that creates work needs an Idempotency-Key.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "responses": errors,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "An API key from `allot apikeys create` (or POST /apikeys)."},
            },
        },
    }  # fmt: skip


# -- the page -------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Page:
    """The document as HTML, with nothing fetched from elsewhere: one section per operation."""

    spec: Mapping[str, Any]
    out: list[str] = dataclasses.field(default_factory=list)

    def resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in schema:
            *_, kind, name = str(schema["$ref"]).split("/")
            schema = self.spec["components"][kind][name]
        return schema

    def type_of(self, schema: Mapping[str, Any]) -> str:
        if "$ref" in schema:
            name = str(schema["$ref"]).rsplit("/", 1)[-1]
            return f'<a href="#schema-{html.escape(name)}">{html.escape(name)}</a>'
        if "anyOf" in schema:
            return " | ".join(self.type_of(option) for option in schema["anyOf"])
        if "enum" in schema:
            return "one of " + ", ".join(f"<code>{html.escape(str(v))}</code>" for v in schema["enum"])
        kind = schema.get("type", "any")
        if kind == "array":
            return "array of " + self.type_of(schema.get("items", {}))
        if kind == "object" and isinstance(schema.get("additionalProperties"), Mapping):
            return "object of " + self.type_of(schema["additionalProperties"])
        shown = " | ".join(kind) if isinstance(kind, list) else str(kind)
        extra = schema.get("format") or schema.get("pattern")
        return html.escape(shown + (f" ({extra})" if extra else ""))

    def fields(self, schema: Mapping[str, Any]) -> None:
        schema = self.resolve(schema)
        properties = schema.get("properties")
        if not properties:
            self.out.append(f"<p>{self.type_of(schema)}</p>")
            return
        required = set(schema.get("required", ()))
        self.out.append("<table><tr><th>field</th><th>type</th><th>required</th></tr>")
        for name, field in properties.items():
            self.out.append(f"<tr><td><code>{html.escape(name)}</code></td><td>{self.type_of(field)}</td>"
                            f"<td>{'yes' if name in required else ''}</td></tr>")  # fmt: skip
        self.out.append("</table>")

    def operation(self, method: str, path: str, op: Mapping[str, Any]) -> None:
        self.out.append(f'<section id="{html.escape(op.get("operationId", ""))}">'
                        f"<h3><span class=m>{method.upper()}</span> <code>{html.escape(path)}</code></h3>"
                        f"<p>{html.escape(op.get('summary', ''))}"
                        f"{' · needs a bearer key' if op.get('security') else ''}</p>")  # fmt: skip
        parameters = op.get("parameters", [])
        if parameters:
            self.out.append("<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th><th>required</th>"
                            "<th>about</th></tr>")  # fmt: skip
            for p in parameters:
                self.out.append(f"<tr><td><code>{html.escape(p['name'])}</code></td><td>{p['in']}</td>"
                                f"<td>{self.type_of(p.get('schema', {}))}</td><td>{'yes' if p.get('required') else ''}"
                                f"</td><td>{html.escape(p.get('description', ''))}</td></tr>")  # fmt: skip
            self.out.append("</table>")
        body = op.get("requestBody")
        if body:
            self.out.append("<h4>Body</h4>")
            self.fields(body["content"]["application/json"]["schema"])
        self.out.append("<h4>Responses</h4><ul>")
        for status, response in op.get("responses", {}).items():
            response = self.resolve(response)
            content: Mapping[str, Any] = response.get("content", {})
            schema: Mapping[str, Any] = next((m.get("schema", {}) for m in content.values()), {})
            self.out.append(f"<li><b>{status}</b> {html.escape(response.get('description', ''))} "
                            f"— {self.type_of(schema)}</li>")  # fmt: skip
        self.out.append("</ul></section>")

    def render(self) -> str:
        info = self.spec["info"]
        self.out.append(f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(info['title'])}"
                        f" API</title><style>{_STYLE}</style></head><body><h1>{html.escape(info['title'])} API "
                        f"{html.escape(info['version'])}</h1><p>{html.escape(info.get('description', ''))}</p>"
                        '<p>The same as JSON: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>'
                        "<h2>Operations</h2>")  # fmt: skip
        by_tag: dict[str, list[tuple[str, str, Mapping[str, Any]]]] = {}
        for path, methods in self.spec["paths"].items():
            for method, op in methods.items():
                by_tag.setdefault((op.get("tags") or ["other"])[0], []).append((method, path, op))
        for tag, ops in by_tag.items():
            self.out.append(f"<h2>{html.escape(tag)}</h2>")
            for method, path, op in ops:
                self.operation(method, path, op)
        self.out.append("<h2>Schemas</h2>")
        for name, schema in self.spec["components"]["schemas"].items():
            self.out.append(f'<section id="schema-{html.escape(name)}"><h3>{html.escape(name)}</h3>')
            if schema.get("description"):
                self.out.append(f"<p>{html.escape(schema['description'])}</p>")
            self.fields(schema)
            self.out.append("</section>")
        self.out.append("</body></html>")
        return "".join(self.out)


_STYLE: Final = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}"
    "section{border-top:1px solid #ddd;padding:.5rem 0}table{border-collapse:collapse;margin:.3rem 0}"
    "td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left;vertical-align:top}"
    ".m{font-family:monospace;background:#eef;padding:0 .3rem}h4{margin:.5rem 0 .2rem}"
)


def page(spec: Mapping[str, Any]) -> str:
    """The document as a self-contained HTML page."""
    return _Page(spec).render()


def document_routes(operations: Sequence[Operation]) -> list[BaseRoute]:
    """``GET /openapi.json`` and ``GET /docs``, made once when the app is made."""
    spec = document(operations)
    shown = page(spec)

    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(spec)

    async def docs(request: Request) -> HTMLResponse:
        return HTMLResponse(shown)

    return [Route("/openapi.json", openapi, methods=["GET"]), Route("/docs", docs, methods=["GET"])]
