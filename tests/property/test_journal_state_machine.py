"""A Hypothesis state machine for the books: several accounts with trading costs and management fees, deposits
and withdrawals, portfolio orders, account liquidations, block trades, cancels, price moves and market runs with
partial fills and rejections, on the in-memory store and on SQLite.

After every step it checks, from the journal it reads back and its own record of what it paid in and out: every
entry balances; every asset sums to zero over all ledger accounts; every account's cached cash and positions equal
its postings; no client balance is below zero; what accounts hold back equals what their open orders hold; and each
account's cash postings equal its deposits − withdrawals − net purchases − costs − management fees.
"""

from __future__ import annotations

import datetime as dt
import decimal
import shutil
import tempfile
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from core.errors import AllotError
from core.fills import CostSchedule
from core.instruments import AllocationLine, Instrument, Side
from core.journal import AssetKind, JournalEntry, LedgerKind
from core.keys import AllocationKey, MarginHandling, Participant, UnitType
from core.lifecycle import KeyStatus, OrderState, ParentState
from core.portfolio import FeeSchedule, OrderType, Policy
from core.records import AccountLiquidation, BlockOrder, Order, PortfolioOrder, StoredKey
from core.webhooks import EventQuery
from tests.application.conftest import World
from tests.property.strategies import machine_settings

ZERO = Decimal(0)
OPEN = (OrderState.NEW, OrderState.PROCESSING)
COSTS = CostSchedule(
    commission_rate=Decimal("0.001"),
    commission_minimum=Decimal("1.00"),
    exchange_fee_rate=Decimal("0.0005"),
    stamp_duty_rate=Decimal("0.005"),
)
#: Who trades: (id, opening cash, trading costs, management fee a year).
CLIENTS = (
    ("A", Decimal("5000.00"), COSTS, Decimal("0.01")),
    ("B", Decimal("2000.00"), CostSchedule(), Decimal("0.005")),
    ("C", Decimal("0.00"), COSTS, None),
)
CLIENT_IDS = tuple(c[0] for c in CLIENTS)
#: The key's block and error accounts, funded so that they can take what the participants do not.
HOUSE_ACCOUNTS = ("BLOCK", "ERROR")
EXPECTED_REFUSALS = {
    "INSUFFICIENT_FUNDS",
    "INSUFFICIENT_POSITION",
    "NAV_LIMIT_EXCEEDED",
    "BELOW_MINIMUM_ORDER",
    "ILLEGAL_TRANSITION",
    "NOTHING_TO_TRADE",
    "MARGIN_REJECTED",
    "APPORTIONMENT_IMPOSSIBLE",
}
#: States after which a record is never written again.
FINAL_STATES = {"FILLED", "CANCELLED"}
FINAL_KEY_STATUSES = {KeyStatus.USED, KeyStatus.EXPIRED, KeyStatus.DELETED}
#: A one-time key that was never used can no longer be used this long after it was created (the documented week).
ONE_TIME_KEY_LIFETIME = dt.timedelta(days=7)


def estimated_costs(schedule: CostSchedule, value: Decimal) -> Decimal:
    """What a buy of ``value`` costs by ``schedule``: commission (at least its minimum), exchange fee and stamp
    duty, each rounded half-even to the cent."""

    def cents(amount: Decimal) -> Decimal:
        return amount.quantize(Decimal("0.01"), rounding=decimal.ROUND_HALF_EVEN)

    commission = max(schedule.commission_minimum, cents(schedule.commission_rate * value))
    return commission + cents(schedule.exchange_fee_rate * value) + cents(schedule.stamp_duty_rate * value)


class BooksMachine(RuleBasedStateMachine):
    storage = "memory"

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="allot-books-"))
        self.world = World(self.storage, self.folder / "books.db")
        self.app = self.world.open()
        #: What the machine itself paid into and out of each account (the opening cash counts as paid in).
        self.paid_in: dict[str, Decimal] = defaultdict(Decimal)
        self.paid_out: dict[str, Decimal] = defaultdict(Decimal)
        since = self.world.clock.moment.date() - dt.timedelta(days=200)
        for account_id, cash, costs, rate in CLIENTS:
            fees = FeeSchedule(rate, since) if rate is not None else None
            self.app.accounts.open("EUR", cash, fees, costs, account_id=account_id)
            self.paid_in[account_id] += cash
        for account_id in HOUSE_ACCOUNTS:
            self.app.accounts.open("EUR", Decimal("100000.00"), account_id=account_id)
            self.paid_in[account_id] += Decimal("100000.00")
        self.app.instruments.add(Instrument("AAA", Decimal("12.34"), Decimal("0.001"), currency="EUR"))
        self.app.instruments.add(Instrument("BBB", Decimal("56.78"), Decimal("1"), currency="EUR"))
        self.app.allocations.create(
            "m", [AllocationLine("AAA", Decimal("0.7")), AllocationLine("BBB", Decimal("0.3"))]
        )
        #: The machine's own record of its keys: one-time or not, when created, whether a block has used it.
        self.keys: dict[str, KeyModel] = {}
        #: Idempotency keys it placed with: key → (what was asked, the id the first placing returned).
        self.placed_with_key: dict[str, tuple[tuple[str, str, Decimal], str]] = {}
        #: The sequence number of the last event already compared with the store.
        self.events_seen = 0
        self.key_id = self.app.keys.create(
            AllocationKey(
                "abc",
                UnitType.UNIT,
                MarginHandling.REDUCE,
                False,
                "BLOCK",
                "ERROR",
                tuple(Participant(a, Decimal(w)) for a, w in zip(CLIENT_IDS, (3, 2, 1), strict=True)),
            )
        ).id
        self.keys[self.key_id] = KeyModel(one_time=False, created_at=self.world.clock.moment)

    def teardown(self) -> None:
        self.world.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def refused(self, error: AllotError) -> None:
        assert error.code in EXPECTED_REFUSALS, error

    # -- what a client and the back office do ------------------------------------------------------------------

    @initialize(ratio=st.sampled_from(["1", "0.5"]))
    def invested(self, ratio: str) -> None:
        """A and B start invested, so that sells, liquidations and fees have something to work on."""
        self.app.portfolio_orders.place("A", OrderType.BUY, Decimal("3000.00"), "m")
        self.app.portfolio_orders.place("B", OrderType.BUY, Decimal("1500.00"), "m")
        self.run_market(ratio, ())

    @rule(account_id=st.sampled_from(CLIENT_IDS), cents=st.integers(1, 200_000))
    def deposit(self, account_id: str, cents: int) -> None:
        amount = Decimal(cents).scaleb(-2)
        self.app.accounts.deposit(account_id, amount)
        self.paid_in[account_id] += amount

    @rule(account_id=st.sampled_from(CLIENT_IDS), cents=st.integers(1, 200_000))
    def withdraw(self, account_id: str, cents: int) -> None:
        amount = Decimal(cents).scaleb(-2)
        try:
            self.app.accounts.withdraw(account_id, amount)
        except AllotError as error:
            self.refused(error)
        else:
            self.paid_out[account_id] += amount

    @rule(
        account_id=st.sampled_from(CLIENT_IDS),
        order_type=st.sampled_from([OrderType.BUY, OrderType.SELL]),
        cents=st.integers(1, 300_000),
    )
    def place_order(self, account_id: str, order_type: OrderType, cents: int) -> None:
        model = "m" if order_type is OrderType.BUY else None
        try:
            self.app.portfolio_orders.place(account_id, order_type, Decimal(cents).scaleb(-2), model)
        except AllotError as error:
            self.refused(error)

    @rule(account_id=st.sampled_from(CLIENT_IDS), whole_account=st.booleans(), settle_now=st.booleans())
    def liquidate(self, account_id: str, whole_account: bool, settle_now: bool) -> None:
        """Sell everything, as an account liquidation or a LIQUIDATION portfolio order, and (often) let the
        market fill it at once, so that management fees are charged."""
        try:
            if whole_account:
                self.app.liquidations.create(account_id)
            else:
                self.app.portfolio_orders.place(account_id, OrderType.LIQUIDATION)
        except AllotError as error:
            self.refused(error)
        if settle_now:
            self.run_market("1", ())

    @rule(
        instrument_id=st.sampled_from(["AAA", "BBB"]),
        side=st.sampled_from(list(Side)),
        units=st.integers(1, 120),
        data=st.data(),
    )
    def place_block(self, instrument_id: str, side: Side, units: int, data: st.DataObject) -> None:
        key_id = data.draw(st.sampled_from(sorted(self.keys)))
        model = self.keys[key_id]
        usable = not model.used and not (
            model.one_time and self.world.clock.moment >= model.created_at + ONE_TIME_KEY_LIFETIME
        )
        try:
            self.app.blocks.place(key_id, instrument_id, side, Decimal(units))
        except AllotError as error:
            if usable:
                self.refused(error)
            else:
                assert error.code == "ALLOCATION_KEY_NOT_USABLE", error
        else:
            assert usable, f"a one-time key was used twice or after it expired: {key_id}"
            model.used = model.one_time

    @rule(
        members=st.lists(st.sampled_from(CLIENT_IDS), min_size=1, max_size=3, unique=True),
        units=st.lists(st.integers(1, 5), min_size=3, max_size=3),
        one_time=st.booleans(),
        margin=st.sampled_from(list(MarginHandling)),
    )
    def create_key(
        self, members: list[str], units: list[int], one_time: bool, margin: MarginHandling
    ) -> None:
        """A new unit key over some of the clients; the first takes the remainders."""
        participants = tuple(
            Participant(a, Decimal(u), i == 0, 1 if i == 0 else None)
            for i, (a, u) in enumerate(zip(members, units, strict=False))
        )
        key = AllocationKey(
            f"k{len(self.keys)}", UnitType.UNIT, margin, one_time, "BLOCK", "ERROR", participants
        )
        stored = self.app.keys.create(key)
        self.keys[stored.id] = KeyModel(one_time=one_time, created_at=self.world.clock.moment)

    @rule(account_id=st.sampled_from(CLIENT_IDS), cash_buffer=st.sampled_from(["0", "100.00"]))
    def rebalance(self, account_id: str, cash_buffer: str) -> None:
        try:
            self.app.portfolio_orders.place(
                account_id, OrderType.REBALANCING, None, "m", Policy(cash_buffer=Decimal(cash_buffer))
            )
        except AllotError as error:
            self.refused(error)

    @rule(account_id=st.sampled_from(CLIENT_IDS), cents=st.integers(1, 300_000), block=st.booleans())
    def place_twice_with_one_idempotency_key(self, account_id: str, cents: int, block: bool) -> None:
        """A client retries a request with the same idempotency key: the retry returns what the first placing
        created and changes nothing."""
        key = f"retry-{len(self.placed_with_key)}"
        request = ("block" if block else "portfolio", account_id, Decimal(cents).scaleb(-2))
        try:
            first = self.place_with_key(key, request)
        except AllotError as error:
            self.refused(error)
            return
        self.placed_with_key[key] = (request, first)
        before = self.footprint()
        assert self.place_with_key(key, request) == first
        assert self.footprint() == before

    @precondition(lambda self: bool(self.placed_with_key))
    @rule(data=st.data())
    def retry_an_earlier_request(self, data: st.DataObject) -> None:
        """The same retry later, whatever happened to the order meanwhile."""
        key = data.draw(st.sampled_from(sorted(self.placed_with_key)))
        request, first = self.placed_with_key[key]
        before = self.footprint()
        assert self.place_with_key(key, request) == first
        assert self.footprint() == before

    def place_with_key(self, key: str, request: tuple[str, str, Decimal]) -> str:
        kind, account_id, amount = request
        if kind == "block":
            units = amount.to_integral_value(rounding=decimal.ROUND_FLOOR) % 50 + 1
            return self.app.blocks.place(self.key_id, "BBB", Side.BUY, units, idempotency_key=key).id
        return self.app.portfolio_orders.place(account_id, OrderType.BUY, amount, "m", idempotency_key=key).id

    def footprint(self) -> tuple[object, ...]:
        """Everything a placing would change: records, postings, events, balances."""
        events = self.app.queries.events(EventQuery(after=self.events_seen, limit=10_000))
        return (
            self.app.portfolio_orders.all(),
            self.app.blocks.all(),
            self.orders(),
            len(self.entries()),
            len(events),
            self.app.accounts.all(),
        )

    @precondition(lambda self: bool(self.open_parents()))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        kind, parent_id = data.draw(st.sampled_from(self.open_parents()))
        cancel = {
            "portfolio": self.app.portfolio_orders.cancel,
            "liquidation": self.app.liquidations.cancel,
            "block": self.app.blocks.cancel,
        }[kind]
        try:
            cancel(parent_id)
        except AllotError as error:
            self.refused(error)

    @rule(instrument_id=st.sampled_from(["AAA", "BBB"]), cents=st.integers(50, 20_000))
    def move_price(self, instrument_id: str, cents: int) -> None:
        self.app.instruments.set_price(instrument_id, Decimal(cents).scaleb(-2))

    @rule(days=st.integers(1, 120))
    def time_passes(self, days: int) -> None:
        self.world.clock.advance(days=days)

    @rule(
        ratio=st.sampled_from(["1", "0.5", "0.3"]),
        reject=st.sampled_from([(), ("AAA",), ("BBB",)]),
    )
    def run_market(self, ratio: str, reject: tuple[str, ...]) -> None:
        market = self.world.open(ratio, reject)
        run = market.market.run()
        market.close()
        self.world.opened.remove(market)
        assert run.failures == (), run.failures

    # -- what the machine reads back ---------------------------------------------------------------------------

    def open_parents(self) -> list[tuple[str, str]]:
        finished = (ParentState.FILLED, ParentState.CANCELLED)
        return (
            [("portfolio", p.id) for p in self.app.portfolio_orders.all() if p.state not in finished]
            + [("liquidation", p.id) for p in self.app.liquidations.all() if p.state not in finished]
            + [("block", b.id) for b in self.app.blocks.all() if b.state in OPEN]
        )

    def entries(self) -> list[JournalEntry]:
        return self.app.queries.journal()

    def postings(self) -> dict[tuple[LedgerKind, str, AssetKind, str], Decimal]:
        """Each ledger account's balance of each asset, summed here from the journal's postings."""
        sums: dict[tuple[LedgerKind, str, AssetKind, str], Decimal] = defaultdict(Decimal)
        for entry in self.entries():
            for p in entry.postings:
                sums[(p.ledger.kind, p.ledger.name, p.asset.kind, p.asset.code)] += p.amount
        return sums

    def orders(self, account_id: str | None = None) -> list[Order]:
        orders = self.app.queries.orders()
        return [o for o in orders if account_id is None or o.account_id == account_id]

    # -- the books ---------------------------------------------------------------------------------------------

    @invariant()
    def every_entry_balances_per_asset(self) -> None:
        for entry in self.entries():
            assert entry.postings
            per_asset: dict[tuple[AssetKind, str], Decimal] = defaultdict(Decimal)
            for p in entry.postings:
                per_asset[(p.asset.kind, p.asset.code)] += p.amount
            assert set(per_asset.values()) == {ZERO}, entry

    @invariant()
    def every_asset_sums_to_zero_over_all_ledger_accounts(self) -> None:
        overall: dict[tuple[AssetKind, str], Decimal] = defaultdict(Decimal)
        for (_, _, kind, code), amount in self.postings().items():
            overall[(kind, code)] += amount
        assert all(total == 0 for total in overall.values()), overall

    @invariant()
    def cached_balances_equal_postings_and_none_is_below_zero(self) -> None:
        posted = self.postings()
        for account in self.app.accounts.all():
            mine = {
                (kind, code): amount
                for (owner, name, kind, code), amount in posted.items()
                if owner is LedgerKind.CLIENT and name == account.id and amount
            }
            cached = {(AssetKind.CASH, c): a for c, a in account.cash.items() if a}
            cached |= {(AssetKind.UNITS, p.instrument_id): p.quantity for p in account.positions}
            assert cached == mine, account.id
            assert all(amount > 0 for amount in mine.values()), account.id

    @invariant()
    def what_accounts_hold_back_is_what_their_open_orders_hold(self) -> None:
        orders = self.orders()
        costs = {account_id: schedule for account_id, _, schedule, _ in CLIENTS}
        for o in orders:
            if o.state not in OPEN:
                assert (o.held_cash, o.held_units) == (ZERO, ZERO), o
            elif o.side is Side.BUY and o.cash_amount is not None:
                schedule = costs.get(o.account_id, CostSchedule())
                placed = o.cash_amount + estimated_costs(schedule, o.cash_amount)
                assert o.held_cash == max(ZERO, placed - o.traded_value - o.total_cost), o
            elif o.side is Side.SELL and o.quantity is not None:
                assert o.held_units == o.quantity - o.filled_quantity, o
        for account in self.app.accounts.all():
            mine = [o for o in orders if o.account_id == account.id and o.state in OPEN]
            assert account.reserved_in("EUR") == sum((o.held_cash for o in mine), ZERO), account.id
            held: dict[str, Decimal] = defaultdict(Decimal)
            for o in mine:
                if o.held_units:
                    held[o.instrument_id] += o.held_units
            assert {i: q for i, q in account.held_units.items() if q} == held, account.id
            for instrument_id, units in held.items():
                assert units <= account.quantity_of(instrument_id), account.id

    @invariant()
    def cash_postings_are_deposits_less_withdrawals_purchases_costs_and_fees(self) -> None:
        posted = self.postings()
        fees: dict[str, Decimal] = defaultdict(Decimal)
        settled: list[PortfolioOrder | AccountLiquidation] = [
            *self.app.portfolio_orders.all(),
            *self.app.liquidations.all(),
        ]
        for parent in settled:
            if parent.management_fee is not None:
                fees[parent.account_id] += parent.management_fee
        for account_id in (*CLIENT_IDS, *HOUSE_ACCOUNTS):
            orders = self.orders(account_id)
            bought = sum((o.traded_value for o in orders if o.side is Side.BUY), ZERO)
            sold = sum((o.traded_value for o in orders if o.side is Side.SELL), ZERO)
            costs = sum((o.total_cost for o in orders), ZERO)
            expected = self.paid_in[account_id] - self.paid_out[account_id] - (bought - sold) - costs
            expected -= fees[account_id]
            assert posted[(LedgerKind.CLIENT, account_id, AssetKind.CASH, "EUR")] == expected, account_id
            for instrument_id in ("AAA", "BBB"):
                net = sum(
                    (
                        o.filled_quantity if o.side is Side.BUY else -o.filled_quantity
                        for o in orders
                        if o.instrument_id == instrument_id
                    ),
                    ZERO,
                )
                assert posted[(LedgerKind.CLIENT, account_id, AssetKind.UNITS, instrument_id)] == net

    @invariant()
    def every_event_of_the_step_carries_its_record_as_committed(self) -> None:
        """Each event announced in this step carries its record in the state its type names; once that state
        is final (nothing changes the record again), the event carries the record exactly as stored now.

        (A record in a live state may be written again later in the same step, e.g. a portfolio order whose
        second order starts in the next transaction of a market run: its earlier event is not compared.)"""
        while True:
            page = self.app.queries.events(EventQuery(after=self.events_seen, limit=10_000))
            if not page:
                return
            for sequence, event in page:
                self.events_seen = sequence
                announced = event.object
                if isinstance(announced, StoredKey):
                    assert event.type == f"ALLOCATION_KEY.{announced.status.value}", event
                    if announced.status in FINAL_KEY_STATUSES:
                        assert announced == self.app.keys.get(announced.id), event.type
                    continue
                if not isinstance(announced, PortfolioOrder | Order | AccountLiquidation | BlockOrder):
                    continue
                assert event.type.split(".", 1)[1] == announced.state.value, event
                if announced.state.value in FINAL_STATES:
                    assert announced == self.stored(announced), event.type

    def stored(
        self, announced: PortfolioOrder | Order | AccountLiquidation | BlockOrder
    ) -> PortfolioOrder | Order | AccountLiquidation | BlockOrder:
        """The record an event is about, as the store holds it now."""
        if isinstance(announced, PortfolioOrder):
            return self.app.portfolio_orders.get(announced.id)
        if isinstance(announced, Order):
            return self.app.queries.order(announced.id)
        if isinstance(announced, AccountLiquidation):
            return self.app.liquidations.get(announced.id)
        return self.app.blocks.get(announced.id)


@attrs.define
class KeyModel:
    one_time: bool
    created_at: dt.datetime
    used: bool = False


class SqliteBooksMachine(BooksMachine):
    storage = "sqlite"


BooksMachine.TestCase.settings = machine_settings(400, 50)
SqliteBooksMachine.TestCase.settings = machine_settings(100, 50)
test_the_books_always_add_up_in_memory = BooksMachine.TestCase
test_the_books_always_add_up_on_sqlite = SqliteBooksMachine.TestCase
