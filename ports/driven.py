"""Driven ports: what the application needs from the outside world, as protocols.

Storage is a unit of work with one repository per aggregate and an outbox: a state change and its events are
committed together or not at all, and each committed event is fanned out to the subscriptions of its topic.
Webhook delivery has a port of its own (the delivery queue, kept by the storage adapter, and the sender, which
knows HTTP and signing). The venue, the clock, ids and the jitter of retries come from ports too, so the core
never makes them.
"""

from __future__ import annotations

import builtins
import datetime as dt
import math
import threading
from collections.abc import Mapping, Sequence
from decimal import Decimal
from types import TracebackType
from typing import Final, Protocol, Self, TypeVar

import attrs

from core.instruments import Instrument, Side
from core.investments import BackOfficeStep, Outcome
from core.journal import EntryPosting, EntryRow, JournalEntry, LedgerAccount
from core.market import Quote
from core.records import (
    Account,
    AccountLiquidation,
    ApiKey,
    BlockOrder,
    Client,
    Event,
    IdempotencyRecord,
    Investment,
    ModelPortfolio,
    Order,
    PortfolioOrder,
    Record,
    StoredKey,
    StoredResponse,
    Subscription,
    TradeFollower,
    TradeLeader,
    User,
)
from core.webhooks import Attempt, AttemptDecision, EventQuery

T = TypeVar("T")
#: What a ``list`` filter compares a field with: one value, or any of several.
Match = str | tuple[str, ...]


class Repository(Protocol[T]):
    """Records of one aggregate, by id. Reads inside a unit of work see its own writes."""

    def get(self, record_id: str) -> T | None: ...

    def add(self, record: T) -> None:
        """Insert a new record; an existing id raises ``AlreadyExists``."""

    def update(self, record: T) -> None:
        """Replace a record; raises ``NotFound`` if there is none, and ``ConcurrentUpdate`` if another unit of
        work committed a change to it after this one read it."""

    def list(self, **where: Match) -> list[T]:
        """Records whose top-level fields equal the given values (enums by value; a tuple: any of its values),
        oldest first."""
        ...

    def ids(self, **where: Match) -> builtins.list[str]:
        """The ids of the records ``list`` would return, without reading the records themselves."""
        ...


class Outbox(Protocol):
    def add(self, event: Event) -> None:
        """Record an event. It is published only if the unit of work commits, and then fanned out: one pending
        delivery for every subscription of its topic that is active at that moment."""

    def list(self, query: EventQuery) -> list[tuple[int, Event]]:
        """Committed events with their sequence numbers, in commit order; each event's object is the record
        as it was committed (the same type on every adapter)."""
        ...


class Journal(Protocol):
    """The journal: entries are appended in the same transaction as the change that caused them, never changed."""

    def append(self, entry: JournalEntry) -> None:
        """Record an entry; it is kept only if the unit of work commits."""

    def entries(self, ledger: LedgerAccount | None = None) -> list[JournalEntry]:
        """Committed entries in the order they were appended: all, or those with a posting to ``ledger``."""
        ...

    def entry_rows(self) -> list[EntryRow]:
        """Every committed entry's id and cause kind, in the order appended, as stored: an entry with no postings
        or a cause kind allot does not know comes back as it now is, not refused."""
        ...

    def postings(self) -> list[EntryPosting]:
        """Every committed posting with its entry's id, in the order appended, as stored: an entry damaged in
        the store after it was written comes back as it now is (unbalanced, say), not refused, and a posting
        whose entry is gone comes back with ``None`` for its entry's id (after the others)."""
        ...


class UnitOfWork(Protocol):
    """One transaction: what it reads is one consistent state, and what it writes is committed together.

    Two units of work that change the same record concurrently cannot both commit: the second gets
    ``ConcurrentUpdate`` and nothing of it is written (the application runs it again on fresh data).
    """

    @property
    def accounts(self) -> Repository[Account]: ...
    @property
    def instruments(self) -> Repository[Instrument]: ...
    @property
    def allocations(self) -> Repository[ModelPortfolio]: ...
    @property
    def portfolio_orders(self) -> Repository[PortfolioOrder]: ...
    @property
    def orders(self) -> Repository[Order]: ...
    @property
    def liquidations(self) -> Repository[AccountLiquidation]: ...
    @property
    def keys(self) -> Repository[StoredKey]: ...
    @property
    def blocks(self) -> Repository[BlockOrder]: ...
    @property
    def subscriptions(self) -> Repository[Subscription]: ...
    @property
    def idempotency(self) -> Repository[IdempotencyRecord]: ...
    @property
    def clients(self) -> Repository[Client]: ...
    @property
    def users(self) -> Repository[User]: ...
    @property
    def api_keys(self) -> Repository[ApiKey]: ...
    @property
    def responses(self) -> Repository[StoredResponse]: ...
    @property
    def leaders(self) -> Repository[TradeLeader]: ...
    @property
    def followers(self) -> Repository[TradeFollower]: ...
    @property
    def investments(self) -> Repository[Investment]: ...
    @property
    def outbox(self) -> Outbox: ...
    @property
    def journal(self) -> Journal: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        """Roll back whatever was not committed."""

    def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...


@attrs.frozen
class DeliveryKey:
    """Which delivery: the event's sequence number and the subscription."""

    sequence: int
    subscription_id: str


@attrs.frozen
class Delivery:
    """One event to deliver to one subscription, and how many attempts it has had."""

    sequence: int
    event: Event
    subscription: Subscription
    attempts: int

    @property
    def key(self) -> DeliveryKey:
        return DeliveryKey(self.sequence, self.subscription.id)


@attrs.frozen
class RecordedAttempt:
    """An attempt at one delivery and what follows it."""

    key: DeliveryKey
    attempt: Attempt
    decision: AttemptDecision


@attrs.frozen
class SendResult:
    """What one HTTP attempt got: a status code, or the error that stopped it."""

    status_code: int | None
    error: str | None
    duration_ms: int
    #: Seconds the endpoint asked to be left alone (``Retry-After`` on a 429 or a 503), if it said.
    retry_after: float | None = None


class DeliveryQueue(Protocol):
    """The webhook deliveries the outbox fanned out, kept by the storage adapter."""

    def due(self, now: dt.datetime, limit: int) -> list[Delivery]:
        """Pending deliveries whose next attempt is due, oldest event first."""
        ...

    def claim(self, keys: Sequence[DeliveryKey], now: dt.datetime, lease: float) -> list[Delivery]:
        """Take deliveries for an attempt each, in one transaction: of ``keys``, in their order, those still
        pending and due for an active subscription, as they stand now, each made not due for ``lease`` seconds so
        that no other worker takes it meanwhile (if this one dies, it is due again when the lease ends)."""
        ...

    def record(
        self, attempts: Sequence[RecordedAttempt], released: Sequence[DeliveryKey], now: dt.datetime
    ) -> None:
        """In one transaction: log each attempt and carry out its decision (delivered, retried after
        ``decision.delay``, or given up; a ``disable_reason`` disables the subscription and drops its pending
        deliveries), and make the ``released`` deliveries — taken but not tried — due again at ``now``."""

    def disable(self, subscription_id: str, reason: str) -> None:
        """Stop delivering to a subscription: it is marked disabled and its pending deliveries are dropped."""

    def event(self, event_id: str) -> tuple[int, Event] | None:
        """A committed event by id, with its sequence number."""
        ...

    def redeliver(self, sequence: int, subscription_ids: Sequence[str], now: dt.datetime) -> None:
        """Make the event's delivery to each subscription pending again, due ``now``, with no attempts yet
        (a new one where the event was committed before the subscription existed)."""

    def log(self, limit: int) -> list[Attempt]:
        """The latest attempts, newest first."""
        ...


class WebhookSender(Protocol):
    """Sends deliveries over HTTP, signed; never raises for a problem of the endpoint (it is in the result). It
    connects only to addresses the core calls public, checked on the address actually connected to, unless the
    subscription allows private networks. Called from several threads."""

    def send(
        self,
        deliveries: Sequence[Delivery],
        timeout: float,
        within: float = math.inf,
        stop: threading.Event | None = None,
    ) -> list[SendResult]:
        """Send deliveries to one subscription one after another, each within ``timeout`` seconds in all, over one
        connection while the endpoint keeps it open; stop after the first that gets no 2xx answer, start none
        once ``within`` seconds have passed since the call (nor let one last beyond that), and none after the
        first once ``stop`` is set. One result for each delivery tried, in order."""
        ...


class WebhookUrlGuard(Protocol):
    def __call__(self, url: str, allow_private_network: bool) -> None:
        """Raise ``UnsafeWebhookUrl`` unless ``url`` may receive webhooks."""


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, timezone-aware UTC."""
        ...


class IdGenerator(Protocol):
    def new_id(self) -> str:
        """A new unique id (UUID4 string)."""
        ...


class Jitter(Protocol):
    def draw(self) -> float:
        """A random number in [-1, 1] that spreads retry delays."""
        ...


class Venue(Protocol):
    """An execution venue: quotes a price, then fills some or all of a quantity at it."""

    def quote(self, instrument: Instrument, side: Side) -> Quote: ...

    def fill(self, instrument: Instrument, side: Side, quantity: Decimal) -> Decimal:
        """How much of ``quantity`` is executed now: a multiple of the quantity step, at most ``quantity``
        (nothing when asked for nothing)."""
        ...


class BackOffice(Protocol):
    """The back office that carries out the steps of an investment's lifecycle (create its account, check and
    move its funding, assign and unassign its fee profile)."""

    def perform(self, step: BackOfficeStep, investment: Investment) -> Outcome:
        """Do ``step`` for the investment: SUCCEEDED, FAILED (it may succeed later) or PENDING (accepted, not done
        yet). An exception means the step raised: the application turns it into the step's ERROR sub-state."""
        ...


@attrs.frozen
class Table:
    """How a repository stores its records: the unit of work's attribute, the record type, its id field, and
    what a person calls one of them."""

    name: str
    record_type: type
    id_field: str
    noun: str


#: Every repository of a unit of work.
TABLES: Final[tuple[Table, ...]] = (
    Table("accounts", Account, "id", "account"),
    Table("instruments", Instrument, "instrument_id", "instrument"),
    Table("allocations", ModelPortfolio, "id", "model portfolio"),
    Table("portfolio_orders", PortfolioOrder, "id", "portfolio order"),
    Table("orders", Order, "id", "order"),
    Table("liquidations", AccountLiquidation, "id", "account liquidation"),
    Table("keys", StoredKey, "id", "allocation key"),
    Table("blocks", BlockOrder, "id", "block order"),
    Table("subscriptions", Subscription, "id", "webhook subscription"),
    Table("idempotency", IdempotencyRecord, "id", "idempotency key"),
    Table("clients", Client, "id", "client"),
    Table("users", User, "id", "user"),
    Table("api_keys", ApiKey, "id", "API key"),
    Table("responses", StoredResponse, "id", "idempotent request"),
    Table("leaders", TradeLeader, "id", "trade leader"),
    Table("followers", TradeFollower, "id", "trade follower"),
    Table("investments", Investment, "id", "investment"),
)
#: The table of each record type.
TABLE_OF: Final[Mapping[type, Table]] = {table.record_type: table for table in TABLES}


def record_id(record: Record) -> str:
    value: str = getattr(record, TABLE_OF[type(record)].id_field)
    return value


def field_text(record: object, name: str) -> str | None:
    """A top-level field as the text a ``list(**where)`` filter compares it with (enums by value)."""
    value = getattr(record, name, None)
    if value is None:
        return None
    return str(getattr(value, "value", value))


def matches(record: object, where: dict[str, Match]) -> bool:
    """Whether a record passes a ``list(**where)`` filter."""
    for name, wanted in where.items():
        text = field_text(record, name)
        if text not in (wanted if isinstance(wanted, tuple) else (wanted,)):
            return False
    return True
