"""Opening an account as a pure rule: what it makes, when, and what it refuses, naming the field."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from core.accounts import open_account
from core.decisions import Changes
from core.errors import ValidationError
from core.fills import CostSchedule
from core.records import Account, Funding

NOW = dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC)


def opened(account_id: str, cash: str) -> tuple[Account, Changes]:
    decision = open_account(account_id, "EUR", Decimal(cash), None, CostSchedule(), ids=iter(["e1"]), now=NOW)
    return decision.result, decision.changes


@pytest.mark.parametrize("cash", ["0", "250.00"])
def test_an_account_opened_is_created_now_and_nothing_is_updated(cash: str) -> None:
    account, changes = opened("ACC-1", cash)
    assert account.created_at == NOW
    assert (changes.created, changes.updated) == ((account,), ())
    assert account.cash == {"EUR": Decimal(cash).quantize(Decimal("0.01"))}


def test_opening_cash_is_a_deposit_announced_and_journaled_at_the_moment_of_opening() -> None:
    _, changes = opened("ACC-1", "250.00")
    [announcement] = changes.announced
    [entry] = changes.journaled
    assert isinstance(announcement.object, Funding)
    assert (announcement.object.created_at, announcement.object.amount) == (NOW, Decimal("250.00"))
    assert entry.at == NOW
    assert sum(p.amount for p in entry.postings) == 0


@pytest.mark.parametrize(
    ("account_id", "cash", "field"),
    [("", "0", "account id"), ("ACC-1", "1.001", "cash"), ("ACC-1", "-1", "cash")],
    ids=["an empty id", "cash finer than the currency", "negative cash"],
)
def test_a_bad_account_is_refused_naming_its_field(account_id: str, cash: str, field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        opened(account_id, cash)
    assert refused.value.details["field"] == field
