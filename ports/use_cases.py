"""What every use case shares: the driven ports, one transaction per use case, storing a decision.

A use case reads: load what it needs, make one core call that returns a ``Decision``, store it and return its
result. ``@transaction`` runs the use case in a unit of work, commits it, and runs it again on fresh data if
another writer changed a record it read in the meantime (``ConcurrentUpdate``), a few times at most.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Concatenate, Final, ParamSpec, Protocol, TypeVar, cast

import attrs

from core.decisions import Changes, Decision
from core.errors import ConcurrentUpdate, NotFound
from core.idempotency import replayed
from core.instruments import Instrument
from core.lifecycle import OPEN
from core.records import Account, Event, IdempotencyRecord, Record
from core.tenants import OPERATOR, Owned, Scope, filters, only_visible, visible
from ports.driven import (
    TABLE_OF,
    BackOffice,
    Clock,
    DeliveryQueue,
    IdGenerator,
    Jitter,
    Match,
    Repository,
    UnitOfWork,
    UnitOfWorkFactory,
    Venue,
    WebhookSender,
    WebhookUrlGuard,
)

T = TypeVar("T")


class NamesAccounts(Owned, Protocol):
    """A record that names accounts besides its owner: usable only by a caller who may see them all."""

    @property
    def account_ids(self) -> tuple[str, ...]: ...


OwnedT = TypeVar("OwnedT", bound=Owned)
NamingT = TypeVar("NamingT", bound="NamesAccounts")
P = ParamSpec("P")
R = TypeVar("R")
U = TypeVar("U", bound="UseCases")

#: How many times a use case runs before a conflict with other writers is reported. Through the HTTP store a long
#: use case sharing a record with another process's short ones can lose many times in a row (it cannot take the
#: write lock up front as on SQLite); the store's own pause after each loss keeps the whole wait to a few seconds.
ATTEMPTS: Final = 20
#: The states of open orders, as a ``list(state=...)`` filter takes them.
OPEN_STATES: Final = tuple(sorted(state.value for state in OPEN))


@attrs.frozen
class DrivenPorts:
    """Everything the application drives, as the composition root wired it."""

    unit_of_work: UnitOfWorkFactory
    venue: Venue
    clock: Clock
    ids: IdGenerator
    deliveries: DeliveryQueue
    sender: WebhookSender
    url_guard: WebhookUrlGuard
    jitter: Jitter
    back_office: BackOffice


def transaction(use_case: Callable[Concatenate[U, UnitOfWork, P], R]) -> Callable[Concatenate[U, P], R]:
    """Run the use case in its own unit of work and commit it; on ``ConcurrentUpdate`` run it again."""

    @functools.wraps(use_case)
    def in_unit_of_work(self: U, /, *args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                with self.ports.unit_of_work() as uow:
                    result = use_case(self, uow, *args, **kwargs)
                    uow.commit()
                    return result
            except ConcurrentUpdate:
                if attempt == ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    return in_unit_of_work


def require_all(instruments: Repository[Instrument], instrument_ids: Sequence[str]) -> dict[str, Instrument]:
    """The instruments by id, read at once; one that does not exist is ``NotFound``."""
    found = {i.instrument_id: i for i in instruments.list(instrument_id=tuple(instrument_ids))}
    for instrument_id in instrument_ids:
        if instrument_id not in found:
            raise NotFound(
                f"instrument {instrument_id} does not exist", {"kind": "instrument", "id": instrument_id}
            )
    return found


def require(repository: Repository[T], record_id: str, what: str) -> T:
    """The record, or ``NotFound`` naming what is missing."""
    record = repository.get(record_id)
    if record is None:
        raise NotFound(f"{what} {record_id} does not exist", {"kind": what, "id": record_id})
    return record


def require_visible(
    repository: Repository[OwnedT], record_id: str, what: str, scope: Scope = OPERATOR
) -> OwnedT:
    """The record, if it exists and the caller may see it; ``NotFound`` either way otherwise (``core.tenants``)."""
    return visible(scope, repository.get(record_id), what, record_id)


def list_visible(repository: Repository[OwnedT], scope: Scope = OPERATOR, **where: Match) -> list[OwnedT]:
    """The records matching ``where`` that the caller may see, oldest first."""
    return only_visible(scope, repository.list(**where, **filters(scope)))


#: The most ids one read of accounts asks for (a store over HTTP sends them in its query string).
IDS_PER_READ: Final = 200


def accounts_by_id(uow: UnitOfWork, account_ids: Iterable[str]) -> dict[str, Account]:
    """The accounts with these ids that exist, read ``IDS_PER_READ`` ids at a time."""
    wanted = sorted(set(account_ids))
    chunks = (tuple(wanted[start : start + IDS_PER_READ]) for start in range(0, len(wanted), IDS_PER_READ))
    return {a.id: a for chunk in chunks for a in uow.accounts.list(id=chunk)}


def require_reachable(
    uow: UnitOfWork,
    repository: Repository[NamingT],
    record_id: str,
    what: str,
    scope: Scope = OPERATOR,
) -> NamingT:
    """A record that names accounts (a key, a block): ``NotFound`` unless the caller may see it and every account it
    names (``core.tenants.visible``)."""
    record = repository.get(record_id)
    names = () if record is None else named_accounts(uow, [record])(record)
    return visible(scope, record, what, record_id, names)


def list_reachable(
    uow: UnitOfWork, repository: Repository[NamingT], scope: Scope = OPERATOR, **where: Match
) -> list[NamingT]:
    """The records matching ``where`` that the caller may see with every account they name, oldest first."""
    records = repository.list(**where, **filters(scope))
    return only_visible(scope, records, named_accounts(uow, records))


def named_accounts(uow: UnitOfWork, records: Sequence[NamingT]) -> Callable[[NamingT], list[Account | None]]:
    """What each of these records names, for ``core.tenants.only_visible``: its accounts (None: missing), read at
    once for all of them."""
    accounts = accounts_by_id(uow, (a for r in records for a in r.account_ids))
    return lambda record: [accounts.get(a) for a in record.account_ids]


@attrs.frozen
class UseCases:
    """The use cases of one aggregate; every module of the application layer has one such class."""

    ports: DrivenPorts

    def now(self) -> dt.datetime:
        return self.ports.clock.now()

    def new_id(self) -> str:
        return self.ports.ids.new_id()

    def fresh_ids(self) -> Iterator[str]:
        """A supply of new ids, for a decision that creates an unknown number of records."""
        return iter(self.ports.ids.new_id, None)

    def save(self, uow: UnitOfWork, decision: Decision[T], now: dt.datetime) -> T:
        """Store what the decision changes and publish what it announces (stamped ``now``); return its result."""
        self.store(uow, decision.changes, now)
        return decision.result

    def store(self, uow: UnitOfWork, changes: Changes, now: dt.datetime) -> None:
        for record in changes.created:
            repository(uow, record).add(record)
        for record in changes.updated:
            repository(uow, record).update(record)
        for entry in changes.journaled:
            uow.journal.append(entry)
        for announcement in changes.announced:
            event = Event(
                id=self.new_id(), created_at=now, type=announcement.type, object=announcement.object
            )
            uow.outbox.add(event)

    def replay(self, uow: UnitOfWork, key: str | None, request: str) -> str | None:
        """The id an idempotency key already created for this same request (``None`` for no key or a new one)."""
        if key is None:
            return None
        return replayed(uow.idempotency.get(key), key, request)

    def remember(self, uow: UnitOfWork, key: str | None, request: str, result_id: str) -> None:
        """Keep what ``key`` made (``result_id``) in the work's own transaction: the work and its key are committed
        together or not at all, so no crash can let a retry do the work again."""
        if key is not None:
            uow.idempotency.add(IdempotencyRecord(key, request, result_id))

    def done_before(
        self, uow: UnitOfWork, key: str | None, request: str, repository: Repository[T], what: str
    ) -> T | None:
        """The record ``key`` already made (or last changed) for this same request, as it is now; ``None``: do
        the work, and ``remember`` it."""
        made = self.replay(uow, key, request)
        return None if made is None else require(repository, made, what)


def repository(uow: UnitOfWork, record: Record) -> Repository[Record]:
    """The repository a record is stored in."""
    return cast("Repository[Record]", getattr(uow, TABLE_OF[type(record)].name))
