"""Changing an investment with several changes at once (the API's PATCH): all or none, each checked as it would be
alone; whether an investment counts as active; and the funding account additional funding may come from."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import attrs
import pytest

from core import copy_trading
from core.errors import AllotError, IllegalTransition, NotFound, ValidationError
from core.investments import SUB_STATES, InvestmentState, ProcessState, is_active
from core.records import Account, Investment

D = Decimal
NOW = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(hours=1)


def investment(state: InvestmentState = InvestmentState.READY, **changes: Any) -> Investment:
    made = Investment(
        id="inv-1", leader_id="growth", follower_id="f1", funding_account_id="cash-1", currency="EUR",
        amount=D("1000.00"), state=state, process_state=state.process, created_at=NOW, updated_at=NOW,
        account_id="acc-1", funded=D("1000.00"), client_id="acme", user_id="alice",
    )  # fmt: skip
    return attrs.evolve(made, **changes)


def test_several_changes_are_stored_as_one_update_of_the_investment() -> None:
    changed = copy_trading.change(
        investment(), LATER, shield=D("800.00"), close_positions=False, funding=D("250.00"),
        funding_account_id="cash-2",
    )  # fmt: skip
    result = changed.result
    assert (result.shield, result.close_positions, result.pending_funding, result.funding_account_id) == (
        D("800.00"), False, D("250.00"), "cash-2",
    )  # fmt: skip
    assert changed.changes.updated == (result,)
    assert result.updated_at == LATER


def test_a_shield_of_none_removes_it_and_an_unchanged_one_is_kept() -> None:
    shielded = investment(shield=D("900.00"))
    assert copy_trading.change(shielded, LATER, shield=None).result.shield is None
    assert copy_trading.change(shielded, LATER).result.shield == D("900.00")


def test_nothing_to_change_changes_nothing() -> None:
    unchanged = copy_trading.change(investment(), LATER, close_positions=True, active=True)
    assert unchanged.result == investment()
    assert unchanged.changes.updated == ()


def test_stopping_takes_the_choice_of_closing_positions_and_announces_the_new_state() -> None:
    stopped = copy_trading.change(investment(), LATER, active=False, close_positions=False)
    assert (stopped.result.state, stopped.result.close_positions) == (InvestmentState.STOPPING, False)
    assert [a.type for a in stopped.changes.announced] == ["INVESTMENT.STOPPING"]


def test_a_refused_change_refuses_the_changes_given_with_it() -> None:
    pending = investment(pending_funding=D("100.00"))
    with pytest.raises(AllotError) as refused:
        copy_trading.change(pending, LATER, shield=D("500.00"), funding=D("50.00"))
    assert refused.value.code == "FUNDING_PENDING"


def test_stopping_and_funding_at_once_is_refused() -> None:
    with pytest.raises(ValidationError):
        copy_trading.change(investment(), LATER, active=False, funding=D("50.00"))


def test_a_funding_account_without_funding_is_refused() -> None:
    with pytest.raises(ValidationError):
        copy_trading.change(investment(), LATER, funding_account_id="cash-2")


def test_active_true_starts_a_stopped_investment_again_with_the_funding_given() -> None:
    disabled = investment(InvestmentState.DISABLED)
    back = copy_trading.change(disabled, LATER, active=True, funding=D("300.00")).result
    assert (back.state, back.pending_funding) == (InvestmentState.RESURRECTED, D("300.00"))


def test_active_true_on_an_investment_being_stopped_is_an_illegal_transition() -> None:
    with pytest.raises(IllegalTransition):
        copy_trading.change(investment(InvestmentState.STOPPING), LATER, active=True)


@pytest.mark.parametrize("state", list(InvestmentState), ids=lambda s: s.value)
def test_an_investment_is_active_until_it_is_on_its_way_out(state: InvestmentState) -> None:
    way_out = (
        state.title.startswith(("Stop", "Revoked", "FeeProfile unassign"))
        or state is InvestmentState.DISABLED
    )
    assert is_active(state) is not way_out
    if SUB_STATES[state].process in (ProcessState.STOPPING, ProcessState.STOPPED):
        assert not is_active(state)


def cash(account_id: str, currency: str = "EUR", user_id: str | None = "alice") -> Account:
    return Account(account_id, currency, {currency: D("100.00")}, client_id="acme", user_id=user_id)


def test_a_funding_account_must_be_the_investors_own_and_in_the_investments_currency() -> None:
    owned = investment()
    copy_trading.check_funding_account(cash("cash-2"), owned, "EUR")
    with pytest.raises(NotFound):
        copy_trading.check_funding_account(cash("bobs", user_id="bob"), owned, "EUR")
    with pytest.raises(ValidationError):
        copy_trading.check_funding_account(cash("dollars", "USD"), owned, "EUR")
