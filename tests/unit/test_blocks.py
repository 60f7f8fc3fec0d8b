from __future__ import annotations

import datetime as dt
from decimal import Decimal

import attrs
import pytest

from core import allocation_keys
from core.block_orders import check_named
from core.blocks import (
    AccountAllocation,
    BlockRequest,
    Execution,
    PartialFillPolicy,
    allocate,
)
from core.errors import AllocationKeyNotUsable, MarginRejected, OffStep, ValidationError
from core.fills import CostSchedule
from core.instruments import AssetType, Instrument
from core.keys import (
    AllocationKey,
    MarginHandling,
    Participant,
    UnitType,
    check_usable,
    effective_status,
    owners_error_account,
)
from core.lifecycle import KeyStatus
from core.records import Account


def key(
    unit_type: UnitType = UnitType.UNIT,
    *participants: tuple[str, str, bool, int | None],
    margin: MarginHandling = MarginHandling.REJECT,
) -> AllocationKey:
    return AllocationKey(
        "k",
        unit_type,
        margin,
        False,
        "BLOCK",
        "ERROR",
        tuple(Participant(a, Decimal(u), r, p) for a, u, r, p in participants),
    )


UNIT_KEY = key(UnitType.UNIT, ("A1", "10000", False, 1), ("A2", "20000", False, 2), ("A3", "30000", False, 3))
REMAINDER_KEY = key(
    UnitType.UNIT, ("A1", "10000", True, 2), ("A2", "20000", True, 1), ("A3", "30000", False, 3)
)
PERCENT_KEY = key(UnitType.PERCENTAGE, ("A1", "25", False, 1), ("A2", "35", False, 2), ("A3", "40", False, 3))


def quantities(request: BlockRequest) -> tuple[list[Decimal], Decimal]:
    result = allocate(request)
    return [a.quantity for a in result.allocations], result.error_account.quantity


def test_a_block_of_exactly_the_key_sum_is_allocated_unit_for_unit() -> None:
    assert quantities(BlockRequest(UNIT_KEY, Decimal(60000))) == (
        [Decimal(10000), Decimal(20000), Decimal(30000)],
        Decimal(0),
    )


def test_a_remainder_without_remainder_accounts_goes_to_the_error_account() -> None:
    assert quantities(BlockRequest(UNIT_KEY, Decimal(65000))) == (
        [Decimal(10000), Decimal(20000), Decimal(30000)],
        Decimal(5000),
    )


def test_a_remainder_is_shared_by_remainder_accounts_in_proportion_to_their_units() -> None:
    assert quantities(BlockRequest(REMAINDER_KEY, Decimal(65000))) == (
        [Decimal(11667), Decimal(23333), Decimal(30000)],
        Decimal(0),
    )


def test_a_percentage_key_rounds_down_and_sends_the_rest_to_the_error_account() -> None:
    assert quantities(BlockRequest(PERCENT_KEY, Decimal(999))) == (
        [Decimal(249), Decimal(349), Decimal(399)],
        Decimal(2),
    )


def test_a_block_below_the_unit_sum_goes_wholly_to_the_remainder() -> None:
    assert quantities(BlockRequest(UNIT_KEY, Decimal(30000))) == (
        [Decimal(0), Decimal(0), Decimal(0)],
        Decimal(30000),
    )


def test_a_partial_fill_is_apportioned_over_the_targets_pro_rata() -> None:
    assert quantities(BlockRequest(PERCENT_KEY, Decimal(999), filled=Decimal(500))) == (
        [Decimal(125), Decimal(175), Decimal(200)],
        Decimal(0),
    )


def test_a_partial_fill_beyond_the_participants_targets_goes_to_the_error_account() -> None:
    assert quantities(BlockRequest(PERCENT_KEY, Decimal(999), filled=Decimal(998))) == (
        [Decimal(249), Decimal(349), Decimal(399)],
        Decimal(1),
    )


def test_a_partial_fill_by_priority_fills_participants_one_after_another() -> None:
    request = BlockRequest(
        REMAINDER_KEY, Decimal(65000), filled=Decimal(30000), partial_fill_policy=PartialFillPolicy.PRIORITY
    )
    # A2 (priority 1) gets its 23 333, A1 (priority 2) the remaining 6 667, A3 nothing
    assert quantities(request) == ([Decimal(6667), Decimal(23333), Decimal(0)], Decimal(0))


def test_a_fill_larger_than_the_block_is_refused() -> None:
    with pytest.raises(ValidationError, match="more than the block"):
        allocate(BlockRequest(UNIT_KEY, Decimal(60000), filled=Decimal(60001)))


def test_a_block_off_the_quantity_step_is_refused() -> None:
    with pytest.raises(OffStep):
        allocate(BlockRequest(UNIT_KEY, Decimal("60000.5")))


def test_margin_reject_refuses_the_whole_block_and_lists_the_accounts() -> None:
    power = {"A1": Decimal("10000"), "A2": Decimal("19999"), "A3": Decimal("30000")}
    with pytest.raises(MarginRejected) as caught:
        allocate(BlockRequest(UNIT_KEY, Decimal(60000), price=Decimal(1), buying_power=power))
    assert [a["account_id"] for a in caught.value.details["accounts"]] == ["A2"]


def test_margin_reduce_cuts_participants_to_what_they_can_pay_for_and_shrinks_the_block() -> None:
    reduce_key = key(UnitType.PERCENTAGE, ("A1", "25", False, 1), ("A2", "35", False, 2), ("A3", "40", False, 3),
                     margin=MarginHandling.REDUCE)  # fmt: skip
    power = {"A1": Decimal("1000.00"), "A2": Decimal("10000"), "A3": Decimal("100000")}
    result = allocate(BlockRequest(reduce_key, Decimal(1000), price=Decimal(10), buying_power=power))
    assert [a.quantity for a in result.allocations] == [Decimal(100), Decimal(350), Decimal(400)]
    assert result.block_amount == Decimal(850)


def test_margin_handling_needs_buying_power_for_every_participant() -> None:
    with pytest.raises(ValidationError, match="every participant"):
        allocate(BlockRequest(UNIT_KEY, Decimal(60000), price=Decimal(1), buying_power={"A1": Decimal(1)}))


def test_margin_handling_needs_a_price() -> None:
    with pytest.raises(ValidationError, match="estimated price"):
        allocate(
            BlockRequest(
                UNIT_KEY, Decimal(60000), buying_power={"A1": Decimal(1), "A2": Decimal(1), "A3": Decimal(1)}
            )
        )


def test_accounts_book_the_average_price_and_their_values_sum_to_the_blocks() -> None:
    fills = (Execution(Decimal(200), Decimal("1.1")), Execution(Decimal(300), Decimal("1.2")))
    result = allocate(
        BlockRequest(PERCENT_KEY, Decimal(999), filled=Decimal(500), fills=fills, currency="EUR")
    )
    assert [a.average_price for a in result.allocations] == [Decimal("1.16")] * 3
    assert [a.traded_value for a in result.allocations] == [
        Decimal("145.00"),
        Decimal("203.00"),
        Decimal("232.00"),
    ]
    assert result.error_account == AccountAllocation("ERROR", Decimal(0), Decimal("1.16"), Decimal("0.00"))


def test_fills_that_disagree_with_the_filled_amount_are_refused() -> None:
    with pytest.raises(ValidationError, match="fills add up to 1"):
        allocate(
            BlockRequest(
                UNIT_KEY, Decimal(60000), filled=Decimal(2), fills=(Execution(Decimal(1), Decimal(1)),)
            )
        )


def test_a_key_needs_at_least_one_participant() -> None:
    with pytest.raises(ValidationError, match="at least one participant"):
        key(UnitType.UNIT)


def test_an_account_may_participate_only_once() -> None:
    with pytest.raises(ValidationError, match="only once"):
        key(UnitType.UNIT, ("A1", "1", False, None), ("A1", "2", False, None))


def test_percentages_must_sum_to_exactly_one_hundred() -> None:
    with pytest.raises(ValidationError, match="sum to exactly 100"):
        key(UnitType.PERCENTAGE, ("A1", "50", False, None), ("A2", "49.99", False, None))


def test_remainder_accounts_need_unique_priorities() -> None:
    with pytest.raises(ValidationError, match="unique priorities"):
        key(UnitType.UNIT, ("A1", "1", True, 1), ("A2", "1", True, 1))


def test_a_remainder_account_without_priority_is_refused() -> None:
    with pytest.raises(ValidationError, match="needs a priority"):
        key(UnitType.UNIT, ("A1", "1", True, None))


def test_a_zero_unit_value_is_refused() -> None:
    with pytest.raises(ValidationError, match="greater than zero"):
        key(UnitType.UNIT, ("A1", "0", False, None))


CREATED = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


def test_a_one_time_key_expires_seven_days_after_creation_if_unused() -> None:
    assert (
        effective_status(KeyStatus.ONE_TIME, CREATED, CREATED + dt.timedelta(days=6, hours=23))
        is KeyStatus.ONE_TIME
    )
    assert effective_status(KeyStatus.ONE_TIME, CREATED, CREATED + dt.timedelta(days=7)) is KeyStatus.EXPIRED


def test_an_active_key_never_expires() -> None:
    assert effective_status(KeyStatus.ACTIVE, CREATED, CREATED + dt.timedelta(days=700)) is KeyStatus.ACTIVE


def test_using_a_one_time_key_marks_it_used_and_a_used_key_is_unusable() -> None:
    assert check_usable(UNIT_KEY, KeyStatus.ONE_TIME, CREATED, CREATED) is KeyStatus.USED
    with pytest.raises(AllocationKeyNotUsable, match="USED"):
        check_usable(UNIT_KEY, KeyStatus.USED, CREATED, CREATED)


def test_a_deleted_key_is_unusable() -> None:
    with pytest.raises(AllocationKeyNotUsable):
        check_usable(UNIT_KEY, KeyStatus.DELETED, CREATED, CREATED)


def test_a_key_with_a_closed_participant_account_is_invalid() -> None:
    with pytest.raises(AllocationKeyNotUsable) as caught:
        check_usable(UNIT_KEY, KeyStatus.ACTIVE, CREATED, CREATED, closed_accounts={"A2"})
    assert caught.value.details == {"closed_accounts": ["A2"]}


def test_prices_need_the_currency_of_the_traded_values() -> None:
    fills = (Execution(Decimal(200), Decimal("1.1")),)
    with pytest.raises(ValidationError, match="currency"):
        allocate(BlockRequest(PERCENT_KEY, Decimal(999), filled=Decimal(200), fills=fills))


def test_an_order_naming_its_keys_owner_account_and_its_instruments_type_or_neither_is_accepted() -> None:
    stock = Instrument("AAA", Decimal("10"))
    for account_id, asset_type in (("BLOCK", AssetType.STOCK), (None, None), ("BLOCK", None)):
        check_named(UNIT_KEY, stock, account_id, asset_type)


def test_an_order_naming_another_account_than_its_keys_owner_is_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        check_named(UNIT_KEY, Instrument("AAA", Decimal("10")), "A1", None)
    assert refused.value.details["owner_account_id"] == "BLOCK"


def test_an_order_naming_another_asset_type_than_its_instruments_is_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        check_named(UNIT_KEY, Instrument("AAA", Decimal("10")), None, AssetType.FX_SPOT)
    assert refused.value.details["instrument_asset_type"] == "STOCK"


OPENED_AT = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)


def test_the_block_accounts_own_error_account_is_opened_with_no_trading_costs_of_its_own() -> None:
    block = Account("BLOCK", "USD", {"USD": Decimal("10.00")}, client_id="acme", user_id="alice")
    named = attrs.evolve(UNIT_KEY, owner_account_id="BLOCK", error_account_id=owners_error_account("BLOCK"))
    opened = allocation_keys.error_account_for(named, block, None, OPENED_AT)
    assert opened is not None
    assert opened.costs == CostSchedule()


def test_a_key_naming_the_block_accounts_own_error_account_opens_it_owned_like_the_block_account() -> None:
    block = Account("BLOCK", "USD", {"USD": Decimal("10.00")}, client_id="acme", user_id="alice")
    named = attrs.evolve(UNIT_KEY, owner_account_id="BLOCK", error_account_id=owners_error_account("BLOCK"))
    opened = allocation_keys.error_account_for(named, block, None, OPENED_AT)
    assert opened is not None
    assert (opened.id, opened.currency, opened.cash, opened.client_id, opened.user_id, opened.created_at) == (
        "BLOCK-ERROR", "USD", {"USD": Decimal("0.00")}, "acme", "alice", OPENED_AT,
    )  # fmt: skip
    assert (
        allocation_keys.error_account_for(named, block, opened, OPENED_AT) is None
    )  # open already: used as it is
    own = attrs.evolve(UNIT_KEY, owner_account_id="BLOCK", error_account_id="E1")
    assert (
        allocation_keys.error_account_for(own, block, None, OPENED_AT) is None
    )  # a key naming its own opens none
