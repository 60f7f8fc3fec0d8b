"""Copy trading: trade leaders, trade followers and the investments that make a follower's account a replica.

A trade leader runs a model portfolio (its weights); a trade follower invests in it. An investment goes through
the lifecycle of the back office (``INVESTMENT``): its account is created, funded (checked before and after),
a fee profile is assigned, it is synchronised with the leader and is then ACTIVE; it stops on the client's
request or by a stop-out, its positions are closed if asked, its fee profile is unassigned and it is STOPPED.

Each sub-state has the number and the name the documents give it; its process state (PROCESSING, RETRY, ERROR,
STARTING, ACTIVE, STOPPING, STOPPED) follows from it. A back-office step can succeed, fail (a RETRY sub-state,
tried again on ``RETRY_SCHEDULE``, and the step's ERROR sub-state after the last attempt) or raise (its ERROR
sub-state at once). The rules of who may follow whom, the investment shield, the maximum withdrawal and the
service fee are here too; the rebalancing arithmetic is in ``core.copy_trading``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Final

import attrs

from core.errors import AllotError, ValidationError
from core.instruments import AssetType
from core.lifecycle import Lifecycle
from core.numbers import ZERO, check_non_negative, floor_to, fmt, half_even_to, minor_unit
from core.validators import NamedEnum


class Suitability(NamedEnum):
    """The level a suitability test gives a follower; a leader requires one. Ordered LOW < ... < VERY_HIGH."""

    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    VERY_HIGH = "VERY_HIGH"

    @property
    def rank(self) -> int:
        return _SUITABILITY_ORDER.index(self)

    def covers(self, required: Suitability) -> bool:
        """Whether a follower of this level may follow a leader that requires ``required``."""
        return self.rank >= Suitability(required).rank


_SUITABILITY_ORDER: Final = tuple(Suitability)


class ProcessState(NamedEnum):
    """The main stage of an investment (the documents' ``InvestmentProcessState``)."""

    PROCESSING = "PROCESSING"
    RETRY = "RETRY"
    ERROR = "ERROR"
    STARTING = "STARTING"
    ACTIVE = "ACTIVE"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"


class InvestmentState(NamedEnum):
    """The sub-states of an investment; ``SUB_STATES`` gives each its number, name and process state."""

    NEW = "NEW"
    ACCOUNT_CREATION_IN_PROGRESS = "ACCOUNT_CREATION_IN_PROGRESS"
    ACCOUNT_CREATION_SUCCEEDED = "ACCOUNT_CREATION_SUCCEEDED"
    ACCOUNT_CREATION_FAILED = "ACCOUNT_CREATION_FAILED"
    FUNDING_IN_PROGRESS = "FUNDING_IN_PROGRESS"
    FUNDING_SUCCEEDED = "FUNDING_SUCCEEDED"
    FUNDING_FAILED = "FUNDING_FAILED"
    READY = "READY"
    DISABLED = "DISABLED"
    RESURRECTED = "RESURRECTED"
    FUNDING_PRE_CHECK_IN_PROGRESS = "FUNDING_PRE_CHECK_IN_PROGRESS"
    FUNDING_PRE_CHECK_SUCCEEDED = "FUNDING_PRE_CHECK_SUCCEEDED"
    FUNDING_PRE_CHECK_FAILED = "FUNDING_PRE_CHECK_FAILED"
    FUNDING_EXCEPTION = "FUNDING_EXCEPTION"
    ACCOUNT_CREATION_EXCEPTION = "ACCOUNT_CREATION_EXCEPTION"
    FUNDING_SKIPPED = "FUNDING_SKIPPED"
    ACCOUNT_CREATION_ENTRY = "ACCOUNT_CREATION_ENTRY"
    FUNDING_ENTRY = "FUNDING_ENTRY"
    FUNDING_POST_CHECK_IN_PROGRESS = "FUNDING_POST_CHECK_IN_PROGRESS"
    FUNDING_POST_CHECK_SUCCEEDED = "FUNDING_POST_CHECK_SUCCEEDED"
    FUNDING_POST_CHECK_FAILED = "FUNDING_POST_CHECK_FAILED"
    FUNDING_PRE_CHECK_ENTRY = "FUNDING_PRE_CHECK_ENTRY"
    FUNDING_PRE_CHECK_EXCEPTION = "FUNDING_PRE_CHECK_EXCEPTION"
    FUNDING_POST_CHECK_ENTRY = "FUNDING_POST_CHECK_ENTRY"
    FUNDING_POST_CHECK_EXCEPTION = "FUNDING_POST_CHECK_EXCEPTION"
    STOPOUT_MARGIN_LIMIT = "STOPOUT_MARGIN_LIMIT"
    STOPOUT_PROTECTION_LIMIT = "STOPOUT_PROTECTION_LIMIT"
    STOPOUT_NON_SPECIFIC = "STOPOUT_NON_SPECIFIC"
    REVOKED_TERMS_AND_CONDITIONS = "REVOKED_TERMS_AND_CONDITIONS"
    REVOKED_SUITABILITY_TEST = "REVOKED_SUITABILITY_TEST"
    STARTING = "STARTING"
    STOPPING = "STOPPING"
    FEE_PROFILE_ASSIGN_ENTRY = "FEE_PROFILE_ASSIGN_ENTRY"
    FEE_PROFILE_ASSIGN_IN_PROGRESS = "FEE_PROFILE_ASSIGN_IN_PROGRESS"
    FEE_PROFILE_ASSIGN_SUCCEEDED = "FEE_PROFILE_ASSIGN_SUCCEEDED"
    FEE_PROFILE_ASSIGN_FAILED = "FEE_PROFILE_ASSIGN_FAILED"
    FEE_PROFILE_ASSIGN_EXCEPTION = "FEE_PROFILE_ASSIGN_EXCEPTION"
    FEE_PROFILE_ASSIGN_SKIPPED = "FEE_PROFILE_ASSIGN_SKIPPED"
    FEE_PROFILE_ASSIGN_PENDING = "FEE_PROFILE_ASSIGN_PENDING"
    FEE_PROFILE_UNASSIGN_ENTRY = "FEE_PROFILE_UNASSIGN_ENTRY"
    FEE_PROFILE_UNASSIGN_IN_PROGRESS = "FEE_PROFILE_UNASSIGN_IN_PROGRESS"
    FEE_PROFILE_UNASSIGN_SUCCEEDED = "FEE_PROFILE_UNASSIGN_SUCCEEDED"
    FEE_PROFILE_UNASSIGN_FAILED = "FEE_PROFILE_UNASSIGN_FAILED"
    FEE_PROFILE_UNASSIGN_EXCEPTION = "FEE_PROFILE_UNASSIGN_EXCEPTION"
    FEE_PROFILE_UNASSIGN_SKIPPED = "FEE_PROFILE_UNASSIGN_SKIPPED"
    FEE_PROFILE_UNASSIGN_PENDING = "FEE_PROFILE_UNASSIGN_PENDING"

    @property
    def id(self) -> int:
        """The documents' ``InvestmentStateId``."""
        return SUB_STATES[self].id

    @property
    def title(self) -> str:
        """The documents' ``StateName``."""
        return SUB_STATES[self].name

    @property
    def process(self) -> ProcessState:
        """The documents' ``InvestmentProcessState``."""
        return SUB_STATES[self].process


@attrs.frozen
class SubState:
    id: int
    name: str
    process: ProcessState


_S, _P = InvestmentState, ProcessState

#: Every sub-state with the number and name the documents give it, and its process state.
SUB_STATES: Final[Mapping[InvestmentState, SubState]] = {
    _S.NEW: SubState(1, "New", _P.PROCESSING),
    _S.ACCOUNT_CREATION_IN_PROGRESS: SubState(2, "Account creation in progress", _P.PROCESSING),
    _S.ACCOUNT_CREATION_SUCCEEDED: SubState(3, "Account creation succeeded", _P.PROCESSING),
    _S.ACCOUNT_CREATION_FAILED: SubState(4, "Account creation failed", _P.ERROR),
    _S.FUNDING_IN_PROGRESS: SubState(5, "Funding in progress", _P.PROCESSING),
    _S.FUNDING_SUCCEEDED: SubState(6, "Funding succeeded", _P.PROCESSING),
    _S.FUNDING_FAILED: SubState(7, "Funding failed", _P.RETRY),
    _S.READY: SubState(8, "Ready", _P.ACTIVE),
    _S.DISABLED: SubState(9, "Disabled", _P.STOPPED),
    _S.RESURRECTED: SubState(10, "Resurrected", _P.PROCESSING),
    _S.FUNDING_PRE_CHECK_IN_PROGRESS: SubState(11, "Funding pre-check in progress", _P.PROCESSING),
    _S.FUNDING_PRE_CHECK_SUCCEEDED: SubState(12, "Funding pre-check succeeded", _P.PROCESSING),
    _S.FUNDING_PRE_CHECK_FAILED: SubState(13, "Funding pre-check failed", _P.RETRY),
    _S.FUNDING_EXCEPTION: SubState(14, "Funding exception", _P.ERROR),
    _S.ACCOUNT_CREATION_EXCEPTION: SubState(15, "Account creation exception", _P.ERROR),
    _S.FUNDING_SKIPPED: SubState(16, "Funding skipped", _P.PROCESSING),
    _S.ACCOUNT_CREATION_ENTRY: SubState(17, "Account creation entry", _P.PROCESSING),
    _S.FUNDING_ENTRY: SubState(18, "Funding entry", _P.PROCESSING),
    _S.FUNDING_POST_CHECK_IN_PROGRESS: SubState(19, "Funding post-check in progress", _P.PROCESSING),
    _S.FUNDING_POST_CHECK_SUCCEEDED: SubState(20, "Funding post-check succeeded", _P.PROCESSING),
    _S.FUNDING_POST_CHECK_FAILED: SubState(21, "Funding post-check failed", _P.RETRY),
    _S.FUNDING_PRE_CHECK_ENTRY: SubState(22, "Funding pre-check entry", _P.PROCESSING),
    _S.FUNDING_PRE_CHECK_EXCEPTION: SubState(23, "Funding pre-check exception", _P.ERROR),
    _S.FUNDING_POST_CHECK_ENTRY: SubState(24, "Funding post-check entry", _P.PROCESSING),
    _S.FUNDING_POST_CHECK_EXCEPTION: SubState(25, "Funding post-check exception", _P.ERROR),
    _S.STOPOUT_MARGIN_LIMIT: SubState(26, "Stopout margin limit", _P.STOPPING),
    _S.STOPOUT_PROTECTION_LIMIT: SubState(27, "Stopout protection limit", _P.STOPPING),
    _S.STOPOUT_NON_SPECIFIC: SubState(28, "Stopout non-specific", _P.STOPPING),
    _S.REVOKED_TERMS_AND_CONDITIONS: SubState(29, "Revoked terms and conditions", _P.STOPPING),
    _S.REVOKED_SUITABILITY_TEST: SubState(30, "Revoked suitability test", _P.STOPPING),
    _S.STARTING: SubState(31, "Starting", _P.STARTING),
    _S.STOPPING: SubState(32, "Stopping", _P.STOPPING),
    _S.FEE_PROFILE_ASSIGN_ENTRY: SubState(100, "FeeProfile assign entry", _P.PROCESSING),
    _S.FEE_PROFILE_ASSIGN_IN_PROGRESS: SubState(101, "FeeProfile assign in progress", _P.PROCESSING),
    _S.FEE_PROFILE_ASSIGN_SUCCEEDED: SubState(102, "FeeProfile assign succeeded", _P.PROCESSING),
    _S.FEE_PROFILE_ASSIGN_FAILED: SubState(103, "FeeProfile assign failed", _P.RETRY),
    _S.FEE_PROFILE_ASSIGN_EXCEPTION: SubState(104, "FeeProfile assign exception", _P.ERROR),
    _S.FEE_PROFILE_ASSIGN_SKIPPED: SubState(105, "FeeProfile assign skipped", _P.PROCESSING),
    _S.FEE_PROFILE_ASSIGN_PENDING: SubState(106, "FeeProfile assign pending", _P.PROCESSING),
    _S.FEE_PROFILE_UNASSIGN_ENTRY: SubState(200, "FeeProfile unassign entry", _P.PROCESSING),
    _S.FEE_PROFILE_UNASSIGN_IN_PROGRESS: SubState(201, "FeeProfile unassign in progress", _P.PROCESSING),
    _S.FEE_PROFILE_UNASSIGN_SUCCEEDED: SubState(202, "FeeProfile unassign succeeded", _P.STOPPED),
    _S.FEE_PROFILE_UNASSIGN_FAILED: SubState(203, "FeeProfile unassign failed", _P.RETRY),
    _S.FEE_PROFILE_UNASSIGN_EXCEPTION: SubState(204, "FeeProfile unassign exception", _P.ERROR),
    _S.FEE_PROFILE_UNASSIGN_SKIPPED: SubState(205, "FeeProfile unassign skipped", _P.STOPPED),
    _S.FEE_PROFILE_UNASSIGN_PENDING: SubState(206, "FeeProfile unassign pending", _P.PROCESSING),
}

#: Sub-states by number.
STATE_OF_ID: Final[Mapping[int, InvestmentState]] = {sub.id: state for state, sub in SUB_STATES.items()}


class Step(NamedEnum):
    """What moves an investment from one sub-state to the next."""

    BEGIN = "BEGIN"  #: go on to the next step of the process (or into the step itself, from its entry)
    SUCCEED = "SUCCEED"  #: the back office did the step
    FAIL = "FAIL"  #: the back office could not do it now (retried on the schedule)
    RAISE = "RAISE"  #: the back office raised an exception (the process is blocked)
    SKIP = "SKIP"  #: the step has nothing to do
    PEND = "PEND"  #: the back office accepted the step but has not done it yet
    RETRY = "RETRY"  #: try the failed or pending step again
    GIVE_UP = "GIVE_UP"  #: the last attempt of a failed step is spent
    SYNCHRONISE = "SYNCHRONISE"  #: the account replicates the leader
    STOP = "STOP"  #: the client stops the investment
    STOP_OUT_MARGIN = "STOP_OUT_MARGIN"
    STOP_OUT_PROTECTION = "STOP_OUT_PROTECTION"  #: equity fell below the investment shield
    STOP_OUT = "STOP_OUT"  #: stopped out for another reason (the operator's)
    REVOKE_TERMS = "REVOKE_TERMS"
    REVOKE_SUITABILITY = "REVOKE_SUITABILITY"
    RESURRECT = "RESURRECT"  #: a stopped investment is started again


class BackOfficeStep(NamedEnum):
    """The steps the back office performs (``ports.driven.BackOffice``)."""

    CREATE_ACCOUNT = "CREATE_ACCOUNT"
    FUNDING_PRE_CHECK = "FUNDING_PRE_CHECK"
    FUNDING = "FUNDING"
    FUNDING_POST_CHECK = "FUNDING_POST_CHECK"
    ASSIGN_FEE_PROFILE = "ASSIGN_FEE_PROFILE"
    UNASSIGN_FEE_PROFILE = "UNASSIGN_FEE_PROFILE"


class Outcome(NamedEnum):
    """What the back office answered for a step."""

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    RAISED = "RAISED"
    PENDING = "PENDING"


#: The trigger each back-office answer is.
STEP_OF_OUTCOME: Final[Mapping[Outcome, Step]] = {
    Outcome.SUCCEEDED: Step.SUCCEED,
    Outcome.FAILED: Step.FAIL,
    Outcome.RAISED: Step.RAISE,
    Outcome.PENDING: Step.PEND,
}


@attrs.frozen
class Phase:
    """One back-office step of the lifecycle: its sub-states, and the trigger from its entry."""

    step: BackOfficeStep
    entry: InvestmentState
    in_progress: InvestmentState
    succeeded: InvestmentState
    failed: InvestmentState | None  #: a RETRY sub-state, or None where a failure is an error at once
    exception: InvestmentState
    skipped: InvestmentState | None = None
    pending: InvestmentState | None = None
    failure_is_error: InvestmentState | None = None  #: where a failure has no RETRY state: this ERROR one


PHASES: Final[tuple[Phase, ...]] = (
    Phase(BackOfficeStep.CREATE_ACCOUNT, _S.ACCOUNT_CREATION_ENTRY, _S.ACCOUNT_CREATION_IN_PROGRESS,
          _S.ACCOUNT_CREATION_SUCCEEDED, None, _S.ACCOUNT_CREATION_EXCEPTION,
          failure_is_error=_S.ACCOUNT_CREATION_FAILED),
    Phase(BackOfficeStep.FUNDING_PRE_CHECK, _S.FUNDING_PRE_CHECK_ENTRY, _S.FUNDING_PRE_CHECK_IN_PROGRESS,
          _S.FUNDING_PRE_CHECK_SUCCEEDED, _S.FUNDING_PRE_CHECK_FAILED, _S.FUNDING_PRE_CHECK_EXCEPTION),
    Phase(BackOfficeStep.FUNDING, _S.FUNDING_ENTRY, _S.FUNDING_IN_PROGRESS, _S.FUNDING_SUCCEEDED,
          _S.FUNDING_FAILED, _S.FUNDING_EXCEPTION, skipped=_S.FUNDING_SKIPPED),
    Phase(BackOfficeStep.FUNDING_POST_CHECK, _S.FUNDING_POST_CHECK_ENTRY, _S.FUNDING_POST_CHECK_IN_PROGRESS,
          _S.FUNDING_POST_CHECK_SUCCEEDED, _S.FUNDING_POST_CHECK_FAILED, _S.FUNDING_POST_CHECK_EXCEPTION),
    Phase(BackOfficeStep.ASSIGN_FEE_PROFILE, _S.FEE_PROFILE_ASSIGN_ENTRY, _S.FEE_PROFILE_ASSIGN_IN_PROGRESS,
          _S.FEE_PROFILE_ASSIGN_SUCCEEDED, _S.FEE_PROFILE_ASSIGN_FAILED, _S.FEE_PROFILE_ASSIGN_EXCEPTION,
          skipped=_S.FEE_PROFILE_ASSIGN_SKIPPED, pending=_S.FEE_PROFILE_ASSIGN_PENDING),
    Phase(BackOfficeStep.UNASSIGN_FEE_PROFILE, _S.FEE_PROFILE_UNASSIGN_ENTRY,
          _S.FEE_PROFILE_UNASSIGN_IN_PROGRESS, _S.FEE_PROFILE_UNASSIGN_SUCCEEDED, _S.FEE_PROFILE_UNASSIGN_FAILED,
          _S.FEE_PROFILE_UNASSIGN_EXCEPTION, skipped=_S.FEE_PROFILE_UNASSIGN_SKIPPED,
          pending=_S.FEE_PROFILE_UNASSIGN_PENDING),
)  # fmt: skip

#: The back-office step each in-progress sub-state waits for.
STEP_IN: Final[Mapping[InvestmentState, BackOfficeStep]] = {p.in_progress: p.step for p in PHASES}

#: What comes after each step succeeded (or was skipped): the next step's entry, or the state after the steps.
_AFTER: Final[Mapping[InvestmentState, InvestmentState]] = {
    _S.NEW: _S.ACCOUNT_CREATION_ENTRY,
    _S.ACCOUNT_CREATION_SUCCEEDED: _S.FUNDING_PRE_CHECK_ENTRY,
    _S.RESURRECTED: _S.FUNDING_PRE_CHECK_ENTRY,
    _S.FUNDING_PRE_CHECK_SUCCEEDED: _S.FUNDING_ENTRY,
    _S.FUNDING_SUCCEEDED: _S.FUNDING_POST_CHECK_ENTRY,
    _S.FUNDING_SKIPPED: _S.FEE_PROFILE_ASSIGN_ENTRY,
    _S.FUNDING_POST_CHECK_SUCCEEDED: _S.FEE_PROFILE_ASSIGN_ENTRY,
    _S.FEE_PROFILE_ASSIGN_SUCCEEDED: _S.STARTING,
    _S.FEE_PROFILE_ASSIGN_SKIPPED: _S.STARTING,
    _S.STOPPING: _S.FEE_PROFILE_UNASSIGN_ENTRY,
    _S.STOPOUT_MARGIN_LIMIT: _S.FEE_PROFILE_UNASSIGN_ENTRY,
    _S.STOPOUT_PROTECTION_LIMIT: _S.FEE_PROFILE_UNASSIGN_ENTRY,
    _S.STOPOUT_NON_SPECIFIC: _S.FEE_PROFILE_UNASSIGN_ENTRY,
    _S.REVOKED_TERMS_AND_CONDITIONS: _S.FEE_PROFILE_UNASSIGN_ENTRY,
    _S.REVOKED_SUITABILITY_TEST: _S.FEE_PROFILE_UNASSIGN_ENTRY,
    _S.FEE_PROFILE_UNASSIGN_SUCCEEDED: _S.DISABLED,
    _S.FEE_PROFILE_UNASSIGN_SKIPPED: _S.DISABLED,
}

#: Where an investment that is starting (or has stalled while starting) may be stopped by the client from.
STOPPABLE: Final = frozenset(
    {
        _S.READY,
        _S.STARTING,
        _S.ACCOUNT_CREATION_FAILED,
        _S.ACCOUNT_CREATION_EXCEPTION,
        _S.FUNDING_PRE_CHECK_FAILED,
        _S.FUNDING_PRE_CHECK_EXCEPTION,
        _S.FUNDING_FAILED,
        _S.FUNDING_EXCEPTION,
        _S.FUNDING_POST_CHECK_FAILED,
        _S.FUNDING_POST_CHECK_EXCEPTION,
        _S.FEE_PROFILE_ASSIGN_FAILED,
        _S.FEE_PROFILE_ASSIGN_EXCEPTION,
    }
)
#: The stop-outs of a live investment, by trigger.
STOP_OUTS: Final[Mapping[Step, InvestmentState]] = {
    Step.STOP_OUT_MARGIN: _S.STOPOUT_MARGIN_LIMIT,
    Step.STOP_OUT_PROTECTION: _S.STOPOUT_PROTECTION_LIMIT,
    Step.STOP_OUT: _S.STOPOUT_NON_SPECIFIC,
    Step.REVOKE_TERMS: _S.REVOKED_TERMS_AND_CONDITIONS,
    Step.REVOKE_SUITABILITY: _S.REVOKED_SUITABILITY_TEST,
}
#: The sub-states in which an investment is being stopped (its positions are closed here if asked).
STOPPING_STATES: Final = frozenset({_S.STOPPING, *STOP_OUTS.values()})


def is_active(state: InvestmentState) -> bool:
    """The documents' ``IsActive``: the investment is starting or following its leader, not on its way out
    (being stopped, its fee profile unassigned) nor stopped."""
    unassigning = next(p for p in PHASES if p.step is BackOfficeStep.UNASSIGN_FEE_PROFILE)
    on_the_way_out = {unassigning.entry, unassigning.in_progress, unassigning.failed, unassigning.exception,
                      unassigning.pending}  # fmt: skip
    return (
        state not in STOPPING_STATES
        and state not in on_the_way_out
        and state.process is not ProcessState.STOPPED
    )


def _rows() -> dict[tuple[InvestmentState, Step], InvestmentState]:
    table: dict[tuple[InvestmentState, Step], InvestmentState] = {}
    for source, target in _AFTER.items():
        table[(source, Step.BEGIN)] = target
    for phase in PHASES:
        table[(phase.entry, Step.BEGIN)] = phase.in_progress
        table[(phase.in_progress, Step.SUCCEED)] = phase.succeeded
        table[(phase.in_progress, Step.RAISE)] = phase.exception
        if phase.failed is not None:
            table[(phase.in_progress, Step.FAIL)] = phase.failed
            table[(phase.failed, Step.RETRY)] = phase.in_progress
            table[(phase.failed, Step.GIVE_UP)] = phase.exception
        if phase.failure_is_error is not None:
            table[(phase.in_progress, Step.FAIL)] = phase.failure_is_error
        if phase.skipped is not None:
            table[(phase.entry, Step.SKIP)] = phase.skipped
        if phase.pending is not None:
            table[(phase.in_progress, Step.PEND)] = phase.pending
            table[(phase.pending, Step.RETRY)] = phase.in_progress
    table[(_S.STARTING, Step.SYNCHRONISE)] = _S.READY
    for state in sorted(STOPPABLE, key=lambda s: s.id):
        table[(state, Step.STOP)] = _S.STOPPING
    for state in (_S.READY, _S.STARTING):
        for trigger, target in STOP_OUTS.items():
            table[(state, trigger)] = target
    table[(_S.DISABLED, Step.RESURRECT)] = _S.RESURRECTED
    return table


#: The investment lifecycle: ``INVESTMENT.next(state, step)``; an illegal step raises ``IllegalTransition``.
INVESTMENT: Final[Lifecycle[InvestmentState, Step]] = Lifecycle("investment", _S.NEW, _rows())

#: How long to wait before each new attempt of a failed step (after the last, the step is an error) and before
#: asking again about a pending one (pending is no failure: after the fifth time it is asked every 30 minutes).
RETRY_SCHEDULE: Final[tuple[dt.timedelta, ...]] = tuple(
    dt.timedelta(seconds=s) for s in (5, 30, 120, 600, 1800)
)


def retry_at(attempts: int, now: dt.datetime) -> dt.datetime | None:
    """When a step that has failed ``attempts`` times is tried again; ``None`` once the schedule is spent."""
    if attempts > len(RETRY_SCHEDULE):
        return None
    return now + RETRY_SCHEDULE[attempts - 1]


# --- who may follow whom -----------------------------------------------------------------------------------


class NotSuitable(AllotError):
    """The follower's suitability level is below what the leader requires (or it has none)."""

    code = "NOT_SUITABLE"


class TermsNotAccepted(AllotError):
    code = "TERMS_NOT_ACCEPTED"


class AssetTypesNotAllowed(AllotError):
    """The leader trades asset types the follower may not trade."""

    code = "ASSET_TYPES_NOT_ALLOWED"


class LeaderClosedForFollowers(AllotError):
    """The leader has no room for another follower, or for this much more money."""

    code = "LEADER_CLOSED_FOR_FOLLOWERS"


class BelowMinimumInvestment(AllotError):
    code = "BELOW_MINIMUM_INVESTMENT"


class AlreadyFollowing(AllotError):
    code = "ALREADY_FOLLOWING"


class AboveMaxWithdrawal(AllotError):
    code = "ABOVE_MAX_WITHDRAWAL"


class FundingPending(AllotError):
    """Additional funding while an earlier one is not completed."""

    code = "FUNDING_PENDING"


class InvestmentBusy(AllotError):
    """The investment is not in a state that allows this now (not active, or an order of it is still open)."""

    code = "INVESTMENT_BUSY"


class ActiveErrorCode(NamedEnum):
    """What an ACTIVE investment can carry without leaving ACTIVE (the documents' ``ErrorCode``)."""

    NOT_SUITABLE = (
        "NOT_SUITABLE"  #: the follower's suitability or legal asset types no longer cover the leader
    )
    JOINT_INACTIVE = "JOINT_INACTIVE"  #: the leader, the follower or its account is no longer active


@attrs.frozen
class Capacity:
    """How full a leader is: live investments and the money in them (what each was funded with)."""

    followers: int
    invested: Decimal


def is_authorized_to_follow(
    suitability: Suitability | None,
    required: Suitability,
    legal: Iterable[AssetType],
    traded: Iterable[AssetType],
) -> bool:
    """Whether the follower's suitability covers the leader's requirement and its legal asset types cover what the
    leader trades."""
    return suitability is not None and Suitability(suitability).covers(required) and set(traded) <= set(legal)


def is_open_for_followers(
    max_followers: int | None, max_invested: Decimal | None, capacity: Capacity, amount: Decimal = ZERO
) -> bool:
    """Whether the leader has room for one more follower investing ``amount`` (no amount: any money at all)."""
    if max_followers is not None and capacity.followers >= max_followers:
        return False
    if max_invested is None:
        return True
    return capacity.invested + amount <= max_invested if amount else capacity.invested < max_invested


def check_may_follow(
    *,
    leader_id: str,
    required: Suitability,
    traded: Iterable[AssetType],
    minimum_investment: Decimal,
    max_followers: int | None,
    max_invested: Decimal | None,
    capacity: Capacity,
    suitability: Suitability | None,
    terms_accepted: bool,
    legal: Iterable[AssetType],
    amount: Decimal,
    currency: str,
) -> None:
    """Refuse an investment of ``amount`` in a leader, with the first reason that applies (each has its code)."""
    if suitability is None or not Suitability(suitability).covers(required):
        shown = (
            "no suitability level" if suitability is None else f"suitability {Suitability(suitability).value}"
        )
        raise NotSuitable(
            f"the follower has {shown}; leader {leader_id} requires {Suitability(required).value} or higher: "
            "take (or retake) the suitability test",
            {
                "required": Suitability(required).value,
                "suitability": None if suitability is None else suitability.value,
            },
        )
    if not terms_accepted:
        raise TermsNotAccepted(
            "the follower has not accepted the terms and conditions; accept them first",
            {"leader_id": leader_id},
        )
    missing = sorted(t.value for t in set(traded) - set(legal))
    if missing:
        raise AssetTypesNotAllowed(
            f"leader {leader_id} trades {', '.join(missing)}, which the follower may not trade",
            {"missing": missing},
        )
    if not is_open_for_followers(max_followers, max_invested, capacity, amount):
        raise LeaderClosedForFollowers(
            f"leader {leader_id} is not open for more followers (it has {capacity.followers} followers and "
            f"{fmt(capacity.invested)} {currency} invested)",
            {
                "followers": capacity.followers,
                "max_followers": max_followers,
                "invested": fmt(capacity.invested),
                "max_invested": None if max_invested is None else fmt(max_invested),
            },
        )
    if amount < minimum_investment:
        raise BelowMinimumInvestment(
            f"leader {leader_id} takes at least {fmt(minimum_investment)} {currency}; {fmt(amount)} is less",
            {"minimum_investment": fmt(minimum_investment), "amount": fmt(amount)},
        )


def active_error(
    suitability: Suitability | None,
    required: Suitability,
    legal: Iterable[AssetType],
    traded: Iterable[AssetType],
    *,
    everyone_active: bool,
) -> ActiveErrorCode | None:
    """What an ACTIVE investment should be flagged with now (``None``: nothing)."""
    if not everyone_active:
        return ActiveErrorCode.JOINT_INACTIVE
    if not is_authorized_to_follow(suitability, required, legal, traded):
        return ActiveErrorCode.NOT_SUITABLE
    return None


# --- money rules -------------------------------------------------------------------------------------------


def max_withdrawal(
    equity: Decimal, minimum_investment: Decimal, shield: Decimal | None, currency: str
) -> Decimal:
    """What may be taken out: ``max(0, equity − max(minimum investment, shield))``, down to the minor unit."""
    floor = max(minimum_investment, shield if shield is not None else ZERO)
    return floor_to(max(ZERO, equity - floor), minor_unit(currency))


def below_shield(equity: Decimal, shield: Decimal | None) -> bool:
    """Whether equity has fallen below the investment shield (a protection-limit stop-out)."""
    return shield is not None and equity < shield


def service_fee(
    equity: Decimal, annual_rate: Decimal, started: dt.datetime, stopped: dt.datetime, currency: str
) -> Decimal:
    """The service fee for the days the investment was held: ``equity × rate × days / 365``, half-even to the
    minor unit, never more than the equity. A part of a day counts as a day; a rate of zero charges nothing."""
    check_non_negative(annual_rate, "service_fee_rate")
    if not annual_rate or equity <= 0:
        return ZERO
    held = max(stopped - started, dt.timedelta(0))
    days = held.days + (1 if held.seconds or held.microseconds else 0)
    fee = half_even_to(equity * annual_rate * days / 365, minor_unit(currency))
    return min(fee, floor_to(equity, minor_unit(currency)))


def check_amount(value: Decimal, field: str, currency: str) -> Decimal:
    """An amount of money greater than zero in the currency's minor units."""
    if value <= 0:
        raise ValidationError(f"{field} must be greater than zero, not {fmt(value)}", {"field": field})
    if value != floor_to(value, minor_unit(currency)):
        raise ValidationError(
            f"{field} {fmt(value)} has more decimals than {currency} has",
            {"field": field, "value": fmt(value)},
        )
    return value


def lifecycles_markdown() -> str:
    """``docs/lifecycles.md``: the order-like lifecycles, then the investment's sub-states and table."""
    from core.lifecycle import lifecycles_markdown as orders_markdown

    rows = [
        "## Investment",
        "",
        "Each sub-state with the number and name the documents give it, and its process state:",
        "",
        "| InvestmentStateId | StateName | InvestmentProcessState | allot's name |",
        "|---:|---|---|---|",
        *(f"| {sub.id} | {sub.name} | {sub.process.value} | `{state.value}` |"
          for state, sub in sorted(SUB_STATES.items(), key=lambda item: item[1].id)),
        "",
        "```mermaid",
        INVESTMENT.mermaid(),
        "```",
        "",
    ]  # fmt: skip
    return orders_markdown() + "\n".join(rows)
