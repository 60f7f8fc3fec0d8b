"""Allocation keys: who gets how much of a block trade.

A key is never modified: "changing" one creates a new key and invalidates the old one.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Collection
from decimal import Decimal
from typing import Final

import attrs

from core.errors import AllocationKeyNotUsable, ValidationError
from core.fairness import Fairness
from core.lifecycle import ALLOCATION_KEY, KeyStatus, KeyTrigger
from core.numbers import ZERO, check_count, decimal_input, exact, fmt
from core.validators import NamedEnum, each_is, flag, non_empty, positive

#: A one-time key that was never used expires this long after it was created.
ONE_TIME_KEY_LIFETIME = dt.timedelta(days=7)


class UnitType(NamedEnum):
    PERCENTAGE = "PERCENTAGE"  #: unit values are percentages that sum to exactly 100
    UNIT = "UNIT"  #: unit values are quantities; the block is expected to be a multiple of their sum


class MarginHandling(NamedEnum):
    REJECT = "REJECT"  #: reject the whole block if any participant cannot pay for its share
    REDUCE = "REDUCE"  #: cut such participants to what they can pay for, and shrink the block


#: The largest priority a participant may have: every participant without one comes after all that have one.
MAX_PRIORITY: Final = 2**31 - 1


def priority_rank(instance: object, attribute: attrs.Attribute[int | None], value: int | None) -> None:
    if value is not None:
        check_count(value, attribute.name, minimum=1, maximum=MAX_PRIORITY)


@attrs.frozen
class Participant:
    """One participating account. ``priority`` (1 = first) is required when it accepts remainders."""

    account_id: str = attrs.field(validator=non_empty)
    unit_value: Decimal = attrs.field(converter=decimal_input, validator=positive)
    accept_remainder: bool = attrs.field(default=False, validator=flag)
    priority: int | None = attrs.field(default=None, validator=priority_rank)

    @property
    def rank(self) -> int:
        """Priority as a sort key: unprioritised participants come after every prioritised one."""
        return self.priority if self.priority is not None else MAX_PRIORITY + 1


@exact
def _participants(
    instance: AllocationKey,
    attribute: attrs.Attribute[tuple[Participant, ...]],
    value: tuple[Participant, ...],
) -> None:
    if not value:
        raise ValidationError("an allocation key needs at least one participant", {"field": "participants"})
    each_is(Participant, value, "participants")
    counts = Counter(p.account_id for p in value)
    repeated = sorted(a for a, n in counts.items() if n > 1)
    if repeated:
        raise ValidationError(
            "each account may participate only once in a key", {"field": "participants", "accounts": repeated}
        )
    for p in value:
        if p.accept_remainder and p.priority is None:
            raise ValidationError(
                f"{p.account_id} accepts remainders and so needs a priority",
                {"field": "participants.priority", "account_id": p.account_id},
            )
    priorities = Counter(p.priority for p in value if p.accept_remainder and p.priority is not None)
    clashing = sorted(q for q, n in priorities.items() if n > 1)
    if clashing:
        raise ValidationError(
            "participants that accept remainders need unique priorities",
            {"field": "participants.priority", "priorities": clashing},
        )
    if instance.unit_type is UnitType.PERCENTAGE:
        total = sum((p.unit_value for p in value), ZERO)
        if total != 100:
            raise ValidationError(
                f"percentage unit values must sum to exactly 100, not {fmt(total)}",
                {"field": "participants.unit_value", "sum": fmt(total)},
            )


#: What ends the id of a block account's own error account.
ERROR_ACCOUNT_SUFFIX: Final = "-ERROR"


def owners_error_account(owner_account_id: str) -> str:
    """The id of the error account a key uses when it names none: its block account's own error account, which
    the first such key opens beside the block account (same owner, same currency, no cash)."""
    return f"{owner_account_id}{ERROR_ACCOUNT_SUFFIX}"


def error_account_of(owner_account_id: str, named: str | None) -> str:
    """The error account of a key over ``owner_account_id``: the one it names, else (``None``) the block account's
    own. A name given empty stays empty, to be refused as such."""
    return owners_error_account(owner_account_id) if named is None else named


def error_account_partners(account_id: str) -> tuple[str, ...]:
    """The accounts that must belong to whoever opens ``account_id``, if they exist: its own error account and,
    when it is one, every account up its chain (``B-ERROR-ERROR``: ``B-ERROR`` and ``B``). So no one can take an
    error account id of an account someone else holds, however far down the chain, nor open an account whose
    error account id someone else holds."""
    partners = [owners_error_account(account_id)]
    base = account_id
    while base.endswith(ERROR_ACCOUNT_SUFFIX) and len(base) > len(ERROR_ACCOUNT_SUFFIX):
        base = base.removesuffix(ERROR_ACCOUNT_SUFFIX)
        partners.append(base)
    return tuple(partners)


@attrs.frozen
class AllocationKey:
    """The definition of an allocation key: its participating accounts, the block (owner) account the block is
    placed on, and the error account that takes what the participants do not."""

    name: str = attrs.field(validator=non_empty)
    unit_type: UnitType = attrs.field(converter=UnitType)
    margin_handling: MarginHandling = attrs.field(converter=MarginHandling)
    one_time: bool = attrs.field(validator=flag)
    owner_account_id: str = attrs.field(validator=non_empty)
    error_account_id: str = attrs.field(validator=non_empty)
    participants: tuple[Participant, ...] = attrs.field(validator=_participants)
    #: ROTATE: the key's remainder rotates over the accounts that accept remainders, block after block (the key's
    #: history keeps each one's cumulative share); PLAIN: it goes the same way every time.
    fairness: Fairness = attrs.field(default=Fairness.PLAIN, converter=Fairness)

    def __attrs_post_init__(self) -> None:
        # The block and error accounts stand apart from the participants: an account that is both would receive
        # the remainder as a participant and as the error account, and no one could tell the two apart.
        members = {p.account_id for p in self.participants}
        for role, account_id in (("error", self.error_account_id), ("owner (block)", self.owner_account_id)):
            if account_id in members:
                raise ValidationError(
                    f"the {role} account {account_id} cannot also be a participant of the key",
                    {"field": "participants", "account_id": account_id},
                )

    @property
    def accounts(self) -> tuple[str, ...]:
        """Every account the key names: owner, error account, then the participants in key order."""
        return (self.owner_account_id, self.error_account_id, *(p.account_id for p in self.participants))

    @property
    def recipients(self) -> tuple[str, ...]:
        """The accounts a block is allocated to: the participants in key order, then the error account."""
        return (*(p.account_id for p in self.participants), self.error_account_id)

    @property
    def initial_status(self) -> KeyStatus:
        return KeyStatus.ONE_TIME if self.one_time else KeyStatus.ACTIVE

    @property
    def remainder_participants(self) -> tuple[Participant, ...]:
        return tuple(p for p in self.participants if p.accept_remainder)


def effective_status(status: KeyStatus, created_at: dt.datetime, now: dt.datetime) -> KeyStatus:
    """A one-time key left unused for a week is expired, whether or not anyone wrote that down yet."""
    status = KeyStatus(status)
    if status is KeyStatus.ONE_TIME and now >= created_at + ONE_TIME_KEY_LIFETIME:
        return ALLOCATION_KEY.next(status, KeyTrigger.EXPIRE)
    return status


def check_usable(
    key: AllocationKey,
    status: KeyStatus,
    created_at: dt.datetime,
    now: dt.datetime,
    closed_accounts: Collection[str] = (),
) -> KeyStatus:
    """Raise unless the key can allocate a block now; return the status after this use."""
    current = effective_status(status, created_at, now)
    if current not in (KeyStatus.ACTIVE, KeyStatus.ONE_TIME):
        raise AllocationKeyNotUsable(
            f"allocation key {key.name!r} is {current.value} and cannot be used; create a new key",
            {"status": current.value},
        )
    closed = sorted(set(key.recipients) & set(closed_accounts))
    if closed:
        raise AllocationKeyNotUsable(
            f"allocation key {key.name!r} is invalid: accounts it allocates to are closed",
            {"closed_accounts": closed},
        )
    return ALLOCATION_KEY.next(current, KeyTrigger.USE)
