"""Allocation keys: created, shown, listed, invalidated, replaced, previewed."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from core import allocation_keys
from core.allocation_keys import LISTED_BY_DEFAULT
from core.blocks import BlockAllocation, BlockRequest, allocate
from core.keys import AllocationKey
from core.lifecycle import KeyStatus
from core.records import Account, StoredKey
from ports.driven import UnitOfWork
from ports.use_cases import UseCases, require, transaction


def key_accounts(uow: UnitOfWork, key: AllocationKey) -> list[Account]:
    return [require(uow.accounts, account_id, "account") for account_id in key.accounts]


class Keys(UseCases):
    @transaction
    def create(self, uow: UnitOfWork, key: AllocationKey) -> StoredKey:
        """Store a key; every account it names must exist and be open."""
        now = self.now()
        decision = allocation_keys.create(key, key_accounts(uow, key), key_id=self.new_id(), now=now)
        return self.save(uow, decision, now)

    @transaction
    def get(self, uow: UnitOfWork, key_id: str) -> StoredKey:
        """The key as it stands now, whatever its status."""
        return allocation_keys.current(require(uow.keys, key_id, "allocation key"), self.now())

    @transaction
    def all(self, uow: UnitOfWork, statuses: Sequence[KeyStatus] = LISTED_BY_DEFAULT) -> list[StoredKey]:
        """Keys in the given statuses: ACTIVE by default, one-time keys only when asked for."""
        return allocation_keys.listed(uow.keys.list(), statuses, self.now())

    @transaction
    def delete(self, uow: UnitOfWork, key_id: str) -> StoredKey:
        now = self.now()
        return self.save(uow, allocation_keys.delete(require(uow.keys, key_id, "allocation key"), now), now)

    @transaction
    def replace(self, uow: UnitOfWork, key_id: str, key: AllocationKey) -> StoredKey:
        """'Change' a key: create the new one and invalidate the old one, together."""
        old = require(uow.keys, key_id, "allocation key")
        now = self.now()
        decision = allocation_keys.replace(old, key, key_accounts(uow, key), key_id=self.new_id(), now=now)
        return self.save(uow, decision, now)

    @transaction
    def preview(
        self, uow: UnitOfWork, key_id: str, amount: Decimal, quantity_step: Decimal = Decimal(1)
    ) -> BlockAllocation:
        """How the key would allocate ``amount``; nothing is placed or changed."""
        return allocate(BlockRequest(require(uow.keys, key_id, "allocation key").key, amount, quantity_step))
