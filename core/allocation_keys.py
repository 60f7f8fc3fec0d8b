"""Allocation keys as stored records: created, invalidated, replaced, used by a block, expired.

A key is never modified: "changing" one creates a new key and invalidates the old one in the same step. Every
status a key takes is announced (``ALLOCATION_KEY.<STATUS>``) with the key as it now stands.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from fractions import Fraction

import attrs

from core.accounts import check_managed, check_open, open_account
from core.decisions import Changes, Decision
from core.errors import CurrencyMismatch
from core.fairness import NO_HISTORY, Fairness
from core.fills import CostSchedule
from core.keys import AllocationKey, effective_status, owners_error_account
from core.lifecycle import ALLOCATION_KEY, KeyStatus, KeyTrigger
from core.numbers import ZERO
from core.records import Account, Announcement, StoredKey
from core.tenants import NOBODY, Owner, within


def announce_key(stored: StoredKey) -> Announcement:
    return Announcement.of(stored, stored.status.value)


def create(
    key: AllocationKey,
    accounts: Iterable[Account],
    *,
    key_id: str,
    now: dt.datetime,
    owner: Owner = NOBODY,
    opened: Account | None = None,
) -> Decision[StoredKey]:
    """Store a new key; every account it names must be open, hold the same currency (a block books one) and be
    visible to the key's owner (a user's key names the user's accounts; a client's key any of its users').
    ``opened``: the block account's own error account, opened with this key (``error_account_for``)."""
    named = [*accounts, *([opened] if opened is not None else [])]
    for account in named:
        within(owner, account)
        check_open(account)
        check_managed(account)
    if len({a.currency for a in named}) > 1:
        raise CurrencyMismatch(
            "the accounts of a key must all hold the same currency: a block books one currency",
            {"currencies": {a.id: a.currency for a in named}},
        )
    stored = StoredKey(
        id=key_id,
        key=key,
        status=key.initial_status,
        created_at=now,
        client_id=owner.client_id,
        user_id=owner.user_id,
    )
    made: list[Account | StoredKey] = [*([opened] if opened is not None else []), stored]
    return Decision(stored, Changes.of(created=made, announced=[announce_key(stored)]))


def error_account_for(
    key: AllocationKey, block_account: Account, existing: Account | None, now: dt.datetime
) -> Account | None:
    """The error account to open with a key: none when the key names its own, or when the block account's error
    account (``owners_error_account``) is open already; else that account, opened as every account is (its id
    checked), owned like the block account, in its currency, with no cash. Its own partners are not asked for:
    the block account is its owner's, and an id further down the chain taken before the block account existed
    must not keep the block account's key from its error account."""
    if key.error_account_id != owners_error_account(key.owner_account_id) or existing is not None:
        return None
    opened = open_account(
        key.error_account_id, block_account.currency, ZERO, None, CostSchedule(), ids=iter(()), now=now,
        owner=Owner(block_account.client_id, block_account.user_id),
    )  # fmt: skip
    return opened.result


def current(stored: StoredKey, now: dt.datetime) -> StoredKey:
    """The key as it stands at ``now``: a one-time key left unused for a week reads as EXPIRED."""
    return attrs.evolve(stored, status=effective_status(stored.status, stored.created_at, now))


#: The statuses of the keys listed unless others are asked for: one-time keys are listed only when asked for.
LISTED_BY_DEFAULT: tuple[KeyStatus, ...] = (KeyStatus.ACTIVE,)


def listed(keys: Iterable[StoredKey], statuses: Sequence[KeyStatus], now: dt.datetime) -> list[StoredKey]:
    """The keys in the given statuses (members or names), as they stand at ``now``."""
    wanted = {KeyStatus(status) for status in statuses}
    return [k for k in (current(stored, now) for stored in keys) if k.status in wanted]


def delete(stored: StoredKey, now: dt.datetime) -> Decision[StoredKey]:
    """Invalidate a key: it stays readable by id and can no longer be used."""
    deleted = attrs.evolve(stored, status=ALLOCATION_KEY.next(current(stored, now).status, KeyTrigger.DELETE))
    return Decision(deleted, Changes.of(updated=[deleted], announced=[announce_key(deleted)]))


def replace(
    old: StoredKey,
    key: AllocationKey,
    accounts: Iterable[Account],
    *,
    key_id: str,
    now: dt.datetime,
    opened: Account | None = None,
) -> Decision[StoredKey]:
    """'Change' a key: the new key is created and the old one invalidated together."""
    deleted = delete(old, now)
    owner = Owner(old.client_id, old.user_id)
    created = create(key, accounts, key_id=key_id, now=now, owner=owner, opened=opened)
    if key.fairness is Fairness.ROTATE and old.key.fairness is Fairness.ROTATE:
        # The replacement goes on where the old key stood: its accounts keep their lead or lag.
        kept = attrs.evolve(created.result, history=old.history)
        made: list[Account | StoredKey] = [*([opened] if opened is not None else []), kept]
        created = Decision(kept, Changes.of(created=made, announced=[announce_key(kept)]))
    return Decision(
        created.result,
        Changes.of(
            created=created.changes.created,
            updated=deleted.changes.updated,
            announced=[*deleted.changes.announced, *created.changes.announced],
        ),
    )


@attrs.frozen
class AccountStanding:
    """One account's standing in a key's fairness history, in steps: ``lead`` is positive ahead, negative behind."""

    account_id: str
    quota: Fraction
    allocated: int
    lead: Fraction


@attrs.frozen
class FairnessReport:
    """A key's fairness: how it hands out its remainder, how many blocks moved its history, who stands where."""

    key_id: str
    fairness: Fairness
    rounds: int
    accounts: tuple[AccountStanding, ...]


def fairness_report(stored: StoredKey) -> FairnessReport:
    """Where each remainder account of the key stands (nobody yet: a PLAIN key, or one never used)."""
    history = stored.history or NO_HISTORY
    accounts = tuple(AccountStanding(s.participant, s.quota, s.allocated, s.lag) for s in history.standings)
    return FairnessReport(stored.id, stored.key.fairness, history.rounds, accounts)
