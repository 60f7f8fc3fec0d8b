"""``allot demo``: a readable walk through every capability of the core, on sample data shipped with allot."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from importlib import resources
from typing import Any, TypeVar

from adapters.serialization import parse_json, structure
from core.blocks import BlockAllocation, BlockRequest, allocate
from core.errors import AllotError
from core.fills import AccountBook, CostSchedule, Fill, apply_fill
from core.instruments import Instrument, Side
from core.lifecycle import ORDER, PORTFOLIO_ORDER, OrderState, PortfolioOrderState, Trigger, follow_children
from core.portfolio import FeeSchedule, OrderPlan, PortfolioRequest, plan, settle_liquidation
from entrypoints.render import table

T = TypeVar("T")
Echo = Callable[[str], None]


def sample(name: str, type_: type[T]) -> T:
    text = resources.files("entrypoints").joinpath("samples", name).read_text(encoding="utf-8")
    return structure(parse_json(text), type_)


def heading(echo: Echo, title: str) -> None:
    echo("")
    echo(title)
    echo("=" * len(title))


def show_plan(echo: Echo, result: OrderPlan) -> None:
    rows: list[list[Any]] = [[o.side, o.instrument_id, o.cash_amount, o.quantity] for o in result.orders]
    echo(table(["side", "instrument", f"cash ({result.currency})", "quantity"], rows))
    for skipped in result.skipped:
        echo(f"  skipped {skipped.instrument_id}: {skipped.reason.value}")


def show_block(echo: Echo, result: BlockAllocation) -> None:
    rows: list[list[Any]] = [
        [a.account_id, a.quantity, a.average_price, a.traded_value] for a in result.allocations
    ]
    e = result.error_account
    rows.append([f"{e.account_id} (error account)", e.quantity, e.average_price, e.traded_value])
    echo(table(["account", "quantity", "average price", "traded value"], rows))
    echo(
        f"  block {result.block_amount}, allocated {result.allocated_amount}, "
        f"remainder of the key's base {result.remainder}"
    )


def rejected(echo: Echo, error: AllotError) -> None:
    echo(f"  rejected: {error.code}: {error.message}")


def run_demo(echo: Echo) -> None:
    echo("allot demo: every split below goes through one apportionment kernel and sums exactly.")

    heading(echo, "1. BUY 1 000.00 EUR into a four-fund model portfolio")
    echo("The 5 % fund's share (50.00) is below its 100.00 minimum, so it is dropped and the cash re-split.")
    show_plan(echo, plan(sample("buy.json", PortfolioRequest)))

    heading(echo, "2. SELL 400.00 EUR, pro rata to what the account holds")
    show_plan(echo, plan(sample("sell.json", PortfolioRequest)))

    heading(echo, "3. SELL 2 400.00 EUR: more than 90 % of the portfolio's value")
    try:
        plan(sample("sell_beyond_limit.json", PortfolioRequest))
    except AllotError as error:
        rejected(echo, error)
        echo(f"  largest amount allowed: {error.details['max_allowed']} EUR")

    heading(echo, "4. LIQUIDATION: every position sold in full with unit orders")
    liquidation = plan(sample("liquidation.json", PortfolioRequest))
    show_plan(echo, liquidation)
    settled = settle_liquidation(
        Decimal("2563.43"),
        Decimal("7.50"),
        FeeSchedule(Decimal("0.0075"), dt.date(2026, 6, 30)),
        dt.date(2026, 11, 20),
        "EUR",
        available=Decimal("2555.93"),
    )
    echo(
        f"  once filled: proceeds {settled.gross_proceeds} − costs {settled.trading_costs} − management fee "
        f"{settled.management_fee} (0.75 % a year for 143 days) = cash_amount {settled.cash_amount} EUR"
    )

    heading(echo, "5. REBALANCING: sells first (rounded down to the quantity step), then buys")
    echo("Cash buffer 25.00 EUR, drift band 1 %; the instrument outside the model is sold in full.")
    show_plan(echo, plan(sample("rebalancing.json", PortfolioRequest)))

    heading(echo, "6. Allocation keys: the four examples of the block-trading guide")
    for title, name in (
        ("UNIT key 10 000 / 20 000 / 30 000, block 60 000", "block_exact.json"),
        (
            "same key, block 65 000, no remainder accounts: 5 000 to the error account",
            "block_error_account.json",
        ),
        (
            "block 65 000, accounts 1 (priority 2) and 2 (priority 1) accept remainders",
            "block_remainder.json",
        ),
        ("PERCENTAGE key 25 / 35 / 40, block 999", "block_percentage.json"),
    ):
        echo("")
        echo(title)
        show_block(echo, allocate(sample(name, BlockRequest)))

    heading(echo, "7. A partial fill: 40 000 of 65 000, apportioned over the targets (PRO_RATA)")
    show_block(echo, allocate(sample("block_partial_fill.json", BlockRequest)))

    heading(echo, "8. Margin REDUCE: an account that cannot pay for its share is cut, the block shrinks")
    show_block(echo, allocate(sample("block_margin_reduce.json", BlockRequest)))

    heading(echo, "9. Average price: three executions booked at the block's volume-weighted price")
    echo("The accounts' traded values add up exactly to the block's traded value.")
    show_block(echo, allocate(sample("block_average_price.json", BlockRequest)))

    heading(echo, "10. One portfolio order traced to FILLED")
    trace_lifecycle(echo)


def trace_lifecycle(echo: Echo) -> None:
    """Drive a two-order BUY through its lifecycle with core calls only, and book both fills."""
    state = PORTFOLIO_ORDER.initial
    children = [ORDER.initial, ORDER.initial]
    echo(f"  portfolio order {state.value}: two individual orders created")
    rows: list[list[Any]] = []

    def settle_parent() -> None:
        nonlocal state
        for step in follow_children(PORTFOLIO_ORDER, state, children):
            state = step
            rows.append(["portfolio order", step.value, ", ".join(c.value for c in children)])

    settle_parent()
    book = AccountBook("ACC-1", "EUR", Decimal("1002.00"))
    fills = [
        ("IE00B4L5Y983", Decimal("98.42"), Decimal("5.080268")),
        ("IE00B3F81R35", Decimal("113.37"), Decimal("4.410338")),
    ]
    for index, (instrument_id, price, quantity) in enumerate(fills):
        children[index] = ORDER.next(children[index], Trigger.START)
        rows.append([f"order {index + 1}", children[index].value, ""])
        settle_parent()
        result = apply_fill(
            book,
            Fill(
                f"order-{index + 1}",
                "ACC-1",
                Instrument(instrument_id, price, Decimal("0.000001")),
                Side.BUY,
                quantity,
                price,
                dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC),
                correlation_key="portfolio-order-1",
            ),
            CostSchedule(commission_rate=Decimal("0.001"), commission_minimum=Decimal("1.00")),
        )
        book = result.book
        children[index] = ORDER.next(children[index], Trigger.FILL)
        event = result.event
        rows.append(
            [
                f"order {index + 1}",
                children[index].value,
                f"POSITION.{event.event.value} {event.fill_amount} @ {event.open_price}, "
                f"value {event.traded_value}, cost {event.total_cost}, value date {event.value_date}",
            ]
        )
        settle_parent()
    echo(table(["object", "state", "detail"], rows))
    assert state is PortfolioOrderState.FILLED
    assert all(c is OrderState.FILLED for c in children)
    echo(f"  cash left on the account: {book.cash} EUR; positions: {len(book.positions)}")
    try:
        PORTFOLIO_ORDER.next(state, Trigger.CANCEL)
    except AllotError as error:
        rejected(echo, error)
