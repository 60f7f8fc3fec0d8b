"""One contract for the storage ports — unit of work, repositories, outbox with fan-out, delivery queue — run
against every adapter. An adapter's test class only says how to build two handles on one fresh store (two
connections to one SQLite file; the same in-memory store twice; two HTTP stores on one server), so that concurrent
writers can be tested."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from adapters.http_store import HttpDeliveryQueue, HttpStore
from adapters.memory import MemoryDeliveryQueue, MemoryStore
from adapters.sqlite import SqliteDatabase, SqliteDeliveryQueue
from core.errors import AlreadyExists, ConcurrentUpdate, NotFound
from core.fills import PositionEvent, PositionEventType
from core.instruments import AssetType, Instrument, Side
from core.journal import FUNDING, Asset, Cause, CauseKind, EntryRow, JournalEntry, LedgerAccount, transfer
from core.lifecycle import OrderState
from core.records import Account, Event, Order, ParentKind, Subscription
from core.webhooks import Attempt, AttemptDecision, DeliveryOutcome, EventQuery, after_attempt
from ports.driven import Delivery, DeliveryKey, DeliveryQueue, RecordedAttempt, UnitOfWorkFactory
from tests.store_server import store_server

NOW = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)


@attrs.frozen
class Handle:
    """One way into a store: its units of work and its delivery queue."""

    unit_of_work: UnitOfWorkFactory
    deliveries: DeliveryQueue


def account(account_id: str = "A1", cash: str = "100.00") -> Account:
    return Account(account_id, "EUR", {"EUR": Decimal(cash)}, created_at=NOW)


def order(order_id: str, state: OrderState = OrderState.NEW, parent: str = "P1") -> Order:
    return Order(
        order_id, "A1", "X", Side.BUY, Decimal("10.00"), None, state, NOW, NOW,
        parent_kind=ParentKind.PORTFOLIO_ORDER, parent_order_id=parent, client_reference=parent,
    )  # fmt: skip


def subscription(subscription_id: str, *topics: str, disabled: str | None = None) -> Subscription:
    return Subscription(subscription_id, f"https://example.com/{subscription_id}", topics, "whsec_x", NOW,
                        disabled_reason=disabled)  # fmt: skip


def deposit_entry(entry_id: str, account_id: str, amount: str) -> JournalEntry:
    return JournalEntry(
        id=entry_id,
        at=NOW,
        cause=Cause(CauseKind.DEPOSIT, account_id),
        postings=transfer(FUNDING, LedgerAccount.client(account_id), Asset.cash("EUR"), Decimal(amount)),
        memo="a deposit",
    )


def journal(store: Handle, entries: list[JournalEntry]) -> None:
    """Append ``entries`` to the store's journal in one committed unit of work."""
    with store.unit_of_work() as work:
        for entry in entries:
            work.journal.append(entry)
        work.commit()


def order_event(event_id: str, order_id: str = "O1") -> Event:
    return Event(event_id, NOW, "ORDER.NEW", order(order_id))


def position_event(event_id: str) -> Event:
    position = PositionEvent(
        event=PositionEventType.NEW, account_id="A1", position_id="POS-1", instrument_id="X",
        asset_type=AssetType.STOCK, symbol="X:xams", side=Side.BUY, fill_amount=Decimal(3), amount=Decimal(3),
        open_price=Decimal("1.50"), traded_value=Decimal("4.50"), commission=Decimal(0), exchange_fee=Decimal(0),
        stamp_duty=Decimal(0), total_cost=Decimal(0), currency="EUR", correlation_key=None, source_order_id="O1",
        external_reference=None, execution_time=NOW, value_date=NOW.date(), sequence_id=1,
    )  # fmt: skip
    return Event(event_id, NOW, "POSITION.NEW", position)


class StorageContract:
    """What every storage adapter promises. Each adapter's subclass provides the fixture ``handles``: two handles
    on one fresh store."""

    @pytest.fixture
    def store(self, handles: tuple[Handle, Handle]) -> Handle:
        return handles[0]

    # -- records -------------------------------------------------------------------------------------

    def test_a_committed_record_reads_back_equal(self, store: Handle) -> None:
        with store.unit_of_work() as work:
            work.accounts.add(account())
            work.commit()
        with store.unit_of_work() as work:
            assert work.accounts.get("A1") == account()

    def test_what_is_not_committed_is_not_kept(self, store: Handle) -> None:
        with store.unit_of_work() as work:
            work.accounts.add(account())
            work.outbox.add(order_event("E1"))
        with store.unit_of_work() as work:
            assert work.accounts.get("A1") is None
            assert work.outbox.list(EventQuery()) == []

    def test_what_a_unit_of_work_writes_after_its_commit_is_kept_only_if_it_commits_again(
        self, store: Handle
    ) -> None:
        with store.unit_of_work() as work:
            work.accounts.add(account("A1"))
            work.commit()
            work.accounts.add(account("A2"))
            work.outbox.add(order_event("E2"))
        with store.unit_of_work() as work:
            assert [a.id for a in work.accounts.list()] == ["A1"]
            assert work.outbox.list(EventQuery()) == []
            work.accounts.add(account("A3"))
            work.commit()
            work.accounts.add(account("A4"))
            work.commit()
        with store.unit_of_work() as work:
            assert [a.id for a in work.accounts.list()] == ["A1", "A3", "A4"]

    def test_an_error_inside_the_unit_of_work_rolls_everything_back(self, store: Handle) -> None:
        def fail_midway() -> None:
            with store.unit_of_work() as work:
                work.accounts.add(account())
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            fail_midway()
        with store.unit_of_work() as work:
            assert work.accounts.list() == []

    def test_a_unit_of_work_reads_its_own_writes(self, store: Handle) -> None:
        with store.unit_of_work() as work:
            work.accounts.add(account())
            work.accounts.update(account(cash="7.00"))
            assert work.accounts.get("A1") == account(cash="7.00")
            assert work.accounts.list() == [account(cash="7.00")]

    def test_adding_an_existing_id_is_refused_as_already_existing(self, store: Handle) -> None:
        with store.unit_of_work() as work:
            work.accounts.add(account())
            work.commit()
        with store.unit_of_work() as work, pytest.raises(AlreadyExists, match="account A1 already exists"):
            work.accounts.add(account())

    def test_updating_a_missing_record_is_not_found(self, store: Handle) -> None:
        with store.unit_of_work() as work, pytest.raises(NotFound):
            work.accounts.update(account("nope"))

    def test_an_update_replaces_the_record(self, store: Handle) -> None:
        with store.unit_of_work() as work:
            work.accounts.add(account())
            work.commit()
        with store.unit_of_work() as work:
            work.accounts.update(account(cash="5.00"))
            work.commit()
        with store.unit_of_work() as work:
            assert work.accounts.get("A1") == account(cash="5.00")

    def test_list_filters_on_fields_and_keeps_insertion_order(self, store: Handle) -> None:
        with store.unit_of_work() as work:
            for order_id, state, parent in (
                ("O1", OrderState.NEW, "P1"),
                ("O2", OrderState.FILLED, "P1"),
                ("O3", OrderState.NEW, "P2"),
            ):
                work.orders.add(order(order_id, state, parent))
            work.commit()
        with store.unit_of_work() as work:
            assert [o.id for o in work.orders.list()] == ["O1", "O2", "O3"]
            assert [o.id for o in work.orders.list(state="NEW")] == ["O1", "O3"]
            assert [o.id for o in work.orders.list(parent_order_id="P1", state="FILLED")] == ["O2"]
            assert [o.id for o in work.orders.list(instrument_id="X")] == ["O1", "O2", "O3"]

    def test_a_filter_may_name_several_values_and_ids_come_in_the_same_order(self, store: Handle) -> None:
        with store.unit_of_work() as work:
            for order_id, state in (
                ("O1", OrderState.NEW),
                ("O2", OrderState.FILLED),
                ("O3", OrderState.PROCESSING),
            ):
                work.orders.add(order(order_id, state))
            work.commit()
        with store.unit_of_work() as work:
            assert [o.id for o in work.orders.list(state=("NEW", "PROCESSING"))] == ["O1", "O3"]
            assert work.orders.ids(state=("NEW", "PROCESSING"), parent_kind="PORTFOLIO_ORDER") == ["O1", "O3"]
            assert work.orders.ids(parent_kind="BLOCK_ORDER") == []

    def test_records_keyed_by_another_field_are_stored_by_it(self, store: Handle) -> None:
        with store.unit_of_work() as work:
            work.instruments.add(Instrument("ISIN1", Decimal("9.99")))
            work.commit()
        with store.unit_of_work() as work:
            assert work.instruments.get("ISIN1") == Instrument("ISIN1", Decimal("9.99"))

    # -- concurrency ---------------------------------------------------------------------------------

    def test_two_writers_of_one_record_one_wins_the_other_gets_a_conflict(
        self, handles: tuple[Handle, Handle]
    ) -> None:
        first, second = handles
        with first.unit_of_work() as work:
            work.accounts.add(account(cash="100.00"))
            work.commit()
        with first.unit_of_work() as one, second.unit_of_work() as other:
            mine = one.accounts.get("A1")
            theirs = other.accounts.get("A1")
            assert mine == theirs == account(cash="100.00")
            one.accounts.update(account(cash="90.00"))
            one.commit()

            def write_over_it() -> None:  # an adapter may refuse at the write or at the commit
                other.accounts.update(account(cash="80.00"))
                other.commit()

            with pytest.raises(ConcurrentUpdate):
                write_over_it()
        with second.unit_of_work() as work:
            assert work.accounts.get("A1") == account(cash="90.00")

    def test_a_conflicting_unit_of_work_writes_nothing_at_all(self, handles: tuple[Handle, Handle]) -> None:
        first, second = handles
        with first.unit_of_work() as work:
            work.accounts.add(account())
            work.commit()
        with first.unit_of_work() as one, second.unit_of_work() as other:
            one.accounts.get("A1")
            other.accounts.get("A1")
            one.accounts.update(account(cash="1.00"))
            one.commit()

            def write_over_it() -> None:
                other.outbox.add(order_event("E-lost"))
                other.accounts.add(account("A2"))
                other.accounts.update(account(cash="2.00"))
                other.commit()

            with pytest.raises(ConcurrentUpdate):
                write_over_it()
        with second.unit_of_work() as work:
            assert work.accounts.get("A2") is None
            assert work.outbox.list(EventQuery()) == []

    def test_two_writers_deciding_on_the_same_reads_cannot_both_commit(
        self, handles: tuple[Handle, Handle]
    ) -> None:
        first, second = handles
        with first.unit_of_work() as one, second.unit_of_work() as other:
            # Both see that no account A1 exists, and each decides to open one under its own id.
            assert one.accounts.list(id="A1") == other.accounts.list(id="A1") == []
            one.accounts.add(account("A2"))
            one.commit()

            def decide_on_stale_reads() -> None:
                other.accounts.add(account("A3"))
                other.commit()

            with pytest.raises(ConcurrentUpdate):
                decide_on_stale_reads()
        with second.unit_of_work() as work:
            assert [a.id for a in work.accounts.list()] == ["A2"]

    # -- the journal ---------------------------------------------------------------------------------

    def test_journal_entries_come_back_in_order_and_equal_as_appended(self, store: Handle) -> None:
        entries = [
            deposit_entry("J1", "A1", "10.00"),
            deposit_entry("J2", "A2", "5.00"),
            deposit_entry("J3", "A1", "1.00"),
        ]
        journal(store, entries)
        with store.unit_of_work() as work:
            assert work.journal.entries() == entries
            assert [e.id for e in work.journal.entries(LedgerAccount.client("A1"))] == ["J1", "J3"]
            assert [e.id for e in work.journal.entries(FUNDING)] == ["J1", "J2", "J3"]

    def test_postings_come_back_with_their_entries_ids_in_the_order_written(self, store: Handle) -> None:
        entries = [deposit_entry("J1", "A1", "10.00"), deposit_entry("J2", "A2", "0.5")]
        journal(store, entries)
        with store.unit_of_work() as work:
            expected = [(e.id, p) for e in entries for p in e.postings]
            assert work.journal.postings() == expected
            assert [p.amount for _, p in work.journal.postings()] == [
                Decimal("-10.00"), Decimal("10.00"), Decimal("-0.5"), Decimal("0.5"),
            ]  # fmt: skip

    def test_entry_rows_come_back_with_their_cause_kinds_in_the_order_written(self, store: Handle) -> None:
        entries = [deposit_entry("J1", "A1", "10.00"), deposit_entry("J2", "A2", "0.5")]
        journal(store, entries)
        with store.unit_of_work() as work:
            assert work.journal.entry_rows() == [EntryRow("J1", "DEPOSIT"), EntryRow("J2", "DEPOSIT")]

    def test_a_journal_entry_not_committed_is_not_kept(self, store: Handle) -> None:
        with store.unit_of_work() as work:
            work.journal.append(deposit_entry("J1", "A1", "10.00"))
        with store.unit_of_work() as work:
            assert work.journal.entries() == []

    def test_a_conflicting_unit_of_work_journals_nothing(self, handles: tuple[Handle, Handle]) -> None:
        first, second = handles
        with first.unit_of_work() as one, second.unit_of_work() as other:
            one.accounts.list()
            other.accounts.list()
            one.accounts.add(account("A1"))
            one.commit()

            def journal_on_stale_reads() -> None:
                other.journal.append(deposit_entry("J-lost", "A1", "10.00"))
                other.accounts.add(account("A2"))
                other.commit()

            with pytest.raises(ConcurrentUpdate):
                journal_on_stale_reads()
        with second.unit_of_work() as work:
            assert work.journal.entries() == []

    # -- outbox and fan-out --------------------------------------------------------------------------

    def test_events_are_listed_in_commit_order_with_sequence_numbers_and_topics(self, store: Handle) -> None:
        with store.unit_of_work() as work:
            work.outbox.add(order_event("E1"))
            work.outbox.add(position_event("E2"))
            work.commit()
        with store.unit_of_work() as work:
            assert [(seq, e.id) for seq, e in work.outbox.list(EventQuery())] == [(1, "E1"), (2, "E2")]
            assert [e.id for _, e in work.outbox.list(EventQuery(topic="POSITION"))] == ["E2"]
            assert [e.id for _, e in work.outbox.list(EventQuery(after=1))] == ["E2"]
            assert [e.id for _, e in work.outbox.list(EventQuery(limit=1))] == ["E1"]

    def test_an_event_comes_back_with_its_object_as_the_record_it_carried(self, store: Handle) -> None:
        sent = [order_event("E1"), position_event("E2")]
        with store.unit_of_work() as work:
            for event in sent:
                work.outbox.add(event)
            work.commit()
        with store.unit_of_work() as work:
            assert [e for _, e in work.outbox.list(EventQuery())] == sent

    def test_an_event_is_delivered_to_every_active_subscription_of_its_topic(self, store: Handle) -> None:
        with store.unit_of_work() as work:
            work.subscriptions.add(subscription("S1", "ORDER"))
            work.subscriptions.add(subscription("S2", "ORDER", "POSITION"))
            work.subscriptions.add(subscription("S3", "POSITION"))
            work.subscriptions.add(subscription("S4", "ORDER", disabled="removed"))
            work.commit()
        with store.unit_of_work() as work:
            work.outbox.add(order_event("E1"))
            work.outbox.add(position_event("E2"))
            work.commit()
        due = store.deliveries.due(NOW, 100)
        assert sorted((d.event.id, d.subscription.id) for d in due) == [
            ("E1", "S1"), ("E1", "S2"), ("E2", "S2"), ("E2", "S3"),
        ]  # fmt: skip
        assert {d.event for d in due} == {order_event("E1"), position_event("E2")}
        assert {d.attempts for d in due} == {0}

    def test_a_subscription_receives_only_events_committed_after_it(self, store: Handle) -> None:
        with store.unit_of_work() as work:
            work.outbox.add(order_event("E-before"))
            work.commit()
        with store.unit_of_work() as work:
            work.subscriptions.add(subscription("S1", "ORDER"))
            work.commit()
        with store.unit_of_work() as work:
            work.outbox.add(order_event("E-after", "O2"))
            work.commit()
        assert [d.event.id for d in store.deliveries.due(NOW, 100)] == ["E-after"]

    def test_an_event_not_committed_is_never_delivered(self, store: Handle) -> None:
        with store.unit_of_work() as work:
            work.subscriptions.add(subscription("S1", "ORDER"))
            work.commit()
        with store.unit_of_work() as work:
            work.outbox.add(order_event("E1"))
        assert store.deliveries.due(NOW, 100) == []

    # -- the delivery queue --------------------------------------------------------------------------

    def deliver_one(self, store: Handle) -> None:
        with store.unit_of_work() as work:
            work.subscriptions.add(subscription("S1", "ORDER"))
            work.subscriptions.add(subscription("S2", "ORDER"))
            work.commit()
        with store.unit_of_work() as work:
            work.outbox.add(order_event("E1"))
            work.outbox.add(order_event("E2", "O2"))
            work.commit()

    def attempt(
        self, delivery_event: str, subscription_id: str, number: int, outcome: DeliveryOutcome
    ) -> Attempt:
        return Attempt(delivery_event, subscription_id, number, NOW, 500, None, 3, outcome)

    def record_one(
        self, store: Handle, delivery: Delivery, attempt: Attempt, decision: AttemptDecision
    ) -> None:
        store.deliveries.record([RecordedAttempt(delivery.key, attempt, decision)], [], NOW)

    def claim_one(self, store: Handle, delivery: Delivery, at: dt.datetime, lease: float) -> Delivery | None:
        taken = store.deliveries.claim([delivery.key], at, lease)
        return taken[0] if taken else None

    def test_a_delivery_to_retry_is_due_again_only_after_its_delay(self, store: Handle) -> None:
        self.deliver_one(store)
        first = store.deliveries.due(NOW, 1)[0]
        decision = AttemptDecision(DeliveryOutcome.RETRY, 60.0)
        self.record_one(
            store,
            first,
            self.attempt(first.event.id, first.subscription.id, 1, DeliveryOutcome.RETRY),
            decision,
        )
        waiting = [
            (d.event.id, d.subscription.id) for d in store.deliveries.due(NOW + dt.timedelta(seconds=59), 100)
        ]
        assert (first.event.id, first.subscription.id) not in waiting
        again = store.deliveries.due(NOW + dt.timedelta(seconds=60), 100)
        retried = [
            d for d in again if (d.event.id, d.subscription.id) == (first.event.id, first.subscription.id)
        ]
        assert [d.attempts for d in retried] == [1]

    def test_a_delivery_is_due_from_the_very_moment_it_was_scheduled_for(self, store: Handle) -> None:
        self.deliver_one(store)
        assert len(store.deliveries.due(NOW + dt.timedelta(microseconds=500_000), 100)) == 4
        assert store.deliveries.due(NOW - dt.timedelta(microseconds=1), 100) == []

    def test_a_delivered_delivery_is_never_due_again(self, store: Handle) -> None:
        self.deliver_one(store)
        first = store.deliveries.due(NOW, 1)[0]
        self.record_one(
            store,
            first,
            self.attempt(first.event.id, first.subscription.id, 1, DeliveryOutcome.DELIVERED),
            after_attempt(200, 1),
        )
        later = store.deliveries.due(NOW + dt.timedelta(days=30), 100)
        assert (first.event.id, first.subscription.id) not in [(d.event.id, d.subscription.id) for d in later]
        assert self.claim_one(store, first, NOW + dt.timedelta(days=30), 10) is None
        assert len(later) == 3

    def test_a_gone_endpoint_disables_its_subscription_and_drops_its_pending_deliveries(
        self, store: Handle
    ) -> None:
        self.deliver_one(store)
        first = next(d for d in store.deliveries.due(NOW, 100) if d.subscription.id == "S1")
        decision = after_attempt(410, 1)
        self.record_one(store, first, self.attempt(first.event.id, "S1", 1, decision.outcome), decision)
        assert {d.subscription.id for d in store.deliveries.due(NOW, 100)} == {"S2"}
        with store.unit_of_work() as work:
            disabled = work.subscriptions.get("S1")
        assert disabled is not None
        assert disabled.disabled_reason == "the endpoint answered 410 Gone"

    def test_a_disabled_subscription_has_no_pending_delivery(self, store: Handle) -> None:
        self.deliver_one(store)
        due = store.deliveries.due(NOW, 100)
        store.deliveries.disable("S2", "removed by a test")
        assert [d.subscription.id for d in store.deliveries.claim([d.key for d in due], NOW, 10)] == [
            "S1",
            "S1",
        ]

    def test_a_claimed_delivery_is_taken_once_and_due_again_when_its_lease_ends(self, store: Handle) -> None:
        self.deliver_one(store)
        first = store.deliveries.due(NOW, 1)[0]
        claimed = self.claim_one(store, first, NOW, 30)
        assert claimed is not None
        assert claimed.attempts == 0
        assert self.claim_one(store, first, NOW, 30) is None  # a second worker does not get it
        assert first not in store.deliveries.due(NOW + dt.timedelta(seconds=29), 100)
        assert self.claim_one(store, first, NOW + dt.timedelta(seconds=30), 30) == claimed  # its worker died

    def test_deliveries_taken_together_are_all_taken_for_the_lease_and_due_again_after_it(
        self, store: Handle
    ) -> None:
        self.deliver_one(store)
        run = [d for d in store.deliveries.due(NOW, 100) if d.subscription.id == "S1"]
        taken = store.deliveries.claim([d.key for d in run], NOW, 15)
        assert [d.key for d in taken] == [d.key for d in run]
        assert store.deliveries.claim([d.key for d in run], NOW, 15) == []  # no other worker gets them

        def due_of_s1(seconds: float) -> list[DeliveryKey]:
            due = store.deliveries.due(NOW + dt.timedelta(seconds=seconds), 100)
            return [d.key for d in due if d.subscription.id == "S1"]

        assert due_of_s1(14.999) == []
        assert due_of_s1(15) == [d.key for d in run]  # its worker died

    def test_deliveries_taken_but_not_tried_are_due_again_when_the_run_is_recorded(
        self, store: Handle
    ) -> None:
        self.deliver_one(store)
        first, second = [d for d in store.deliveries.due(NOW, 100) if d.subscription.id == "S1"]
        store.deliveries.claim([first.key, second.key], NOW, 70)
        later = NOW + dt.timedelta(seconds=3)
        tried = RecordedAttempt(
            first.key,
            self.attempt(first.event.id, "S1", 1, DeliveryOutcome.RETRY),
            AttemptDecision(DeliveryOutcome.RETRY, 30.0),
        )
        store.deliveries.record([tried], [second.key], later)
        due = [d for d in store.deliveries.due(later, 100) if d.subscription.id == "S1"]
        assert [(d.key, d.attempts) for d in due] == [(second.key, 0)]
        assert [a.event_id for a in store.deliveries.log(10)] == [first.event.id]

    def test_a_delivery_released_after_it_was_delivered_stays_delivered(self, store: Handle) -> None:
        self.deliver_one(store)
        first = store.deliveries.due(NOW, 1)[0]
        done = RecordedAttempt(
            first.key,
            self.attempt(first.event.id, first.subscription.id, 1, DeliveryOutcome.DELIVERED),
            after_attempt(200, 1),
        )
        store.deliveries.record([done], [first.key], NOW)
        assert first.key not in [d.key for d in store.deliveries.due(NOW + dt.timedelta(days=1), 100)]

    def test_the_log_lists_attempts_newest_first(self, store: Handle) -> None:
        self.deliver_one(store)
        for number, delivery in enumerate(store.deliveries.due(NOW, 2), 1):
            attempt = self.attempt(delivery.event.id, delivery.subscription.id, number, DeliveryOutcome.RETRY)
            self.record_one(store, delivery, attempt, AttemptDecision(DeliveryOutcome.RETRY, 5.0))
        assert [a.attempt for a in store.deliveries.log(10)] == [2, 1]
        assert len(store.deliveries.log(1)) == 1


class TestMemoryStorage(StorageContract):
    @pytest.fixture
    def handles(self) -> tuple[Handle, Handle]:
        store = MemoryStore()
        return (
            Handle(store.unit_of_work, MemoryDeliveryQueue(store)),
            Handle(store.unit_of_work, MemoryDeliveryQueue(store)),
        )


class TestSqliteStorage(StorageContract):
    @pytest.fixture
    def handles(self, tmp_path: Path) -> Iterator[tuple[Handle, Handle]]:
        first, second = SqliteDatabase(tmp_path / "contract.db"), SqliteDatabase(tmp_path / "contract.db")
        yield (
            Handle(first.unit_of_work, SqliteDeliveryQueue(first)),
            Handle(second.unit_of_work, SqliteDeliveryQueue(second)),
        )
        first.close()
        second.close()


class TestHttpStorage(StorageContract):
    """Two HTTP stores, as two engine processes would have, on one real store API over a fresh SQLite file."""

    @pytest.fixture
    def handles(self, tmp_path: Path) -> Iterator[tuple[Handle, Handle]]:
        with store_server(tmp_path / "served.db") as server:
            first, second = HttpStore(server.url, server.token), HttpStore(server.url, server.token)
            yield (
                Handle(first.unit_of_work, HttpDeliveryQueue(first)),
                Handle(second.unit_of_work, HttpDeliveryQueue(second)),
            )
            first.close()
            second.close()
