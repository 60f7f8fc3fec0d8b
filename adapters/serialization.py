"""All conversion at the edges: one private cattrs converter between JSON and the core's value objects.

Shared by the adapters (stored records, webhook bodies) and the entrypoints (requests and results).

Decimals travel as strings (``"400.00"``). JSON numbers are accepted too, but parsed exactly
(``parse_float=Decimal``), never through float. Unknown fields are refused.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import json
import operator
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from fractions import Fraction
from typing import Any, Final, NewType, TypeVar, cast, get_args, get_origin

import attrs
import cattrs
import orjson
from cattrs.cols import homogenous_tuple_structure_factory
from cattrs.fns import identity
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn
from cattrs.preconf.json import make_converter

from core.errors import AllotError, ValidationError
from core.explain import Explanation
from core.fairness import FairHistory, Standing
from core.fills import PositionEvent
from core.lifecycle import OrderState, ParentState
from core.numbers import (
    MAX_DECIMAL_PLACES,
    MAX_INTEGER_DIGITS,
    MINOR_UNITS,
    check_decimal,
    fmt,
    parse_decimal,
)
from core.records import (
    TYPE_OF_TOPIC,
    AccountLiquidation,
    Event,
    Investment,
    OrderRef,
    PortfolioOrder,
    topic_of,
)

T = TypeVar("T")

#: A decimal the documents write as a JSON number (``"UnitValue": 10000``, ``"Amount": 7645.0``), where allot
#: writes its own decimals as strings. Read like any decimal (a JSON number or a string, exactly); written as a
#: JSON number with exactly its digits, never through float.
Number = NewType("Number", Decimal)

#: How a ``Number`` travels inside unstructured data until the text is written: a NUL (which no text allot
#: accepts may hold) and ``#``, its plain digits, a NUL. ``numbers_written`` turns each into the bare number.
_NUMBER_MARK: Final = "\0#"
_MARKED: Final = re.compile(r'"\\u0000#(-?[0-9]+(?:\.[0-9]+)?)\\u0000"')


def _unstructure_number(value: Decimal) -> str:
    return f"{_NUMBER_MARK}{fmt(value)}\0"


class InvalidJson(ValidationError):
    code = "INVALID_JSON"


class UnreadableInput(ValidationError):
    code = "UNREADABLE_INPUT"


def _structure_decimal(value: object, _: type) -> Decimal:
    """A decimal from a JSON string written plainly (as on the command line), or from a JSON number."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValidationError(f'expected a decimal number (such as 10.5 or "10.5"), got {_shown(value)}')
    if isinstance(value, str):
        return parse_decimal(value, "value")
    return check_decimal(Decimal(value), "value")


def _structure_enum(value: object, enum_type: type[enum.Enum]) -> enum.Enum:
    if isinstance(value, str):
        for member in enum_type:
            if member.value == value.upper():
                return member
    allowed = ", ".join(str(m.value) for m in enum_type)
    raise ValidationError(f"{_shown(value)} is not one of {allowed}")


def _structure_str(value: object, _: type) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"expected a string, got {_shown(value)}")
    return value


def _structure_bool(value: object, _: type) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"expected true or false, got {_shown(value)}")
    return value


def _whole(value: object) -> object:
    """A JSON number with a zero fraction (``4.0``, read as a Decimal) as the whole number it is, as JSON Schema
    has it; any other value as it is."""
    if (
        isinstance(value, Decimal)
        and value.is_finite()
        and value.adjusted() < 19
        and value == value.to_integral()
    ):
        return int(value)
    return value


def _structure_int(value: object, _: type) -> int:
    whole = _whole(value)
    if isinstance(whole, bool) or not isinstance(whole, int):
        raise ValidationError(f"expected a whole number, got {_shown(value)}")
    return whole


def _structure_code_or_text(value: object, _: object) -> int | str:
    """A whole number or a text (an instrument named by its ``Uic`` or by its id); true and false are neither."""
    whole = _whole(value)
    if isinstance(whole, bool) or not isinstance(whole, int | str):
        raise ValidationError(f"expected a whole number or a string, got {_shown(value)}")
    return whole


def _structure_datetime(value: object, _: type) -> dt.datetime:
    if not isinstance(value, str):
        raise ValidationError("expected an RFC 3339 timestamp such as 2026-01-31T09:30:00Z")
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValidationError(f"timestamp {value} has no time zone; add Z for UTC")
    return moment.astimezone(dt.UTC)


@functools.lru_cache(maxsize=1024)
def timestamp(moment: dt.datetime) -> str:
    """UTC RFC 3339 with ``Z``."""
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _structure_event(value: object, _: type) -> Event:
    """An event with its object as the record type of its topic (``ORDER.FILLED`` carries an ``Order``), as the
    stores read them back; an unknown topic is refused."""
    if not isinstance(value, dict):
        raise ValidationError(f"expected a JSON object, got {_shown(value)}")
    event_type = _structure_str(value.get("type"), str)
    carried = TYPE_OF_TOPIC.get(topic_of(event_type))
    if carried is None:
        raise ValidationError(f"{_shown(event_type)} is not an event type of a known topic")
    unknown = sorted(set(value) - {"id", "created_at", "type", "object"})
    if unknown:
        raise ValidationError(f"an event has no field {unknown[0]}")
    return Event(
        id=_structure_str(value.get("id"), str),
        created_at=_structure_datetime(value.get("created_at"), dt.datetime),
        type=event_type,
        object=_CONVERTER.structure(value.get("object"), carried),
    )


def _is_homogenous_tuple(type_: Any) -> bool:
    args = get_args(type_)
    return get_origin(type_) is tuple and len(args) == 2 and args[1] is Ellipsis


def _arrays_only(type_: Any, converter: cattrs.Converter) -> Callable[[object, Any], object]:
    """Lists in the core are tuples; accept only a JSON array for them (a string is iterable, but wrong)."""
    structure_items = homogenous_tuple_structure_factory(type_, converter)

    def structure_array(value: object, _: Any) -> object:
        if not isinstance(value, list):
            raise ValidationError(f"expected a JSON array, got {_shown(value)}")
        return structure_items(value, type_)

    return structure_array


def _objects_only(type_: Any, converter: cattrs.Converter) -> Callable[[object, Any], object]:
    """Records and requests are JSON objects; anything else is named as such (not "'list' has no attribute")."""
    structure_fields = make_dict_structure_fn(type_, converter, _cattrs_forbid_extra_keys=True)

    def structure_object(value: object, _: Any) -> object:
        if not isinstance(value, dict):
            raise ValidationError(f"expected a JSON object, got {_shown(value)}")
        return structure_fields(value, type_)

    return structure_object


def _shown(value: object) -> str:
    """A value as JSON, cut short if long, for an error message."""
    # A number as the client wrote it (1.5), not as a string ("1.5").
    text = str(value) if isinstance(value, Decimal) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


_FRACTION = re.compile(r"-?[0-9]+(/[0-9]+)?", re.ASCII)


#: The most digits a fraction may be written with (Python reads at most 4 300 digits into one whole number).
MAX_FRACTION_DIGITS = 4000


def _structure_fraction(value: object, _: Any) -> Fraction:
    """An exact fraction is written as text: ``"7/3"``, ``"-1/3"`` or a whole number ``"2"``."""
    if not isinstance(value, str) or not _FRACTION.fullmatch(value):
        raise ValidationError(f'expected a fraction written as text such as "7/3", got {_shown(value)}')
    if len(value) > MAX_FRACTION_DIGITS:
        raise ValidationError(
            f"a fraction of {len(value)} characters is longer than allot reads ({MAX_FRACTION_DIGITS})"
        )
    numerator, _slash, denominator = value.partition("/")
    if denominator and int(denominator) == 0:
        raise ValidationError(f"a fraction cannot have a zero denominator: {_shown(value)}")
    return Fraction(int(numerator), int(denominator or 1))


def _unstructure_history(history: FairHistory) -> dict[str, object]:
    return {
        "rounds": history.rounds,
        "standings": [
            {"participant": s.participant, "quota": str(s.quota), "allocated": s.allocated}
            for s in history.standings
        ],
    }


def _structure_history(value: object, _: Any) -> FairHistory:
    """A fairness history as it is stored and sent: its rounds and each participant's standing, all checked."""
    shape = _CONVERTER.structure(value, HistoryShape)
    return FairHistory.of(shape.standings, shape.rounds)


@attrs.frozen
class HistoryShape:
    """A fairness history as JSON: how many allocations it has seen, and each participant's standing."""

    rounds: int
    standings: tuple[Standing, ...]


def _make() -> cattrs.Converter:
    converter = make_converter(forbid_extra_keys=True)
    converter.register_structure_hook(Decimal, _structure_decimal)
    converter.register_unstructure_hook(Decimal, fmt)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, enum.Enum), _structure_enum
    )
    converter.register_structure_hook_factory(_is_homogenous_tuple, _arrays_only)
    converter.register_structure_hook_factory(attrs.has, _objects_only)
    converter.register_structure_hook(dt.datetime, _structure_datetime)
    converter.register_unstructure_hook(dt.datetime, timestamp)
    converter.register_structure_hook(dt.date, lambda v, _: dt.date.fromisoformat(_structure_str(v, str)))
    converter.register_unstructure_hook(dt.date, dt.date.isoformat)
    converter.register_structure_hook(Event, _structure_event)
    converter.register_structure_hook(Fraction, _structure_fraction)
    converter.register_unstructure_hook(Fraction, str)
    converter.register_structure_hook(Number, _structure_decimal)
    converter.register_structure_hook_func(lambda t: t == int | str, _structure_code_or_text)
    converter.register_unstructure_hook(Number, _unstructure_number)
    converter.register_structure_hook(FairHistory, _structure_history)
    converter.register_unstructure_hook(FairHistory, _unstructure_history)
    # Speed only (a record is written at every change): a member's value read straight from the member, not
    # through the ``value`` property; an optional text, number or flag written as it is, which lets cattrs
    # write such fields without a call.
    converter.register_unstructure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, enum.Enum), operator.attrgetter("_value_")
    )
    for plain in (str | None, int | None, bool | None):
        converter.register_unstructure_hook(plain, identity)
    _document_shapes(converter)
    return converter


@attrs.frozen
class DocumentField:
    """A field a document's object has that allot's record names otherwise: its name, its type (for the OpenAPI
    document) and how it is read off the record. Written beside allot's own fields; ignored when read back."""

    name: str
    type: Any
    read: Callable[[Any], Any]


def spelled(member: enum.Enum) -> str:
    """An enumeration's value as the documents write it: ``FX_SPOT`` → ``FxSpot``, ``OPTION_EXERCISED`` →
    ``OptionExercised``, ``BUY`` → ``Buy``."""
    return "".join(part[:1] + part[1:].lower() for part in str(member.value).split("_"))


def _position_field(name: str, type_: Any, read: Callable[[PositionEvent], Any]) -> DocumentField:
    return DocumentField(name, type_, read)


#: What the position-event document's ``ActivityType`` says of every position event.
POSITIONS_ACTIVITY: Final = "Positions"
#: The ``OriginatingToolId`` of every event allot originates (the document's "system that originally initiated the
#: event"): allot is one system, its number 1.
ALLOT_TOOL_ID: Final = 1
#: The ``ClientName`` of an event: the document's field is PII "when allowed", and allot sends no client's name (it
#: keeps none), masked as the document's own sample is.
MASKED_NAME: Final = "***"


def display_and_format(event: PositionEvent) -> dict[str, Any]:
    """The document's ``DisplayAndFormat`` group: the instrument's currency and symbol, allot's instrument id as
    its description, and its prices' decimals: the currency's minor units, or the price's own decimals where it
    has more (EURUSD at 1.0842: 4)."""
    exponent = event.open_price.as_tuple().exponent
    decimals = max(MINOR_UNITS.get(event.currency, 2), -exponent if isinstance(exponent, int) else 0)
    return {"Currency": event.currency, "Decimals": decimals, "Description": event.instrument_id,
            "OrderDecimals": decimals, "Symbol": event.symbol}  # fmt: skip


#: A position event in the position-event document's fields and JSON types: decimals as JSON numbers,
#: ``Uic`` a whole number (null when the instrument has none), ``SequenceId`` a string, enumerations spelled as the
#: document does (``PositionEvent``: New, Updated, Deleted, OptionExercised, OptionExpired). Only what allot
#: knows: a field it has no value for (``ExternalReference``, ``SourceOrderId``, who the account belongs to) is
#: null; costs are given even when zero.
POSITION_EVENT_FIELDS: Final = (
    _position_field("PositionEvent", str, lambda e: spelled(e.event)),
    _position_field("AccountId", str, operator.attrgetter("account_id")),
    _position_field("AccountKey", str, operator.attrgetter("account_id")),
    _position_field("ClientId", str | None, operator.attrgetter("client_id")),
    _position_field("ClientKey", str | None, operator.attrgetter("client_id")),
    _position_field("UserId", str | None, operator.attrgetter("user_id")),
    _position_field("PositionId", str, operator.attrgetter("position_id")),
    _position_field("Uic", int | None, operator.attrgetter("uic")),
    _position_field("AssetType", str, lambda e: spelled(e.asset_type)),
    _position_field("Symbol", str, operator.attrgetter("symbol")),
    _position_field("BuySell", str, lambda e: spelled(e.side)),
    _position_field("Amount", Number, operator.attrgetter("amount")),
    _position_field("FillAmount", Number, operator.attrgetter("fill_amount")),
    _position_field("OpenPrice", Number, operator.attrgetter("open_price")),
    #: The document's table: the price of the transaction (the fill's, which is the open price of its units).
    _position_field("Price", Number, operator.attrgetter("open_price")),
    _position_field("TradedValue", Number, operator.attrgetter("traded_value")),
    _position_field("Commission", Number, operator.attrgetter("commission")),
    _position_field("ExchangeFee", Number, operator.attrgetter("exchange_fee")),
    _position_field("StampDuty", Number, operator.attrgetter("stamp_duty")),
    _position_field("TotalCost", Number, operator.attrgetter("total_cost")),
    _position_field("CurrencyCode", str, operator.attrgetter("currency")),
    _position_field("CorrelationKey", str | None, operator.attrgetter("correlation_key")),
    _position_field("SourceOrderId", str | None, operator.attrgetter("source_order_id")),
    _position_field("ExternalReference", str | None, operator.attrgetter("external_reference")),
    _position_field("ExecutionTime", dt.datetime, operator.attrgetter("execution_time")),
    _position_field("ValueDate", dt.date, operator.attrgetter("value_date")),
    _position_field("SequenceId", str, lambda e: str(e.sequence_id)),
    _position_field("ActivityTime", dt.datetime, operator.attrgetter("execution_time")),
    _position_field("ActivityType", str, lambda e: POSITIONS_ACTIVITY),
    _position_field("ClientName", str, lambda e: MASKED_NAME),
    _position_field("DisplayAndFormat", dict[str, Any], display_and_format),
    #: allot keeps no option terms on an event (its instrument has them): an empty group, as in the sample.
    _position_field("OptionData", dict[str, Any], lambda e: {}),
    _position_field("OriginatingToolId", int, lambda e: ALLOT_TOOL_ID),
    #: allot's prices are amounts per unit, never percentages of a face value.
    _position_field("PriceType", str, lambda e: "Amount"),
    #: The settlement date: the event's value date.
    _position_field("SpotDate", dt.date, operator.attrgetter("value_date")),
)

#: The names other platforms read, beside allot's own fields: a portfolio order's and an account liquidation's state
#: is also ``status`` (and so is each of their orders'), and their id also ``portfolio_order_id`` /
#: ``account_liquidation_id``.
DOCUMENT_FIELDS: Final[dict[type, tuple[DocumentField, ...]]] = {
    OrderRef: (DocumentField("status", OrderState, operator.attrgetter("state")),),
    PositionEvent: POSITION_EVENT_FIELDS,
    #: The copy-trading document's sub-state, which investors track: its number and its name.
    Investment: (
        DocumentField("InvestmentStateId", int, lambda i: i.state.id),
        DocumentField("StateName", str, lambda i: i.state.title),
    ),
    PortfolioOrder: (
        DocumentField("status", ParentState, operator.attrgetter("state")),
        DocumentField("portfolio_order_id", str, operator.attrgetter("id")),
    ),
    AccountLiquidation: (
        DocumentField("status", ParentState, operator.attrgetter("state")),
        DocumentField("account_liquidation_id", str, operator.attrgetter("id")),
    ),
}
#: Fields the documents write as ``""`` while they are not known (allot's records hold none): a liquidation's
#: ``cash_amount`` until every sell is filled.
BLANK_UNTIL_KNOWN: Final[dict[type, tuple[str, ...]]] = {
    PortfolioOrder: ("cash_amount",),
    AccountLiquidation: ("cash_amount",),
}


def _document_shapes(converter: cattrs.Converter) -> None:
    """Write each record of ``DOCUMENT_FIELDS`` with the documents' fields beside its own (and ``""`` for what is
    ``BLANK_UNTIL_KNOWN``), and read it back from either shape. Nested records first: a record's hook is made
    with the hooks of its fields as they stand."""
    for kind, extra in DOCUMENT_FIELDS.items():
        blank = BLANK_UNTIL_KNOWN.get(kind, ())
        converter.register_unstructure_hook(kind, _written_with(converter, kind, extra, blank))
        converter.register_structure_hook(kind, _read_without(converter, kind, extra, blank))


def _written_with(
    converter: cattrs.Converter, kind: type, extra: tuple[DocumentField, ...], blank: tuple[str, ...]
) -> Callable[[Any], dict[str, Any]]:
    plain: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(kind, converter)

    def unstructure(record: Any) -> dict[str, Any]:
        data: dict[str, Any] = plain(record)
        for name in blank:
            if data[name] is None:
                data[name] = ""
        for field in extra:
            data[field.name] = converter.unstructure(field.read(record), field.type)
        return data

    return unstructure


def _read_without(
    converter: cattrs.Converter, kind: type, extra: tuple[DocumentField, ...], blank: tuple[str, ...]
) -> Callable[[object, Any], Any]:
    plain = _objects_only(kind, converter)
    names = {field.name for field in extra}

    def structure(value: object, _: Any) -> Any:
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in names}
            for name in blank:
                if value.get(name) == "":
                    value[name] = None
        return plain(value, kind)

    return structure


_CONVERTER = _make()


def _writing(converter: cattrs.Converter) -> cattrs.Converter:
    """The converter ``to_json`` unstructures with: ``converter``'s hooks, and an explanation unstructured once
    for all the texts written of it one after the other (a portfolio order's explanation is written with the
    order and with both its events). Safe because what ``to_json`` unstructures is written out at once and
    never changed or handed on."""
    writing = converter.copy()
    plain = writing.get_unstructure_hook(Explanation)
    last: list[tuple[Explanation, Any]] = []

    def unstructure_explanation(explanation: Explanation) -> Any:
        found = last[0] if last else None
        if found is None or found[0] is not explanation:
            found = (explanation, plain(explanation))
            last[:] = [found]
        return found[1]

    writing.register_unstructure_hook(Explanation, unstructure_explanation)
    _document_shapes(writing)  # made again: they call the explanation's hook as it stands when they are made
    return writing


_WRITING = _writing(_CONVERTER)


def _describe(exc: BaseException, type_: type | None) -> str:
    if isinstance(exc, AllotError):
        return exc.message
    return cattrs.v.format_exception(exc, type_)


def structure(data: object, type_: type[T]) -> T:
    """Build a core value object from parsed JSON, or raise ``ValidationError`` naming every problem."""
    try:
        return _CONVERTER.structure(data, type_)
    except cattrs.BaseValidationError as exc:
        problems = cattrs.transform_error(exc, path="$", format_exception=_describe)
        raise ValidationError(
            "the request is invalid: " + "; ".join(problems), {"errors": problems}
        ) from None
    except AllotError:
        raise
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValidationError(f"the request is invalid: {exc}", {"errors": [str(exc)]}) from None


def unstructure(value: object) -> Any:
    return _CONVERTER.unstructure(value)


#: Fields an answer carries only when it is asked for (``--explain``, ``?explain=true``): how a split came about.
ON_REQUEST: Final = ("explanation",)


def unstructure_answer(value: object, explain: bool) -> Any:
    """``value`` as JSON data for an answer: its ``ON_REQUEST`` fields only with ``explain``."""
    data = unstructure(value)
    if isinstance(data, dict) and not explain:
        for name in ON_REQUEST:
            data.pop(name, None)
    return data


def _no_constants(name: str) -> object:
    raise InvalidJson(f"{name} is not a number allot accepts", {"value": name})


def parse_json(text: str) -> Any:
    """Parse JSON exactly: numbers with a fraction become Decimals, NaN and Infinity are refused, a name given twice
    in one object is refused (JSON leaves it to the reader which one counts), and so is a whole number too long to
    read and text that cannot be written back as UTF-8 or stored (``check_encodable``); each naming where it is."""
    try:
        data = _loads(text, _once_each)
    except (_GivenTwice, ValueError):  # ValueError: a whole number longer than Python reads (4 300 digits)
        raise _first_unreadable(text) from None
    if "\\u" in text:  # a lone surrogate or a NUL can only come in as an escape: raw, they are not valid JSON
        check_encodable(data)
    return data


#: JSON text may not hold a control character as it is, only escaped.
_RAW_CONTROL: Final = "a control character written as it is (inside a string write it escaped, as \\u0000)"
#: What the json module's own messages mean, in the words of the other refusals (by the start of its message).
_SAID: Final = {
    "Invalid control character": _RAW_CONTROL,
    "Unexpected UTF-8 BOM": "a byte order mark (U+FEFF: send UTF-8 without one)",
}


def _loads(
    text: str,
    object_pairs_hook: Callable[[list[tuple[str, Any]]], Any],
    parse_int: Callable[[str], Any] = int,
) -> Any:
    """JSON data, numbers exactly; JSON that is malformed or nested too deeply refused."""
    try:
        return json.loads(
            text,
            parse_float=Decimal,
            parse_int=parse_int,
            parse_constant=_no_constants,
            object_pairs_hook=object_pairs_hook,
        )
    except json.JSONDecodeError as exc:
        # The json module ends this one message with "at" (its own text adds the place after it).
        said = next((words for start, words in _SAID.items() if exc.msg.startswith(start)), exc.msg)
        raise InvalidJson(
            f"the request is not valid JSON: {said} at line {exc.lineno}, column {exc.colno}",
            {"line": exc.lineno, "column": exc.colno},
        ) from None
    except RecursionError:
        raise InvalidJson("the request is nested too deeply to be read", {}) from None


class _GivenTwice(Exception):
    """An object gives a name twice: the text is read again to say where (``_first_unreadable``)."""


def _once_each(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    made = dict(pairs)
    if len(made) < len(pairs):
        raise _GivenTwice
    return made


class NumberTooLong(InvalidJson):
    """A whole number with more digits than any number allot reads (more than Python converts, 4 300)."""


class _Twice(dict[str, Any]):
    """While a text is read again: an object that gives ``name`` twice."""

    def __init__(self, pairs: list[tuple[str, Any]], name: str) -> None:
        super().__init__(pairs)
        self.name = name


@attrs.frozen
class _LongNumber:
    """While a text is read again: a whole number of ``digits`` digits, too long to convert."""

    digits: int


def _marking_twice(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    made = dict(pairs)
    if len(made) < len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                return _Twice(pairs, name)
            seen.add(name)
    return made


def _marking_long(digits: str) -> int | _LongNumber:
    try:
        return int(digits)
    except ValueError:
        return _LongNumber(len(digits.lstrip("-")))


def _first_unreadable(text: str) -> ValidationError:
    """The refusal of a JSON text that gives a name twice in one object or holds a whole number too long to read:
    read again with each marked, it names the first one in the text's order (``$.lines[0].weight``)."""
    data = _loads(text, _marking_twice, _marking_long)
    for path, value in _walk(data):
        if isinstance(value, _Twice):
            field = f"{path}.{value.name}"
            return InvalidJson(
                f"the field {value.name!r} is given twice in one object ({field}): give each field once",
                {"field": field},
            )
        if isinstance(value, _LongNumber):
            return NumberTooLong(
                f"{path} is a whole number of {value.digits} digits, a number allot cannot read: a number has at "
                f"most {MAX_INTEGER_DIGITS} digits before the decimal point and {MAX_DECIMAL_PLACES} after it",
                {"field": path, "digits": value.digits},
            )
    return InvalidJson("the request has a number allot cannot read", {})  # not reached: one is marked


def _walk(data: Any) -> Iterator[tuple[str, Any]]:
    """Every value in JSON data with its path (``$``, ``$.lines``, ``$.lines[0]``, …), in the text's order: an
    object before what it holds. Without recursion: the data may be nested as deeply as JSON is read."""
    stack: list[tuple[str, Any]] = [("$", data)]
    while stack:
        path, value = stack.pop()
        yield path, value
        if isinstance(value, dict):
            stack.extend((f"{path}.{name}", item) for name, item in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((f"{path}[{index}]", item) for index, item in reversed(list(enumerate(value))))


class UnencodableText(ValidationError):
    """Text no store or answer can carry: a lone surrogate (half of a UTF-16 pair, which is no character and has
    no UTF-8 form) or a NUL."""


def check_encodable(data: Any, path: str = "$") -> None:
    """Refuse, naming the field (``$.currency``, ``$.lines[0].instrument_id``), any text in JSON data that holds a
    lone surrogate or a NUL, in a value or in a name."""
    if isinstance(data, str):
        _check_text(data, path)
    elif isinstance(data, dict):
        for name, value in data.items():
            _check_text(name, f"a field name in {path}")
            check_encodable(value, f"{path}.{name}")
    elif isinstance(data, list):
        for index, item in enumerate(data):
            check_encodable(item, f"{path}[{index}]")


def _check_text(text: str, path: str) -> None:
    bad = sorted({f"U+{ord(c):04X}" for c in text if c == "\0" or "\ud800" <= c <= "\udfff"})
    if bad:
        raise UnencodableText(
            f"{path} holds characters that are not text ({', '.join(bad[:5])}): a lone surrogate or a NUL; "
            "send the text as it is meant, in UTF-8",
            {"field": path, "characters": bad},
        )


def numbers_written(text: str) -> str:
    """JSON text with every marked ``Number`` written as the bare JSON number it stands for."""
    return _MARKED.sub(r"\1", text) if "\\u0000#" in text else text


def write_json(data: object, indent: int | None = None) -> str:
    """JSON data as the text allot answers with: characters beyond ASCII as they are, ``Number`` fields as JSON
    numbers."""
    return numbers_written(json.dumps(data, indent=indent, ensure_ascii=False, default=str))


def dumps(value: object) -> str:
    return write_json(unstructure(value), indent=2)


def error_body(error: AllotError) -> dict[str, Any]:
    return {"error": {"code": error.code, "message": error.message, "details": unstructure(error.details)}}


def compact_json(data: object) -> str:
    """JSON data (dicts, lists, text, whole numbers, booleans, null: what ``unstructure`` makes, never a float) as
    compact text: no blanks, characters beyond ASCII as they are. The text is exactly what ``json.dumps(data,
    separators=(",", ":"), ensure_ascii=False)`` writes; orjson writes it some ten times faster, and what it
    refuses (a whole number beyond 64 bits, a lone surrogate, a key that is not text) is written by ``json``
    instead. (The two differ on what allot never writes: floats, dates, NaN.)"""
    try:
        return numbers_written(orjson.dumps(data).decode())
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return numbers_written(json.dumps(data, separators=(",", ":"), ensure_ascii=False))


def to_json(value: object) -> str:
    """Compact JSON of any record or value object (for storage and webhook bodies)."""
    return compact_json(_WRITING.unstructure(value))


def from_data(data: object, type_: type[T]) -> T:
    """A stored value from parsed JSON that allot wrote itself (trusted: no user-facing error wrapping)."""
    return _CONVERTER.structure(data, type_)


_STRUCTURED: dict[tuple[str, type], object] = {}


def from_json(text: str, type_: type[T]) -> T:
    """A stored record from its JSON. Records are immutable, so equal texts share one (cached) object."""
    key = (text, type_)
    found = _STRUCTURED.get(key)
    if found is None:
        if len(_STRUCTURED) >= 8192:
            _STRUCTURED.clear()
        found = _STRUCTURED[key] = _CONVERTER.structure(json.loads(text, parse_float=Decimal), type_)
    return cast(T, found)
