"""The OpenAPI 3.1 document of the API, made from the operation table alone, and a page that renders it.

Every ``Operation`` becomes one operation of the document: its summary and tag, the bearer key it needs, its
path and query parameters, the ``Idempotency-Key`` header when it creates work, its request body, its success
response (a page ``{data, next}`` for lists) and the error responses it can give, all sharing one ``Error``
schema. Bodies are described by walking their attrs classes field by field into ``components/schemas``, in the
route's casing, exactly as the one cattrs converter reads and writes them (``adapters.serialization``): decimals
are strings (a request may also give a whole JSON number), enums their names, tuples arrays, datetimes RFC 3339.

A type is described once per casing and direction, as ``components/schemas/{Class}[Pascal][Input]`` whose
``title`` is that name too (a client generator names its models by title: two schemas of one title are one model
too many): a request's schema refuses unknown fields and requires the fields without a default; a response's schema
requires every field, since the converter always writes them all — but ``explanation``, which an answer carries
only when the request asks for it (``?explain=true``).

What the server checks of a field beyond its type is in the schema too, so that a request the schema accepts is
never refused as bad input (400) for its shape: a field's attrs validators say it for the core's value objects
(``core.validators.positive``: a decimal greater than zero), and a ``Check`` in the field's metadata
(``checked(TEXT)``) for a request type whose use case checks the field (a name, a currency, an enumeration a
PascalCase route reads as text). What the schema cannot say — an id that names nothing, a rule over several
fields or over stored records — is refused with 404, 409 or 422.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import html
import re
import sys
import types
import typing
import unicodedata
import uuid
from collections.abc import Callable, Mapping, Sequence, Set
from decimal import Decimal
from fractions import Fraction
from typing import Any, Final

import attrs
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import BaseRoute, Route

from adapters.serialization import BLANK_UNTIL_KNOWN, DOCUMENT_FIELDS, ON_REQUEST, HistoryShape, Number
from core import validators
from core.fairness import FairHistory
from core.idempotency import MAX_KEY_LENGTH
from core.instruments import MAX_UIC, AssetType, Instrument
from core.numbers import MAX_DECIMAL_PLACES, MAX_INTEGER_DIGITS, MINOR_UNITS
from core.tenants import NAME_PATTERN
from core.validators import MAX_ID_LENGTH
from entrypoints.http.routing import MAX_BODY, NO_NUL, Access, Casing, Operation, pascal

TITLE: Final = "allot"
VERSION: Final = "1"

#: A decimal as allot writes it: plain digits, an optional minus sign and decimal point, never an exponent.
DECIMAL_WRITTEN: Final = r"^-?[0-9]+(\.[0-9]+)?$"
#: A decimal as ``core.numbers.parse_decimal`` reads it: the same syntax, at most 18 significant digits before
#: the point (leading zeros do not count) and 12 after it.
DECIMAL_READ: Final = rf"^-?0*[0-9]{{1,{MAX_INTEGER_DIGITS}}}(\.[0-9]{{1,{MAX_DECIMAL_PLACES}}})?$"
_LARGEST_WHOLE: Final = 10**MAX_INTEGER_DIGITS - 1

_WHOLE: Final = rf"0*[0-9]{{1,{MAX_INTEGER_DIGITS}}}"
_DECIMALS: Final = rf"\.[0-9]{{1,{MAX_DECIMAL_PLACES}}}"
_MINUS_ZERO: Final = rf"-0+(\.0{{1,{MAX_DECIMAL_PLACES}}})?"
#: Decimals that pass ``check_non_negative`` (``-0`` is not negative), ``check_positive`` (more than zero) and
#: ``validators.fraction`` (from 0 to 1), written as ``DECIMAL_READ`` reads them. No lookahead, which not every
#: tool reads: a fraction below 1 is spelled out by the place of its first non-zero decimal.
DECIMAL_NON_NEGATIVE: Final = rf"^({_WHOLE}({_DECIMALS})?|{_MINUS_ZERO})$"
DECIMAL_POSITIVE: Final = (
    rf"^(0*[1-9][0-9]{{0,{MAX_INTEGER_DIGITS - 1}}}({_DECIMALS})?|0+\.("
    + "|".join(
        f"0{{{zeros}}}[1-9][0-9]{{0,{MAX_DECIMAL_PLACES - 1 - zeros}}}" for zeros in range(MAX_DECIMAL_PLACES)
    )
    + "))$"
)
DECIMAL_SHARE: Final = rf"^(0*(1(\.0{{1,{MAX_DECIMAL_PLACES}}})?|0({_DECIMALS})?)|{_MINUS_ZERO})$"

#: The Unicode categories ``core.validators.check_text`` refuses anywhere in a text, and the one it refuses at
#: either end (every other character ``str.strip`` takes off is refused anywhere).
_HIDDEN: Final = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
_BLANK: Final = frozenset({"Zs"})
#: What a URL path cannot hold as it is, refused in an id (``core.validators.check_id``).
_NOT_IN_IDS: Final = frozenset("/?#%")

#: A decimal written as a JSON number (the documents' shape): its digits are exact, a float may lose some.
EXACT_NUMBER: Final = {
    "type": "number",
    "format": "decimal",
    "description": "An exact decimal written as a JSON number: read it with a decimal parser (Python: "
    "json.loads(text, parse_float=Decimal)), not as a float, which may lose digits.",
}


@functools.cache
def _characters(
    refused_categories: frozenset[str], refused: frozenset[str] = frozenset(), wanted: bool = False
) -> str:
    """A regular-expression class of every character but those of ``refused_categories`` and ``refused`` (with
    ``wanted``: of those of ``refused_categories`` only), as ranges of literal characters, in the Unicode of this
    Python (the one the server checks with)."""
    ranges: list[list[int]] = []
    for point in range(sys.maxunicode + 1):
        character = chr(point)
        refusing = unicodedata.category(character) in refused_categories or character in refused
        if refusing is not wanted:
            continue
        if ranges and ranges[-1][1] == point - 1:
            ranges[-1][1] = point
        else:
            ranges.append([point, point])

    def literal(point: int) -> str:
        return "\\" + chr(point) if chr(point) in "\\]^-[" else chr(point)

    return "[" + "".join(literal(a) if a == b else f"{literal(a)}-{literal(b)}" for a, b in ranges) + "]"


def text_pattern(refused: frozenset[str] = frozenset()) -> str:
    """``check_text``'s characters as a pattern: visible ones (no control, format, separator, surrogate, private
    or unassigned one), at least one; and none of ``refused``. (One class, not a class for the ends and one for
    the rest: a generator reads each class anew for every value it makes, and this one is long.)"""
    return f"^{_characters(_HIDDEN, refused)}+$"


def blank_ends() -> str:
    """A text that starts or ends with a blank (``check_text`` refuses it: a schema says so with ``not``)."""
    blank = _characters(_BLANK, wanted=True)
    return f"^{blank}|{blank}$"


def _ipv6() -> str:
    """An IPv6 address as ``ipaddress.ip_address`` reads it: RFC 3986's ``IPv6address`` (``::`` for one zero
    hextet or more, once; an IPv4 address without leading zeros in the last 32 bits)."""
    h16 = "[0-9A-Fa-f]{1,4}"
    octet = "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
    ls32 = rf"({h16}:{h16}|{octet}(\.{octet}){{3}})"
    forms = [rf"({h16}:){{6}}{ls32}", rf"::({h16}:){{5}}{ls32}"]
    forms += [rf"(({h16}:){{0,{4 - after}}}{h16})?::({h16}:){{{after}}}{ls32}" for after in range(4, -1, -1)]
    forms += [rf"(({h16}:){{0,5}}{h16})?::{h16}", rf"(({h16}:){{0,6}}{h16})?::"]
    return "(" + "|".join(forms) + ")"


@functools.cache
def http_url_pattern() -> str:
    """An http or https URL as ``core.webhooks.parse_url`` reads it with ``urllib.parse.urlsplit``: the scheme in
    any case; a host — a name without ``/ ? # @ [ ] :``, or in brackets an IPv6 address (with a zone) or an IPvFuture
    ``v…`` — and none of the characters NFKC turns into ``/ ? # @ :`` (``urlsplit`` refuses them in a host);
    a port from 1 to 65535 (leading zeros aside), or none after the colon; then anything from ``/``, ``?`` or ``#``.
    (No user name: ``@`` is refused. Whether the host is public, or resolves at all, only the server can tell.)"""
    unsafe = "".join(
        sorted(
            c
            for c in map(chr, range(0x80, sys.maxunicode + 1))
            if set(unicodedata.normalize("NFKC", c)) & set("/?#@:")
        )
    )
    name = rf"[^/?#@\[\]:{unsafe}]"
    zone = rf"%[^%/?#@\[\]{unsafe}]+"
    future = rf"v[0-9A-Fa-f]+\.[^/?#@\[\]{unsafe}]+"
    port = "0*([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
    return rf"^[Hh][Tt][Tt][Pp][Ss]?://(\[({_ipv6()}({zone})?|{future})\]|{name}+)(:({port})?)?([/?#].*)?$"


# -- what the server checks of a field ---------------------------------------------------------------------------


@attrs.frozen
class Check:
    """What the server checks of a field's values beyond their type: the JSON schema of a value as it is read
    (``read``) and, where the answers say more than the type, as it is written (``written``; None: the type's).
    For a field that holds several values (an array, an optional value) it is the schema of each one."""

    read: Mapping[str, Any]
    written: Mapping[str, Any] | None = None


#: The key of attrs field metadata that holds a field's ``Check``.
CHECK: Final = "allot.openapi.check"


def checked(check: Check) -> dict[str, Check]:
    """attrs field metadata: the use case checks the field with ``check`` (``attrs.field(metadata=checked(TEXT))``)."""
    return {CHECK: check}


def one_of(values: Sequence[str]) -> Check:
    """A text that names one of ``values`` (the spellings the document reads and writes)."""
    schema = {"type": "string", "enum": list(values)}
    return Check(schema, schema)


TEXT: Final = Check({"$ref": "#/components/schemas/Text"})
ID: Final = Check({"$ref": "#/components/schemas/Id"})
#: A client or user id (``core.tenants.check_name``).
NAME: Final = Check({"type": "string", "pattern": f"^{NAME_PATTERN.pattern}$"})
CURRENCY: Final = Check({"$ref": "#/components/schemas/Currency"}, {"$ref": "#/components/schemas/Currency"})
POSITIVE: Final = Check({"$ref": "#/components/schemas/PositiveDecimalInput"})
NON_NEGATIVE: Final = Check({"$ref": "#/components/schemas/NonNegativeDecimalInput"})
SHARE: Final = Check({"$ref": "#/components/schemas/ShareInput"})
COUNT: Final = Check({"type": "integer", "minimum": 0})
POSITIVE_COUNT: Final = Check({"type": "integer", "minimum": 1})

#: The core's validators and what each checks; a field validated otherwise is described by its type alone.
VALIDATED: Final[Mapping[Any, Check]] = {
    validators.non_empty: TEXT,
    validators.optional_text: TEXT,
    validators.known_currency: CURRENCY,
    validators.optional_currency: CURRENCY,
    validators.positive: POSITIVE,
    validators.optional_positive: POSITIVE,
    validators.non_negative: NON_NEGATIVE,
    validators.optional_non_negative: NON_NEGATIVE,
    validators.fraction: SHARE,
    validators.count: COUNT,
    validators.positive_count: POSITIVE_COUNT,
    validators.optional_positive_count: POSITIVE_COUNT,
    attrs.fields(Instrument).uic.validator: Check({"type": "integer", "minimum": 1, "maximum": MAX_UIC}),
}


def check_of(field: attrs.Attribute[Any]) -> Check | None:
    """What the server checks of ``field``: its metadata's ``Check``, else its validators' (the first known one)."""
    if CHECK in field.metadata:
        found: Check = field.metadata[CHECK]
        return found
    pending = [field.validator]
    while pending:
        validator = pending.pop(0)
        if validator in VALIDATED:
            return VALIDATED[validator]
        pending.extend(getattr(validator, "_validators", ()))  # attrs.validators.and_, or a list of them
    return None


def _decimal_input(pattern: str, minimum: int, maximum: int, described: str) -> dict[str, Any]:
    return {
        "description": f"{described}: a string of plain digits with at most {MAX_INTEGER_DIGITS} before and "
        f"{MAX_DECIMAL_PLACES} after the point (a JSON whole number is read too).",
        "anyOf": [
            {"type": "string", "pattern": pattern},
            {"type": "integer", "minimum": minimum, "maximum": maximum},
        ],
    }


# -- rules over several fields -----------------------------------------------------------------------------------

#: The class attribute of a request type that holds the rules over several of its fields that its use case
#: checks, as JSON schemas over its fields' snake_case names (recased on a PascalCase route).
RULES: Final = "openapi_rules"
Rules = Sequence[Mapping[str, Any]]


def one_required(*names: str) -> dict[str, Any]:
    """At least one of the fields ``names`` is given (not null)."""
    return {
        "anyOf": [{"properties": {name: {"not": {"type": "null"}}}, "required": [name]} for name in names]
    }


def same_if_both(first: str, second: str, values: Sequence[str]) -> dict[str, Any]:
    """Two fields that name one of ``values`` may both be given only to name the same one."""
    return {"anyOf": [
        {"not": {"properties": {first: {"type": "string"}, second: {"type": "string"}}, "required": [first, second]}},
        *({"properties": {first: {"const": value}, second: {"const": value}}} for value in values),
    ]}  # fmt: skip


def in_minor_units(currency: str, *amounts: str) -> dict[str, Any]:
    """The decimals ``amounts`` have no more decimals than the currency ``currency`` (if given) allows
    (``core.numbers.check_cash``, trailing zeros aside). One ``anyOf`` branch per number of decimals rather than
    ``if``/``then``, which not every generator of requests follows."""
    branches: list[dict[str, Any]] = [{"properties": {currency: {"type": "null"}}}]
    for exponent in sorted(set(MINOR_UNITS.values())):
        decimals = r"(\.0+)?" if exponent == 0 else rf"(\.[0-9]{{1,{exponent}}}0*)?"
        written = {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": rf"^-?[0-9]+{decimals}$"}]}
        currencies = sorted(c for c, e in MINOR_UNITS.items() if e == exponent)
        branches.append({
            "properties": {currency: {"enum": currencies}, **dict.fromkeys(amounts, written)},
            "required": [currency],
        })  # fmt: skip
    return {"anyOf": branches}


def not_beyond_minor_units(currency: str, amount: str) -> dict[str, Any]:
    """``in_minor_units`` said as one ``not``: no known currency ``currency`` with a decimal ``amount`` (written as
    text) of more decimals than it has. For a body whose other rules leave no room for ``in_minor_units``'s
    branches, which a generator multiplies by those of every other ``anyOf`` of the body."""
    refused = [
        {
            "properties": {
                currency: {"enum": sorted(c for c, e in MINOR_UNITS.items() if e == exponent)},
                amount: {"type": "string", "pattern": rf"\.[0-9]{{{exponent}}}[0-9]*[1-9]"},
            },
            "required": [currency, amount],
        }
        for exponent in sorted(set(MINOR_UNITS.values()))
    ]
    return {"not": {"anyOf": refused}}


_OPTIONS: Final = [t.value for t in AssetType if t.is_option]

#: The rules of the core's value objects read from requests (``core.instruments.Instrument.__attrs_post_init__``).
CORE_RULES: Final[Mapping[type, Sequence[Mapping[str, Any]]]] = {
    Instrument: (
        {
            "anyOf": [  # an option has an expiry date, nothing else has one
                {
                    "properties": {"asset_type": {"enum": _OPTIONS}, "expiry": {"type": "string"}},
                    "required": ["asset_type", "expiry"],
                },
                {"properties": {"asset_type": {"not": {"enum": _OPTIONS}}, "expiry": {"type": "null"}}},
            ]
        },
        in_minor_units("currency", "min_order_amount"),
    ),
}


def rules_of(cls: type) -> Rules:
    """The rules over several fields of a request type: the core's from ``CORE_RULES``, a request type's own."""
    if cls in CORE_RULES:
        return CORE_RULES[cls]
    found: Rules = getattr(cls, RULES, ())
    return found


def _renamed(schema: Any, named: Callable[[str], str]) -> Any:
    """A rule with the field names in it (the keys of ``properties``, the items of ``required``) recased."""
    if isinstance(schema, list):
        return [_renamed(item, named) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    renamed: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties":
            renamed[key] = {named(name): _renamed(field, named) for name, field in value.items()}
        elif key == "required":
            renamed[key] = [named(name) for name in value]
        else:
            renamed[key] = _renamed(value, named)
    return renamed


#: Components that checks refer to, added to the document where one is used.
SHARED: Final[Mapping[str, Callable[[], dict[str, Any]]]] = {
    "Text": lambda: {
        "type": "string",
        "description": "A name or id: visible characters (no control, format or unassigned ones), at least one, "
        "no blank at either end.",
        "pattern": text_pattern(),
        "not": {"pattern": blank_ends()},
    },
    "Id": lambda: {
        "type": "string",
        "description": f"An id chosen for a record: a Text of at most {MAX_ID_LENGTH} characters, without / ? # "
        "or % (it stands in a URL path as it is), and not . or ..",
        "pattern": text_pattern(_NOT_IN_IDS),
        "maxLength": MAX_ID_LENGTH,
        "not": {"anyOf": [{"enum": [".", ".."]}, {"pattern": blank_ends()}]},
    },
    "Currency": lambda: {
        "type": "string",
        "description": "An ISO 4217 currency code allot knows.",
        "enum": sorted(MINOR_UNITS),
    },
    "PositiveDecimalInput": lambda: _decimal_input(
        DECIMAL_POSITIVE, 1, _LARGEST_WHOLE, "A decimal above zero"
    ),
    "NonNegativeDecimalInput": lambda: _decimal_input(
        DECIMAL_NON_NEGATIVE, 0, _LARGEST_WHOLE, "A decimal of zero or more"
    ),
    "ShareInput": lambda: _decimal_input(DECIMAL_SHARE, 0, 1, "A share from 0 to 1 (0.9 = 90 %)"),
}


#: Each error status: its name in ``components/responses`` and what it means.
ERRORS: Final[Mapping[int, tuple[str, str]]] = {
    400: ("BadRequest", "Bad input: malformed JSON, an unknown or missing field, a decimal beyond its bounds, "
                        "a bad query parameter, or no Idempotency-Key on a request that creates work."),
    401: ("Unauthorized", "No API key, or an unknown or revoked one: send Authorization: Bearer <key>."),
    403: ("Forbidden", "This key may not call this route (it needs an admin key)."),
    404: ("NotFound", "No such object, or one of another tenant's (the two answer alike)."),
    409: ("Conflict", "It exists already, its state does not allow this, or it changed meanwhile."),
    413: ("PayloadTooLarge", f"The request body is over {MAX_BODY} bytes."),
    429: ("TooManyRequests", "This caller is sending as many request bodies at once as it may "
                             "(allot serve --max-bodies-per-caller): retry after Retry-After seconds with the same "
                             "Idempotency-Key."),
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

    def of(self, hint: Any, casing: Casing, request: bool, check: Check | None = None) -> dict[str, Any]:
        """The JSON schema of a value of type ``hint`` as the converter writes it (``request``: as it reads it),
        each text, number or decimal in it as ``check`` says, if given."""
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if hint is Any or hint is object:
            return {}
        if hint is None or hint is type(None):
            return {"type": "null"}
        if origin in (typing.Union, types.UnionType):
            others = [self.of(arg, casing, request, check) for arg in args if arg is not type(None)]
            if len(others) < len(args):
                others.append({"type": "null"})
            return others[0] if len(others) == 1 else {"anyOf": others}
        if origin is typing.Literal:
            return {"enum": list(args)}
        if typing.get_origin(hint) is typing.Annotated:
            return self.of(args[0], casing, request, check)
        if origin is not None:
            return self._generic(origin, args, casing, request, check)
        if hint is Number:  # a decimal the documents write as a JSON number (read from a string too)
            return self.of(Decimal, casing, request, check) if request else dict(EXACT_NUMBER)
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
        checked = None if check is None else check.read if request else check.written
        return self._scalar(hint, request) if checked is None else self.use(checked)

    def use(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        """``schema``, with the shared component it refers to added to the document."""
        name = str(schema.get("$ref", "")).rsplit("/", 1)[-1]
        if name in SHARED and name not in self.components:
            self.components[name] = SHARED[name]()
        return dict(schema)

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
        if issubclass(hint, str):  # in a request, no NUL (``adapters.serialization.check_encodable``)
            return {"type": "string", "pattern": NO_NUL} if request else {"type": "string"}
        if issubclass(hint, dt.datetime):
            return {"type": "string", "format": "date-time"}
        if issubclass(hint, dt.date):
            return {"type": "string", "format": "date"}
        if issubclass(hint, uuid.UUID):
            return {"type": "string", "format": "uuid"}
        if hint in (dict, list, tuple):
            return {"type": "object" if hint is dict else "array"}
        raise TypeError(f"the OpenAPI document cannot describe the type {hint.__qualname__}")

    def _generic(
        self, origin: Any, args: tuple[Any, ...], casing: Casing, request: bool, check: Check | None
    ) -> dict[str, Any]:
        if isinstance(origin, type) and issubclass(origin, Mapping):
            values = self.of(args[1], casing, request, check) if len(args) == 2 else {}
            return {"type": "object", "additionalProperties": values}
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            items = [self.of(arg, casing, request, check) for arg in args]
            return {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}
        if isinstance(origin, type) and issubclass(origin, Sequence | Set):
            schema = {"type": "array", "items": self.of(args[0], casing, request, check) if args else {}}
            return schema | ({"uniqueItems": True} if issubclass(origin, Set) else {})
        raise TypeError(f"the OpenAPI document cannot describe {origin!r}{list(args)}")

    def _component(self, cls: type, casing: Casing, request: bool) -> str:
        key = (cls, casing, request)
        if key in self._names:
            return self._names[key]
        name = self._name(cls, ("Pascal" if casing is Casing.PASCAL else "") + ("Input" if request else ""))
        self._names[key] = name
        self.components[name] = {}  # taken before the fields, so that a class may refer to itself
        self.components[name] = self._object(cls, casing, request)
        return name

    def _name(self, cls: type, variant: str) -> str:
        """The class's own name and ``variant`` (``PolicyInput``), or its dotted path's when another class, or
        another class's variant, of that name came first."""
        for base in (cls.__name__, f"{cls.__module__}.{cls.__qualname__}"):
            if self._owners.setdefault(base + variant, cls) is cls and base + variant not in SHARED:
                return base + variant
        raise AssertionError(f"two classes at {cls.__module__}.{cls.__qualname__}")

    def _object(self, cls: type, casing: Casing, request: bool) -> dict[str, Any]:
        hints = typing.get_type_hints(cls)
        fields = [f for f in attrs.fields(cls) if f.init]
        named = pascal if casing is Casing.PASCAL else str
        schema: dict[str, Any] = {"type": "object", "title": self._names[(cls, casing, request)]}
        if cls.__doc__ and not cls.__doc__.startswith(f"{cls.__name__}("):
            schema["description"] = " ".join(cls.__doc__.split())
        schema["properties"] = {
            named(f.name): self.of(hints[f.name], casing, request, check_of(f)) for f in fields
        }
        required = [
            named(f.name)
            for f in fields
            if (f.default is attrs.NOTHING if request else f.name not in ON_REQUEST)
        ]
        if not request:  # the documents' fields, written beside the record's own (``adapters.serialization``)
            for name in BLANK_UNTIL_KNOWN.get(cls, ()):
                known = schema["properties"][named(name)]
                # One flat anyOf, "" as an empty string rather than a const: a client generator reads it so.
                schema["properties"][named(name)] = {
                    "anyOf": [*known.get("anyOf", [known]), {"type": "string", "maxLength": 0}],
                    "description": '"" until known',
                }
            for extra in DOCUMENT_FIELDS.get(cls, ()):
                schema["properties"][named(extra.name)] = self.of(extra.type, casing, request)
                required.append(named(extra.name))
        if required:
            schema["required"] = required
        rules = rules_of(cls) if request else ()
        if rules:
            schema["allOf"] = [_renamed(rule, named) for rule in rules]
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
    if _PATH_PARAMETER.search(operation.path) or operation.paged:  # a page's ``after`` may name nothing
        statuses.add(404)
    if operation.body is not None:
        statuses.update({413, 429})
    return sorted(statuses)


def _no_nul(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A parameter's schema; a text without a pattern of its own holds no NUL (the server refuses one in a path
    or a query parameter, like in any text it reads)."""
    if schema.get("type") == "string" and not {"pattern", "enum", "const", "format"} & set(schema):
        return {**schema, "pattern": NO_NUL}
    return dict(schema)


#: An ``Idempotency-Key`` as ``core.idempotency.request_key`` reads it: at most ``MAX_KEY_LENGTH`` printable
#: characters (``str.isprintable``), not only blanks — of Latin-1, the characters a header carries as they are.
IDEMPOTENCY_KEY: Final = (
    "^[ -~\u00a1-\u00ac\u00ae-\u00ff]*[!-~\u00a1-\u00ac\u00ae-\u00ff][ -~\u00a1-\u00ac\u00ae-\u00ff]*$"
)


def _parameters(operation: Operation) -> list[dict[str, Any]]:
    made: list[dict[str, Any]] = []
    for match in _PATH_PARAMETER.finditer(operation.path):
        name, convertor = match.groups()
        schema = (
            {"type": "integer", "minimum": 0}
            if convertor == "int"
            else {"type": "string", "minLength": 1, "pattern": NO_NUL}
        )
        made.append({"name": name, "in": "path", "required": True, "schema": schema})
    for param in operation.query:
        made.append({"name": param.name, "in": "query", "required": param.required,
                     "description": param.description, "schema": _no_nul(param.schema)})  # fmt: skip
    if operation.creates_work:
        made.append({
            "name": "Idempotency-Key", "in": "header", "required": True,
            "description": "A unique string per piece of work (a UUID, say): the same key and body get the first "
                           "response again; the same key with another body is 422; while the first runs, 409.",
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": IDEMPOTENCY_KEY},
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
            "schemas": {name: {"title": name, **schema} for name, schema in schemas.components.items()},
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
        pattern = str(schema.get("pattern", ""))
        extra = schema.get("format") or (pattern if len(pattern) <= 80 else "")  # a Text's is its description
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
