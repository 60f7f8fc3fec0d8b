"""Block orders: placed on a key's owner account, allocated out by the market, cancelled, read."""

from __future__ import annotations

from decimal import Decimal

import attrs

from core import block_orders
from core.blocks import DEFAULT_POLICY, PartialFillPolicy
from core.idempotency import check_key, fingerprint
from core.instruments import AssetType, Side
from core.records import BlockOrder, Order
from core.tenants import OPERATOR, Scope
from ports.driven import UnitOfWork
from ports.keys import require_key
from ports.use_cases import (
    UseCases,
    list_reachable,
    require,
    require_reachable,
    require_visible,
    transaction,
)


@attrs.frozen
class BlockView:
    """A block with the orders it was allocated to."""

    block: BlockOrder
    orders: tuple[Order, ...]


class Blocks(UseCases):
    @transaction
    def place(
        self,
        uow: UnitOfWork,
        key_id: str,
        instrument_id: str,
        side: Side,
        amount: Decimal,
        policy: PartialFillPolicy = DEFAULT_POLICY,
        idempotency_key: str | None = None,
        scope: Scope = OPERATOR,
        account_id: str | None = None,
        asset_type: AssetType | None = None,
    ) -> BlockOrder:
        """Place a block; everything that would make it impossible to execute is refused now. ``account_id`` and
        ``asset_type``, when given, must be the key's owner account and the instrument's asset type."""
        key = check_key(idempotency_key)
        request = fingerprint("block order", key_id, instrument_id, side, amount, policy)
        replayed = self.replay(uow, key, request)
        if replayed is not None:
            return require(uow.blocks, replayed, "block order")
        stored = require_key(uow, key_id, scope)
        accounts = {a: require(uow.accounts, a, "account") for a in stored.key.accounts}
        instrument = require(uow.instruments, instrument_id, "instrument")
        now = self.now()
        decision = block_orders.place(
            stored,
            accounts,
            instrument,
            side,
            amount,
            policy,
            block_id=self.new_id(),
            ids=self.fresh_ids(),
            now=now,
            named_account=account_id,
            named_asset_type=asset_type,
        )
        self.remember(uow, key, request, decision.result.id)
        return self.save(uow, decision, now)

    @transaction
    def cancel(self, uow: UnitOfWork, block_id: str, scope: Scope = OPERATOR) -> BlockOrder:
        """The client cancels a block that is not finished; what was allocated so far stays allocated."""
        block = require_reachable(uow, uow.blocks, block_id, "block order", scope)
        children = uow.orders.list(parent_order_id=block.id)
        accounts = {a: require(uow.accounts, a, "account") for a in {c.account_id for c in children}}
        now = self.now()
        return self.save(uow, block_orders.cancel(block, children, accounts, now), now)

    @transaction
    def get(self, uow: UnitOfWork, block_id: str, scope: Scope = OPERATOR) -> BlockOrder:
        return require_reachable(uow, uow.blocks, block_id, "block order", scope)

    @transaction
    def show(self, uow: UnitOfWork, block_id: str, scope: Scope = OPERATOR) -> BlockView:
        block = require_reachable(uow, uow.blocks, block_id, "block order", scope)
        return BlockView(block, tuple(uow.orders.list(parent_order_id=block.id)))

    @transaction
    def placed_on(self, uow: UnitOfWork, account_id: str, scope: Scope = OPERATOR) -> list[BlockView]:
        """The blocks placed on one block account the caller may see, oldest first, each with its orders; an
        account the caller may not see is ``NotFound``, like a missing one."""
        account = require_visible(uow.accounts, account_id, "account", scope)
        blocks = list_reachable(uow, uow.blocks, scope, account_id=account.id)
        return [BlockView(b, tuple(uow.orders.list(parent_order_id=b.id))) for b in blocks]

    @transaction
    def all(self, uow: UnitOfWork, state: str | None = None, scope: Scope = OPERATOR) -> list[BlockOrder]:
        return list_reachable(uow, uow.blocks, scope, **({"state": state} if state is not None else {}))
