"""The journal: double-entry bookkeeping under every movement of cash and units.

Every movement is one journal entry: postings ``(ledger account, asset, amount)`` whose amounts sum to zero per
asset, so nothing is ever created or lost. An asset is a currency (cash) or an instrument (units). Client ledger
accounts are the allot accounts; the house ledger accounts exist in every store: the venue (the counterparty of
every trade), fee income (trading costs, management fees) and funding (the outside world: deposits, withdrawals).

Entries are immutable and append-only, and name what caused them. A client account's cash and positions are a
cache of its postings (``post`` keeps them in step); ``verify`` checks every entry, posting, ledger account, asset
and cache, and what each account holds back against its open orders.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Final

import attrs

from core.errors import InsufficientFunds, InsufficientPosition, NotFound, ValidationError
from core.instruments import Position
from core.lifecycle import OPEN
from core.numbers import ZERO, check_decimal, exact, fmt
from core.records import Account, Order, holds
from core.validators import NamedEnum, non_empty


class AssetKind(NamedEnum):
    CASH = "CASH"  #: a currency, by its ISO 4217 code
    UNITS = "UNITS"  #: units of an instrument, by its id


@attrs.frozen
class Asset:
    kind: AssetKind = attrs.field(converter=AssetKind)
    code: str = attrs.field(validator=non_empty)

    @classmethod
    def cash(cls, currency: str) -> Asset:
        return cls(AssetKind.CASH, currency)

    @classmethod
    def units(cls, instrument_id: str) -> Asset:
        return cls(AssetKind.UNITS, instrument_id)

    def __str__(self) -> str:
        return self.code if self.kind is AssetKind.CASH else f"{self.code} (units)"


class LedgerKind(NamedEnum):
    CLIENT = "CLIENT"  #: an allot account
    HOUSE = "HOUSE"  #: one of the house's own ledger accounts


@attrs.frozen
class LedgerAccount:
    kind: LedgerKind = attrs.field(converter=LedgerKind)
    name: str = attrs.field(validator=non_empty)

    @classmethod
    def client(cls, account_id: str) -> LedgerAccount:
        return cls(LedgerKind.CLIENT, account_id)

    @property
    def is_house(self) -> bool:
        return self.kind is LedgerKind.HOUSE

    def __str__(self) -> str:
        return f"house:{self.name}" if self.is_house else self.name


#: The counterparty of every trade.
VENUE: Final = LedgerAccount(LedgerKind.HOUSE, "venue")
#: Where trading costs and management fees go.
FEE_INCOME: Final = LedgerAccount(LedgerKind.HOUSE, "fee-income")
#: The outside world: where deposits come from and withdrawals go.
FUNDING: Final = LedgerAccount(LedgerKind.HOUSE, "funding")
HOUSE_LEDGERS: Final = (VENUE, FEE_INCOME, FUNDING)


def _amount(instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    check_decimal(value, "amount")
    if value == 0:
        raise ValidationError("a posting moves something: its amount is not zero", {"field": "amount"})


@attrs.frozen
class Posting:
    """``amount`` of ``asset`` into ``ledger`` (negative: out of it)."""

    ledger: LedgerAccount
    asset: Asset
    amount: Decimal = attrs.field(validator=_amount)


class CauseKind(NamedEnum):
    """What made the entry."""

    OPENING = "OPENING"  #: an account opened with cash (or a balance carried over from an older store)
    DEPOSIT = (
        "DEPOSIT"  #: cash in from the outside world (the deposit's id, as its FUNDING.DEPOSIT event names it)
    )
    WITHDRAWAL = "WITHDRAWAL"  #: cash out to the outside world (the withdrawal's id)
    FILL = "FILL"  #: an execution of an order (the order's id)
    MANAGEMENT_FEE = "MANAGEMENT_FEE"  #: charged when a liquidation is settled (the liquidation's id)
    OPTION_EXERCISED = "OPTION_EXERCISED"  #: an option closed by exercise (the instrument's id)
    OPTION_EXPIRED = "OPTION_EXPIRED"  #: an option closed worthless at expiry (the instrument's id)
    INVESTMENT_FUNDING = "INVESTMENT_FUNDING"  #: funding account → investment account (the investment's id)
    INVESTMENT_WITHDRAWAL = (
        "INVESTMENT_WITHDRAWAL"  #: investment account → funding account (the investment's id)
    )
    SERVICE_FEE = "SERVICE_FEE"  #: a copy-trading service fee, charged when an investment stops (its id)
    ERROR_ACCOUNT_FUNDING = "ERROR_ACCOUNT_FUNDING"  #: block account → its key's error account, for the error account's part (the block's id)


@attrs.frozen
class Cause:
    kind: CauseKind = attrs.field(converter=CauseKind)
    #: The id of what caused it: the order of a fill, the liquidation of a fee, the account of a deposit, ...
    id: str = attrs.field(validator=non_empty)


@exact
def _balanced(
    instance: object, attribute: attrs.Attribute[tuple[Posting, ...]], value: tuple[Posting, ...]
) -> None:
    if not value:
        raise ValidationError("a journal entry has postings", {"field": "postings"})
    unbalanced = {str(asset): fmt(total) for asset, total in totals(value).items() if total}
    if unbalanced:
        raise ValidationError(
            f"a journal entry must balance: its postings sum to {unbalanced} instead of zero",
            {"field": "postings", "sums": unbalanced},
        )


@attrs.frozen(kw_only=True)
class JournalEntry:
    """One movement: balanced postings, when, why, and a line a person can read."""

    id: str
    at: dt.datetime
    cause: Cause
    postings: tuple[Posting, ...] = attrs.field(validator=_balanced)
    memo: str = ""

    def touches(self, ledger: LedgerAccount) -> bool:
        return any(p.ledger == ledger for p in self.postings)


@exact
def totals(postings: Iterable[Posting]) -> dict[Asset, Decimal]:
    """What the postings add up to, per asset."""
    sums: dict[Asset, Decimal] = defaultdict(lambda: ZERO)
    for posting in postings:
        sums[posting.asset] += posting.amount
    return dict(sums)


def transfer(
    source: LedgerAccount, target: LedgerAccount, asset: Asset, amount: Decimal
) -> tuple[Posting, ...]:
    """Two postings moving ``amount`` of ``asset`` from ``source`` to ``target`` (none for a zero amount)."""
    if not amount:
        return ()
    return (Posting(source, asset, -amount), Posting(target, asset, amount))


@exact
def post(account: Account, entry: JournalEntry) -> Account:
    """The account after the entry: its cached cash and positions moved by the entry's postings to it.

    An entry may not take the account's cash or units below zero. A position opened by the entry takes the
    entry's id as its position id (and no correlation key: ``core.orders.book`` gives a fill's); one that grows or
    shrinks keeps both; one closed to zero disappears.
    """
    mine = LedgerAccount.client(account.id)
    cash = dict(account.cash)
    positions = {p.instrument_id: p for p in account.positions}
    for asset, amount in totals(p for p in entry.postings if p.ledger == mine).items():
        if asset.kind is AssetKind.CASH:
            balance = cash.get(asset.code, ZERO) + amount
            if balance < 0:
                raise InsufficientFunds(
                    f"account {account.id} has {fmt(cash.get(asset.code, ZERO))} {asset.code}; "
                    f"{fmt(-amount)} cannot be taken from it",
                    {"account_id": account.id, "currency": asset.code, "requested": fmt(-amount)},
                )
            cash[asset.code] = balance
            continue
        before = positions.get(asset.code)
        held = before.quantity if before is not None else ZERO
        after = held + amount
        if after < 0:
            raise InsufficientPosition(
                f"account {account.id} holds {fmt(held)} {asset.code}; {fmt(-amount)} cannot be taken from it",
                {
                    "account_id": account.id,
                    "instrument_id": asset.code,
                    "held": fmt(held),
                    "requested": fmt(-amount),
                },
            )
        if after == 0:
            positions.pop(asset.code, None)
        else:
            positions[asset.code] = (
                Position(asset.code, after, entry.id)
                if before is None
                else attrs.evolve(before, quantity=after)  # its position id and correlation key kept
            )
    ordered = [p for p in account.positions if p.instrument_id in positions]
    opened = [p for i, p in positions.items() if i not in {q.instrument_id for q in account.positions}]
    return attrs.evolve(
        account,
        cash=cash,
        positions=tuple(positions[p.instrument_id] for p in ordered) + tuple(opened),
    )


@attrs.frozen
class Discrepancy:
    """Something wrong in the books: an entry, a posting or a ledger account that cannot be, or a balance that
    the journal, the accounts and their open orders disagree on."""

    kind: str
    message: str


@attrs.frozen
class Audit:
    """What ``verify`` checked, and what it found wrong (nothing when the books balance)."""

    entries: int
    ledger_accounts: int
    assets: int
    accounts: int
    #: The open orders whose holds were added up against their accounts'.
    orders: int
    discrepancies: tuple[Discrepancy, ...]
    #: True when nothing was found wrong (given, so that it is part of what ``--json`` shows).
    balanced: bool = attrs.field()

    @balanced.default
    def _nothing_found(self) -> bool:
        return not self.discrepancies

    @balanced.validator
    def _agrees(self, attribute: attrs.Attribute[bool], value: bool) -> None:
        if value != (not self.discrepancies):
            raise ValidationError(
                "the books balance exactly when nothing was found wrong", {"field": "balanced"}
            )


@attrs.frozen
class EntryRow:
    """A journal entry as the store keeps it apart from its postings: its id and the kind of its cause as written
    (``verify`` reports a kind allot does not know instead of refusing to read it)."""

    id: str
    cause_kind: str


#: A posting as the store holds it, with the id of its entry (``None``: the entry it was written with is gone):
#: what ``verify`` adds up, entry by entry.
EntryPosting = tuple[str | None, Posting]

_CAUSE_KINDS: Final = frozenset(kind.value for kind in CauseKind)


def rows_of(entries: Iterable[JournalEntry]) -> list[EntryRow]:
    return [EntryRow(entry.id, entry.cause.kind.value) for entry in entries]


def postings_of(entries: Iterable[JournalEntry]) -> list[EntryPosting]:
    return [(entry.id, posting) for entry in entries for posting in entry.postings]


@exact
def verify(
    *,
    entries: Iterable[EntryRow],
    postings: Iterable[EntryPosting],
    accounts: Iterable[Account],
    orders: Iterable[Order],
) -> Audit:
    """Check the books as stored. Every entry has postings and a cause allot knows, and every posting an entry;
    every entry balances; every posting goes to an allot account or one of the house ledger accounts; every
    asset sums to zero over all ledger accounts; no client holds less than nothing; every account's cached cash
    and positions equal the sum of its postings, and what it holds back equals what its open orders hold
    (``orders``: the open orders; a finished one holds nothing). The discrepancies come first found first.

    It reads entries and postings as stored rather than ``JournalEntry`` values, so that an entry damaged in the
    store after it was written is reported, not refused on reading. An orphan posting still counts in the
    balances: the cached balances were moved by it when it was written."""
    rows = list(entries)
    checked = list(accounts)
    open_orders = [order for order in orders if order.state in OPEN]
    per_entry: dict[str, dict[Asset, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    balances: dict[tuple[LedgerAccount, Asset], Decimal] = defaultdict(lambda: ZERO)
    first_use: dict[LedgerAccount, str | None] = {}
    orphans: list[Discrepancy] = []
    for entry_id, posting in postings:
        balances[(posting.ledger, posting.asset)] += posting.amount
        first_use.setdefault(posting.ledger, entry_id)
        if entry_id is None:
            orphans.append(
                Discrepancy(
                    "ORPHAN_POSTING",
                    f"a posting of {fmt(posting.amount)} {posting.asset} to {posting.ledger} belongs to no "
                    "journal entry: its entry is gone",
                )
            )
            continue
        per_entry[entry_id][posting.asset] += posting.amount
    found = [*_row_discrepancies(rows, per_entry), *orphans]
    found += [
        Discrepancy("UNBALANCED_ENTRY", f"entry {entry_id} does not balance: {unbalanced}")
        for entry_id, sums in per_entry.items()
        if (unbalanced := {str(a): fmt(t) for a, t in sums.items() if t})
    ]
    found += _unknown_ledgers(first_use, {account.id for account in checked})
    overall: dict[Asset, Decimal] = defaultdict(lambda: ZERO)
    for (_, asset), amount in balances.items():
        overall[asset] += amount
    found += [
        Discrepancy("ASSET_NOT_ZERO", f"{asset} sums to {fmt(total)} over all ledger accounts, not zero")
        for asset, total in overall.items()
        if total
    ]
    found += [
        Discrepancy(
            "NEGATIVE_BALANCE", f"client {ledger} holds {fmt(amount)} {asset} by its postings, below zero"
        )
        for (ledger, asset), amount in balances.items()
        if ledger.kind is LedgerKind.CLIENT and amount < 0
    ]
    orders_of: dict[str, list[Order]] = defaultdict(list)
    for order in open_orders:
        orders_of[order.account_id].append(order)
    for account in checked:
        found += _cache_discrepancies(account, balances)
        found += _hold_discrepancies(account, orders_of[account.id])
    return Audit(
        entries=len({*(row.id for row in rows), *per_entry}),
        ledger_accounts=len({ledger for ledger, _ in balances}),
        assets=len(overall),
        accounts=len(checked),
        orders=len(open_orders),
        discrepancies=tuple(found),
    )


def _row_discrepancies(rows: Iterable[EntryRow], posted: Mapping[str, object]) -> list[Discrepancy]:
    """Entries with no postings, and entries whose cause is no kind allot knows, in the order written."""
    found: list[Discrepancy] = []
    for row in rows:
        if row.id not in posted:
            found.append(Discrepancy("EMPTY_ENTRY", f"entry {row.id} has no postings"))
        if row.cause_kind not in _CAUSE_KINDS:
            found.append(
                Discrepancy(
                    "UNKNOWN_CAUSE",
                    f"entry {row.id} was caused by {row.cause_kind}, which is no cause allot knows",
                )
            )
    return found


def _unknown_ledgers(
    first_use: Mapping[LedgerAccount, str | None], account_ids: set[str]
) -> list[Discrepancy]:
    """Ledger accounts that are neither an allot account nor one of the house's, each named once, with the
    first entry that posts to it."""
    found: list[Discrepancy] = []
    for ledger, entry_id in first_use.items():
        by = f"entry {entry_id}" if entry_id is not None else "a posting whose entry is gone"
        if ledger.is_house and ledger not in HOUSE_LEDGERS:
            found.append(
                Discrepancy(
                    "UNKNOWN_LEDGER_ACCOUNT",
                    f"{by} posts to {ledger}, which is not one of the house ledger accounts",
                )
            )
        elif not ledger.is_house and ledger.name not in account_ids:
            found.append(
                Discrepancy(
                    "UNKNOWN_LEDGER_ACCOUNT", f"{by} posts to {ledger}, which is not an allot account"
                )
            )
    return found


def _cache_discrepancies(
    account: Account, balances: Mapping[tuple[LedgerAccount, Asset], Decimal]
) -> list[Discrepancy]:
    ledger = LedgerAccount.client(account.id)
    posted = {asset: amount for (owner, asset), amount in balances.items() if owner == ledger and amount}
    cached = {Asset.cash(c): a for c, a in account.cash.items() if a}
    cached.update({Asset.units(p.instrument_id): p.quantity for p in account.positions})
    return [
        Discrepancy(
            "CACHED_BALANCE",
            f"account {account.id} shows {fmt(cached.get(asset, ZERO))} {asset} but its postings sum to "
            f"{fmt(posted.get(asset, ZERO))}",
        )
        for asset in sorted({*posted, *cached}, key=str)
        if cached.get(asset, ZERO) != posted.get(asset, ZERO)
    ]


def _hold_discrepancies(account: Account, open_orders: Iterable[Order]) -> list[Discrepancy]:
    """What the account holds back (cash per currency, units per instrument) against what its open orders hold:
    a buy's ``held_cash`` is in the account's currency, a sell's ``held_units`` in its instrument."""
    held: dict[Asset, Decimal] = defaultdict(lambda: ZERO)
    for order in open_orders:
        held_cash, held_units = holds(order)
        held[Asset.cash(account.currency)] += held_cash
        held[Asset.units(order.instrument_id)] += held_units
    shown = {Asset.cash(c): a for c, a in account.reserved.items() if a}
    shown.update({Asset.units(i): q for i, q in account.held_units.items() if q})
    return [
        Discrepancy(
            "HELD_MISMATCH",
            f"account {account.id} holds back {fmt(shown.get(asset, ZERO))} {asset} but its open orders hold "
            f"{fmt(held.get(asset, ZERO))}",
        )
        for asset in sorted({*shown, *(a for a, v in held.items() if v)}, key=str)
        if shown.get(asset, ZERO) != held.get(asset, ZERO)
    ]


@attrs.frozen
class Balance:
    """What a ledger account holds of an asset: the sum of its postings."""

    ledger: LedgerAccount
    asset: Asset
    amount: Decimal


@exact
def balances(entries: Iterable[JournalEntry]) -> list[Balance]:
    """Every ledger account's balance of every asset it holds (zero balances left out), house accounts first."""
    sums: dict[tuple[LedgerAccount, Asset], Decimal] = defaultdict(lambda: ZERO)
    for entry in entries:
        for posting in entry.postings:
            sums[(posting.ledger, posting.asset)] += posting.amount
    order = {LedgerKind.HOUSE: 0, LedgerKind.CLIENT: 1}
    keys = sorted(
        (k for k, v in sums.items() if v),
        key=lambda k: (order[k[0].kind], k[0].name, k[1].kind.value, k[1].code),
    )
    return [Balance(ledger, asset, sums[(ledger, asset)]) for ledger, asset in keys]


@attrs.frozen
class StatementLine:
    """One entry as an account's statement shows it: what moved of one asset, and the balance after it."""

    entry_id: str
    at: dt.datetime
    cause: Cause
    memo: str
    asset: Asset
    amount: Decimal
    balance: Decimal


@exact
def statement(
    entries: Iterable[JournalEntry],
    ledger: LedgerAccount,
    asset: str | None = None,
    *,
    known: Iterable[Asset] = (),
) -> list[StatementLine]:
    """The entries of one ledger account, oldest first, with a running balance per asset.

    ``asset``: only the asset with that code — an instrument id as written, or a currency code in any case (ISO
    4217 codes are upper case). An asset the ledger account has never held (nor is among ``known``: its own
    currency, say) is ``NOT_FOUND``, naming the assets it has held."""
    running: dict[Asset, Decimal] = defaultdict(lambda: ZERO)
    lines: list[StatementLine] = []
    for entry in entries:
        for moved, amount in totals(p for p in entry.postings if p.ledger == ledger).items():
            running[moved] += amount
            lines.append(
                StatementLine(entry.id, entry.at, entry.cause, entry.memo, moved, amount, running[moved])
            )
    if asset is None:
        return lines
    wanted = _held_asset(asset, ledger, [*known, *running])
    return [line for line in lines if line.asset == wanted]


def _held_asset(code: str, ledger: LedgerAccount, held: Iterable[Asset]) -> Asset:
    """The asset ``code`` names among those held: an instrument by its id as written, a currency in any case."""
    assets = list(dict.fromkeys(held))
    for asset in assets:
        if asset.code == code or (asset.kind is AssetKind.CASH and asset.code == code.upper()):
            return asset
    raise NotFound(
        f"account {ledger.name} has never held {code}: its statement has "
        f"{', '.join(a.code for a in assets) or 'nothing yet'}",
        {"kind": "asset", "id": code, "held": [a.code for a in assets]},
    )
