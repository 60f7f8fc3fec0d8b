"""The application service: every use case of the engine, sequencing I/O around core decisions.

Each use case runs in one unit of work: the state change and the events it announces commit together.
The service decides nothing itself; ``core`` does (``core.engine``, ``core.portfolio``, ``core.blocks``, ...).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import TypeVar

import attrs

from core import engine
from core.blocks import (
    BlockAllocation,
    BlockRequest,
    Execution,
    PartialFillPolicy,
    allocate,
    allocate_fill,
    book_prices,
)
from core.engine import Announcement
from core.errors import IdempotencyKeyReused, NotFound, ValidationError
from core.fills import CostSchedule
from core.instruments import Allocation, AllocationLine, Instrument, Side
from core.keys import AllocationKey, check_usable, effective_status
from core.lifecycle import (
    ALLOCATION_KEY,
    BLOCK_ORDER,
    KeyEvent,
    KeyStatus,
    LiquidationState,
    OrderState,
    PortfolioOrderState,
)
from core.lifecycle import (
    Event as Move,
)
from core.numbers import ZERO, check_cash, check_positive, currency_exponent
from core.portfolio import FeeSchedule, OrderType, Policy, PortfolioRequest, plan, plan_liquidation
from core.records import (
    Account,
    AccountLiquidation,
    AccountStatus,
    BlockOrder,
    Event,
    IdempotencyRecord,
    ModelPortfolio,
    Order,
    PortfolioOrder,
    StoredKey,
    Subscription,
)
from ports.driven import Clock, IdGenerator, Repository, UnitOfWork, UnitOfWorkFactory, Venue

T = TypeVar("T")


def require(repository: Repository[T], record_id: str, what: str) -> T:
    record = repository.get(record_id)
    if record is None:
        raise NotFound(f"{what} {record_id} does not exist", {"kind": what, "id": record_id})
    return record


def fingerprint(*parts: object) -> str:
    """A stable digest of a request (frozen attrs values have a deterministic repr)."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()


@attrs.frozen
class AccountView:
    account: Account
    nav: Decimal
    available_cash: Decimal


@attrs.frozen
class MarketRun:
    """What one run of the venue did."""

    executions: int
    partial_fills: int
    rejections: int
    blocks_filled: int


@attrs.define
class Engine:
    """allot's use cases. Build it with ``entrypoints.bootstrap`` (or any adapters that pass the contracts)."""

    uow: UnitOfWorkFactory
    venue: Venue
    clock: Clock
    ids: IdGenerator
    url_guard: Callable[[str, bool], None] = lambda url, allow_private: None

    # -- plumbing ------------------------------------------------------------------------------------

    def _publish(self, uow: UnitOfWork, announcements: Iterable[Announcement]) -> None:
        for announcement in announcements:
            uow.outbox.add(Event(self.ids.new_id(), self.clock.now(), announcement.type, announcement.object))

    def _replay(self, uow: UnitOfWork, key: str | None, digest: str) -> str | None:
        """The id an idempotency key already created, if it did (for the same request)."""
        if key is None:
            return None
        record = uow.idempotency.get(key)
        if record is None:
            return None
        if record.fingerprint != digest:
            raise IdempotencyKeyReused(
                f"idempotency key {key!r} was already used for a different request",
                {"idempotency_key": key, "original": record.result_id},
            )
        return record.result_id

    def _remember(self, uow: UnitOfWork, key: str | None, digest: str, result_id: str) -> None:
        if key is not None:
            uow.idempotency.add(IdempotencyRecord(key, digest, result_id))

    # -- accounts ------------------------------------------------------------------------------------

    def create_account(
        self,
        currency: str,
        cash: Decimal = ZERO,
        fee_schedule: FeeSchedule | None = None,
        costs: CostSchedule = CostSchedule(),
        account_id: str | None = None,
    ) -> Account:
        currency_exponent(currency)
        check_cash(cash, currency, "cash")
        account = Account(
            account_id or self.ids.new_id(),
            currency,
            {currency: cash},
            (),
            fee_schedule,
            costs,
            created_at=self.clock.now(),
        )
        with self.uow() as uow:
            if uow.accounts.get(account.id) is not None:
                raise ValidationError(f"account {account.id} already exists", {"account_id": account.id})
            uow.accounts.add(account)
            uow.commit()
        return account

    def _move_cash(self, account_id: str, amount: Decimal) -> Account:
        with self.uow() as uow:
            account = engine.check_open_account(require(uow.accounts, account_id, "account"))
            check_cash(abs(amount), account.currency, "amount")
            if amount < 0:
                free = engine.available_cash(account, account.currency)
                engine.move_cash(
                    attrs.evolve(account, cash={account.currency: free}), account.currency, amount
                )
            updated = engine.move_cash(account, account.currency, amount)
            uow.accounts.update(updated)
            uow.commit()
        return updated

    def deposit(self, account_id: str, amount: Decimal) -> Account:
        check_positive(amount, "amount")
        return self._move_cash(account_id, amount)

    def withdraw(self, account_id: str, amount: Decimal) -> Account:
        check_positive(amount, "amount")
        return self._move_cash(account_id, -amount)

    def get_account(self, account_id: str) -> AccountView:
        with self.uow() as uow:
            account = require(uow.accounts, account_id, "account")
            value = engine.nav(account, lambda i: require(uow.instruments, i, "instrument"))
            free = engine.available_cash(account, account.currency)
        return AccountView(account, value, free)

    def list_accounts(self) -> list[Account]:
        with self.uow() as uow:
            return uow.accounts.list()

    def close_account(self, account_id: str) -> Account:
        with self.uow() as uow:
            account = engine.check_open_account(require(uow.accounts, account_id, "account"))
            if account.positions or any(v for v in account.cash.values()):
                raise ValidationError(
                    f"account {account_id} still holds positions or cash: liquidate and withdraw first",
                    {"account_id": account_id},
                )
            closed = attrs.evolve(account, status=AccountStatus.CLOSED)
            uow.accounts.update(closed)
            uow.commit()
        return closed

    # -- instruments and model portfolios ------------------------------------------------------------

    def add_instrument(self, instrument: Instrument) -> Instrument:
        with self.uow() as uow:
            if uow.instruments.get(instrument.instrument_id) is not None:
                raise ValidationError(
                    f"instrument {instrument.instrument_id} already exists; set its price with prices set",
                    {"instrument_id": instrument.instrument_id},
                )
            uow.instruments.add(instrument)
            uow.commit()
        return instrument

    def set_price(self, instrument_id: str, price: Decimal) -> Instrument:
        check_positive(price, "price")
        with self.uow() as uow:
            updated = attrs.evolve(require(uow.instruments, instrument_id, "instrument"), price=price)
            uow.instruments.update(updated)
            uow.commit()
        return updated

    def list_instruments(self) -> list[Instrument]:
        with self.uow() as uow:
            return uow.instruments.list()

    def create_allocation(self, name: str, lines: Sequence[AllocationLine]) -> ModelPortfolio:
        allocation = Allocation(tuple(lines))
        model = ModelPortfolio(self.ids.new_id(), name, allocation.lines)
        with self.uow() as uow:
            for line in model.lines:
                require(uow.instruments, line.instrument_id, "instrument")
            uow.allocations.add(model)
            uow.commit()
        return model

    def list_allocations(self) -> list[ModelPortfolio]:
        with self.uow() as uow:
            return uow.allocations.list()

    # -- portfolio orders ----------------------------------------------------------------------------

    def place_portfolio_order(
        self,
        account_id: str,
        order_type: OrderType,
        cash_amount: Decimal | None = None,
        allocation_id: str | None = None,
        policy: Policy = Policy(),
        idempotency_key: str | None = None,
    ) -> PortfolioOrder:
        digest = fingerprint("portfolio order", account_id, order_type, cash_amount, allocation_id, policy)
        with self.uow() as uow:
            replayed = self._replay(uow, idempotency_key, digest)
            if replayed is not None:
                return require(uow.portfolio_orders, replayed, "portfolio order")
            account = engine.check_open_account(require(uow.accounts, account_id, "account"))
            lines: tuple[AllocationLine, ...] = ()
            if allocation_id is not None:
                lines = require(uow.allocations, allocation_id, "allocation").lines
            ids = {line.instrument_id for line in lines} | {p.instrument_id for p in account.positions}
            instruments = tuple(require(uow.instruments, i, "instrument") for i in sorted(ids))
            free = engine.available_cash(account, account.currency)
            order_plan = plan(
                PortfolioRequest(
                    order_type,
                    account.currency,
                    cash_amount,
                    lines,
                    instruments,
                    account.positions,
                    free,
                    policy,
                )
            )
            now = self.clock.now()
            order = PortfolioOrder(
                self.ids.new_id(), account_id, order_type, account.currency, cash_amount, allocation_id,
                PortfolioOrderState.NEW, now, now, skipped=order_plan.skipped, policy=policy,
            )  # fmt: skip
            children = engine.child_orders(
                order_plan, account_id, order.id, [self.ids.new_id() for _ in order_plan.orders], now
            )
            submitted, announcements = engine.submit_portfolio_order(order, children, now)
            uow.portfolio_orders.add(submitted)
            for child in children:
                uow.orders.add(child)
            uow.accounts.update(engine.reserve_new(account, children))
            self._publish(uow, announcements)
            self._remember(uow, idempotency_key, digest, submitted.id)
            uow.commit()
        return submitted

    def get_portfolio_order(self, order_id: str) -> PortfolioOrder:
        with self.uow() as uow:
            return require(uow.portfolio_orders, order_id, "portfolio order")

    def find_portfolio_order(self, order_id: str) -> PortfolioOrder | None:
        with self.uow() as uow:
            return uow.portfolio_orders.get(order_id)

    def list_portfolio_orders(
        self, account_id: str | None = None, state: str | None = None
    ) -> list[PortfolioOrder]:
        where = {k: v for k, v in (("account_id", account_id), ("state", state)) if v is not None}
        with self.uow() as uow:
            return uow.portfolio_orders.list(**where)

    def cancel_portfolio_order(self, order_id: str) -> PortfolioOrder:
        """Client cancellation: only while NEW or SUBMITTED; its orders are cancelled with it."""
        with self.uow() as uow:
            order = require(uow.portfolio_orders, order_id, "portfolio order")
            cancelled, children, announcements = engine.cancel_by_client(
                order, uow.orders.list(client_reference=order_id), self.clock.now()
            )
            self._store_orders(uow, children)
            uow.portfolio_orders.update(cancelled)
            self._publish(uow, announcements)
            uow.commit()
        return cancelled

    def get_order(self, order_id: str) -> Order:
        with self.uow() as uow:
            return require(uow.orders, order_id, "order")

    def list_orders(self, **where: str) -> list[Order]:
        with self.uow() as uow:
            return uow.orders.list(**where)

    def _store_orders(self, uow: UnitOfWork, orders: Iterable[Order]) -> None:
        """Write changed orders, keeping their accounts' reserved cash in step."""
        for order in orders:
            before = uow.orders.get(order.id)
            if order != before:
                uow.orders.update(order)
                account = require(uow.accounts, order.account_id, "account")
                uow.accounts.update(engine.reserve(account, before, order))

    # -- account liquidations ------------------------------------------------------------------------

    def create_liquidation(self, account_id: str, idempotency_key: str | None = None) -> AccountLiquidation:
        digest = fingerprint("account liquidation", account_id)
        with self.uow() as uow:
            replayed = self._replay(uow, idempotency_key, digest)
            if replayed is not None:
                return require(uow.liquidations, replayed, "account liquidation")
            account = engine.check_open_account(require(uow.accounts, account_id, "account"))
            order_plan = plan_liquidation(account.currency, account.positions)
            now = self.clock.now()
            liquidation = AccountLiquidation(
                self.ids.new_id(), account_id, account.currency, LiquidationState.NEW, now, now
            )
            children = engine.child_orders(
                order_plan, account_id, liquidation.id, [self.ids.new_id() for _ in order_plan.orders], now
            )
            uow.liquidations.add(attrs.evolve(liquidation, orders=engine.refs(children)))
            for child in children:
                uow.orders.add(child)
            self._publish(uow, [engine.announce(liquidation), *(engine.announce(c) for c in children)])
            self._remember(uow, idempotency_key, digest, liquidation.id)
            uow.commit()
            return require(uow.liquidations, liquidation.id, "account liquidation")

    def get_liquidation(self, liquidation_id: str) -> AccountLiquidation:
        with self.uow() as uow:
            return require(uow.liquidations, liquidation_id, "account liquidation")

    def cancel_liquidation(self, liquidation_id: str) -> AccountLiquidation:
        """Client cancellation: only while NEW; its orders are cancelled with it."""
        with self.uow() as uow:
            liquidation = require(uow.liquidations, liquidation_id, "account liquidation")
            cancelled, children, announcements = engine.cancel_by_client(
                liquidation, uow.orders.list(client_reference=liquidation_id), self.clock.now()
            )
            self._store_orders(uow, children)
            uow.liquidations.update(cancelled)
            self._publish(uow, announcements)
            uow.commit()
        return cancelled

    # -- allocation keys -----------------------------------------------------------------------------

    def create_key(self, key: AllocationKey) -> StoredKey:
        with self.uow() as uow:
            for account_id in [
                key.owner_account_id,
                key.error_account_id,
                *(p.account_id for p in key.participants),
            ]:
                require(uow.accounts, account_id, "account")
            stored = StoredKey(self.ids.new_id(), key, key.initial_status, self.clock.now())
            uow.keys.add(stored)
            uow.commit()
        return stored

    def _current(self, stored: StoredKey) -> StoredKey:
        return attrs.evolve(
            stored, status=effective_status(stored.status, stored.created_at, self.clock.now())
        )

    def get_key(self, key_id: str) -> StoredKey:
        with self.uow() as uow:
            return self._current(require(uow.keys, key_id, "allocation key"))

    def list_keys(self, statuses: Sequence[KeyStatus] = (KeyStatus.ACTIVE,)) -> list[StoredKey]:
        """Keys in the given statuses; one-time keys only when asked for, as the seed says."""
        with self.uow() as uow:
            keys = [self._current(k) for k in uow.keys.list()]
        return [k for k in keys if k.status in statuses]

    def delete_key(self, key_id: str) -> StoredKey:
        with self.uow() as uow:
            stored = self._current(require(uow.keys, key_id, "allocation key"))
            deleted = attrs.evolve(stored, status=ALLOCATION_KEY.next(stored.status, KeyEvent.DELETE))
            uow.keys.update(deleted)
            uow.commit()
        return deleted

    def replace_key(self, key_id: str, key: AllocationKey) -> StoredKey:
        """'Change' a key: create a new one and invalidate the old one, in one transaction."""
        with self.uow() as uow:
            old = self._current(require(uow.keys, key_id, "allocation key"))
            uow.keys.update(attrs.evolve(old, status=ALLOCATION_KEY.next(old.status, KeyEvent.DELETE)))
            for account_id in [
                key.owner_account_id,
                key.error_account_id,
                *(p.account_id for p in key.participants),
            ]:
                require(uow.accounts, account_id, "account")
            new = StoredKey(self.ids.new_id(), key, key.initial_status, self.clock.now())
            uow.keys.add(new)
            uow.commit()
        return new

    def preview_key(
        self, key_id: str, amount: Decimal, quantity_step: Decimal = Decimal(1)
    ) -> BlockAllocation:
        stored = self.get_key(key_id)
        return allocate(BlockRequest(stored.key, amount, quantity_step))

    # -- block orders --------------------------------------------------------------------------------

    def place_block_order(
        self,
        key_id: str,
        instrument_id: str,
        side: Side,
        amount: Decimal,
        policy: PartialFillPolicy = PartialFillPolicy.PRO_RATA,
        idempotency_key: str | None = None,
    ) -> BlockOrder:
        digest = fingerprint("block order", key_id, instrument_id, side, amount, policy)
        with self.uow() as uow:
            replayed = self._replay(uow, idempotency_key, digest)
            if replayed is not None:
                return require(uow.blocks, replayed, "block order")
            now = self.clock.now()
            stored = require(uow.keys, key_id, "allocation key")
            key = stored.key
            accounts = {
                a: require(uow.accounts, a, "account")
                for a in [key.error_account_id, *(p.account_id for p in key.participants)]
            }
            closed = [a.id for a in accounts.values() if a.status is not AccountStatus.ACTIVE]
            status = check_usable(key, stored.status, stored.created_at, now, closed)
            instrument = require(uow.instruments, instrument_id, "instrument")
            wanted = engine.block_targets(key, amount, instrument, side, accounts.values())
            block = BlockOrder(
                self.ids.new_id(), key_id, key.owner_account_id, instrument_id, side, wanted.total,
                OrderState.NEW, now, now, partial_fill_policy=policy, targets=wanted,
                allocated=tuple(ZERO for _ in range(len(key.participants) + 1)),
            )  # fmt: skip
            if status is not stored.status:
                uow.keys.update(attrs.evolve(stored, status=status))
            uow.blocks.add(block)
            self._publish(uow, [Announcement.of(block, block.state.value)])
            self._remember(uow, idempotency_key, digest, block.id)
            uow.commit()
        return block

    def get_block_order(self, block_id: str) -> BlockOrder:
        with self.uow() as uow:
            return require(uow.blocks, block_id, "block order")

    # -- the market ----------------------------------------------------------------------------------

    def run_market(self, progress: Callable[[int, int], None] | None = None) -> MarketRun:
        """Execute every open order and block order once on the venue, each in its own transaction."""
        with self.uow() as uow:
            open_orders = [
                o.id for o in uow.orders.list() if o.state in engine.OPEN and o.correlation_key is None
            ]
            open_blocks = [b.id for b in uow.blocks.list() if b.state in engine.OPEN]
        counts = {"executions": 0, "partial_fills": 0, "rejections": 0, "blocks_filled": 0}
        total = len(open_orders) + len(open_blocks)
        for done, order_id in enumerate(open_orders, 1):
            outcome = self._execute_order(order_id)
            if outcome is not None:
                counts[outcome] += 1
            if progress:
                progress(done, total)
        for done, block_id in enumerate(open_blocks, len(open_orders) + 1):
            counts[self._execute_block(block_id)] += 1
            if progress:
                progress(done, total)
        return MarketRun(**counts)

    def _execute_order(self, order_id: str) -> str | None:
        with self.uow() as uow:
            order = require(uow.orders, order_id, "order")
            if order.state not in engine.OPEN:
                return None  # cancelled with its parent earlier in this run
            account = require(uow.accounts, order.account_id, "account")
            instrument = require(uow.instruments, order.instrument_id, "instrument")
            now = self.clock.now()
            quote = self.venue.quote(instrument, order.side)
            held = account.quantity_of(instrument.instrument_id)
            outcome = "rejections"
            if quote.price is None:
                order, announcements = engine.fail(
                    order, quote.rejection or "rejected by the trading partner", now
                )
            else:
                wanted = engine.order_quantity(order, instrument, quote.price, held)
                filled = self.venue.fill(instrument, order.side, wanted) if wanted > 0 else ZERO
                if wanted <= 0 and order.filled_quantity > 0:
                    order, announcements = engine.finish(order, now)
                    outcome = "executions"
                elif wanted <= 0:
                    order, announcements = engine.fail(
                        order, engine.unfillable(order, held, quote.price), now
                    )
                elif filled == 0:
                    order, announcements = engine.start(order, now)
                    outcome = "partial_fills"
                else:
                    done = engine.execute(order, account, instrument, filled, quote.price, now)
                    order, account, announcements = done.order, done.account, list(done.announcements)
                    uow.accounts.update(account)
                    outcome = "executions" if order.state is OrderState.FILLED else "partial_fills"
            self._store_orders(uow, [order])
            self._publish(uow, announcements)
            self._follow_parent(uow, order, now)
            uow.commit()
        return outcome

    def _follow_parent(self, uow: UnitOfWork, order: Order, now: dt.datetime) -> None:
        """Move the order's portfolio order or account liquidation along with it (block orders move alone)."""
        reference = order.client_reference
        if reference is None:
            return
        siblings = uow.orders.list(client_reference=reference)
        portfolio = uow.portfolio_orders.get(reference)
        if portfolio is not None:
            fees = require(uow.accounts, portfolio.account_id, "account").fee_schedule
            updated, children, announcements = engine.follow_parent(portfolio, siblings, fees, now)
            uow.portfolio_orders.update(updated)
        else:
            liquidation = uow.liquidations.get(reference)
            if liquidation is None:
                return
            fees = require(uow.accounts, liquidation.account_id, "account").fee_schedule
            updated_l, children, announcements = engine.follow_parent(liquidation, siblings, fees, now)
            uow.liquidations.update(updated_l)
        self._store_orders(uow, children)
        self._publish(uow, announcements)

    def _execute_block(self, block_id: str) -> str:
        with self.uow() as uow:
            block = require(uow.blocks, block_id, "block order")
            key = require(uow.keys, block.key_id, "allocation key").key
            instrument = require(uow.instruments, block.instrument_id, "instrument")
            now = self.clock.now()
            quote = self.venue.quote(instrument, block.side)
            announcements: list[Announcement] = []
            if quote.price is None:
                block = attrs.evolve(
                    block,
                    state=BLOCK_ORDER.next(block.state, Move.FAIL),
                    reason=quote.rejection,
                    updated_at=now,
                )
                uow.blocks.update(block)
                self._publish(uow, [Announcement.of(block, block.state.value)])
                uow.commit()
                return "rejections"
            if block.state is OrderState.NEW:
                block = attrs.evolve(block, state=BLOCK_ORDER.next(block.state, Move.START), updated_at=now)
                announcements.append(Announcement.of(block, block.state.value))
            filled = self.venue.fill(instrument, block.side, block.amount - block.filled_quantity)
            assert block.targets is not None
            shares = allocate_fill(
                key,
                block.targets,
                block.allocated,
                filled,
                instrument.quantity_step,
                block.partial_fill_policy,
            )
            booked = (
                book_prices(
                    shares,
                    [Execution(filled, quote.price)],
                    instrument.contract_size,
                    instrument.currency or "EUR",
                )
                if filled
                else []
            )
            recipients = [*(p.account_id for p in key.participants), key.error_account_id]
            children: list[Order] = []
            for account_id, quantity, (_, value) in zip(recipients, shares, booked, strict=False):
                if not quantity:
                    continue
                account = require(uow.accounts, account_id, "account")
                child = Order(
                    self.ids.new_id(), account_id, instrument.instrument_id, block.side, None, quantity,
                    OrderState.NEW, now, now, client_reference=block.id, correlation_key=block.id,
                )  # fmt: skip
                done = engine.execute(
                    child, account, instrument, quantity, quote.price, now, booked_value=value
                )
                uow.accounts.update(done.account)
                uow.orders.add(done.order)
                children.append(done.order)
                announcements.extend(done.announcements)
            complete = block.filled_quantity + filled >= block.amount
            block = attrs.evolve(
                block,
                state=BLOCK_ORDER.next(block.state, Move.FILL if complete else Move.PARTIAL_FILL),
                filled_quantity=block.filled_quantity + filled,
                allocated=tuple(a + s for a, s in zip(block.allocated, shares, strict=True)),
                orders=block.orders + engine.refs(children),
                updated_at=now,
            )
            announcements.append(Announcement.of(block, block.state.value))
            uow.blocks.update(block)
            self._publish(uow, announcements)
            uow.commit()
        return "blocks_filled" if complete else "partial_fills"

    # -- webhooks and events -------------------------------------------------------------------------

    def add_subscription(
        self, url: str, topics: Sequence[str], secret: str, allow_private_network: bool = False
    ) -> Subscription:
        if not topics:
            raise ValidationError(
                "choose at least one topic, e.g. PORTFOLIO_ORDER or ORDER", {"field": "topics"}
            )
        self.url_guard(url, allow_private_network)
        subscription = Subscription(
            self.ids.new_id(),
            url,
            tuple(t.upper() for t in topics),
            secret,
            self.clock.now(),
            allow_private_network,
        )
        with self.uow() as uow:
            uow.subscriptions.add(subscription)
            uow.commit()
        return subscription

    def list_subscriptions(self) -> list[Subscription]:
        with self.uow() as uow:
            return uow.subscriptions.list()

    def remove_subscription(self, subscription_id: str) -> Subscription:
        with self.uow() as uow:
            subscription = require(uow.subscriptions, subscription_id, "webhook subscription")
            uow.subscriptions.update(attrs.evolve(subscription, disabled_reason="removed"))
            uow.commit()
        return subscription

    def list_events(
        self, after: int = 0, limit: int = 100, topic: str | None = None
    ) -> list[tuple[int, Event]]:
        with self.uow() as uow:
            return uow.outbox.list(after, limit, topic)


__all__ = ["AccountView", "Engine", "MarketRun"]
