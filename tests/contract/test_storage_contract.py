"""One contract for the storage port, run against every adapter: memory and SQLite."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.memory import MemoryStore
from adapters.sqlite import SqliteDatabase
from core.errors import NotFound, ValidationError
from core.instruments import Instrument, Side
from core.lifecycle import OrderState
from core.records import Account, Event, Order
from ports.driven import UnitOfWork

NOW = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)
Factory = Callable[[], UnitOfWork]


@pytest.fixture(params=["memory", "sqlite"])
def uow(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    if request.param == "memory":
        yield MemoryStore().unit_of_work
    else:
        database = SqliteDatabase(tmp_path / "contract.db")
        yield database.unit_of_work
        database.close()


def account(account_id: str = "A1", cash: str = "100.00") -> Account:
    return Account(account_id, "EUR", {"EUR": Decimal(cash)}, created_at=NOW)


def order(order_id: str, state: OrderState = OrderState.NEW, reference: str = "P1") -> Order:
    return Order(
        order_id, "A1", "X", Side.BUY, Decimal("10.00"), None, state, NOW, NOW, client_reference=reference
    )


def test_a_committed_record_reads_back_equal(uow: Factory) -> None:
    with uow() as work:
        work.accounts.add(account())
        work.commit()
    with uow() as work:
        assert work.accounts.get("A1") == account()


def test_what_is_not_committed_is_not_kept(uow: Factory) -> None:
    with uow() as work:
        work.accounts.add(account())
        work.outbox.add(Event("E1", NOW, "ORDER.NEW", {"id": "x"}))
    with uow() as work:
        assert work.accounts.get("A1") is None
        assert work.outbox.list() == []


def test_an_error_inside_the_unit_of_work_rolls_everything_back(uow: Factory) -> None:
    def fail_midway() -> None:
        with uow() as work:
            work.accounts.add(account())
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_midway()
    with uow() as work:
        assert work.accounts.list() == []


def test_a_unit_of_work_reads_its_own_writes(uow: Factory) -> None:
    with uow() as work:
        work.accounts.add(account())
        assert work.accounts.get("A1") == account()


def test_adding_an_existing_id_is_refused(uow: Factory) -> None:
    with uow() as work:
        work.accounts.add(account())
        with pytest.raises(ValidationError):
            work.accounts.add(account())


def test_updating_a_missing_record_is_not_found(uow: Factory) -> None:
    with uow() as work, pytest.raises(NotFound):
        work.accounts.update(account("nope"))


def test_an_update_replaces_the_record(uow: Factory) -> None:
    with uow() as work:
        work.accounts.add(account())
        work.commit()
    with uow() as work:
        work.accounts.get("A1")
        work.accounts.update(account(cash="5.00"))
        work.commit()
    with uow() as work:
        found = work.accounts.get("A1")
        assert found is not None
        assert found.cash == {"EUR": Decimal("5.00")}


def test_list_filters_on_fields_and_keeps_insertion_order(uow: Factory) -> None:
    with uow() as work:
        for order_id, state, reference in (
            ("O1", OrderState.NEW, "P1"),
            ("O2", OrderState.FILLED, "P1"),
            ("O3", OrderState.NEW, "P2"),
        ):
            work.orders.add(order(order_id, state, reference))
        work.commit()
    with uow() as work:
        assert [o.id for o in work.orders.list()] == ["O1", "O2", "O3"]
        assert [o.id for o in work.orders.list(state="NEW")] == ["O1", "O3"]
        assert [o.id for o in work.orders.list(client_reference="P1", state="FILLED")] == ["O2"]
        assert [o.id for o in work.orders.list(instrument_id="X")] == ["O1", "O2", "O3"]


def test_records_keyed_by_another_field_are_stored_by_it(uow: Factory) -> None:
    with uow() as work:
        work.instruments.add(Instrument("ISIN1", Decimal("9.99")))
        work.commit()
    with uow() as work:
        assert work.instruments.get("ISIN1") == Instrument("ISIN1", Decimal("9.99"))


def test_events_are_listed_in_commit_order_with_sequence_numbers_and_topics(uow: Factory) -> None:
    with uow() as work:
        work.outbox.add(Event("E1", NOW, "ORDER.NEW", {"id": "o"}))
        work.outbox.add(Event("E2", NOW, "PORTFOLIO_ORDER.NEW", {"id": "p"}))
        work.commit()
    with uow() as work:
        assert [(seq, e.id) for seq, e in work.outbox.list()] == [(1, "E1"), (2, "E2")]
        assert [e.id for _, e in work.outbox.list(topic="PORTFOLIO_ORDER")] == ["E2"]
        assert [e.id for _, e in work.outbox.list(after=1)] == ["E2"]
