"""Portfolio orders as records: placed (planned, split into individual orders, submitted) and cancelled."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal

import attrs

from core.accounts import available_cash, check_managed, check_open, reserve
from core.decisions import Changes, Decision
from core.errors import CurrencyMismatch, InsufficientFunds, NothingToTrade, ValidationError
from core.fairness import Fairness
from core.instruments import Allocation, AllocationLine, Instrument, Position, traded_in
from core.lifecycle import PORTFOLIO_ORDER, PortfolioOrderState, Trigger
from core.numbers import ZERO, exact, fmt
from core.orders import from_plan
from core.parents import cancel_by_client, followed_changes
from core.portfolio import OrderPlan, OrderType, Policy, PortfolioRequest, plan
from core.records import Account, ModelPortfolio, Order, ParentKind, PortfolioOrder, announce, refs
from core.validators import check_text

#: The longest ``client_reference`` kept (it is copied into every event of the order).
MAX_REFERENCE_LENGTH = 255


def check_reference(reference: str) -> str:
    """The caller's own reference for an order: visible text of at most ``MAX_REFERENCE_LENGTH`` characters."""
    check_text(reference, "client_reference")
    if len(reference) > MAX_REFERENCE_LENGTH:
        raise ValidationError(
            f"client_reference is {len(reference)} characters long: at most {MAX_REFERENCE_LENGTH}",
            {"field": "client_reference", "maximum": MAX_REFERENCE_LENGTH},
        )
    return reference


def chosen_allocation(
    model: ModelPortfolio | None, weights: Sequence[AllocationLine] | None
) -> ModelPortfolio | Allocation | None:
    """What a portfolio order is placed over: a model portfolio, or instrument weights given with the order (which,
    like a model's, must be positive and sum to exactly 1) — not both."""
    if weights is None:
        return model
    if model is not None:
        raise ValidationError(
            "give a model portfolio or instrument weights for the order, not both", {"field": "allocation"}
        )
    return Allocation(tuple(weights))


def instruments_needed(account: Account, allocation: ModelPortfolio | Allocation | None) -> list[str]:
    """The instruments a portfolio order of this account may trade: the allocation's and those the account
    holds."""
    lines = allocation.lines if allocation is not None else ()
    return sorted({line.instrument_id for line in lines} | {p.instrument_id for p in account.positions})


def place(
    account: Account,
    order_type: OrderType,
    cash_amount: Decimal | None,
    allocation: ModelPortfolio | Allocation | None,
    policy: Policy,
    instruments: Mapping[str, Instrument],
    *,
    order_id: str,
    ids: Iterator[str],
    now: dt.datetime,
    client_reference: str | None = None,
    currency: str | None = None,
    by: str | None = None,
) -> Decision[PortfolioOrder]:
    """Plan the order over the account's available cash and holdings and split it into individual orders. The
    allocation is a model portfolio (the order names it as ``allocation_id``) or weights given with the order
    (``allocation_id`` none). ``currency``, if the request names one, must be the account's.

    Announces ``PORTFOLIO_ORDER.NEW`` (no orders yet), ``ORDER.NEW`` for each individual order, then
    ``PORTFOLIO_ORDER.SUBMITTED`` with its orders. Each order holds back what it needs from the account: a buy
    its amount and estimated costs (which must be available), a sell its units (which others do not hold).
    Instruments added without a currency take the account's. ``by``: the investment placing it, on the account
    it manages (``check_managed``).
    """
    check_open(account)
    check_managed(account, by)
    order_type = OrderType(order_type)
    if currency is not None and currency != account.currency:
        raise CurrencyMismatch(
            f"account {account.id} holds {account.currency}, not {currency}: give its currency or none",
            {"field": "currency", "currency": currency, "account_currency": account.currency},
        )
    currency = account.currency
    priced = {i: traded_in(instrument, currency) for i, instrument in instruments.items()}
    # A model's fairness is for its BUYs' split over the weights (``plan`` refuses it on anything else).
    model = allocation if isinstance(allocation, ModelPortfolio) and order_type is OrderType.BUY else None
    order_plan = plan(
        PortfolioRequest(
            order_type,
            currency,
            cash_amount,
            allocation.lines if allocation is not None else (),
            tuple(priced.values()),
            account.positions,
            available_cash(account),
            policy,
            tuple(Position(i, q) for i, q in account.held_units.items() if q),
            account.reserved_in(currency),
            as_of=now.date(),
            fairness=model.fairness if model is not None else Fairness.PLAIN,
            history=model.history if model is not None else None,
        )
    )
    decision = submit(
        account, order_plan, allocation.id if isinstance(allocation, ModelPortfolio) else None, policy, priced,
        order_id=order_id, ids=ids, now=now, client_reference=client_reference,
    )  # fmt: skip
    adopted: list[Instrument | ModelPortfolio] = [i for key, i in priced.items() if i is not instruments[key]]
    if model is not None and order_plan.history not in (None, model.history):
        adopted.append(attrs.evolve(model, history=order_plan.history))  # a ROTATE model moves on
    return Decision(decision.result, decision.changes.then(Changes.of(updated=adopted)))


def submit(
    account: Account,
    order_plan: OrderPlan,
    allocation_id: str | None,
    policy: Policy,
    instruments: Mapping[str, Instrument],
    *,
    order_id: str,
    ids: Iterator[str],
    now: dt.datetime,
    client_reference: str | None = None,
) -> Decision[PortfolioOrder]:
    """A portfolio order carrying out ``order_plan`` on the account (see ``place``); ``instruments`` are priced
    in the account's currency."""
    if not order_plan.orders:
        raise NothingToTrade(
            "the plan has no orders to place", {"skipped": [s.instrument_id for s in order_plan.skipped]}
        )
    new = PortfolioOrder(
        id=order_id,
        account_id=account.id,
        type=order_plan.type,
        currency=account.currency,
        cash_amount=order_plan.cash_amount,
        allocation_id=allocation_id,
        state=PortfolioOrderState.NEW,
        created_at=now,
        updated_at=now,
        skipped=order_plan.skipped,
        policy=policy,
        client_reference=None if client_reference is None else check_reference(client_reference),
        client_id=account.client_id,
        user_id=account.user_id,
        explanation=order_plan.explanation,
    )
    children = from_plan(order_plan, account, instruments, ParentKind.PORTFOLIO_ORDER, order_id, ids, now)
    if order_plan.type is OrderType.BUY:
        _check_buys_affordable(account, children)
    submitted = attrs.evolve(
        new, state=PORTFOLIO_ORDER.next(new.state, Trigger.SUBMIT), orders=refs(children), updated_at=now
    )
    return Decision(
        submitted,
        Changes.of(
            created=[submitted, *children],
            updated=[reserve(account, [], children)],
            announced=[announce(new), *(announce(c) for c in children), announce(submitted)],
        ),
    )


@exact
def _check_buys_affordable(account: Account, children: Sequence[Order]) -> None:
    """A buy holds back its amount and its estimated costs, and all of it must be available now."""
    needed = sum((o.held_cash for o in children), ZERO)
    available = available_cash(account)
    if needed > available:
        amounts = sum((o.cash_amount or ZERO for o in children), ZERO)
        raise InsufficientFunds(
            f"account {account.id} has {fmt(available)} {account.currency} available; the order needs "
            f"{fmt(amounts)} and estimated costs of {fmt(needed - amounts)}",
            {"available": fmt(available), "requested": fmt(needed), "currency": account.currency},
        )


def cancel(
    order: PortfolioOrder, children: list[Order], account: Account, now: dt.datetime
) -> Decision[PortfolioOrder]:
    """The client cancels the order (only while NEW or SUBMITTED) and its open orders with it; the cash they held
    back is released."""
    followed = cancel_by_client(order, children, account, now)
    return Decision(followed.parent, followed_changes(followed, order, children, account))
