from __future__ import annotations

import pytest

from core.errors import IllegalTransition
from core.lifecycle import (
    ACCOUNT_LIQUIDATION,
    ALLOCATION_KEY,
    ORDER,
    PORTFOLIO_ORDER,
    KeyStatus,
    KeyTrigger,
    LiquidationState,
    OrderState,
    PortfolioOrderState,
    Trigger,
    derive_state,
    follow_children,
)

P, Ord, L = PortfolioOrderState, OrderState, LiquidationState


def test_a_portfolio_order_runs_new_submitted_processing_filled() -> None:
    state = P.NEW
    for event in (Trigger.SUBMIT, Trigger.START, Trigger.FILL):
        state = PORTFOLIO_ORDER.next(state, event)
    assert state is P.FILLED


@pytest.mark.parametrize("state", [P.NEW, P.SUBMITTED])
def test_the_client_may_cancel_a_portfolio_order_while_new_or_submitted(state: PortfolioOrderState) -> None:
    assert PORTFOLIO_ORDER.next(state, Trigger.CANCEL) is P.CANCELLED


def test_the_client_may_not_cancel_a_processing_portfolio_order() -> None:
    with pytest.raises(IllegalTransition) as caught:
        PORTFOLIO_ORDER.next(P.PROCESSING, Trigger.CANCEL)
    assert caught.value.details == {"lifecycle": "portfolio order", "state": "PROCESSING", "event": "CANCEL"}


def test_a_trading_partner_error_cancels_a_processing_portfolio_order() -> None:
    assert PORTFOLIO_ORDER.next(P.PROCESSING, Trigger.FAIL) is P.CANCELLED


def test_final_states_are_filled_and_cancelled() -> None:
    assert PORTFOLIO_ORDER.final == {P.FILLED, P.CANCELLED}
    assert ORDER.final == {Ord.FILLED, Ord.CANCELLED}


def test_partial_fills_keep_an_order_processing() -> None:
    assert ORDER.next(Ord.PROCESSING, Trigger.PARTIAL_FILL) is Ord.PROCESSING


def test_an_account_liquidation_can_be_cancelled_by_the_client_only_while_new() -> None:
    assert ACCOUNT_LIQUIDATION.next(L.NEW, Trigger.CANCEL) is L.CANCELLED
    with pytest.raises(IllegalTransition):
        ACCOUNT_LIQUIDATION.next(L.PROCESSING, Trigger.CANCEL)


def test_a_one_time_key_can_be_used_once_and_an_active_key_forever() -> None:
    assert ALLOCATION_KEY.next(KeyStatus.ONE_TIME, KeyTrigger.USE) is KeyStatus.USED
    assert ALLOCATION_KEY.next(KeyStatus.ACTIVE, KeyTrigger.USE) is KeyStatus.ACTIVE
    with pytest.raises(IllegalTransition):
        ALLOCATION_KEY.next(KeyStatus.USED, KeyTrigger.USE)


def test_created_children_submit_the_portfolio_order() -> None:
    assert follow_children(PORTFOLIO_ORDER, P.NEW, [Ord.NEW, Ord.NEW]) == (P.SUBMITTED,)


def test_the_first_processing_child_starts_the_portfolio_order() -> None:
    assert follow_children(PORTFOLIO_ORDER, P.SUBMITTED, [Ord.PROCESSING, Ord.NEW]) == (P.PROCESSING,)


def test_all_children_filled_fill_the_portfolio_order_through_every_state() -> None:
    assert follow_children(PORTFOLIO_ORDER, P.NEW, [Ord.FILLED, Ord.FILLED]) == (
        P.SUBMITTED,
        P.PROCESSING,
        P.FILLED,
    )


def test_a_cancelled_child_of_a_live_order_is_a_trading_partner_error() -> None:
    assert derive_state(PORTFOLIO_ORDER, P.PROCESSING, [Ord.FILLED, Ord.CANCELLED]) is P.CANCELLED


def test_a_final_parent_does_not_move_whatever_its_children_do() -> None:
    assert follow_children(PORTFOLIO_ORDER, P.CANCELLED, [Ord.FILLED]) == ()


def test_a_liquidation_follows_its_children_without_a_submitted_step() -> None:
    assert follow_children(ACCOUNT_LIQUIDATION, L.NEW, [Ord.FILLED]) == (L.PROCESSING, L.FILLED)
