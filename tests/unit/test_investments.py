"""The investment lifecycle of the documents (their tables typed in here, not read from the code), who may follow
whom, and the money rules: pure values in, values out."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from core.errors import AllotError, IllegalTransition
from core.instruments import AssetType
from core.investments import (
    INVESTMENT,
    PHASES,
    RETRY_SCHEDULE,
    STOP_OUTS,
    STOPPABLE,
    SUB_STATES,
    AlreadyFollowing,
    AssetTypesNotAllowed,
    BelowMinimumInvestment,
    Capacity,
    InvestmentState,
    LeaderClosedForFollowers,
    NotSuitable,
    Phase,
    ProcessState,
    Step,
    Suitability,
    TermsNotAccepted,
    below_shield,
    check_may_follow,
    is_authorized_to_follow,
    is_open_for_followers,
    max_withdrawal,
    retry_at,
    service_fee,
)

D = Decimal
S = InvestmentState
NOW = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)

# The documents' table "InvestmentProcessState / InvestmentStateId / StateName", as the documents print it.
SEED_TABLE: dict[str, list[tuple[int, str]]] = {
    "PROCESSING": [
        (1, "New"),
        (2, "Account creation in progress"),
        (3, "Account creation succeeded"),
        (5, "Funding in progress"),
        (6, "Funding succeeded"),
        (10, "Resurrected"),
        (11, "Funding pre-check in progress"),
        (12, "Funding pre-check succeeded"),
        (16, "Funding skipped"),
        (17, "Account creation entry"),
        (18, "Funding entry"),
        (19, "Funding post-check in progress"),
        (20, "Funding post-check succeeded"),
        (22, "Funding pre-check entry"),
        (24, "Funding post-check entry"),
        (100, "FeeProfile assign entry"),
        (101, "FeeProfile assign in progress"),
        (102, "FeeProfile assign succeeded"),
        (105, "FeeProfile assign skipped"),
        (106, "FeeProfile assign pending"),
        (200, "FeeProfile unassign entry"),
        (201, "FeeProfile unassign in progress"),
        (206, "FeeProfile unassign pending"),
    ],
    "RETRY": [
        (7, "Funding failed"),
        (13, "Funding pre-check failed"),
        (21, "Funding post-check failed"),
        (103, "FeeProfile assign failed"),
        (203, "FeeProfile unassign failed"),
    ],
    "ERROR": [
        (4, "Account creation failed"),
        (14, "Funding exception"),
        (15, "Account creation exception"),
        (23, "Funding pre-check exception"),
        (25, "Funding post-check exception"),
        (104, "FeeProfile assign exception"),
        (204, "FeeProfile unassign exception"),
    ],
    "STARTING": [(31, "Starting")],
    "ACTIVE": [(8, "Ready")],
    "STOPPING": [
        (26, "Stopout margin limit"),
        (27, "Stopout protection limit"),
        (28, "Stopout non-specific"),
        (29, "Revoked terms and conditions"),
        (30, "Revoked suitability test"),
        (32, "Stopping"),
    ],
    "STOPPED": [
        (9, "Disabled"),
        (202, "FeeProfile unassign succeeded"),
        (205, "FeeProfile unassign skipped"),
    ],
}
SEED_ROWS = sorted(
    (state_id, name, process) for process, rows in SEED_TABLE.items() for state_id, name in rows
)


def by_id(state_id: int) -> InvestmentState:
    return next(state for state in InvestmentState if state.id == state_id)


def number(state: InvestmentState) -> int:
    return state.id


IN_PROGRESS: list[InvestmentState] = sorted((p.in_progress for p in PHASES), key=number)


# --- the sub-states ---------------------------------------------------------------------------------------


def test_the_sub_states_are_exactly_the_documents_ids_names_and_process_states() -> None:
    actual = sorted((state.id, state.title, state.process.value) for state in InvestmentState)
    assert actual == SEED_ROWS


@pytest.mark.parametrize(("state_id", "name", "process"), SEED_ROWS)
def test_each_documented_sub_state_exists_with_its_name_and_process_state(
    state_id: int, name: str, process: str
) -> None:
    state = by_id(state_id)
    assert (name, ProcessState(process)) == (state.title, state.process)
    assert (state_id, name, ProcessState(process)) == (
        SUB_STATES[state].id,
        SUB_STATES[state].name,
        SUB_STATES[state].process,
    )


def test_no_two_sub_states_share_a_number() -> None:
    ids = [state.id for state in InvestmentState]
    assert len(ids) == len(set(ids))


def test_every_sub_state_has_a_row_in_the_table_of_sub_states() -> None:
    assert set(InvestmentState) == set(SUB_STATES)


def test_the_process_states_are_the_documents_seven() -> None:
    assert set(SEED_TABLE) == {p.value for p in ProcessState}


# --- the lifecycle, phase by phase ------------------------------------------------------------------------

# Per back-office step, the documents' numbers: entry, in progress, succeeded, failed (RETRY), exception (ERROR),
# skipped and pending (None where the documents have no such sub-state).
SEED_PHASES: dict[str, tuple[int, int, int, int | None, int, int | None, int | None]] = {
    "CREATE_ACCOUNT": (17, 2, 3, None, 15, None, None),
    "FUNDING_PRE_CHECK": (22, 11, 12, 13, 23, None, None),
    "FUNDING": (18, 5, 6, 7, 14, 16, None),
    "FUNDING_POST_CHECK": (24, 19, 20, 21, 25, None, None),
    "ASSIGN_FEE_PROFILE": (100, 101, 102, 103, 104, 105, 106),
    "UNASSIGN_FEE_PROFILE": (200, 201, 202, 203, 204, 205, 206),
}
# What follows each step once it succeeded or was skipped.
SEED_AFTER: dict[str, int] = {
    "CREATE_ACCOUNT": 22,
    "FUNDING_PRE_CHECK": 18,
    "FUNDING": 24,
    "FUNDING_POST_CHECK": 100,
    "ASSIGN_FEE_PROFILE": 31,
    "UNASSIGN_FEE_PROFILE": 9,
}


def phase(name: str) -> Phase:
    return next(p for p in PHASES if p.step.value == name)


def test_the_phases_are_the_documents_six_back_office_steps() -> None:
    assert set(SEED_PHASES) == {p.step.value for p in PHASES}


@pytest.mark.parametrize("name", sorted(SEED_PHASES))
def test_each_phase_has_the_documents_sub_states(name: str) -> None:
    entry, in_progress, succeeded, failed, exception, skipped, pending = SEED_PHASES[name]
    p = phase(name)
    actual = (
        p.entry.id,
        p.in_progress.id,
        p.succeeded.id,
        None if p.failed is None else p.failed.id,
        p.exception.id,
        None if p.skipped is None else p.skipped.id,
        None if p.pending is None else p.pending.id,
    )
    assert (entry, in_progress, succeeded, failed, exception, skipped, pending) == actual


@pytest.mark.parametrize("name", sorted(SEED_PHASES))
def test_a_phase_goes_from_its_entry_into_progress_and_from_there_to_succeeded_or_exception(
    name: str,
) -> None:
    entry, in_progress, succeeded, _, exception, _, _ = SEED_PHASES[name]
    assert by_id(in_progress) is INVESTMENT.next(by_id(entry), Step.BEGIN)
    assert by_id(succeeded) is INVESTMENT.next(by_id(in_progress), Step.SUCCEED)
    assert by_id(exception) is INVESTMENT.next(by_id(in_progress), Step.RAISE)


@pytest.mark.parametrize("name", sorted(SEED_AFTER))
def test_after_a_phase_succeeded_comes_the_next_phases_entry(name: str) -> None:
    succeeded = by_id(SEED_PHASES[name][2])
    assert by_id(SEED_AFTER[name]) is INVESTMENT.next(succeeded, Step.BEGIN)


@pytest.mark.parametrize("name", sorted(n for n, ids in SEED_PHASES.items() if ids[3] is not None))
def test_a_failed_step_is_a_retry_state_that_is_retried_or_given_up_into_its_exception(name: str) -> None:
    _, in_progress, _, failed, exception, _, _ = SEED_PHASES[name]
    assert failed is not None
    assert by_id(failed) is INVESTMENT.next(by_id(in_progress), Step.FAIL)
    assert ProcessState.RETRY is by_id(failed).process
    assert by_id(in_progress) is INVESTMENT.next(by_id(failed), Step.RETRY)
    assert by_id(exception) is INVESTMENT.next(by_id(failed), Step.GIVE_UP)
    assert ProcessState.ERROR is by_id(exception).process


# What follows a skipped step: a skipped funding has nothing to post-check, so the fee profile comes next.
AFTER_SKIPPED: dict[str, int] = {"FUNDING": 100, "ASSIGN_FEE_PROFILE": 31, "UNASSIGN_FEE_PROFILE": 9}


@pytest.mark.parametrize("name", sorted(n for n, ids in SEED_PHASES.items() if ids[5] is not None))
def test_a_step_with_nothing_to_do_is_skipped_from_its_entry_and_goes_on(name: str) -> None:
    entry, _, _, _, _, skipped, _ = SEED_PHASES[name]
    assert skipped is not None
    assert by_id(skipped) is INVESTMENT.next(by_id(entry), Step.SKIP)
    assert by_id(AFTER_SKIPPED[name]) is INVESTMENT.next(by_id(skipped), Step.BEGIN)


@pytest.mark.parametrize("name", sorted(n for n, ids in SEED_PHASES.items() if ids[6] is not None))
def test_a_pending_step_is_tried_again_from_its_pending_state(name: str) -> None:
    _, in_progress, _, _, _, _, pending = SEED_PHASES[name]
    assert pending is not None
    assert by_id(pending) is INVESTMENT.next(by_id(in_progress), Step.PEND)
    assert by_id(in_progress) is INVESTMENT.next(by_id(pending), Step.RETRY)


@pytest.mark.parametrize("name", sorted(n for n, ids in SEED_PHASES.items() if ids[5] is None))
def test_a_step_without_a_skipped_state_cannot_be_skipped(name: str) -> None:
    with pytest.raises(IllegalTransition):
        INVESTMENT.next(by_id(SEED_PHASES[name][0]), Step.SKIP)


@pytest.mark.parametrize("name", sorted(n for n, ids in SEED_PHASES.items() if ids[6] is None))
def test_a_step_without_a_pending_state_cannot_be_pending(name: str) -> None:
    with pytest.raises(IllegalTransition):
        INVESTMENT.next(by_id(SEED_PHASES[name][1]), Step.PEND)


def test_a_new_investment_goes_to_the_account_creation_entry() -> None:
    assert S.NEW is INVESTMENT.initial
    assert S.ACCOUNT_CREATION_ENTRY is INVESTMENT.next(S.NEW, Step.BEGIN)


def test_a_failed_account_creation_is_the_error_state_4_with_no_retry() -> None:
    failed = INVESTMENT.next(S.ACCOUNT_CREATION_IN_PROGRESS, Step.FAIL)
    assert (failed.id, failed.process) == (4, ProcessState.ERROR)
    for step in (Step.RETRY, Step.GIVE_UP, Step.BEGIN):
        assert not INVESTMENT.allows(failed, step)


def test_a_starting_investment_synchronised_with_the_leader_is_ready() -> None:
    ready = INVESTMENT.next(S.STARTING, Step.SYNCHRONISE)
    assert (ready.id, ready.process) == (8, ProcessState.ACTIVE)


# The sub-states the client may stop from: Ready, Starting and the RETRY and ERROR states of starting.
SEED_STOPPABLE = [8, 31, 4, 7, 13, 14, 15, 21, 23, 25, 103, 104]


@pytest.mark.parametrize("state_id", SEED_STOPPABLE)
def test_the_client_may_stop_an_investment_that_is_ready_starting_or_stalled_while_starting(
    state_id: int,
) -> None:
    assert S.STOPPING is INVESTMENT.next(by_id(state_id), Step.STOP)
    assert (S.STOPPING.id, S.STOPPING.process) == (32, ProcessState.STOPPING)


def test_the_stoppable_states_are_ready_starting_and_the_retry_and_error_states_of_starting() -> None:
    assert set(SEED_STOPPABLE) == {state.id for state in STOPPABLE}


@pytest.mark.parametrize(
    "state_id",
    sorted({s.id for s in InvestmentState} - set(SEED_STOPPABLE)),
)
def test_the_client_may_stop_from_no_other_state(state_id: int) -> None:
    with pytest.raises(IllegalTransition):
        INVESTMENT.next(by_id(state_id), Step.STOP)


SEED_STOP_OUTS = [
    (Step.STOP_OUT_MARGIN, 26),
    (Step.STOP_OUT_PROTECTION, 27),
    (Step.STOP_OUT, 28),
    (Step.REVOKE_TERMS, 29),
    (Step.REVOKE_SUITABILITY, 30),
]


@pytest.mark.parametrize(("trigger", "state_id"), SEED_STOP_OUTS)
@pytest.mark.parametrize("source", [S.READY, S.STARTING])
def test_a_live_investment_is_stopped_out_into_the_documents_stopping_state(
    source: InvestmentState, trigger: Step, state_id: int
) -> None:
    stopped = INVESTMENT.next(source, trigger)
    assert (state_id, ProcessState.STOPPING) == (stopped.id, stopped.process)
    assert S.FEE_PROFILE_UNASSIGN_ENTRY is INVESTMENT.next(stopped, Step.BEGIN)


def test_the_stop_outs_are_the_documents_five() -> None:
    assert {trigger: by_id(state_id) for trigger, state_id in SEED_STOP_OUTS} == dict(STOP_OUTS)


@pytest.mark.parametrize(("trigger", "state_id"), SEED_STOP_OUTS)
def test_an_investment_that_is_not_live_cannot_be_stopped_out(trigger: Step, state_id: int) -> None:
    for source in (S.FUNDING_FAILED, S.FUNDING_EXCEPTION, S.STOPPING, S.DISABLED, S.FUNDING_IN_PROGRESS):
        with pytest.raises(IllegalTransition):
            INVESTMENT.next(source, trigger)


def test_stopping_unassigns_the_fee_profile_and_then_the_investment_is_disabled() -> None:
    state = INVESTMENT.next(S.STOPPING, Step.BEGIN)
    assert state.id == 200
    state = INVESTMENT.next(state, Step.BEGIN)
    assert state.id == 201
    assert INVESTMENT.next(state, Step.SUCCEED).id == 202
    assert INVESTMENT.next(state, Step.FAIL).id == 203
    assert INVESTMENT.next(state, Step.RAISE).id == 204
    assert INVESTMENT.next(S.FEE_PROFILE_UNASSIGN_ENTRY, Step.SKIP).id == 205
    assert INVESTMENT.next(state, Step.PEND).id == 206
    for done in (S.FEE_PROFILE_UNASSIGN_SUCCEEDED, S.FEE_PROFILE_UNASSIGN_SKIPPED):
        disabled = INVESTMENT.next(done, Step.BEGIN)
        assert (disabled.id, disabled.process) == (9, ProcessState.STOPPED)


def test_a_disabled_investment_is_resurrected_and_goes_to_the_funding_pre_check() -> None:
    back = INVESTMENT.next(S.DISABLED, Step.RESURRECT)
    assert (back.id, back.process) == (10, ProcessState.PROCESSING)
    assert INVESTMENT.next(back, Step.BEGIN).id == 22


def test_only_a_disabled_investment_can_be_resurrected() -> None:
    for state in InvestmentState:
        assert (state is S.DISABLED) == INVESTMENT.allows(state, Step.RESURRECT)


@pytest.mark.parametrize("state", IN_PROGRESS)
def test_an_investment_cannot_be_stopped_while_a_back_office_step_is_in_progress(
    state: InvestmentState,
) -> None:
    with pytest.raises(IllegalTransition) as refused:
        INVESTMENT.next(state, Step.STOP)
    assert {"lifecycle": "investment", "state": state.value, "event": "STOP"} == refused.value.details


@pytest.mark.parametrize(
    ("state", "step"),
    [
        (S.NEW, Step.SUCCEED),
        (S.READY, Step.BEGIN),
        (S.READY, Step.RESURRECT),
        (S.STARTING, Step.BEGIN),
        (S.ACCOUNT_CREATION_ENTRY, Step.SUCCEED),
        (S.FUNDING_EXCEPTION, Step.RETRY),
        (S.FUNDING_FAILED, Step.SUCCEED),
        (S.DISABLED, Step.BEGIN),
        (S.STOPPING, Step.SYNCHRONISE),
    ],
)
def test_illegal_moves_are_refused(state: InvestmentState, step: Step) -> None:
    with pytest.raises(IllegalTransition):
        INVESTMENT.next(state, step)


def test_every_sub_state_can_be_reached_from_new() -> None:
    reached = {S.NEW}
    frontier = [S.NEW]
    while frontier:
        source = frontier.pop()
        for (state, _), target in INVESTMENT.table.items():
            if state is source and target not in reached:
                reached.add(target)
                frontier.append(target)
    assert set(InvestmentState) == reached


# --- the retry schedule -----------------------------------------------------------------------------------


def test_each_failed_attempt_waits_for_the_next_delay_of_the_schedule() -> None:
    expected = [NOW + delay for delay in RETRY_SCHEDULE]
    actual = [retry_at(attempts, NOW) for attempts in range(1, len(RETRY_SCHEDULE) + 1)]
    assert expected == actual


def test_after_the_last_scheduled_attempt_there_is_no_retry() -> None:
    assert retry_at(len(RETRY_SCHEDULE) + 1, NOW) is None


def test_the_retry_schedule_waits_longer_each_time() -> None:
    assert list(RETRY_SCHEDULE) == sorted(set(RETRY_SCHEDULE))


# --- who may follow whom ----------------------------------------------------------------------------------


def may_follow(**changes: Any) -> None:
    """A follower who may follow the leader unless ``changes`` say otherwise."""
    arguments: dict[str, Any] = {
        "leader_id": "growth",
        "required": Suitability.MEDIUM,
        "traded": [AssetType.STOCK],
        "minimum_investment": D("500.00"),
        "max_followers": 10,
        "max_invested": D("10000.00"),
        "capacity": Capacity(3, D("3000.00")),
        "suitability": Suitability.HIGH,
        "terms_accepted": True,
        "legal": [AssetType.STOCK, AssetType.ETF],
        "amount": D("1000.00"),
        "currency": "EUR",
    }
    arguments.update(changes)
    check_may_follow(**arguments)


@pytest.mark.parametrize(
    ("changes", "error", "code"),
    [
        ({"suitability": Suitability.LOW}, NotSuitable, "NOT_SUITABLE"),
        ({"suitability": None}, NotSuitable, "NOT_SUITABLE"),
        ({"terms_accepted": False}, TermsNotAccepted, "TERMS_NOT_ACCEPTED"),
        ({"legal": [AssetType.ETF]}, AssetTypesNotAllowed, "ASSET_TYPES_NOT_ALLOWED"),
        ({"capacity": Capacity(10, D("3000.00"))}, LeaderClosedForFollowers, "LEADER_CLOSED_FOR_FOLLOWERS"),
        ({"capacity": Capacity(3, D("9500.00"))}, LeaderClosedForFollowers, "LEADER_CLOSED_FOR_FOLLOWERS"),
        ({"amount": D("499.99")}, BelowMinimumInvestment, "BELOW_MINIMUM_INVESTMENT"),
    ],
    ids=[
        "lower suitability",
        "no suitability",
        "terms",
        "asset types",
        "max followers",
        "max invested",
        "below minimum",
    ],
)
def test_each_reason_to_refuse_a_follower_has_its_own_error_and_code(
    changes: dict[str, Any], error: type[AllotError], code: str
) -> None:
    with pytest.raises(error) as refused:
        may_follow(**changes)
    assert code == refused.value.code


def test_the_refusal_codes_are_all_different() -> None:
    errors = [
        NotSuitable,
        TermsNotAccepted,
        AssetTypesNotAllowed,
        LeaderClosedForFollowers,
        BelowMinimumInvestment,
        AlreadyFollowing,
    ]
    expected = [
        "NOT_SUITABLE",
        "TERMS_NOT_ACCEPTED",
        "ASSET_TYPES_NOT_ALLOWED",
        "LEADER_CLOSED_FOR_FOLLOWERS",
        "BELOW_MINIMUM_INVESTMENT",
        "ALREADY_FOLLOWING",
    ]
    assert expected == [e.code for e in errors]


def test_a_follower_without_a_suitability_level_is_told_so() -> None:
    with pytest.raises(NotSuitable, match="no suitability level") as refused:
        may_follow(suitability=None)
    assert refused.value.details == {"required": "MEDIUM", "suitability": None}


def test_the_missing_asset_types_are_named() -> None:
    with pytest.raises(AssetTypesNotAllowed) as refused:
        may_follow(traded=[AssetType.STOCK, AssetType.BOND, AssetType.CFD], legal=[AssetType.STOCK])
    assert refused.value.details == {"missing": ["BOND", "CFD"]}


def test_a_follower_whose_suitability_equals_the_requirement_may_follow() -> None:
    may_follow(suitability=Suitability.MEDIUM, required=Suitability.MEDIUM)
    may_follow(suitability=Suitability.VERY_HIGH, required=Suitability.VERY_HIGH)


def test_an_amount_equal_to_the_minimum_investment_is_taken() -> None:
    may_follow(amount=D("500.00"))


def test_a_leader_with_exactly_its_maximum_number_of_followers_is_closed() -> None:
    may_follow(capacity=Capacity(9, D("3000.00")), max_followers=10)
    with pytest.raises(LeaderClosedForFollowers):
        may_follow(capacity=Capacity(10, D("3000.00")), max_followers=10)


def test_an_amount_that_fills_the_leader_exactly_is_taken_and_a_cent_more_is_refused() -> None:
    may_follow(capacity=Capacity(3, D("9000.00")), amount=D("1000.00"))
    with pytest.raises(LeaderClosedForFollowers) as refused:
        may_follow(capacity=Capacity(3, D("9000.01")), amount=D("1000.00"))
    assert refused.value.details["max_invested"] == "10000.00"


def test_a_leader_with_exactly_its_maximum_invested_is_closed() -> None:
    with pytest.raises(LeaderClosedForFollowers):
        may_follow(capacity=Capacity(3, D("10000.00")), amount=D("500.00"))


def test_a_leader_without_limits_is_always_open() -> None:
    may_follow(max_followers=None, max_invested=None, capacity=Capacity(10_000, D("1E9")))


def test_the_first_reason_that_applies_is_given() -> None:
    with pytest.raises(NotSuitable):
        may_follow(suitability=None, terms_accepted=False, amount=D("1.00"))
    with pytest.raises(TermsNotAccepted):
        may_follow(terms_accepted=False, legal=[], amount=D("1.00"))


@pytest.mark.parametrize(
    ("suitability", "required", "expected"),
    [
        (Suitability.LOW, Suitability.LOW, True),
        (Suitability.MEDIUM, Suitability.HIGH, False),
        (Suitability.HIGH, Suitability.HIGH, True),
        (Suitability.VERY_HIGH, Suitability.HIGH, True),
        (Suitability.HIGH, Suitability.VERY_HIGH, False),
        (None, Suitability.LOW, False),
    ],
)
def test_a_follower_is_authorized_to_follow_with_a_level_at_least_the_leaders(
    suitability: Suitability | None, required: Suitability, expected: bool
) -> None:
    assert expected == is_authorized_to_follow(suitability, required, [AssetType.STOCK], [AssetType.STOCK])


def test_a_suitable_follower_is_not_authorized_to_follow_a_leader_trading_what_it_may_not() -> None:
    assert not is_authorized_to_follow(Suitability.HIGH, Suitability.LOW, [AssetType.STOCK], [AssetType.ETF])


def test_a_leader_is_open_until_its_maximum_number_of_followers() -> None:
    assert is_open_for_followers(2, None, Capacity(1, D(0)))
    assert not is_open_for_followers(2, None, Capacity(2, D(0)))


def test_a_leader_is_open_for_an_amount_that_fits_under_its_maximum_invested() -> None:
    assert is_open_for_followers(None, D(100), Capacity(1, D(60)), D(40))
    assert not is_open_for_followers(None, D(100), Capacity(1, D(60)), D("40.01"))


# --- money rules ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("equity", "minimum", "shield", "expected"),
    [
        ("1000.00", "500.00", None, "500.00"),
        ("1000.00", "500.00", "800.00", "200.00"),
        ("1000.00", "500.00", "300.00", "500.00"),
        ("400.00", "500.00", None, "0"),
        ("1000.00", "500.00", "1200.00", "0"),
        ("1000.009", "500.00", None, "500.00"),
    ],
)
def test_the_maximum_withdrawal_is_equity_less_the_larger_of_minimum_investment_and_shield_never_below_zero(
    equity: str, minimum: str, shield: str | None, expected: str
) -> None:
    actual = max_withdrawal(D(equity), D(minimum), None if shield is None else D(shield), "EUR")
    assert D(expected) == actual


def test_equity_below_the_shield_is_below_it_and_equity_at_the_shield_is_not() -> None:
    assert below_shield(D("899.99"), D("900.00"))
    assert not below_shield(D("900.00"), D("900.00"))
    assert not below_shield(D("0"), None)


def test_the_service_fee_is_equity_times_rate_times_days_held_over_365() -> None:
    fee = service_fee(D("36500.00"), D("0.01"), NOW, NOW + dt.timedelta(days=10), "EUR")
    assert D("10.00") == fee


def test_part_of_a_day_counts_as_a_day_of_service_fee() -> None:
    fee = service_fee(D("36500.00"), D("0.01"), NOW, NOW + dt.timedelta(days=1, seconds=1), "EUR")
    assert D("2.00") == fee


def test_no_service_fee_at_a_zero_rate_or_without_equity() -> None:
    assert D(0) == service_fee(D("1000.00"), D(0), NOW, NOW + dt.timedelta(days=30), "EUR")
    assert D(0) == service_fee(D(0), D("0.01"), NOW, NOW + dt.timedelta(days=30), "EUR")


def test_the_service_fee_is_never_more_than_the_equity() -> None:
    assert D("1.00") == service_fee(D("1.00"), D("0.99"), NOW, NOW + dt.timedelta(days=3650), "EUR")


def test_a_leader_whose_invested_total_has_reached_its_maximum_is_not_open_for_followers() -> None:
    assert not is_open_for_followers(None, D(100), Capacity(3, D(100)))
    assert is_open_for_followers(None, D(100), Capacity(3, D("99.99")))


@pytest.mark.parametrize(
    ("changes", "message", "details"),
    [
        ({"suitability": Suitability.LOW},
         "the follower has suitability LOW; leader growth requires MEDIUM or higher: take (or retake) the "
         "suitability test", {"required": "MEDIUM", "suitability": "LOW"}),
        ({"suitability": None},
         "the follower has no suitability level; leader growth requires MEDIUM or higher: take (or retake) the "
         "suitability test", {"required": "MEDIUM", "suitability": None}),
        ({"terms_accepted": False},
         "the follower has not accepted the terms and conditions; accept them first", {"leader_id": "growth"}),
        ({"traded": [AssetType.STOCK, AssetType.CFD, AssetType.BOND], "legal": [AssetType.STOCK]},
         "leader growth trades BOND, CFD, which the follower may not trade", {"missing": ["BOND", "CFD"]}),
        ({"capacity": Capacity(10, D("3000.00"))},
         "leader growth is not open for more followers (it has 10 followers and 3000.00 EUR invested)",
         {"followers": 10, "max_followers": 10, "invested": "3000.00", "max_invested": "10000.00"}),
        ({"amount": D("499.99")},
         "leader growth takes at least 500.00 EUR; 499.99 is less",
         {"minimum_investment": "500.00", "amount": "499.99"}),
    ],
    ids=["lower suitability", "no suitability", "terms", "asset types", "capacity", "minimum"],
)  # fmt: skip
def test_each_refusal_says_what_is_wrong_and_what_to_do(
    changes: dict[str, Any], message: str, details: dict[str, Any]
) -> None:
    with pytest.raises(AllotError) as refused:
        may_follow(**changes)
    assert (refused.value.message, refused.value.details) == (message, details)


def test_an_investment_stopped_the_instant_it_started_pays_no_service_fee() -> None:
    moment = dt.datetime(2026, 11, 23, 9, tzinfo=dt.UTC)
    assert service_fee(D("10000.00"), D("0.01"), moment, moment, "EUR") == D(0)
    assert service_fee(D("10000.00"), D("0.01"), moment, moment + dt.timedelta(seconds=1), "EUR") == D("0.27")


def test_the_retry_schedule_is_the_documented_one_5_s_30_s_2_min_10_min_and_30_min() -> None:
    minutes = [dt.timedelta(minutes=m) for m in (2, 10, 30)]
    assert [retry_at(n, NOW) for n in range(1, 7)] == [
        NOW + dt.timedelta(seconds=5), NOW + dt.timedelta(seconds=30), *(NOW + m for m in minutes), None,
    ]  # fmt: skip
