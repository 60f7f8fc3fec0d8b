"""Options that have ended (exercised or expired) or passed their expiry date, as pure decisions: no storage, no
clock. An ended option trades no more; an option is bought up to and including its expiry day, not after."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from core import block_orders, liquidations, market, portfolio_orders
from core.blocks import PartialFillPolicy
from core.errors import InstrumentEnded
from core.instruments import AllocationLine, AssetType, Instrument, OptionEnd, Position, Side
from core.keys import Participant
from core.lifecycle import OrderState, ParentState
from core.market import Quote, RunOutcome
from core.portfolio import OrderType, Policy
from core.records import Account, ModelPortfolio, Order, PortfolioOrder
from tests.unit.test_decisions import NOW, account, block_accounts, fresh, key

TODAY = NOW.date()


def option(ended: OptionEnd | None = None, expiry: dt.date = TODAY + dt.timedelta(days=30)) -> Instrument:
    return Instrument(
        "CALL", Decimal("2.00"), currency="EUR", asset_type=AssetType.STOCK_OPTION, contract_size=Decimal(100),
        expiry=expiry, ended=ended,
    )  # fmt: skip


#: How a refusal says the option ended.
SAID = {OptionEnd.EXERCISED: "was exercised", OptionEnd.EXPIRED: "has expired"}
STOCK = Instrument("AAA", Decimal("10.00"), Decimal("0.01"), currency="EUR")


def calls_model() -> ModelPortfolio:
    return ModelPortfolio(
        "M", "calls", (AllocationLine("AAA", Decimal("0.5")), AllocationLine("CALL", Decimal("0.5")))
    )


def place(
    order_type: OrderType,
    instrument: Instrument,
    owner: Account | None = None,
    amount: str | None = "1000.00",
) -> PortfolioOrder:
    model = calls_model() if order_type in (OrderType.BUY, OrderType.REBALANCING) else None
    return portfolio_orders.place(
        owner or account(opening="5000.00"), order_type, Decimal(amount) if amount else None, model, Policy(),
        {"AAA": STOCK, "CALL": instrument}, order_id="P", ids=fresh(), now=NOW,
    ).result  # fmt: skip


@pytest.mark.parametrize("how", list(OptionEnd))
@pytest.mark.parametrize("order_type", [OrderType.BUY, OrderType.REBALANCING])
def test_a_model_portfolio_holding_an_ended_option_cannot_be_bought_and_the_refusal_names_it(
    how: OptionEnd, order_type: OrderType
) -> None:
    amount = "1000.00" if order_type is OrderType.BUY else None
    with pytest.raises(InstrumentEnded) as refused:
        place(order_type, option(ended=how), amount=amount)
    assert f"option CALL {SAID[how]}" in refused.value.message
    assert "model portfolio" in refused.value.message
    assert refused.value.details["instrument_id"] == "CALL"


def test_an_option_past_its_expiry_date_cannot_be_bought() -> None:
    with pytest.raises(InstrumentEnded, match="option CALL expired on 2026-11-19") as refused:
        place(OrderType.BUY, option(expiry=TODAY - dt.timedelta(days=1)))
    assert refused.value.details == {"instrument_id": "CALL", "expiry": "2026-11-19"}


def test_an_option_is_still_bought_on_its_expiry_day() -> None:
    assert place(OrderType.BUY, option(expiry=TODAY)).state is ParentState.SUBMITTED


def holding_calls() -> Account:
    return account(opening="5000.00", positions=(Position("CALL", Decimal(3), "E0"),))


@pytest.mark.parametrize("order_type", [OrderType.SELL, OrderType.LIQUIDATION])
def test_a_sell_of_an_ended_option_is_refused(order_type: OrderType) -> None:
    amount = "100.00" if order_type is OrderType.SELL else None
    with pytest.raises(InstrumentEnded, match="option CALL was exercised"):
        place(order_type, option(ended=OptionEnd.EXERCISED), holding_calls(), amount)


def test_an_account_liquidation_of_an_ended_option_is_refused() -> None:
    with pytest.raises(InstrumentEnded, match="option CALL has expired"):
        liquidations.create(
            holding_calls(),
            {"CALL": option(ended=OptionEnd.EXPIRED)},
            liquidation_id="L",
            ids=fresh(),
            now=NOW,
        )


def test_an_option_past_its_expiry_date_may_still_be_sold_until_it_is_expired() -> None:
    lapsed = option(expiry=TODAY - dt.timedelta(days=1))
    decision = liquidations.create(
        holding_calls(), {"CALL": lapsed}, liquidation_id="L", ids=fresh(), now=NOW
    )
    assert [o.side for o in decision.changes.created if isinstance(o, Order)] == [Side.SELL]


@pytest.mark.parametrize("side", list(Side))
def test_a_block_on_an_ended_option_is_refused(side: Side) -> None:
    with pytest.raises(InstrumentEnded, match="option CALL was exercised"):
        block_orders.place(
            key(Participant("A1", Decimal(10)), Participant("A2", Decimal(20))), block_accounts(),
            option(ended=OptionEnd.EXERCISED), side, Decimal(30), PartialFillPolicy.PRO_RATA, block_id="B",
            ids=fresh(), now=NOW,
        )  # fmt: skip


def test_a_buy_block_on_an_option_past_its_expiry_date_is_refused() -> None:
    with pytest.raises(InstrumentEnded, match="can no longer be bought"):
        block_orders.place(
            key(Participant("A1", Decimal(10)), Participant("A2", Decimal(20))), block_accounts(),
            option(expiry=TODAY - dt.timedelta(days=1)), Side.BUY, Decimal(30), PartialFillPolicy.PRO_RATA,
            block_id="B", ids=fresh(), now=NOW,
        )  # fmt: skip


def open_buy(instrument: Instrument) -> tuple[Order, Account, PortfolioOrder, list[Order]]:
    """A buy of the calls model placed while the option still traded, before anything executed."""
    owner = account(opening="5000.00")
    placed = portfolio_orders.place(
        owner, OrderType.BUY, Decimal("1000.00"), calls_model(), Policy(), {"AAA": STOCK, "CALL": instrument},
        order_id="P", ids=fresh(), now=NOW,
    )  # fmt: skip
    children = [r for r in placed.changes.created if isinstance(r, Order)]
    holding = next(r for r in placed.changes.updated if isinstance(r, Account))
    call = next(o for o in children if o.instrument_id == "CALL")
    return call, holding, placed.result, children


@pytest.mark.parametrize(
    ("how", "later", "reason"),
    [
        (OptionEnd.EXERCISED, NOW, "option CALL was exercised and no longer trades"),
        (None, NOW + dt.timedelta(days=31), "option CALL expired on 2026-12-20 and can no longer be bought"),
    ],
)
def test_the_market_cancels_an_open_buy_of_an_option_that_ended_or_expired_before_it_executed(
    how: OptionEnd | None, later: dt.datetime, reason: str
) -> None:
    order, owner, parent, children = open_buy(option())
    ended = option(ended=how)
    quote = Quote(Decimal("2.00"))
    assert (
        market.order_request(order, owner, ended, quote, later.date()) == 0
    )  # the venue is asked for nothing
    decision = market.execute_order(
        order, owner, ended, quote, Decimal(0), parent, children, ids=fresh(), now=later
    )
    assert (decision.result.outcome, decision.result.reason) == (RunOutcome.CANCELLED, reason)
    updated = decision.changes.updated
    assert {o.id: o.state for o in updated if isinstance(o, Order)} == {
        o.id: OrderState.CANCELLED for o in children
    }
    assert [a.reserved for a in updated if isinstance(a, Account)] == [{"EUR": Decimal("0.00")}]
    assert not decision.changes.journaled


def test_the_market_cancels_a_block_whose_option_ended_before_it_executed() -> None:
    stored = key(Participant("A1", Decimal(10)), Participant("A2", Decimal(20)))
    placed = block_orders.place(
        stored, block_accounts(),
        option(), Side.BUY, Decimal(30), PartialFillPolicy.PRO_RATA, block_id="B", ids=fresh(), now=NOW,
    )  # fmt: skip
    block, children = placed.result, [r for r in placed.changes.created if isinstance(r, Order)]
    accounts = {a.id: a for a in placed.changes.updated if isinstance(a, Account)}
    accounts = {**block_accounts(), **accounts}
    ended = option(ended=OptionEnd.EXERCISED)
    quote = Quote(Decimal("2.00"))
    assert market.block_request(block, ended, quote, TODAY) == 0
    decision = market.execute_block(
        block, stored.key, ended, accounts, children, quote, Decimal(0), ids=fresh(), now=NOW
    )
    assert decision.result == market.Executed(
        "B", RunOutcome.CANCELLED, "option CALL was exercised and no longer trades"
    )
    assert {o.state for o in decision.changes.updated if isinstance(o, Order)} == {OrderState.CANCELLED}
    assert not decision.changes.journaled
