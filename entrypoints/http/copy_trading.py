"""Copy trading in the auto-trading document's shape (PascalCase, under ``/at/v3``): trade leaders, the caller as a
trade follower (``/tradefollowers/me``), and its investments with their lifecycle, funding and withdrawals.

The document's names differ from the core's (``TradeLeaderId`` for a leader, ``FundingAccountKey`` for the funding
account, ``InvestmentShieldAmount`` for the shield, ``PositionsCloseOnActivation`` for closing the positions on
stop): the small request and view types below only rename. Enumerations are read in either spelling (``VeryHigh``
or ``VERY_HIGH``) and written as the document writes them (``VeryHigh``, ``Active``, ``NotSuitable``). Leaders are
the operator's and shown to every caller; creating them stays on the command line. Every rule is the core's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import ClassVar, Final

import attrs

from adapters.serialization import Number, spelled
from core.copy_trading import Performance, top_holdings
from core.errors import Forbidden, NotFound
from core.instruments import AllocationLine, AssetType
from core.investments import ActiveErrorCode, ProcessState, Suitability, is_active
from core.records import TradeFollower, TradeLeader
from core.tenants import Scope
from entrypoints.http.openapi import NON_NEGATIVE, POSITIVE, Rules, checked, one_required
from entrypoints.http.routing import PAGING, Call, Casing, Operation, Param, Reply, as_json, page
from entrypoints.http.trade import member_of, optional_member, spellings, uics_of
from ports.investments import UNCHANGED, InvestmentView
from ports.leaders import LeaderView

PASCAL: Final = Casing.PASCAL


class _Omitted(Decimal):
    """The default of a PATCH field that may be null (which removes the value): a value no request can carry, so
    that leaving the field out and sending null can be told apart."""


class _OmittedText(str):
    """The same for a text field."""


#: A field left out of a PATCH.
OMITTED: Final = _Omitted(0)
OMITTED_TEXT: Final = _OmittedText(UNCHANGED)


# -- trade leaders ----------------------------------------------------------------------------------------------


@attrs.frozen
class Holding:
    """One of a leader's largest weights: the instrument's ``Uic`` (a number, as every ``Uic`` is; null for an
    instrument given none), its ``InstrumentId``, and its weight (0.6 = 60 %)."""

    uic: int | None
    instrument_id: str
    weight: Decimal


def holdings(lines: tuple[AllocationLine, ...], uics: Mapping[str, int | None]) -> tuple[Holding, ...]:
    return tuple(Holding(uics.get(line.instrument_id), line.instrument_id, line.weight) for line in lines)


@attrs.frozen(kw_only=True)
class TradeLeaderSummary:
    """A leader as the list shows it: its terms, without its performance. ``RiskLevel`` is 1 (lowest) to 7;
    ``RequiredSuitabilityLevel`` is ``Low``, ``Medium``, ``High`` or ``VeryHigh``; a follower must be allowed to
    trade every one of its ``AssetTypes``."""

    trade_leader_id: str
    name: str
    description: str | None
    currency: str
    minimum_investment: Decimal
    required_suitability_level: str = attrs.field(metadata=spellings(Suitability))
    risk_level: int
    asset_types: tuple[str, ...] = attrs.field(metadata=spellings(AssetType))
    top_holdings: tuple[Holding, ...]


@attrs.frozen(kw_only=True)
class TradeLeaderDetails:
    """A leader in detail: its terms, performance, how many follow it, and whether it has room for one more
    (``IsOpenForFollowers``: its maximum number of followers or invested amount is not reached)."""

    trade_leader_id: str
    name: str
    description: str | None
    currency: str
    minimum_investment: Decimal
    required_suitability_level: str = attrs.field(metadata=spellings(Suitability))
    risk_level: int
    asset_types: tuple[str, ...] = attrs.field(metadata=spellings(AssetType))
    top_holdings: tuple[Holding, ...]
    service_fee_rate: Decimal
    #: What the followers put in, took out, paid in service fees, are worth now, and the return, from the journal.
    performance: Performance
    followers: int
    is_open_for_followers: bool


def summary(
    leader: TradeLeader, top: tuple[AllocationLine, ...], uics: Mapping[str, int | None]
) -> TradeLeaderSummary:
    return TradeLeaderSummary(
        trade_leader_id=leader.id,
        name=leader.name,
        description=leader.description,
        currency=leader.currency,
        minimum_investment=leader.minimum_investment,
        required_suitability_level=spelled(leader.required_suitability),
        risk_level=leader.risk_level,
        asset_types=tuple(spelled(t) for t in leader.asset_types),
        top_holdings=holdings(top, uics),
    )


def details(view: LeaderView, uics: Mapping[str, int | None]) -> TradeLeaderDetails:
    terms = summary(view.leader, view.top_holdings, uics)
    return TradeLeaderDetails(
        **attrs.asdict(terms, recurse=False),
        service_fee_rate=view.leader.service_fee_rate,
        performance=view.performance,
        followers=view.followers,
        is_open_for_followers=view.open_for_followers,
    )


def list_leaders(call: Call) -> Reply:
    known = uics_of(call)
    shown = [
        summary(leader, top_holdings(leader), known) for leader in call.app.leaders.all(scope=call.scope)
    ]
    return page(call, shown, key=lambda s: s.trade_leader_id, casing=PASCAL)


def show_leader(call: Call) -> Reply:
    view = call.app.leaders.show(call.path["trade_leader_id"], scope=call.scope)
    return Reply(200, as_json(details(view, uics_of(call)), PASCAL))


# -- the caller as a trade follower -----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class TradeFollowerView:
    """The caller as a trade follower. Before it set anything: no ``SuitabilityLevel`` (null: take the test),
    terms not accepted, no legal asset types."""

    suitability_level: str | None = attrs.field(metadata=spellings(Suitability))
    terms_and_conditions_accepted: bool
    legal_asset_types: tuple[str, ...] = attrs.field(metadata=spellings(AssetType))


@attrs.frozen(kw_only=True)
class TradeFollowerChange:
    """What to change (only the fields given): ``SuitabilityLevel`` (``Low``, ``Medium``, ``High``, ``VeryHigh``;
    null revokes it, which stops the live investments out), ``TermsAndConditionsAccepted`` (false revokes them,
    likewise), ``LegalAssetTypes`` (the asset types the follower may trade, e.g. ``Stock``, ``Etf``)."""

    suitability_level: str | None = attrs.field(default=OMITTED_TEXT, metadata=spellings(Suitability))
    terms_and_conditions_accepted: bool | None = None
    legal_asset_types: tuple[str, ...] | None = attrs.field(default=None, metadata=spellings(AssetType))


def follower_view(follower: TradeFollower | None) -> TradeFollowerView:
    if follower is None:
        return TradeFollowerView(
            suitability_level=None, terms_and_conditions_accepted=False, legal_asset_types=()
        )
    return TradeFollowerView(
        suitability_level=None if follower.suitability is None else spelled(follower.suitability),
        terms_and_conditions_accepted=follower.terms_accepted,
        legal_asset_types=tuple(spelled(t) for t in follower.asset_types),
    )


def a_user(scope: Scope) -> Scope:
    """``/tradefollowers/me`` is a user's own: a key for a whole client, or an admin key, has no "me"."""
    if scope.user_id is None:
        raise Forbidden("/at/v3/tradefollowers/me needs a user's key: a trade follower is one user", {})
    return scope


def show_me(call: Call) -> Reply:
    scope = a_user(call.scope)
    try:
        follower: TradeFollower | None = call.app.followers.me(scope)
    except NotFound:
        follower = None  # nothing set yet: the default view (no suitability level, terms not accepted)
    return Reply(200, as_json(follower_view(follower), PASCAL))


def change_me(call: Call) -> Reply:
    body: TradeFollowerChange = call.body
    scope = a_user(call.scope)
    suitability: Suitability | str | None = body.suitability_level
    if body.suitability_level is not None and not isinstance(body.suitability_level, _OmittedText):
        suitability = member_of(Suitability, body.suitability_level, "SuitabilityLevel")
    asset_types = None
    if body.legal_asset_types is not None:
        asset_types = [member_of(AssetType, t, "LegalAssetTypes") for t in body.legal_asset_types]
    follower = call.app.followers.set(
        None, suitability=suitability, terms_accepted=body.terms_and_conditions_accepted,
        asset_types=asset_types, scope=scope,
    )  # fmt: skip
    return Reply(200, as_json(follower_view(follower), PASCAL))


# -- investments ------------------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class NewInvestment:
    """``POST /at/v3/investments``: follow the leader ``TradeLeaderId`` with ``Amount`` from the caller's account
    ``FundingAccountKey``. ``InvestmentShieldAmount``: below this equity the investment is stopped out and its
    positions closed. ``PositionsCloseOnActivation``: whether stopping it closes its positions (default true)."""

    trade_leader_id: str
    funding_account_key: str
    amount: Decimal = attrs.field(metadata=checked(POSITIVE))
    investment_shield_amount: Decimal | None = attrs.field(default=None, metadata=checked(NON_NEGATIVE))
    positions_close_on_activation: bool = True


@attrs.frozen(kw_only=True)
class InvestmentChange:
    """``PATCH /at/v3/investments/{id}``, only the fields given, all or none: ``IsActive`` false stops it (closing
    its positions as ``PositionsCloseOnActivation`` says; true starts a stopped one again);
    ``PositionsCloseOnActivation`` alone changes that choice; ``InvestmentShieldAmount`` (null removes the shield);
    ``PendingFunding`` adds money, from ``FundingAccountKey`` if given (refused while an earlier funding is
    pending)."""

    is_active: bool | None = None
    positions_close_on_activation: bool | None = None
    investment_shield_amount: Decimal | None = attrs.field(default=OMITTED, metadata=checked(NON_NEGATIVE))
    pending_funding: Decimal | None = attrs.field(default=None, metadata=checked(POSITIVE))
    funding_account_key: str | None = None
    #: A funding account only with funding, and funding only if not stopping it (``core.copy_trading.change``).
    openapi_rules: ClassVar[Rules] = (
        {"anyOf": [{"properties": {"funding_account_key": {"type": "null"}}}, one_required("pending_funding")]},
        {"not": {"properties": {"is_active": {"const": False}, "pending_funding": {"not": {"type": "null"}}},
                 "required": ["is_active", "pending_funding"]}},
    )  # fmt: skip


@attrs.frozen
class Withdrawal:
    """``PUT /at/v3/investments/{id}/withdraw``: at most the investment's ``MaxWithdrawal``."""

    amount: Decimal = attrs.field(metadata=checked(POSITIVE))


@attrs.frozen(kw_only=True)
class InvestmentDetails:
    """An investment. ``InvestmentProcessState`` is its main stage (``Processing``, ``Retry``, ``Error``,
    ``Starting``, ``Active``, ``Stopping``, ``Stopped``); ``InvestmentStateId`` and ``StateName`` its sub-state
    (show ``StateName``; the list of sub-states may grow). ``ErrorCode`` (``NotSuitable``, ``JointInactive``) flags
    an active investment that needs attention. ``IsActive``: not being stopped nor stopped. ``AccountKey``: its
    own account, once created. ``PendingFunding``: money asked for and not yet moved (0: funding completed)."""

    investment_id: str
    trade_leader_id: str
    investment_process_state: str = attrs.field(metadata=spellings(ProcessState))
    investment_state_id: int
    state_name: str
    error_code: str | None = attrs.field(metadata=spellings(ActiveErrorCode))
    is_authorized_to_follow: bool
    is_open_for_followers: bool
    is_active: bool
    account_key: str | None
    funding_account_key: str
    currency: str
    amount: Decimal
    equity: Decimal
    investment_shield_amount: Decimal | None
    pending_funding: Decimal
    pending_withdrawal: Decimal
    positions_close_on_activation: bool
    #: A JSON number, as the copy-trading document has it.
    max_withdrawal: Number
    created_at: dt.datetime


@attrs.frozen(kw_only=True)
class MaxWithdrawal:
    """What may be withdrawn now: equity less the larger of the leader's minimum investment and the shield (0
    unless the investment is active and idle)."""

    investment_id: str
    currency: str
    #: A JSON number, as the copy-trading document has it.
    max_withdrawal: Number


def investment_details(view: InvestmentView) -> InvestmentDetails:
    investment = view.investment
    return InvestmentDetails(
        investment_id=investment.id,
        trade_leader_id=investment.leader_id,
        investment_process_state=spelled(investment.process_state),
        investment_state_id=investment.state.id,
        state_name=investment.state.title,
        error_code=None if investment.error_code is None else spelled(investment.error_code),
        is_authorized_to_follow=view.authorized_to_follow,
        is_open_for_followers=view.open_for_followers,
        is_active=is_active(investment.state),
        account_key=investment.account_id,
        funding_account_key=investment.funding_account_id,
        currency=investment.currency,
        amount=investment.amount,
        equity=view.equity,
        investment_shield_amount=investment.shield,
        pending_funding=investment.pending_funding,
        pending_withdrawal=investment.pending_withdrawal,
        positions_close_on_activation=investment.close_positions,
        max_withdrawal=Number(view.max_withdrawal),
        created_at=investment.created_at,
    )


def shown(call: Call, investment_id: str, status: int = 200) -> Reply:
    view = call.app.investments.show(investment_id, scope=call.scope)
    return Reply(status, as_json(investment_details(view), PASCAL))


def start_investment(call: Call) -> Reply:
    body: NewInvestment = call.body
    investment = call.app.investments.start(
        body.trade_leader_id, body.funding_account_key, body.amount, shield=body.investment_shield_amount,
        close_positions=body.positions_close_on_activation, idempotency_key=call.idempotency_key,
        scope=call.scope,
    )  # fmt: skip
    return shown(call, investment.id, 202)


def list_investments(call: Call) -> Reply:
    state = optional_member(ProcessState, call.param("InvestmentProcessState"), "InvestmentProcessState")
    found = call.app.investments.all(call.scope, leader_id=call.param("TradeLeaderId"), process_state=state)
    return page(call, [investment_details(v) for v in found], key=lambda i: i.investment_id, casing=PASCAL)


def show_investment(call: Call) -> Reply:
    return shown(call, call.path["investment_id"])


def change_investment(call: Call) -> Reply:
    body: InvestmentChange = call.body
    shield: Decimal | str | None = body.investment_shield_amount
    if isinstance(shield, _Omitted):
        shield = UNCHANGED
    investment = call.app.investments.change(
        call.path["investment_id"], active=body.is_active, close_positions=body.positions_close_on_activation,
        shield=shield, funding=body.pending_funding, funding_account_id=body.funding_account_key,
        scope=call.scope,
    )  # fmt: skip
    return shown(call, investment.id)


def max_withdrawal(call: Call) -> Reply:
    investment = call.app.investments.get(call.path["investment_id"], scope=call.scope)
    most = call.app.investments.max_withdrawal(investment.id, scope=call.scope)
    return Reply(200, as_json(MaxWithdrawal(investment_id=investment.id, currency=investment.currency,
                                            max_withdrawal=Number(most)), PASCAL))  # fmt: skip


def withdraw(call: Call) -> Reply:
    body: Withdrawal = call.body
    investment = call.app.investments.withdraw(
        call.path["investment_id"], body.amount, scope=call.scope, idempotency_key=call.idempotency_key
    )
    return shown(call, investment.id)


# -- the table --------------------------------------------------------------------------------------------------

#: The core's names of what the handlers rename, as the requests name them (for the errors, ``Operation.renamed``):
#: of a change of the follower, of a new investment, and of a change of one (whose ``amount`` is the funding it adds).
FOLLOWER_FIELDS: Final = {
    "suitability": "suitability_level",
    "terms_accepted": "terms_and_conditions_accepted",
    "asset_types": "legal_asset_types",
}
INVESTMENT_FIELDS: Final = {
    "leader_id": "trade_leader_id",
    "funding_account_id": "funding_account_key",
    "shield": "investment_shield_amount",
    "close_positions": "positions_close_on_activation",
}
CHANGE_FIELDS: Final = {
    "funding_account_id": "funding_account_key",
    "shield": "investment_shield_amount",
    "close_positions": "positions_close_on_activation",
    "active": "is_active",
    "funding": "pending_funding",
    "amount": "pending_funding",
}

PROCESS_STATES: Final = [spelled(s) for s in ProcessState]
SUITABILITY_LEVELS: Final = [spelled(s) for s in Suitability]
TAG: Final = "copy trading"

OPERATIONS: Final = (
    Operation("GET", "/at/v3/tradeleaders", list_leaders,
              "The trade leaders: their terms and top holdings (every caller sees every leader)", TAG,
              response=TradeLeaderSummary, casing=PASCAL, paged=True, query=PAGING),
    Operation("GET", "/at/v3/tradeleaders/{trade_leader_id}", show_leader,
              "A trade leader with its performance, its followers and whether it has room for more", TAG,
              response=TradeLeaderDetails, casing=PASCAL, errors=(404,)),
    Operation("GET", "/at/v3/tradefollowers/me", show_me,
              "The caller as a trade follower: suitability level, terms accepted, legal asset types (a user's key)",
              TAG, response=TradeFollowerView, casing=PASCAL, errors=(403,)),
    Operation("PATCH", "/at/v3/tradefollowers/me", change_me,
              "Set the caller's suitability level, acceptance of the terms or legal asset types (only those given)",
              TAG, body=TradeFollowerChange, response=TradeFollowerView, casing=PASCAL, errors=(403,),
              renamed=FOLLOWER_FIELDS),
    Operation("POST", "/at/v3/investments", start_investment,
              "Start an investment: follow a trade leader with money from a funding account; it runs on to Active",
              TAG, body=NewInvestment, response=InvestmentDetails, status=202, casing=PASCAL, creates_work=True,
              errors=(404, 409, 422), renamed=INVESTMENT_FIELDS),
    Operation("GET", "/at/v3/investments", list_investments, "The caller's investments", TAG,
              response=InvestmentDetails, casing=PASCAL, paged=True,
              query=(Param("TradeLeaderId", "Only those following this leader."),
                     Param("InvestmentProcessState", "Only those in this stage.",
                           schema={"type": "string", "enum": PROCESS_STATES}), *PAGING)),
    Operation("GET", "/at/v3/investments/{investment_id}", show_investment,
              "An investment with its state, equity and maximum withdrawal", TAG,
              response=InvestmentDetails, casing=PASCAL, errors=(404,)),
    Operation("PATCH", "/at/v3/investments/{investment_id}", change_investment,
              "Stop an investment, change its shield or add funding (only the fields given, all or none)", TAG,
              body=InvestmentChange, response=InvestmentDetails, casing=PASCAL, errors=(404, 409, 422),
              renamed=CHANGE_FIELDS),
    Operation("GET", "/at/v3/investments/{investment_id}/maxwithdrawal", max_withdrawal,
              "The most that may be withdrawn from the investment now", TAG,
              response=MaxWithdrawal, casing=PASCAL, errors=(404,)),
    Operation("PUT", "/at/v3/investments/{investment_id}/withdraw", withdraw,
              "Withdraw from the investment to its funding account (selling pro rata what cash does not cover)",
              TAG, body=Withdrawal, response=InvestmentDetails, casing=PASCAL, creates_work=True,
              errors=(404, 409, 422)),
)  # fmt: skip
