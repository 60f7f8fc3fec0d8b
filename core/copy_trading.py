"""Copy trading decisions: leaders, followers, investments, and a leader's rebalance post-allocated to followers.

The rules and the lifecycle table are in ``core.investments``; this module turns them into decisions over the
records. An investment advances one ``tick`` at a time (``ports.investments`` runs the ticks in the worker loop
beside the venue): a tick performs at most one back-office step, then moves through the sub-states that need no
one until the next step, a retry that is not due yet, or an order the investment waits for.

A leader's rebalance makes each follower's target ``weights × equity`` (the apportionment kernel over the weights,
to the minor unit), sells what is above its target (rounded down to the quantity step; what the model no longer
holds in full) and buys what is below (rounded down, and scaled down with caps to the cash and the sells'
estimated proceeds). Per instrument and side the followers' quantities make one block order at the venue; when the
market is done with a block its fills are post-allocated to the followers in proportion to what each asked for
(the kernel, ties by the order the investments started in), at the block's average price, the accounts' traded
values summing exactly to the block's. Sells go first; the buys are planned again from the cash the sells left
once they are done.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from core import liquidations, portfolio_orders
from core.accounts import available_cash, available_units, check_managed, check_open, nav, reserve
from core.apportion import apportion
from core.blocks import Execution, Targets, book_prices, value_stage
from core.decisions import Changes, Decision
from core.errors import AlreadyExists, InsufficientFunds, NotFound, NothingToTrade, ValidationError
from core.explain import Explanation, split
from core.instruments import (
    Allocation,
    AllocationLine,
    AssetType,
    Instrument,
    Side,
    check_tradable,
    traded_in,
)
from core.investments import (
    INVESTMENT,
    STEP_IN,
    STOPPING_STATES,
    AboveMaxWithdrawal,
    ActiveErrorCode,
    AlreadyFollowing,
    BackOfficeStep,
    Capacity,
    FundingPending,
    InvestmentBusy,
    InvestmentState,
    LeaderClosedForFollowers,
    Outcome,
    ProcessState,
    Step,
    Suitability,
    active_error,
    below_shield,
    check_amount,
    check_may_follow,
    is_active,
    is_authorized_to_follow,
    is_open_for_followers,
    max_withdrawal,
    retry_at,
    service_fee,
)
from core.journal import FEE_INCOME, Asset, Cause, CauseKind, JournalEntry, LedgerAccount, post, transfer
from core.lifecycle import BLOCK_ORDER, OPEN, OrderState, ParentState, Trigger
from core.numbers import (
    ZERO,
    check_non_negative,
    divide_to,
    exact,
    floor_to,
    fmt,
    from_units,
    half_even_to,
    minor_unit,
    whole_steps,
)
from core.orders import allocated, book, cancel_open
from core.portfolio import OrderPlan, OrderType, PlannedOrder, Policy
from core.records import (
    Account,
    AccountStatus,
    Announcement,
    BlockOrder,
    Investment,
    Order,
    TradeFollower,
    TradeLeader,
    announce,
    refs,
)
from core.tenants import Owner
from core.validators import check_text

#: The process states in which an investment counts towards its leader's capacity.
LIVE: frozenset[ProcessState] = frozenset(ProcessState) - {ProcessState.STOPPED}


def announce_investment(investment: Investment) -> Announcement:
    """``INVESTMENT.<PROCESS_STATE>`` with the investment as it is now."""
    return Announcement.of(investment, investment.process_state.value)


# --- leaders and followers ---------------------------------------------------------------------------------


def _model(lines: Sequence[AllocationLine], instruments: Mapping[str, Instrument], currency: str) -> tuple[
    tuple[AllocationLine, ...], tuple[AssetType, ...]
]:  # fmt: skip
    """The leader's lines (checked: weights sum to 1, every instrument known, priced and tradable) and the asset
    types they trade."""
    checked = Allocation(tuple(lines)).lines
    for line in checked:
        instrument = instruments.get(line.instrument_id)
        if instrument is None:
            raise NotFound(
                f"instrument {line.instrument_id} does not exist",
                {"kind": "instrument", "id": line.instrument_id},
            )
        traded_in(instrument, currency).priced()
        check_tradable(instrument, Side.BUY, None)
    return checked, tuple(sorted({instruments[line.instrument_id].asset_type for line in checked}, key=_name))


def _name(asset_type: AssetType) -> str:
    return asset_type.value


def create_leader(
    leader_id: str,
    name: str,
    currency: str,
    lines: Sequence[AllocationLine],
    instruments: Mapping[str, Instrument],
    *,
    minimum_investment: Decimal,
    required_suitability: Suitability,
    risk_level: int = 4,
    description: str | None = None,
    max_followers: int | None = None,
    max_invested: Decimal | None = None,
    service_fee_rate: Decimal = ZERO,
    fee_profile: str | None = None,
    now: dt.datetime,
    existing: TradeLeader | None = None,
) -> Decision[TradeLeader]:
    """A new leader; its asset types are those of its model's instruments."""
    if existing is not None:
        raise AlreadyExists(
            f"trade leader {leader_id} exists already", {"kind": "trade leader", "id": leader_id}
        )
    minor_unit(currency)
    checked, asset_types = _model(lines, instruments, currency)
    check_non_negative(minimum_investment, "minimum_investment")
    if minimum_investment != floor_to(minimum_investment, minor_unit(currency)):
        raise ValidationError(
            f"minimum_investment {fmt(minimum_investment)} has more decimals than {currency} has",
            {"field": "minimum_investment"},
        )
    if not 1 <= risk_level <= 7:
        raise ValidationError(f"risk_level is 1 to 7, not {risk_level}", {"field": "risk_level"})
    if max_followers is not None and max_followers < 1:
        raise ValidationError("max_followers must be at least 1", {"field": "max_followers"})
    if max_invested is not None:
        check_amount(max_invested, "max_invested", currency)
    if not Decimal(0) <= service_fee_rate < 1:
        raise ValidationError(
            "service_fee_rate is a yearly fraction from 0 to below 1 (0.01 = 1 % a year)",
            {"field": "service_fee_rate"},
        )
    leader = TradeLeader(
        id=check_text(leader_id, "id"),
        name=check_text(name, "name"),
        currency=currency,
        lines=checked,
        minimum_investment=minimum_investment,
        required_suitability=Suitability(required_suitability),
        risk_level=risk_level,
        description=None if description is None else check_text(description, "description"),
        max_followers=max_followers,
        max_invested=max_invested,
        service_fee_rate=service_fee_rate,
        fee_profile=None if fee_profile is None else check_text(fee_profile, "fee_profile"),
        asset_types=asset_types,
        created_at=now,
        updated_at=now,
    )
    return Decision(leader, Changes.of(created=[leader]))


def save_follower(
    existing: TradeFollower | None,
    follower_id: str,
    owner: Owner,
    investments: Sequence[Investment],
    *,
    suitability: Suitability | str | None = "unchanged",
    terms_accepted: bool | None = None,
    asset_types: Sequence[AssetType] | None = None,
    now: dt.datetime,
) -> Decision[TradeFollower]:
    """Create or change a follower. Revoking the terms (``terms_accepted`` false) or the suitability level
    (``suitability`` None) stops its live investments out (``REVOKED_TERMS_AND_CONDITIONS`` /
    ``REVOKED_SUITABILITY_TEST``); a lower level flags them ``NOT_SUITABLE`` at their next tick."""
    base = existing or TradeFollower(
        id=check_text(follower_id, "id"),
        created_at=now,
        updated_at=now,
        client_id=owner.client_id,
        user_id=owner.user_id,
    )
    changed = base
    if suitability != "unchanged":
        changed = attrs.evolve(changed, suitability=None if suitability is None else Suitability(suitability))
    if terms_accepted is not None:
        changed = attrs.evolve(changed, terms_accepted=terms_accepted)
    if asset_types is not None:
        changed = attrs.evolve(
            changed, asset_types=tuple(sorted({AssetType(t) for t in asset_types}, key=_name))
        )
    if existing is not None and changed == existing:
        return Decision(existing, Changes())
    changed = attrs.evolve(changed, updated_at=now)
    trigger = None
    if existing is not None and existing.terms_accepted and not changed.terms_accepted:
        trigger = Step.REVOKE_TERMS
    elif existing is not None and existing.suitability is not None and changed.suitability is None:
        trigger = Step.REVOKE_SUITABILITY
    changes = Changes.of(created=[changed]) if existing is None else Changes.of(updated=[changed])
    if trigger is not None:
        for investment in investments:
            if INVESTMENT.allows(investment.state, trigger):
                stopped = _move(investment, trigger, now, close_positions=True)
                changes = changes.then(
                    Changes.of(updated=[stopped], announced=[announce_investment(stopped)])
                )
    return Decision(changed, changes)


def capacity(investments: Sequence[Investment]) -> Capacity:
    """How full a leader is, from its investments."""
    live = [i for i in investments if i.process_state in LIVE]
    return Capacity(len(live), sum((i.funded + i.pending_funding - i.withdrawn for i in live), ZERO))


def no_follower(client_id: str | None, user_id: str | None) -> TradeFollower:
    """A user who never set a suitability level nor accepted the terms: may follow no one."""
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return TradeFollower(id=f"{client_id}:{user_id}", created_at=epoch, updated_at=epoch, client_id=client_id,
                         user_id=user_id)  # fmt: skip


def authorized(leader: TradeLeader, follower: TradeFollower | None) -> bool:
    """``IsAuthorizedToFollow``: the follower's suitability and legal asset types cover the leader's."""
    if follower is None:
        return False
    return is_authorized_to_follow(follower.suitability, leader.required_suitability, follower.asset_types,
                                   leader.asset_types)  # fmt: skip


def open_for_followers(leader: TradeLeader, investments: Sequence[Investment]) -> bool:
    """``IsOpenForFollowers``: the leader has room for one more follower."""
    return is_open_for_followers(leader.max_followers, leader.max_invested, capacity(investments))


def not_active(investment: Investment) -> InvestmentBusy:
    return InvestmentBusy(
        f"investment {investment.id} is {investment.state.title}; this needs an active investment",
        {"state": investment.state.value},
    )


# --- investments: start, change, stop ----------------------------------------------------------------------


def check_funding_account(funding_account: Account, owner: TradeFollower | Investment, currency: str) -> None:
    """A funding account must be open, in the investment's currency, the follower's own (another's answers as
    if it did not exist), and no investment's account (its own included: ``check_managed``)."""
    if (funding_account.client_id, funding_account.user_id) != (owner.client_id, owner.user_id):
        raise NotFound(
            f"account {funding_account.id} does not exist", {"kind": "account", "id": funding_account.id}
        )
    check_open(funding_account)
    check_managed(funding_account)
    if funding_account.currency != currency:
        raise ValidationError(
            f"funding account {funding_account.id} is in {funding_account.currency}; the investment is in {currency}",
            {"field": "funding_account_id"},
        )


def start(
    leader: TradeLeader,
    follower: TradeFollower,
    funding_account: Account,
    of_leader: Sequence[Investment],
    amount: Decimal,
    *,
    investment_id: str,
    shield: Decimal | None = None,
    close_positions: bool = True,
    now: dt.datetime,
) -> Decision[Investment]:
    """A new investment (NEW) of ``amount`` from ``funding_account`` in ``leader``, refused with the first reason
    that applies (``core.investments.check_may_follow``); one follower follows a leader once at a time. The
    funding account must be the follower's own (another's answers as if it did not exist)."""
    check_funding_account(funding_account, follower, leader.currency)
    amount = check_amount(amount, "amount", leader.currency)
    if shield is not None:
        _check_shield(shield, leader.currency)
    if any(i.follower_id == follower.id and i.process_state in LIVE for i in of_leader):
        raise AlreadyFollowing(
            f"follower {follower.id} already follows leader {leader.id}; fund that investment instead",
            {"leader_id": leader.id},
        )
    check_may_follow(
        leader_id=leader.id,
        required=leader.required_suitability,
        traded=leader.asset_types,
        minimum_investment=leader.minimum_investment,
        max_followers=leader.max_followers,
        max_invested=leader.max_invested,
        capacity=capacity(of_leader),
        suitability=follower.suitability,
        terms_accepted=follower.terms_accepted,
        legal=follower.asset_types,
        amount=amount,
        currency=leader.currency,
    )
    investment = Investment(
        id=investment_id,
        leader_id=leader.id,
        follower_id=follower.id,
        funding_account_id=funding_account.id,
        currency=leader.currency,
        amount=amount,
        state=InvestmentState.NEW,
        process_state=InvestmentState.NEW.process,
        created_at=now,
        updated_at=now,
        shield=shield,
        close_positions=close_positions,
        pending_funding=amount,
        client_id=funding_account.client_id,
        user_id=funding_account.user_id,
    )
    return Decision(investment, Changes.of(created=[investment], announced=[announce_investment(investment)]))


def _check_shield(shield: Decimal, currency: str) -> Decimal:
    check_non_negative(shield, "shield")
    if shield != floor_to(shield, minor_unit(currency)):
        raise ValidationError(
            f"the shield {fmt(shield)} has more decimals than {currency} has", {"field": "shield"}
        )
    return shield


def _move(investment: Investment, step: Step, now: dt.datetime, **changes: Any) -> Investment:
    """The investment after ``step`` (through the table), with its process state and ``changes``."""
    state = INVESTMENT.next(investment.state, step)
    return attrs.evolve(investment, state=state, process_state=state.process, updated_at=now, **changes)


def stop(
    investment: Investment, now: dt.datetime, close_positions: bool | None = None
) -> Decision[Investment]:
    """The client stops the investment (``IsActive`` false): STOPPING, then its positions are closed if
    ``close_positions`` (kept as it was if not given), its fee profile unassigned, and it is STOPPED."""
    stopped = _move(
        investment,
        Step.STOP,
        now,
        close_positions=investment.close_positions if close_positions is None else close_positions,
        attempts=0,
        next_attempt_at=None,
    )
    return Decision(stopped, Changes.of(updated=[stopped], announced=[announce_investment(stopped)]))


def stop_out(investment: Investment, reason: Step, now: dt.datetime) -> Decision[Investment]:
    """The operator stops a live investment out (margin limit or non-specific); its positions are closed."""
    stopped = _move(investment, reason, now, close_positions=True)
    return Decision(stopped, Changes.of(updated=[stopped], announced=[announce_investment(stopped)]))


@attrs.frozen
class FollowContext:
    """What new money in an investment is checked against: its leader, the leader's investments, the follower and
    the account the money comes from."""

    leader: TradeLeader
    of_leader: Sequence[Investment]
    follower: TradeFollower | None
    funding_account: Account
    #: What the investment's own account still holds, at the current prices (``equity``): the positions a stopped
    #: investment kept. A restart invests them again, with any new money.
    kept: Decimal = ZERO


def _check_new_money(
    investment: Investment, amount: Decimal, context: FollowContext | None, restart: bool
) -> None:
    """New money must be there now, and fit the leader's capacity; a restart must also meet every condition of a
    start (suitability, terms, asset types, the minimum), with what the investment account kept counted beside
    the new money: positions kept when it stopped are invested again."""
    if context is None:
        return
    others = [i for i in context.of_leader if i.id != investment.id]
    leader = context.leader
    if restart:
        follower = context.follower or no_follower(investment.client_id, investment.user_id)
        check_may_follow(
            leader_id=leader.id, required=leader.required_suitability, traded=leader.asset_types,
            minimum_investment=leader.minimum_investment, max_followers=leader.max_followers,
            max_invested=leader.max_invested, capacity=capacity(others), suitability=follower.suitability,
            terms_accepted=follower.terms_accepted, legal=follower.asset_types, amount=amount + context.kept,
            currency=investment.currency,
        )  # fmt: skip
    elif not is_open_for_followers(None, leader.max_invested, capacity([*others, investment]), amount):
        raise LeaderClosedForFollowers(
            f"leader {leader.id} has no room for {fmt(amount)} {investment.currency} more",
            {
                "amount": fmt(amount),
                "max_invested": None if leader.max_invested is None else fmt(leader.max_invested),
            },
        )
    free = available_cash(context.funding_account)
    if amount > free:
        raise InsufficientFunds(
            f"funding account {context.funding_account.id} has {fmt(free)} {investment.currency} available; "
            f"{fmt(amount)} cannot be added",
            {"available": fmt(free), "requested": fmt(amount), "currency": investment.currency},
        )


def resurrect(
    investment: Investment, amount: Decimal, now: dt.datetime, context: FollowContext | None = None
) -> Decision[Investment]:
    """Start a stopped investment again on its account, with ``amount`` more money (zero: funding is skipped);
    with a ``context``, refused like a new start would be."""
    if amount:
        check_amount(amount, "amount", investment.currency)
    INVESTMENT.next(investment.state, Step.RESURRECT)
    _check_new_money(investment, amount, context, restart=True)
    back = _move(
        investment, Step.RESURRECT, now, pending_funding=amount, stopped_at=None, attempts=0, error_code=None
    )
    return Decision(back, Changes.of(updated=[back], announced=[announce_investment(back)]))


def change(
    investment: Investment,
    now: dt.datetime,
    *,
    active: bool | None = None,
    close_positions: bool | None = None,
    shield: Decimal | str | None = "unchanged",
    funding: Decimal | None = None,
    funding_account_id: str | None = None,
    context: FollowContext | None = None,
) -> Decision[Investment]:
    """Several changes of an investment at once, all or none: a new ``shield`` (None removes it; "unchanged"
    keeps it), whether stopping it closes its positions (``close_positions``), additional ``funding`` (from
    ``funding_account_id`` if given), and ``active``: false stops it, true starts a stopped one again (with
    ``funding`` as its new money). Each is checked as it would be alone, in that order; one refusal refuses all."""
    if funding_account_id is not None and funding is None:
        raise ValidationError(
            "name a funding account only with an amount of additional funding",
            {"field": "funding_account_id"},
        )
    if active is False and funding is not None:
        raise ValidationError("stop an investment or fund it, not both at once", {"field": "funding"})
    restart = active is True and not is_active(investment.state)
    steps: list[Callable[[Investment], Decision[Investment]]] = []
    if not isinstance(shield, str):
        new_shield = shield
        steps.append(lambda i: set_shield(i, new_shield, now))
    if close_positions is not None and active is not False:
        steps.append(lambda i: _keep_close_positions(i, close_positions, now))
    if funding is not None and not restart:
        amount = funding
        steps.append(lambda i: fund(i, amount, now, funding_account_id, context))
    if active is False:
        steps.append(lambda i: stop(i, now, close_positions))
    if restart:
        account_id = funding_account_id
        steps.append(
            lambda i: resurrect(
                attrs.evolve(i, funding_account_id=account_id or i.funding_account_id),
                funding or ZERO,
                now,
                context,
            )
        )
    current, changes = investment, Changes()
    for step in steps:
        made = step(current)
        current, changes = made.result, changes.then(made.changes)
    return Decision(current, changes)


def _keep_close_positions(
    investment: Investment, close_positions: bool, now: dt.datetime
) -> Decision[Investment]:
    if investment.close_positions == close_positions:
        return Decision(investment, Changes())
    changed = attrs.evolve(investment, close_positions=close_positions, updated_at=now)
    return Decision(changed, Changes.of(updated=[changed]))


def _require_ready(investment: Investment, what: str) -> None:
    if investment.state is not InvestmentState.READY or investment.order_id is not None:
        doing = "waits for an order" if investment.order_id is not None else f"is {investment.state.title}"
        raise InvestmentBusy(
            f"investment {investment.id} {doing}; {what} only while it is active and idle",
            {"state": investment.state.value, "order_id": investment.order_id},
        )


def fund(
    investment: Investment,
    amount: Decimal,
    now: dt.datetime,
    funding_account_id: str | None = None,
    context: FollowContext | None = None,
) -> Decision[Investment]:
    """Additional funding (``PendingFunding``): moved from the funding account at the next tick, then invested in
    the leader's model. Refused while an earlier funding is not completed, and (with a ``context``) when the
    funding account does not have it now or the leader has no room for it."""
    amount = check_amount(amount, "amount", investment.currency)
    if investment.pending_funding:
        raise FundingPending(
            f"investment {investment.id} still has {fmt(investment.pending_funding)} {investment.currency} of "
            "funding pending; wait until it is completed",
            {"pending_funding": fmt(investment.pending_funding)},
        )
    _require_ready(investment, "fund it")
    _check_new_money(investment, amount, context, restart=False)
    changed = attrs.evolve(
        investment,
        pending_funding=amount,
        funding_account_id=funding_account_id or investment.funding_account_id,
        updated_at=now,
    )
    return Decision(changed, Changes.of(updated=[changed]))


def set_shield(investment: Investment, shield: Decimal | None, now: dt.datetime) -> Decision[Investment]:
    """A new investment shield (None removes it); checked against equity at the next tick."""
    if shield is not None:
        _check_shield(shield, investment.currency)
    changed = attrs.evolve(investment, shield=shield, updated_at=now)
    return Decision(changed, Changes.of(updated=[changed]))


def equity(account: Account | None, instruments: Mapping[str, Instrument]) -> Decimal:
    """The investment account's value: cash and positions at the current prices (zero before it exists)."""
    return ZERO if account is None else account.cash_in(account.currency) + nav(account, instruments)


def _holds_back(account: Account) -> bool:
    """Whether open orders (a leader's block, say) still hold back some of the account's cash or units."""
    return bool(account.reserved_in(account.currency)) or any(account.held_units.values())


def maximum_withdrawal(
    investment: Investment,
    leader: TradeLeader,
    account: Account | None,
    instruments: Mapping[str, Instrument],
) -> Decimal:
    if investment.state is not InvestmentState.READY:
        return floor_to(ZERO, minor_unit(investment.currency))
    return max_withdrawal(
        equity(account, instruments), leader.minimum_investment, investment.shield, investment.currency
    )


def withdraw(
    investment: Investment,
    leader: TradeLeader,
    account: Account | None,
    funding: Account,
    instruments: Mapping[str, Instrument],
    amount: Decimal,
    *,
    order_id: str,
    ids: Iterator[str],
    now: dt.datetime,
) -> Decision[Investment]:
    """Take ``amount`` out: what free cash does not cover is sold pro rata (a nominal SELL of the leader's model);
    the cash goes to the funding account once the sell is done (at once if no sell is needed)."""
    if account is None:
        raise not_active(investment)
    _require_ready(investment, "withdraw")
    amount = check_amount(amount, "amount", investment.currency)
    most = maximum_withdrawal(investment, leader, account, instruments)
    if amount > most:
        raise AboveMaxWithdrawal(
            f"at most {fmt(most)} {investment.currency} can be withdrawn from investment {investment.id} now",
            {"max_withdrawal": fmt(most), "requested": fmt(amount)},
        )
    pending = attrs.evolve(investment, pending_withdrawal=amount, updated_at=now)
    shortfall = amount - available_cash(account)
    if shortfall <= 0:
        return _pay_out(pending, account, ids=ids, now=now, funding=funding)
    priced = _in_currency(instruments, instruments_of(leader.lines, [account]), account.currency)
    sell = portfolio_orders.submit(
        account,
        withdrawal_sells(account, priced, shortfall),
        None,
        Policy(sell_nav_limit=Decimal(1)),
        priced,
        order_id=order_id,
        ids=ids,
        now=now,
        client_reference=investment.id,
    )
    waiting = attrs.evolve(pending, order_id=sell.result.id)
    return Decision(waiting, sell.changes.then(Changes.of(updated=[waiting])))


def withdrawal_sells(
    account: Account, instruments: Mapping[str, Instrument], shortfall: Decimal
) -> OrderPlan:
    """Sells that raise at least ``shortfall`` at the current prices, and as little more as whole steps allow:
    pro rata to the value of what open orders leave free (the kernel, each share capped at its holding's value),
    each share rounded down to the quantity step; then, while short, one more step of the holding whose step
    covers what is missing at the least cost (or, when no step covers it, of the costliest step, and again), and
    last every step that has become needless is left unsold. So no step of the sell could be left unsold: it
    raises less than one step of any holding it sells above the shortfall, and a withdrawal pays out what was
    asked, not what whole shares happen to raise below it."""
    unit = minor_unit(account.currency)
    free = [(p.instrument_id, available_units(account, p.instrument_id)) for p in account.positions]
    free = [(i, q) for i, q in free if q > 0]
    values = [instruments[i].value_of(q) for i, q in free]
    caps = [floor_to(v, unit) for v in values]
    if not free or shortfall > sum(caps, ZERO):
        raise InsufficientFunds(
            f"account {account.id} holds {fmt(sum(caps, ZERO))} {account.currency} it can sell; "
            f"{fmt(shortfall)} are needed",
            {"available": fmt(sum(caps, ZERO)), "requested": fmt(shortfall)},
        )
    shares = apportion(shortfall, values, unit, caps=caps)
    held = [instruments[i] for i, _ in free]
    unit_prices = [i.priced() * i.contract_size for i in held]
    steps = [i.quantity_step for i in held]
    units = [
        min(divide_to(share, price, step, decimal.ROUND_FLOOR), quantity)
        for share, price, step, (_, quantity) in zip(shares, unit_prices, steps, free, strict=True)
    ]
    missing = shortfall - sum((q * p for q, p in zip(units, unit_prices, strict=True)), ZERO)
    while missing > 0:  # the caps leave enough to sell: the loop ends before every holding is sold out
        more = {k: min(steps[k], q - units[k]) for k, (_, q) in enumerate(free) if units[k] < q}
        costs = {k: more[k] * unit_prices[k] for k in more}
        covering = [k for k in more if costs[k] >= missing]
        pick = (
            min(covering, key=lambda k: (costs[k], k))
            if covering
            else max(more, key=lambda k: (costs[k], -k))
        )
        units[pick] += more[pick]
        missing -= costs[pick]
    # A step the covering step made needless is not sold: the costliest first, while what is raised stays enough.
    for k in sorted(range(len(free)), key=lambda k: (-(steps[k] * unit_prices[k]), k)):
        while units[k] and -missing >= (less := min(steps[k], units[k]) * unit_prices[k]):
            units[k] -= min(steps[k], units[k])
            missing += less
    orders = [
        PlannedOrder(instrument_id, Side.SELL, quantity=quantity)
        for (instrument_id, _), quantity in zip(free, units, strict=True)
        if quantity
    ]
    return OrderPlan(OrderType.SELL, account.currency, shortfall, tuple(orders))


# --- cash between the funding account, the investment account and fee income -----------------------------


def _entry(entry_id: str, kind: CauseKind, cause_id: str, source: LedgerAccount, target: LedgerAccount,
           currency: str, amount: Decimal, memo: str, now: dt.datetime) -> JournalEntry:  # fmt: skip
    return JournalEntry(
        id=entry_id,
        at=now,
        cause=Cause(kind, cause_id),
        postings=transfer(source, target, Asset.cash(currency), amount),
        memo=memo,
    )


def _move_cash(
    source: Account, target: Account, amount: Decimal, kind: CauseKind, investment: Investment,
    entry_id: str, now: dt.datetime,
) -> tuple[Account, Account, JournalEntry]:  # fmt: skip
    entry = _entry(entry_id, kind, investment.id, LedgerAccount.client(source.id), LedgerAccount.client(target.id),
                   investment.currency, amount, f"{kind.value.lower().replace('_', ' ')} of investment {investment.id}",
                   now)  # fmt: skip
    return post(source, entry), post(target, entry), entry


def _pay_out(investment: Investment, account: Account, *, ids: Iterator[str], now: dt.datetime, funding: Account | None = None) -> Decision[Investment]:  # fmt: skip
    """Move the pending withdrawal (what cash there is of it) to the funding account."""
    if funding is None:
        raise ValidationError("the funding account is needed to pay a withdrawal out", {})
    amount = min(investment.pending_withdrawal, available_cash(account))
    changed = attrs.evolve(investment, pending_withdrawal=ZERO, withdrawn=investment.withdrawn + amount,
                           order_id=None, updated_at=now)  # fmt: skip
    if not amount:
        return Decision(changed, Changes.of(updated=[changed]))
    paid, received, entry = _move_cash(account, funding, amount, CauseKind.INVESTMENT_WITHDRAWAL, investment,
                                       next(ids), now)  # fmt: skip
    return Decision(changed, Changes.of(updated=[changed, paid, received], journaled=[entry]))


# --- one tick of the lifecycle -----------------------------------------------------------------------------


@attrs.frozen
class Situation:
    """What a tick of one investment reads."""

    investment: Investment
    leader: TradeLeader
    follower: TradeFollower | None
    funding_account: Account
    account: Account | None
    instruments: Mapping[str, Instrument]
    #: The state of the order the investment waits for (a portfolio order or an account liquidation).
    order_state: ParentState | None = None


#: The sub-states a market run ticks: all but DISABLED and the ERROR ones, where the process is blocked.
TICKED_STATES: tuple[str, ...] = tuple(
    sorted(
        s.value
        for s in InvestmentState
        if s is not InvestmentState.DISABLED and s.process is not ProcessState.ERROR
    )
)


def due_step(investment: Investment) -> BackOfficeStep | None:
    """The back-office step a tick of the investment performs first (None: none)."""
    return STEP_IN.get(investment.state)


def tick(
    situation: Situation,
    outcome: Outcome | None,
    *,
    reason: str | None = None,
    asked_in: InvestmentState | None = None,
    ids: Iterator[str],
    now: dt.datetime,
) -> Decision[Investment]:
    """Advance the investment: apply the back office's ``outcome`` of ``due_step`` (with its ``reason`` when it
    did not succeed), then go on through the sub-states that need no one. Every sub-state it passes through is
    announced (``INVESTMENT.<PROCESS_STATE>``). ``asked_in``: the sub-state the back office was asked in; if the
    investment has moved on meanwhile (another worker), the answer is for a step it is no longer in and is dropped."""
    if asked_in is not None and asked_in is not situation.investment.state:
        outcome = None
    run = _Tick(situation, ids, now)
    run.go(outcome, reason)
    return Decision(run.investment, run.changes)


class _Tick:
    def __init__(self, situation: Situation, ids: Iterator[str], now: dt.datetime) -> None:
        self.s = situation
        self.investment = situation.investment
        self.funding = situation.funding_account
        self.account = situation.account
        self.ids = ids
        self.now = now
        self.changes = Changes()
        self._touched: list[object] = []

    # -- bookkeeping
    def _step(self, step: Step, **fields: object) -> None:
        self.investment = _move(self.investment, step, self.now, **fields)
        self.changes = self.changes.then(Changes.of(announced=[announce_investment(self.investment)]))

    def _apply(self, changes: Changes) -> None:
        self.changes = self.changes.then(changes)

    def _finish(self) -> None:
        """Store the investment and the accounts in their final form (a new investment account is created)."""
        opened = self.s.account is None and self.account is not None
        first = Changes.of(created=[self.account] if opened and self.account is not None else [])
        last = [
            r for r in (self.investment, self.funding) if r not in (self.s.investment, self.s.funding_account)
        ]
        if self.account is not None and self.account != self.s.account:
            last.append(self.account)
        self.changes = first.then(self.changes).then(Changes.of(updated=last))

    # -- the tick
    def go(self, outcome: Outcome | None, reason: str | None) -> None:
        if outcome is not None:
            self._outcome(outcome, reason)
        for _ in range(64):  # every path through the table is far shorter; a loop would be a bug
            if not self._advance():
                break
        self._finish()

    def _outcome(self, outcome: Outcome, reason: str | None) -> None:
        state = self.investment.state
        step = STEP_IN.get(state)
        if step is None:
            return
        if outcome is Outcome.SUCCEEDED:
            refusal = self._perform(step)
            if refusal is not None:
                outcome, reason = Outcome.FAILED, refusal
        if outcome is Outcome.SUCCEEDED:
            self._step(Step.SUCCEED, attempts=0, next_attempt_at=None, reason=None)
            return
        if outcome is Outcome.RAISED:
            self._step(Step.RAISE, reason=reason, next_attempt_at=None)
            return
        attempts = self.investment.attempts + 1
        if outcome is Outcome.PENDING:
            due = retry_at(min(attempts, 5), self.now)
            self._step(Step.PEND, attempts=attempts, next_attempt_at=due, reason=reason)
            return
        due = retry_at(attempts, self.now)
        self._step(Step.FAIL, attempts=attempts, next_attempt_at=due, reason=reason)
        if self.investment.state.process is ProcessState.ERROR:
            self.investment = attrs.evolve(self.investment, next_attempt_at=None)
        elif due is None and INVESTMENT.allows(self.investment.state, Step.GIVE_UP):
            self._step(Step.GIVE_UP)

    def _perform(self, step: BackOfficeStep) -> str | None:
        """Allot's own part of a step the back office did; a reason if it cannot be done (a failure)."""
        if step is BackOfficeStep.CREATE_ACCOUNT and self.account is None:
            self.account = Account(
                id=next(self.ids),
                currency=self.investment.currency,
                cash={self.investment.currency: ZERO},
                created_at=self.now,
                client_id=self.investment.client_id,
                user_id=self.investment.user_id,
                managed_by=self.investment.id,
            )
            self.investment = attrs.evolve(self.investment, account_id=self.account.id)
        if step is BackOfficeStep.FUNDING:
            amount = self.investment.pending_funding
            free = available_cash(self.funding) if self.funding.status is AccountStatus.ACTIVE else ZERO
            if free < amount:
                return (
                    f"funding account {self.funding.id} has {fmt(free)} {self.investment.currency} available; "
                    f"the investment needs {fmt(amount)}"
                )
        if step is BackOfficeStep.FUNDING:
            assert self.account is not None
            amount = self.investment.pending_funding
            self.funding, self.account, entry = _move_cash(
                self.funding, self.account, amount, CauseKind.INVESTMENT_FUNDING, self.investment,
                next(self.ids), self.now,
            )  # fmt: skip
            self._apply(Changes.of(journaled=[entry]))
            self.investment = attrs.evolve(
                self.investment, pending_funding=ZERO, funded=self.investment.funded + amount
            )
        return None

    def _advance(self) -> bool:
        """One move that needs no one; False when the investment has to wait."""
        inv = self.investment
        state = inv.state
        if state in STEP_IN:
            return False
        if inv.next_attempt_at is not None and state.process in (ProcessState.RETRY, ProcessState.PROCESSING):
            if self.now < inv.next_attempt_at:
                return False
            self._step(Step.RETRY, next_attempt_at=None)
            return False
        if state.process is ProcessState.ERROR:
            return False
        if state is InvestmentState.FUNDING_ENTRY and not inv.pending_funding:
            self._step(Step.SKIP)
            return True
        if state in (
            InvestmentState.FEE_PROFILE_ASSIGN_ENTRY,
            InvestmentState.FEE_PROFILE_UNASSIGN_ENTRY,
        ) and (self.s.leader.fee_profile is None):
            self._step(Step.SKIP)
            return True
        if state is InvestmentState.STARTING:
            return self._synchronise()
        if state is InvestmentState.READY:
            return self._active()
        if state in STOPPING_STATES:
            return self._close()
        if state is InvestmentState.DISABLED:
            return False
        if INVESTMENT.allows(state, Step.BEGIN):
            self._step(Step.BEGIN)
            if self.investment.state is InvestmentState.DISABLED:
                self._settle()
            return True
        return False

    def _waiting(self) -> bool:
        """Whether the investment waits for its order; a finished one is let go of."""
        if self.investment.order_id is None:
            return False
        return self.s.order_state not in (ParentState.FILLED, ParentState.CANCELLED, None)

    def _invest(self, amount: Decimal) -> None:
        """Buy the leader's model for ``amount`` of the account's cash (a BUY portfolio order it waits for)."""
        assert self.account is not None
        order = portfolio_orders.place(
            self.account,
            OrderType.BUY,
            amount,
            Allocation(self.s.leader.lines),
            Policy(),
            needed(self.s.instruments, self.s.leader.lines, self.account),
            order_id=next(self.ids),
            ids=self.ids,
            now=self.now,
            client_reference=self.investment.id,
            by=self.investment.id,
        )
        self._apply(order.changes)
        self.account = next(r for r in order.changes.updated if isinstance(r, Account))
        self.investment = attrs.evolve(self.investment, order_id=order.result.id, updated_at=self.now)

    def _investable(self) -> Decimal:
        assert self.account is not None
        return floor_to(available_cash(self.account), minor_unit(self.investment.currency))

    def _synchronise(self) -> bool:
        """Buy the leader's model once, then be active with what it bought. The order is never placed again: a
        share that buys less than one step of its instrument is not bought (its order is cancelled, and with it
        the portfolio order), and buying again would put that cash into the other instruments, run after run. The
        cash it did not spend stays in the account, said in ``reason``, until the leader's next rebalance."""
        if self._waiting():
            return False
        finished = self.investment.order_id is not None and self.s.order_state in (
            ParentState.FILLED,
            ParentState.CANCELLED,
        )
        cash = self._investable()
        if finished or not cash:
            kept = (
                f"{fmt(cash)} {self.investment.currency} stays cash: the order that bought the leader's model "
                f"could not spend it (a share too small for a whole step of its instrument, or a refusal at the "
                f"market); the leader's next rebalance invests it"
                if finished and cash
                else self.investment.reason
            )
            self._step(
                Step.SYNCHRONISE,
                order_id=None,
                activated_at=self.investment.activated_at or self.now,
                reason=kept,
            )
            return True
        try:
            self._invest(cash)
        except (InsufficientFunds, NothingToTrade):  # too little to buy anything: synchronised as it is
            self._step(Step.SYNCHRONISE, order_id=None, activated_at=self.investment.activated_at or self.now)
            return True
        return False

    def _active(self) -> bool:
        inv = self.investment
        leader, follower = self.s.leader, self.s.follower
        if self._waiting():
            return False
        order_done = inv.order_id is not None
        if order_done:
            self.investment = inv = attrs.evolve(inv, order_id=None, updated_at=self.now)
        if inv.pending_withdrawal and self.account is not None:
            decision = _pay_out(inv, self.account, ids=self.ids, now=self.now, funding=self.funding)
            self.investment = decision.result
            self.funding = next((r for r in decision.changes.updated if isinstance(r, Account) and r.id == self.funding.id), self.funding)  # fmt: skip
            self.account = next((r for r in decision.changes.updated if isinstance(r, Account) and r.id == self.account.id), self.account)  # fmt: skip
            self._apply(Changes.of(journaled=decision.changes.journaled))
            inv = self.investment
        everyone_active = (
            self.funding.status is AccountStatus.ACTIVE
            and follower is not None
            and (self.account is None or self.account.status is AccountStatus.ACTIVE)
        )
        flag = active_error(
            None if follower is None else follower.suitability,
            leader.required_suitability,
            () if follower is None else follower.asset_types,
            leader.asset_types,
            everyone_active=everyone_active,
        )
        if flag != inv.error_code:
            self.investment = inv = attrs.evolve(inv, error_code=flag, updated_at=self.now)
            self._apply(Changes.of(announced=[announce_investment(inv)]))
        if follower is not None and not follower.terms_accepted:  # revoked while the investment was starting
            self._step(Step.REVOKE_TERMS, close_positions=True)
            return True
        if follower is not None and follower.suitability is None:
            self._step(Step.REVOKE_SUITABILITY, close_positions=True)
            return True
        if below_shield(equity(self.account, self.s.instruments), inv.shield):
            self._step(Step.STOP_OUT_PROTECTION, close_positions=True)
            return True
        if inv.pending_funding and self.account is not None and flag is not ActiveErrorCode.JOINT_INACTIVE:
            amount = inv.pending_funding
            if (
                available_cash(self.funding) < amount
            ):  # the cash left meanwhile: the funding is cancelled, not kept
                self.investment = attrs.evolve(
                    inv, pending_funding=ZERO, updated_at=self.now,
                    reason=f"additional funding of {fmt(amount)} {inv.currency} cancelled: funding account "
                    f"{self.funding.id} has {fmt(available_cash(self.funding))} available",
                )  # fmt: skip
                self._apply(Changes.of(announced=[announce_investment(self.investment)]))
                return False
            self.funding, self.account, entry = _move_cash(
                self.funding,
                self.account,
                amount,
                CauseKind.INVESTMENT_FUNDING,
                inv,
                next(self.ids),
                self.now,
            )
            self._apply(Changes.of(journaled=[entry]))
            self.investment = attrs.evolve(
                inv, pending_funding=ZERO, funded=inv.funded + amount, updated_at=self.now
            )
            # Cash too small to buy anything stays in the account until the next rebalance.
            with contextlib.suppress(InsufficientFunds, NothingToTrade):
                self._invest(self._investable())
            return False
        return False

    def _close(self) -> bool:
        """Stopping: close the positions if asked (an account liquidation it waits for), then go on."""
        if self._waiting():
            return False
        account = self.account
        closing = self.investment.order_id is not None
        if closing and self.s.order_state is ParentState.FILLED and account is not None and account.positions:
            # A filled liquidation leaves no positions: these were bought by an order placed before the stop.
            closing = False
            self.investment = attrs.evolve(self.investment, order_id=None)
        if account is not None and not closing and _holds_back(account):
            return False  # a leader's block still trades for the account: close once it is done
        if self.investment.close_positions and account is not None and account.positions and not closing:
            liquidation = liquidations.create(account, self.s.instruments, liquidation_id=next(self.ids),
                                              ids=self.ids, now=self.now, by=self.investment.id)  # fmt: skip
            self._apply(liquidation.changes)
            self.account = next(r for r in liquidation.changes.updated if isinstance(r, Account))
            self.investment = attrs.evolve(
                self.investment, order_id=liquidation.result.id, updated_at=self.now
            )
            return False
        self._step(Step.BEGIN, order_id=None)
        return True

    def _settle(self) -> None:
        """DISABLED: charge the service fee for the days held and return the cash to the funding account."""
        inv = self.investment
        account = self.account
        if account is None:
            self.investment = attrs.evolve(inv, stopped_at=self.now)
            return
        value = equity(account, self.s.instruments)
        fee = min(
            service_fee(value, self.s.leader.service_fee_rate, inv.activated_at or inv.created_at, self.now, inv.currency),
            available_cash(account),
        )  # fmt: skip
        entries = []
        if fee:
            entry = _entry(next(self.ids), CauseKind.SERVICE_FEE, inv.id, LedgerAccount.client(account.id), FEE_INCOME,
                           inv.currency, fee, f"service fee of investment {inv.id}", self.now)  # fmt: skip
            account = post(account, entry)
            entries.append(entry)
        cash = available_cash(account)
        if cash > 0:
            self.funding, account, entry = _move_cash(account, self.funding, cash, CauseKind.INVESTMENT_WITHDRAWAL,
                                                      inv, next(self.ids), self.now)  # fmt: skip
            entries.append(entry)
        self.account = account
        self.investment = attrs.evolve(
            inv, stopped_at=self.now, fees=inv.fees + fee, withdrawn=inv.withdrawn + cash
        )
        self._apply(Changes.of(journaled=entries))


# --- a leader's rebalance ----------------------------------------------------------------------------------


@attrs.frozen
class FollowerBook:
    """What a rebalance reads of one follower: its investment account's free cash and free units, and its rank
    (the order its investment started in: ties of the post-allocation go to the lower rank)."""

    account_id: str
    cash: Decimal
    units: Mapping[str, Decimal]
    rank: int


@attrs.frozen
class FollowerTrades:
    """What one follower should sell and buy (quantities, multiples of each instrument's step)."""

    account_id: str
    sells: Mapping[str, Decimal]
    buys: Mapping[str, Decimal]


@attrs.frozen
class PlannedBlock:
    """One block of a rebalance: the followers' quantities of one instrument and side, in rank order."""

    instrument_id: str
    side: Side
    account_ids: tuple[str, ...]
    requested: tuple[Decimal, ...]
    ranks: tuple[int, ...]

    @property
    def amount(self) -> Decimal:
        return sum(self.requested, ZERO)


def to_realign(investments: Sequence[Investment]) -> list[tuple[str, int]]:
    """The investment accounts a leader's rebalance realigns, with their ranks: those of investments that are
    Ready and wait for no order, ranked by the order the investments started in (all of the leader's count)."""
    ordered = sorted(investments, key=lambda i: (i.created_at, i.id))
    return [
        (i.account_id, rank)
        for rank, i in enumerate(ordered)
        if i.state is InvestmentState.READY and i.order_id is None and i.account_id is not None
    ]


def instruments_of(lines: Sequence[AllocationLine], accounts: Sequence[Account | None]) -> list[str]:
    """The instruments a decision over these accounts and this model needs: the model's and those held."""
    held = {p.instrument_id for account in accounts if account is not None for p in account.positions}
    return sorted({line.instrument_id for line in lines} | held)


def book_of(account: Account, rank: int) -> FollowerBook:
    """What a rebalance reads of an investment account: what open orders leave free."""
    units = {p.instrument_id: p.quantity - account.held_of(p.instrument_id) for p in account.positions}
    return FollowerBook(account.id, available_cash(account), units, rank)


def ledger_of(account_id: str) -> LedgerAccount:
    return LedgerAccount.client(account_id)


def buys_due(leader: TradeLeader, open_blocks: int) -> bool:
    """Whether the leader's rebalance may place its buys: its sells are all done."""
    return leader.rebalancing and not open_blocks


def rebalancing(leaders: Sequence[TradeLeader]) -> list[TradeLeader]:
    return [leader for leader in leaders if leader.rebalancing]


def follower_trades(
    lines: Sequence[AllocationLine], instruments: Mapping[str, Instrument], book: FollowerBook, currency: str,
    sells_pay: bool = True,
) -> FollowerTrades:  # fmt: skip
    """Realign one follower with the leader's weights: target = weights × equity (the kernel, to the minor unit);
    sells rounded down to the step (what the model no longer holds: all of it); buys rounded down, and scaled
    down with caps so that they never cost more than the cash and (``sells_pay``) the sells' estimated proceeds.
    The buy phase of a rebalance places no sells: its buys are paid from the cash alone."""
    unit = minor_unit(currency)
    values = {i: instruments[i].value_of(q) for i, q in book.units.items() if q > 0}
    worth = book.cash + sum(values.values(), ZERO)
    sells: dict[str, Decimal] = {}
    wanted: list[tuple[str, Decimal]] = []
    if worth > 0:
        targets = apportion(floor_to(worth, unit), [line.weight for line in lines], unit)
    else:
        targets = [ZERO for _ in lines]
    model = set()
    for line, target in zip(lines, targets, strict=True):
        model.add(line.instrument_id)
        instrument = instruments[line.instrument_id]
        current = values.get(line.instrument_id, ZERO)
        step_value = instrument.priced() * instrument.contract_size * instrument.quantity_step
        if current > target:
            steps = whole_steps(current - target, step_value)
            quantity = min(
                book.units.get(line.instrument_id, ZERO), from_units(steps, instrument.quantity_step)
            )
            if quantity:
                sells[line.instrument_id] = quantity
        elif target > current:
            wanted.append((line.instrument_id, floor_to(target - current, unit)))
    for instrument_id, quantity in book.units.items():
        if instrument_id not in model and quantity > 0:
            sells[instrument_id] = quantity
    proceeds = sum((instruments[i].value_of(q) for i, q in sells.items()), ZERO) if sells_pay else ZERO
    budget = floor_to(max(ZERO, book.cash + proceeds), unit)
    amounts = [amount for _, amount in wanted]
    if sum(amounts, ZERO) > budget and any(amounts):
        amounts = apportion(budget, amounts, unit, caps=amounts)
    buys: dict[str, Decimal] = {}
    for (instrument_id, _), amount in zip(wanted, amounts, strict=True):
        instrument = instruments[instrument_id]
        step_value = instrument.priced() * instrument.contract_size * instrument.quantity_step
        steps = whole_steps(amount, step_value)
        if steps:
            buys[instrument_id] = from_units(steps, instrument.quantity_step)
    return FollowerTrades(book.account_id, sells, buys)


def plan_blocks(
    trades: Sequence[FollowerTrades], ranks: Mapping[str, int], side: Side | None = None
) -> list[PlannedBlock]:
    """Per instrument and side, the followers' quantities summed into one block (sells first)."""
    gathered: dict[tuple[Side, str], list[tuple[int, str, Decimal]]] = {}
    for follower in trades:
        for chosen, wanted in ((Side.SELL, follower.sells), (Side.BUY, follower.buys)):
            if side is not None and chosen is not side:
                continue
            for instrument_id, quantity in wanted.items():
                gathered.setdefault((chosen, instrument_id), []).append(
                    (ranks[follower.account_id], follower.account_id, quantity)
                )
    blocks = []
    for (chosen, instrument_id), parts in sorted(
        gathered.items(), key=lambda item: (item[0][0] is Side.BUY, item[0][1])
    ):
        parts.sort()
        blocks.append(
            PlannedBlock(
                instrument_id,
                chosen,
                tuple(a for _, a, _ in parts),
                tuple(q for _, _, q in parts),
                tuple(r for r, _, _ in parts),
            )
        )
    return blocks


def post_allocate(
    requested: Sequence[Decimal], ranks: Sequence[int], filled: Decimal, step: Decimal
) -> list[Decimal]:
    """The followers' shares of ``filled`` (at most the sum requested): in proportion to what each asked for, to
    the step, ties to the lower rank. A full fill gives each exactly what it asked for."""
    asked = sum(requested, ZERO)
    if filled > asked:
        raise ValidationError(
            f"a block cannot allocate {fmt(filled)}: its followers asked for {fmt(asked)}",
            {"filled": fmt(filled), "requested": fmt(asked)},
        )
    if filled == asked:
        return list(requested)
    return apportion(filled, list(requested), step, ranks=list(ranks))


@exact
def post_allocation_explanation(block: BlockOrder, step: Decimal, contract_size: Decimal) -> Explanation:
    """How a leader's finished block was shared over its followers — in proportion to what each asked for, ties to
    the one that started first — and how its traded value was shared over their quantities. Computed from the
    block as stored (the same kernel, the same inputs), so it says what happened; an unfinished block has none."""
    if not block.executions or block.state in OPEN:
        return Explanation()
    requested = list(block.targets.participants)
    asked = sum(requested, ZERO)
    filled = block.filled_quantity
    stages = []
    if filled < asked:
        shared = split(
            "post-allocation, pro rata to what each follower asked for", filled, requested, step, block.recipients,
            ranks=list(range(len(requested))),
        )  # fmt: skip
        stages.append(shared.stage)
    stages.append(
        value_stage(block.recipients, block.allocated, block.executions, contract_size, block.currency)
    )
    return Explanation(tuple(stages))


def block_explanation(block: BlockOrder, instrument: Instrument) -> Explanation | None:
    """How a block was split: a key's block as recorded when it was placed; a leader's block computed from the
    block as stored (``post_allocation_explanation``: a 100 000-follower split is not kept line by line)."""
    if block.leader_id is None:
        return block.explanation
    return post_allocation_explanation(block, instrument.quantity_step, instrument.contract_size)


def place_blocks(
    leader: TradeLeader,
    planned: Sequence[PlannedBlock],
    accounts: Mapping[str, Account],
    instruments: Mapping[str, Instrument],
    *,
    ids: Iterator[str],
    now: dt.datetime,
) -> Changes:
    """The leader's block orders, NEW, each with one allocated order per follower that holds back what it needs
    (a follower whose buys its free cash cannot hold is left out of them)."""
    created: list[BlockOrder | Order] = []
    announced: list[Announcement] = []
    held = dict(accounts)
    for block_plan in planned:
        instrument = traded_in(instruments[block_plan.instrument_id], leader.currency)
        block_id = next(ids)
        children: list[Order] = []
        kept: list[tuple[str, Decimal, int]] = []
        for account_id, quantity, rank in zip(block_plan.account_ids, block_plan.requested, block_plan.ranks, strict=True):  # fmt: skip
            account = held[account_id]
            child = allocated(block_id, account, instrument, block_plan.side, quantity, next(ids), now)
            if block_plan.side is Side.BUY and child.held_cash > available_cash(account):
                continue
            if block_plan.side is Side.SELL and quantity > available_units(account, instrument.instrument_id):
                continue
            held[account_id] = reserve(account, [], [child])
            children.append(child)
            kept.append((account_id, quantity, rank))
        if not children:
            continue
        block = BlockOrder(
            id=block_id,
            key_id=None,
            leader_id=leader.id,
            account_id=leader.id,
            instrument_id=instrument.instrument_id,
            side=block_plan.side,
            amount=sum((q for _, q, _ in kept), ZERO),
            state=OrderState.NEW,
            created_at=now,
            updated_at=now,
            currency=leader.currency,
            targets=Targets(tuple(q for _, q, _ in kept), ZERO, ZERO),
            recipients=tuple(a for a, _, _ in kept),
            allocated=tuple(ZERO for _ in kept),
            orders=refs(children),
        )
        created += [block, *children]
        announced += [announce(block), *(announce(c) for c in children)]
    updated = [account for account_id, account in held.items() if account != accounts[account_id]]
    return Changes.of(created=created, updated=updated, announced=announced)


def _in_currency(
    instruments: Mapping[str, Instrument], wanted: Iterable[str], currency: str
) -> dict[str, Instrument]:
    """The ``wanted`` instruments, priced in ``currency`` (the store's others, in other currencies say, are none
    of a copy-trading decision's business)."""
    return {i: traded_in(instruments[i], currency) for i in sorted(set(wanted)) if i in instruments}


def needed(
    instruments: Mapping[str, Instrument], lines: Sequence[AllocationLine], account: Account
) -> dict[str, Instrument]:
    """The instruments a portfolio order of a follower's account may trade: the model's and those it holds."""
    return {i: instruments[i] for i in instruments_of(lines, [account]) if i in instruments}


def _place_side(
    leader: TradeLeader,
    books: Sequence[FollowerBook],
    accounts: Mapping[str, Account],
    instruments: Mapping[str, Instrument],
    side: Side,
    *,
    ids: Iterator[str],
    now: dt.datetime,
) -> Decision[TradeLeader]:
    """The leader (as it will be stored) and the blocks of one side of its rebalance. The sells are planned with
    the buys paid by cash and the sells' proceeds; the buys, placed once no sell is left to place, from cash alone."""
    wanted = [*(line.instrument_id for line in leader.lines), *(i for book in books for i in book.units)]
    priced = _in_currency(instruments, wanted, leader.currency)
    sells_pay = side is Side.SELL
    trades = [follower_trades(leader.lines, priced, book, leader.currency, sells_pay) for book in books]
    ranks = {book.account_id: book.rank for book in books}
    placed = place_blocks(leader, plan_blocks(trades, ranks, side), accounts, priced, ids=ids, now=now)
    return Decision(leader, Changes.of(updated=[leader]).then(placed))


def rebalance(
    leader: TradeLeader,
    lines: Sequence[AllocationLine] | None,
    books: Sequence[FollowerBook],
    accounts: Mapping[str, Account],
    instruments: Mapping[str, Instrument],
    *,
    open_blocks: int,
    ids: Iterator[str],
    now: dt.datetime,
) -> Decision[TradeLeader]:
    """The leader changes its weights (``lines``; None keeps them) and realigns every active follower: the sells
    are placed now; the buys once the sells are done (``buy_phase``)."""
    if leader.rebalancing or open_blocks:
        raise InvestmentBusy(
            f"leader {leader.id} is still rebalancing; wait until its blocks are done",
            {"leader_id": leader.id},
        )
    new_lines, asset_types = _model(
        lines if lines is not None else leader.lines, instruments, leader.currency
    )
    changed = attrs.evolve(leader, lines=new_lines, asset_types=asset_types, rebalancing=True, updated_at=now)
    return _place_side(changed, books, accounts, instruments, Side.SELL, ids=ids, now=now)


def buy_phase(
    leader: TradeLeader,
    books: Sequence[FollowerBook],
    accounts: Mapping[str, Account],
    instruments: Mapping[str, Instrument],
    *,
    ids: Iterator[str],
    now: dt.datetime,
) -> Decision[TradeLeader]:
    """Once the sells of a rebalance are done: the buys, planned from the cash the sells left."""
    done = attrs.evolve(leader, rebalancing=False, updated_at=now)
    return _place_side(done, books, accounts, instruments, Side.BUY, ids=ids, now=now)


def execute_block(
    block: BlockOrder,
    instrument: Instrument,
    accounts: Mapping[str, Account],
    children: Sequence[Order],
    price: Decimal | None,
    filled: Decimal,
    refusal: str | None,
    *,
    ids: Iterator[str],
    now: dt.datetime,
) -> Decision[BlockOrder]:
    """Book what the venue did with a leader's block: the execution is kept on the block; once the block is
    filled, or refused (``refusal``) with part of it filled, the fills are post-allocated to its orders at the
    block's average price, and what was not filled is cancelled."""
    announcements: list[Announcement] = []
    current = block
    if refusal is None and block.state is OrderState.NEW:
        current = attrs.evolve(block, state=BLOCK_ORDER.next(block.state, Trigger.START), updated_at=now)
        announcements.append(announce(current))
    if refusal is None and filled:
        assert price is not None
        filled_quantity = current.filled_quantity + filled
        current = attrs.evolve(
            current,
            filled_quantity=filled_quantity,
            executions=(*current.executions, Execution(filled, price)),
            state=BLOCK_ORDER.next(current.state, Trigger.PARTIAL_FILL)
            if filled_quantity < block.amount
            else current.state,
            updated_at=now,
        )
    done = current.filled_quantity >= current.amount
    if not done and refusal is None:
        if current != block:
            return Decision(current, Changes.of(updated=[current], announced=announcements))
        return Decision(current, Changes())
    quantities = post_allocate(current.targets.participants, list(range(len(current.recipients))), current.filled_quantity,
                               instrument.quantity_step) if current.executions else [ZERO] * len(current.recipients)  # fmt: skip
    values = (
        book_prices(quantities, current.executions, instrument.contract_size, current.currency)
        if current.executions
        else [(ZERO, ZERO)] * len(quantities)
    )
    order_of = {child.account_id: child for child in children}
    booked: dict[str, Order] = {}
    changed_accounts: dict[str, Account] = {}
    entries: list[JournalEntry] = []
    for account_id, quantity, (average, value) in zip(current.recipients, quantities, values, strict=True):
        child = order_of[account_id]
        if not quantity or child.state not in OPEN:
            continue
        account = changed_accounts.get(account_id, accounts[account_id])
        result = book(child, account, instrument, quantity, average, now, next(ids), booked_value=value)
        booked[child.id] = result.order
        changed_accounts[account_id] = reserve(result.account, [child], [result.order])
        entries.append(result.entry)
        announcements.extend(result.announcements)
    after_booking = [booked.get(c.id, c) for c in children]
    if done:
        ended = attrs.evolve(current, state=BLOCK_ORDER.next(current.state, Trigger.FILL),
                             allocated=tuple(quantities), updated_at=now)  # fmt: skip
        final = after_booking
    else:
        ended = attrs.evolve(current, state=BLOCK_ORDER.next(current.state, Trigger.FAIL), reason=refusal,
                             allocated=tuple(quantities), updated_at=now)  # fmt: skip
        final = cancel_open(after_booking, refusal or "", now, Trigger.FAIL)
        for before, after in zip(after_booking, final, strict=True):
            if before != after:
                account = changed_accounts.get(after.account_id, accounts[after.account_id])
                changed_accounts[after.account_id] = reserve(account, [before], [after])
                booked[after.id] = after
                announcements.append(announce(after))
    ended = attrs.evolve(ended, orders=refs(final))
    announcements.append(announce(ended))
    return Decision(
        ended,
        Changes.of(updated=[ended, *booked.values(), *changed_accounts.values()], announced=announcements,
                   journaled=entries),
    )  # fmt: skip


# --- what a leader shows -----------------------------------------------------------------------------------


@attrs.frozen
class Performance:
    """A leader's record from the journal: the money its followers put in and took out, the fees, what their
    accounts are worth now, and the return on what was put in (``None`` before any funding)."""

    invested: Decimal
    withdrawn: Decimal
    fees: Decimal
    value: Decimal
    return_ratio: Decimal | None


#: Returns are shown with this many decimals (0.0123 = 1.23 %).
RETURN_STEP = Decimal("0.0001")


def performance(entries: Sequence[JournalEntry], account_ids: Sequence[str], value: Decimal) -> Performance:
    """Sum the funding, withdrawals and service fees posted to the investment accounts ``account_ids``."""
    mine = {LedgerAccount.client(a) for a in account_ids}
    sums = {
        CauseKind.INVESTMENT_FUNDING: ZERO,
        CauseKind.INVESTMENT_WITHDRAWAL: ZERO,
        CauseKind.SERVICE_FEE: ZERO,
    }
    seen: set[str] = set()
    for entry in entries:
        if entry.cause.kind not in sums or entry.id in seen:
            continue
        seen.add(entry.id)
        sums[entry.cause.kind] += sum((abs(p.amount) for p in entry.postings if p.ledger in mine), ZERO)
    invested = sums[CauseKind.INVESTMENT_FUNDING]
    withdrawn = sums[CauseKind.INVESTMENT_WITHDRAWAL]
    ratio = None
    if invested:
        ratio = half_even_to((value + withdrawn - invested) / invested, RETURN_STEP)
    return Performance(invested, withdrawn, sums[CauseKind.SERVICE_FEE], value, ratio)


def top_holdings(leader: TradeLeader, count: int = 5) -> tuple[AllocationLine, ...]:
    """The leader's largest weights, largest first (ties in the model's order)."""
    return tuple(sorted(leader.lines, key=lambda line: -line.weight)[:count])
