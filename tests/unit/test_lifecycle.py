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


def test_a_portfolio_order_runs_new_submitted_processing_filled() -> None:
    state = PortfolioOrderState.NEW
    for event in (Trigger.SUBMIT, Trigger.START, Trigger.FILL):
        state = PORTFOLIO_ORDER.next(state, event)
    assert state is PortfolioOrderState.FILLED


@pytest.mark.parametrize("state", [PortfolioOrderState.NEW, PortfolioOrderState.SUBMITTED])
def test_the_client_may_cancel_a_portfolio_order_while_new_or_submitted(state: PortfolioOrderState) -> None:
    assert PORTFOLIO_ORDER.next(state, Trigger.CANCEL) is PortfolioOrderState.CANCELLED


def test_the_client_may_not_cancel_a_processing_portfolio_order() -> None:
    with pytest.raises(IllegalTransition) as caught:
        PORTFOLIO_ORDER.next(PortfolioOrderState.PROCESSING, Trigger.CANCEL)
    assert caught.value.details == {"lifecycle": "portfolio order", "state": "PROCESSING", "event": "CANCEL"}


def test_a_trading_partner_error_cancels_a_processing_portfolio_order() -> None:
    assert PORTFOLIO_ORDER.next(PortfolioOrderState.PROCESSING, Trigger.FAIL) is PortfolioOrderState.CANCELLED


def test_final_states_are_filled_and_cancelled() -> None:
    assert PORTFOLIO_ORDER.final == {PortfolioOrderState.FILLED, PortfolioOrderState.CANCELLED}
    assert ORDER.final == {OrderState.FILLED, OrderState.CANCELLED}


def test_partial_fills_keep_an_order_processing() -> None:
    assert ORDER.next(OrderState.PROCESSING, Trigger.PARTIAL_FILL) is OrderState.PROCESSING


def test_an_account_liquidation_can_be_cancelled_by_the_client_only_while_new() -> None:
    assert ACCOUNT_LIQUIDATION.next(LiquidationState.NEW, Trigger.CANCEL) is LiquidationState.CANCELLED
    with pytest.raises(IllegalTransition):
        ACCOUNT_LIQUIDATION.next(LiquidationState.PROCESSING, Trigger.CANCEL)


def test_a_one_time_key_can_be_used_once_and_an_active_key_forever() -> None:
    assert ALLOCATION_KEY.next(KeyStatus.ONE_TIME, KeyTrigger.USE) is KeyStatus.USED
    assert ALLOCATION_KEY.next(KeyStatus.ACTIVE, KeyTrigger.USE) is KeyStatus.ACTIVE
    with pytest.raises(IllegalTransition):
        ALLOCATION_KEY.next(KeyStatus.USED, KeyTrigger.USE)


def test_created_children_submit_the_portfolio_order() -> None:
    assert follow_children(PORTFOLIO_ORDER, PortfolioOrderState.NEW, [OrderState.NEW, OrderState.NEW]) == (
        PortfolioOrderState.SUBMITTED,
    )


def test_the_first_processing_child_starts_the_portfolio_order() -> None:
    assert follow_children(
        PORTFOLIO_ORDER, PortfolioOrderState.SUBMITTED, [OrderState.PROCESSING, OrderState.NEW]
    ) == (PortfolioOrderState.PROCESSING,)


def test_all_children_filled_fill_the_portfolio_order_through_every_state() -> None:
    assert follow_children(
        PORTFOLIO_ORDER, PortfolioOrderState.NEW, [OrderState.FILLED, OrderState.FILLED]
    ) == (
        PortfolioOrderState.SUBMITTED,
        PortfolioOrderState.PROCESSING,
        PortfolioOrderState.FILLED,
    )


def test_a_cancelled_child_of_a_live_order_is_a_trading_partner_error() -> None:
    assert (
        derive_state(
            PORTFOLIO_ORDER, PortfolioOrderState.PROCESSING, [OrderState.FILLED, OrderState.CANCELLED]
        )
        is PortfolioOrderState.CANCELLED
    )


def test_a_final_parent_does_not_move_whatever_its_children_do() -> None:
    assert follow_children(PORTFOLIO_ORDER, PortfolioOrderState.CANCELLED, [OrderState.FILLED]) == ()


def test_a_liquidation_follows_its_children_without_a_submitted_step() -> None:
    assert follow_children(ACCOUNT_LIQUIDATION, LiquidationState.NEW, [OrderState.FILLED]) == (
        LiquidationState.PROCESSING,
        LiquidationState.FILLED,
    )
