"""Block orders as records: placed on the key's owner account, executed in the market, allocated out at once.

Placing checks everything that would make the block impossible to carry out, so that a block the market cannot
execute is refused before it exists: the instrument must still trade (an option that has ended does not, and
one past its expiry date is not bought), the key must be usable, every account it allocates to open and in the
instrument's currency, the amount greater than zero and a whole number of quantity steps, a buy within each
participant's buying power (the key's margin handling), and a sell within what each account holds.

Placing creates one order per account the block allocates to (NEW, with the block's id as correlation key), each
holding back what it needs. Each execution is shared over what every recipient has still to receive (the block's
partial-fill policy) and booked at once on those orders at the execution's price; the execution's traded value is
apportioned over the accounts so that their values sum exactly to it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal

import attrs

from core.accounts import available_cash, available_units, check_managed, check_open, reserve
from core.allocation_keys import announce_key
from core.blocks import (
    Execution,
    KeySplit,
    PartialFillPolicy,
    Targets,
    after_margin,
    allocate_fill,
    apply_margin,
    book_prices,
    margin_stage,
    split_by_key,
)
from core.decisions import Changes, Decision
from core.errors import (
    CurrencyMismatch,
    InsufficientFunds,
    InsufficientPosition,
    NothingToTrade,
    ValidationError,
)
from core.explain import Explanation
from core.instruments import AssetType, Instrument, Side, check_tradable, traded_in
from core.journal import Asset, Cause, CauseKind, JournalEntry, LedgerAccount, post, transfer
from core.keys import AllocationKey, check_usable
from core.lifecycle import BLOCK_ORDER, OPEN, OrderState, Trigger
from core.numbers import ZERO, check_positive, fmt, to_units
from core.orders import CLIENT_CANCELLED, allocated, book, cancel_open
from core.records import Account, AccountStatus, Announcement, BlockOrder, Order, StoredKey, announce, refs

#: What a ROTATE key announces each time a block moves its fairness history on (the key, its history included).
ROTATED = "ROTATED"


def block_currency(instrument: Instrument, accounts: Mapping[str, Account]) -> str:
    """The one currency of the accounts a block allocates to, which the instrument must trade in too."""
    currencies = sorted({a.currency for a in accounts.values()})
    if len(currencies) != 1:
        raise CurrencyMismatch(
            "the accounts of the key hold different currencies; a block books one currency",
            {"currencies": {a.id: a.currency for a in accounts.values()}},
        )
    traded_in(instrument, currencies[0])
    return currencies[0]


def check_named(
    key: AllocationKey, instrument: Instrument, account_id: str | None, asset_type: AssetType | None
) -> None:
    """An order that names its account and asset type (as the block-trading document's orders do) must name the
    key's owner (block) account and the instrument's asset type; naming neither leaves both to the key and the
    instrument."""
    if account_id is not None and account_id != key.owner_account_id:
        raise ValidationError(
            f"a block is placed on its key's owner account {key.owner_account_id}, not on {account_id}",
            {"field": "account_id", "account_id": account_id, "owner_account_id": key.owner_account_id},
        )
    if asset_type is not None and AssetType(asset_type) is not instrument.asset_type:
        raise ValidationError(
            f"instrument {instrument.instrument_id} is a {instrument.asset_type.value}, not a {AssetType(asset_type).value}",
            {"field": "asset_type", "asset_type": AssetType(asset_type).value,
             "instrument_asset_type": instrument.asset_type.value},
        )  # fmt: skip


def block_targets(
    stored: StoredKey, amount: Decimal, instrument: Instrument, side: Side, accounts: Mapping[str, Account]
) -> tuple[Targets, KeySplit, Explanation]:
    """What each participant of a block should get: the key's targets (a ROTATE key's with its history), and for a
    buy the key's margin handling, with each participant's available cash as its buying power at the instrument's
    price (a buy block needs one: ``MISSING_PRICE`` otherwise); with the key's split and how it came about."""
    key, step = stored.key, instrument.quantity_step
    split = split_by_key(key, amount, step, stored.history)
    explanation = Explanation(split.stages)
    if side is not Side.BUY:
        return split.targets, split, explanation
    power = {p.account_id: available_cash(accounts[p.account_id]) for p in key.participants}
    wanted = apply_margin(key, split.targets, power, instrument.priced(), instrument.contract_size, step)
    cut = margin_stage(key, split.targets, wanted, step)
    return (
        wanted,
        after_margin(key, split, wanted, step),
        explanation if cut is None else explanation.then(cut),
    )


def check_holdings(
    key: AllocationKey, wanted: Targets, instrument: Instrument, accounts: Mapping[str, Account]
) -> None:
    """A sell block may not ask an account (the error account included) to sell more than it holds free of what
    its open sells already hold back."""
    parts = zip(key.recipients, (*wanted.participants, wanted.error), strict=True)
    short = [
        {"account_id": account_id, "to_sell": fmt(part), "held": fmt(free)}
        for account_id, part in parts
        if part > (free := available_units(accounts[account_id], instrument.instrument_id))
    ]
    if short:
        raise InsufficientPosition(
            f"{len(short)} account(s) of the key hold less {instrument.instrument_id} than the block would sell",
            {"instrument_id": instrument.instrument_id, "accounts": short},
        )


def fund_error_account(
    key: AllocationKey,
    children: Sequence[Order],
    accounts: Mapping[str, Account],
    currency: str,
    *,
    block_id: str,
    ids: Iterator[str],
    now: dt.datetime,
) -> tuple[JournalEntry, Account, Account] | None:
    """What the error account of a buy block cannot pay for itself, its block account pays: the block is the block
    account's trade, and what it cannot distribute stays the block account's, parked in the error account. The
    shortfall moves from the block account's free cash to the error account in one journal entry (the entry, and
    both accounts after it); none when the error account takes nothing or can pay, or when the block account holds
    another currency or too little (``check_cash`` then refuses, naming the error account)."""
    part = next((c for c in children if c.account_id == key.error_account_id), None)
    error_account, owner = accounts[key.error_account_id], accounts[key.owner_account_id]
    if part is None or owner.currency != currency:
        return None
    shortfall = part.held_cash - available_cash(error_account)
    if shortfall <= 0 or shortfall > available_cash(owner):
        return None
    cash = Asset.cash(currency)
    entry = JournalEntry(
        id=next(ids),
        at=now,
        cause=Cause(CauseKind.ERROR_ACCOUNT_FUNDING, block_id),
        postings=transfer(
            LedgerAccount.client(owner.id), LedgerAccount.client(error_account.id), cash, shortfall
        ),
        memo=f"block account {owner.id} pays {fmt(shortfall)} {currency} of error account {error_account.id}'s "
        f"part of block {block_id}",
    )
    return entry, post(owner, entry), post(error_account, entry)


def check_cash(
    key: AllocationKey, children: Sequence[Order], accounts: Mapping[str, Account], currency: str
) -> None:
    """A buy block may not ask an account (the error account included) to hold back more cash than it has free:
    its part's value at the current price, rounded up, and the estimated costs. A short error account is named
    with its block account's free cash, which pays what the error account cannot (``fund_error_account``)."""
    short = [
        (child.account_id, child.held_cash, free)
        for child in children
        if child.held_cash > (free := available_cash(accounts[child.account_id]))
    ]
    if short:
        named = ", ".join(f"{a} needs {fmt(need)} and has {fmt(free)}" for a, need, free in short)
        details: dict[str, object] = {
            "currency": currency,
            "accounts": [{"account_id": a, "to_hold": fmt(n), "free": fmt(f)} for a, n, f in short],
        }
        if key.error_account_id in {a for a, _, _ in short}:
            backer = accounts[key.owner_account_id]
            free = available_cash(backer) if backer.currency == currency else ZERO
            named += (
                f" (its block account {backer.id}, which pays what its error account cannot, has {fmt(free)})"
            )
            details["block_account"] = {"account_id": backer.id, "free": fmt(free)}
        raise InsufficientFunds(
            f"{len(short)} account(s) of the key have less {currency} free than their part of the block would hold "
            f"back: {named}",
            details,
        )


def place(
    stored: StoredKey,
    accounts: Mapping[str, Account],
    instrument: Instrument,
    side: Side,
    amount: Decimal,
    policy: PartialFillPolicy,
    *,
    block_id: str,
    ids: Iterator[str],
    now: dt.datetime,
    named_account: str | None = None,
    named_asset_type: AssetType | None = None,
) -> Decision[BlockOrder]:
    """Place a block on the key's owner account (see the module docstring for what is checked), with one NEW
    order for every account it allocates to (the block's id as correlation key), each holding back what it needs.
    ``named_account`` and ``named_asset_type``: what the order named, checked by ``check_named``."""
    key = stored.key
    check_named(key, instrument, named_account, named_asset_type)
    side, policy = Side(side), PartialFillPolicy(policy)
    amount = check_positive(amount, "amount")
    check_tradable(instrument, side, now.date())
    to_units(amount, instrument.quantity_step, "amount")
    recipients = {account_id: accounts[account_id] for account_id in key.recipients}
    closed = [a.id for a in recipients.values() if a.status is not AccountStatus.ACTIVE]
    status = check_usable(key, stored.status, stored.created_at, now, closed)
    check_open(accounts[key.owner_account_id])
    for account in (accounts[key.owner_account_id], *recipients.values()):
        check_managed(account)  # a key made before its account became an investment's
    currency = block_currency(instrument, recipients)
    priced = traded_in(instrument, currency)
    wanted, split, explanation = block_targets(stored, amount, priced, side, recipients)
    if wanted.total <= 0:
        raise NothingToTrade(
            "no participant can take any of the block",
            {"amount": fmt(amount), "instrument_id": instrument.instrument_id},
        )
    if side is Side.SELL:
        check_holdings(key, wanted, priced, recipients)
    children = [
        allocated(block_id, recipients[account_id], priced, side, part, next(ids), now)
        for account_id, part in zip(key.recipients, (*wanted.participants, wanted.error), strict=True)
        if part
    ]
    funded: list[Account] = []
    entries: list[JournalEntry] = []
    if side is Side.BUY:
        funding = fund_error_account(key, children, accounts, currency, block_id=block_id, ids=ids, now=now)
        if funding is not None:
            entry, owner, error_account = funding
            entries.append(entry)
            funded.append(owner)
            recipients[error_account.id] = error_account
        check_cash(
            key, children, {**recipients, key.owner_account_id: accounts[key.owner_account_id]}, currency
        )
    holding = [reserve(recipients[child.account_id], [], [child]) for child in children]
    block = BlockOrder(
        id=block_id,
        key_id=stored.id,
        account_id=key.owner_account_id,
        instrument_id=instrument.instrument_id,
        side=side,
        amount=wanted.total,
        state=OrderState.NEW,
        created_at=now,
        updated_at=now,
        currency=currency,
        partial_fill_policy=policy,
        targets=wanted,
        recipients=key.recipients,
        allocated=tuple(ZERO for _ in key.recipients),
        orders=refs(children),
        client_id=stored.client_id,
        user_id=stored.user_id,
        explanation=explanation,
    )
    used = attrs.evolve(stored, status=status, history=split.history)
    key_changes = [used] if used != stored else []
    return Decision(
        block,
        Changes.of(
            created=[block, *children],
            updated=[*key_changes, *([priced] if priced != instrument else []), *funded, *holding],
            announced=[
                announce(block), *(announce(c) for c in children),
                *([announce_key(used)] if used.status != stored.status else []),
                *([Announcement.of(used, ROTATED)] if used.history != stored.history else []),
            ],
            journaled=entries,
        ),
    )  # fmt: skip


def cancel(
    block: BlockOrder, children: Sequence[Order], accounts: Mapping[str, Account], now: dt.datetime
) -> Decision[BlockOrder]:
    """The client cancels a block that is not finished, and its open orders with it; what was already allocated
    stays with the accounts, what the open orders held back is released."""
    return _end(block, children, accounts, Trigger.CANCEL, CLIENT_CANCELLED, now)


def fail(
    block: BlockOrder,
    children: Sequence[Order],
    accounts: Mapping[str, Account],
    reason: str,
    now: dt.datetime,
) -> Decision[BlockOrder]:
    """The trading partner refused the block (or what is left of it): it is cancelled with the reason, and its
    open orders with it."""
    return _end(block, children, accounts, Trigger.FAIL, reason, now)


def _end(
    block: BlockOrder,
    children: Sequence[Order],
    accounts: Mapping[str, Account],
    trigger: Trigger,
    reason: str,
    now: dt.datetime,
) -> Decision[BlockOrder]:
    ended_block = attrs.evolve(
        block, state=BLOCK_ORDER.next(block.state, trigger), reason=reason, updated_at=now
    )
    ended = cancel_open(children, reason, now, trigger)
    moved = [(before, after) for before, after in zip(children, ended, strict=True) if before != after]
    released = [reserve(accounts[after.account_id], [before], [after]) for before, after in moved]
    ended_block = attrs.evolve(ended_block, orders=refs(ended))
    return Decision(
        ended_block,
        Changes.of(
            updated=[ended_block, *(after for _, after in moved), *released],
            announced=[*(announce(after) for _, after in moved), announce(ended_block)],
        ),
    )


def remaining(block: BlockOrder) -> Decimal:
    """What the market has still to execute of the block."""
    return block.amount - block.filled_quantity


def execute(
    block: BlockOrder,
    key: AllocationKey,
    instrument: Instrument,
    accounts: Mapping[str, Account],
    children: Sequence[Order],
    price: Decimal,
    filled: Decimal,
    *,
    ids: Iterator[str],
    now: dt.datetime,
) -> Decision[BlockOrder]:
    """Book an execution of ``filled`` at ``price`` and allocate it out at once to the block's orders: the block
    goes PROCESSING first, then each order that receives part of it is booked (one journal entry each)."""
    announcements: list[Announcement] = []
    started = block
    if block.state is OrderState.NEW:
        started = attrs.evolve(block, state=BLOCK_ORDER.next(block.state, Trigger.START), updated_at=now)
        announcements.append(announce(started))
    if not filled:
        return Decision(
            started, Changes.of(updated=[started] if started != block else [], announced=announcements)
        )
    shares = allocate_fill(
        key, block.targets, block.allocated, filled, instrument.quantity_step, block.partial_fill_policy
    )
    values = book_prices(shares, [Execution(filled, price)], instrument.contract_size, block.currency)
    order_of = {child.account_id: child for child in children if child.state in OPEN}
    booked: dict[str, Order] = {}
    booked_accounts: list[Account] = []
    entries: list[JournalEntry] = []
    for account_id, quantity, (_, value) in zip(block.recipients, shares, values, strict=True):
        if not quantity:
            continue
        child = order_of[account_id]
        done = book(
            child, accounts[account_id], instrument, quantity, price, now, next(ids), booked_value=value
        )
        booked[child.id] = done.order
        booked_accounts.append(reserve(done.account, [child], [done.order]))
        entries.append(done.entry)
        announcements.extend(done.announcements)
    filled_quantity = block.filled_quantity + filled
    after = attrs.evolve(
        started,
        state=BLOCK_ORDER.next(
            started.state, Trigger.FILL if filled_quantity >= block.amount else Trigger.PARTIAL_FILL
        ),
        filled_quantity=filled_quantity,
        allocated=tuple(a + s for a, s in zip(block.allocated, shares, strict=True)),
        orders=refs(booked.get(c.id, c) for c in children),
        updated_at=now,
    )
    announcements.append(announce(after))
    return Decision(
        after,
        Changes.of(
            updated=[after, *booked.values(), *booked_accounts], announced=announcements, journaled=entries
        ),
    )
