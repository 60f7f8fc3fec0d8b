"""Allocation keys: created, shown, listed, invalidated, replaced, previewed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from core import allocation_keys
from core.allocation_keys import LISTED_BY_DEFAULT, FairnessReport
from core.blocks import BlockAllocation, BlockRequest, allocate
from core.idempotency import check_key, fingerprint
from core.keys import AllocationKey
from core.lifecycle import KeyStatus
from core.records import Account, StoredKey
from core.tenants import OPERATOR, Scope, owner_for
from ports.driven import UnitOfWork
from ports.use_cases import (
    UseCases,
    list_reachable,
    require_reachable,
    require_visible,
    transaction,
)


def key_accounts(
    uow: UnitOfWork, key: AllocationKey, scope: Scope, now: dt.datetime
) -> tuple[list[Account], Account | None]:
    """The accounts a new key names, each of which the caller must see (a user its own, a client any of its
    users'), and the block account's error account to open with it, if the key names that one and it is not
    open yet."""
    block = require_visible(uow.accounts, key.owner_account_id, "account", scope)
    opened = allocation_keys.error_account_for(key, block, uow.accounts.get(key.error_account_id), now)
    named = [a for a in key.accounts if opened is None or a != opened.id]
    return [require_visible(uow.accounts, account_id, "account", scope) for account_id in named], opened


def require_key(uow: UnitOfWork, key_id: str, scope: Scope) -> StoredKey:
    """A key the caller may use: it sees the key and every account the key names."""
    return require_reachable(uow, uow.keys, key_id, "allocation key", scope)


class Keys(UseCases):
    @transaction
    def create(
        self, uow: UnitOfWork, key: AllocationKey, scope: Scope = OPERATOR, idempotency_key: str | None = None
    ) -> StoredKey:
        """Store a key for the caller (a user's key is the user's, a client-wide caller's the client's); every account
        it names must exist, be open and be visible to the caller. Created again with the same idempotency key and
        request: the key created first."""
        once, request = check_key(idempotency_key), fingerprint("allocation key", key)
        made = self.done_before(uow, once, request, uow.keys, "allocation key")
        if made is not None:
            return made
        now = self.now()
        accounts, opened = key_accounts(uow, key, scope, now)
        decision = allocation_keys.create(
            key, accounts, key_id=self.new_id(), now=now, owner=owner_for(scope), opened=opened,
        )  # fmt: skip
        self.remember(uow, once, request, decision.result.id)
        return self.save(uow, decision, now)

    @transaction
    def get(self, uow: UnitOfWork, key_id: str, scope: Scope = OPERATOR) -> StoredKey:
        """The key as it stands now, whatever its status."""
        stored = require_key(uow, key_id, scope)
        return allocation_keys.current(stored, self.now())

    @transaction
    def all(
        self,
        uow: UnitOfWork,
        statuses: Sequence[KeyStatus] = LISTED_BY_DEFAULT,
        scope: Scope = OPERATOR,
    ) -> list[StoredKey]:
        """Keys in the given statuses: ACTIVE by default, one-time keys only when asked for."""
        return allocation_keys.listed(list_reachable(uow, uow.keys, scope), statuses, self.now())

    @transaction
    def delete(self, uow: UnitOfWork, key_id: str, scope: Scope = OPERATOR) -> StoredKey:
        now = self.now()
        stored = require_key(uow, key_id, scope)
        return self.save(uow, allocation_keys.delete(stored, now), now)

    @transaction
    def replace(self, uow: UnitOfWork, key_id: str, key: AllocationKey, scope: Scope = OPERATOR) -> StoredKey:
        """'Change' a key: create the new one and invalidate the old one, together."""
        old = require_key(uow, key_id, scope)
        now = self.now()
        accounts, opened = key_accounts(uow, key, scope, now)
        decision = allocation_keys.replace(old, key, accounts, key_id=self.new_id(), now=now, opened=opened)
        return self.save(uow, decision, now)

    @transaction
    def preview(
        self,
        uow: UnitOfWork,
        key_id: str,
        amount: Decimal,
        quantity_step: Decimal = Decimal(1),
        scope: Scope = OPERATOR,
    ) -> BlockAllocation:
        """How the key would allocate ``amount``; nothing is placed or changed."""
        stored = require_key(uow, key_id, scope)
        return allocate(BlockRequest(stored.key, amount, quantity_step, history=stored.history), explain=True)

    @transaction
    def fairness(self, uow: UnitOfWork, key_id: str, scope: Scope = OPERATOR) -> FairnessReport:
        """Each remainder account's cumulative quota, allocation and lead (or lag) over the key's blocks."""
        stored = require_key(uow, key_id, scope)
        return allocation_keys.fairness_report(stored)
