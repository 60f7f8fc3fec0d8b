"""The explanation of a leader's block says what its post-allocation did: the same shares, the same values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from core.blocks import Execution, Targets, book_prices
from core.copy_trading import post_allocate, post_allocation_explanation
from core.explain import Reason
from core.lifecycle import OrderState
from core.records import BlockOrder

NOW = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)


def leader_block(requested: list[Decimal], executions: list[Execution], state: OrderState) -> BlockOrder:
    filled = sum((e.quantity for e in executions), Decimal(0))
    allocated = post_allocate(requested, list(range(len(requested))), filled, Decimal(1))
    return BlockOrder(
        id="B", key_id=None, account_id="leader", instrument_id="AAA", side="BUY", amount=sum(requested, Decimal(0)),
        state=state, created_at=NOW, updated_at=NOW, currency="EUR",
        targets=Targets(tuple(requested), Decimal(0), Decimal(0)), filled_quantity=filled,
        recipients=tuple(f"F{i}" for i in range(1, len(requested) + 1)), allocated=tuple(allocated), leader_id="leader", executions=tuple(executions),
    )  # fmt: skip


def test_a_partly_filled_leader_block_explains_its_shares_and_their_values() -> None:
    executions = [Execution(Decimal(4), Decimal("10.01")), Execution(Decimal(3), Decimal("10.02"))]
    block = leader_block([Decimal(3), Decimal(3), Decimal(3)], executions, OrderState.FILLED)
    share_stage, value_stage = post_allocation_explanation(block, Decimal(1), Decimal(1)).stages
    assert [line.share for line in share_stage.lines] == list(block.allocated)
    # 7 of 9 over three equal requests: 7/3 each, the leftover step to the follower that started first.
    assert [(line.won_step, line.reason) for line in share_stage.lines] == [
        (True, Reason.TIE_BY_PRIORITY), (False, Reason.TIE_BY_PRIORITY), (False, Reason.TIE_BY_PRIORITY),
    ]  # fmt: skip
    values = [value for _, value in book_prices(block.allocated, executions, Decimal(1), "EUR")]
    assert [line.share for line in value_stage.lines] == values


def test_a_fully_filled_leader_block_has_only_its_values_to_explain() -> None:
    block = leader_block(
        [Decimal(2), Decimal(5)], [Execution(Decimal(7), Decimal("3.33"))], OrderState.FILLED
    )
    stages = post_allocation_explanation(block, Decimal(1), Decimal(1)).stages
    assert [stage.name.split(" ")[0] for stage in stages] == ["traded"]


def test_an_open_leader_block_has_nothing_to_explain_yet() -> None:
    block = leader_block([Decimal(2)], [Execution(Decimal(1), Decimal("3.33"))], OrderState.PROCESSING)
    assert post_allocation_explanation(block, Decimal(1), Decimal(1)).stages == ()
