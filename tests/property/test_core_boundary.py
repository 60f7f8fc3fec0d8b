"""The core's public entry points, fed one wrong input at a time: each answers, or refuses with an ``AllotError``
(or a ``TypeError`` for a wrong type) — never a raw ``ValueError``, ``OverflowError`` or decimal exception.

Every case starts from a request that works and replaces one of its inputs with a value drawn from a list of
troublemakers: NaN, infinities, huge and tiny decimals, floats, bools, strings, ``None``, enum members and
names, negative and zero numbers. The request is then carried all the way through (a plan, an allocation, a
booked fill), so that a value accepted at the door but wrong further in is found too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import pkgutil
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import core
from core.apportion import apportion, apportion_units, split_off_step
from core.blocks import BlockRequest, Execution, PartialFillPolicy, allocate, book_prices
from core.errors import AllotError
from core.fills import AccountBook, CostSchedule, Fill, apply_fill, trading_costs, value_date
from core.instruments import Allocation, AllocationLine, AssetType, Instrument, Position, Side
from core.keys import AllocationKey, MarginHandling, Participant, UnitType
from core.numbers import as_cash, check_cash, check_decimal, parse_decimal, round_to, to_units
from core.portfolio import FeeSchedule, OrderType, Policy, PortfolioRequest, management_fee, plan
from core.validators import NamedEnum

D = Decimal
NOW = dt.datetime(2024, 3, 1, 10, 0, tzinfo=dt.UTC)

SPECIAL = [
    D("NaN"), D("-NaN"), D("sNaN"), D("Infinity"), D("-Infinity"), D("1e999999"), D("-1e999999"), D("1e-999999"),
    D("-0"), D("0"), D("0E+5"), D("1E+3"), D("-1"), D("0.5"), D("1e17"), D("999999999999999999.999999999999"),
    D("0.000000000001"), D("1e-13"), D("12345678901234567890"),
]  # fmt: skip
ENUMS = [
    *Side, *OrderType, *PartialFillPolicy, *UnitType, *MarginHandling, *AssetType,
    *(member.name for member in (*Side, *OrderType, *PartialFillPolicy, *UnitType, *MarginHandling)),
    "buy", "PRO-RATA", "",
]  # fmt: skip

OTHERS = [
    0, 1, -1, 2.5, 0.1, float("nan"), True, False, None, "", "1", "EUR", (), [], {}, dt.date(2024, 1, 1), NOW,
    object(), 10**30, 2**63,
]  # fmt: skip

#: One wrong (or surprising) input: mostly from the lists above, where the trouble is, sometimes anything.
TROUBLE: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from([*SPECIAL, *ENUMS, *OTHERS]),
    st.sampled_from([*SPECIAL, *ENUMS, *OTHERS]),
    st.sampled_from([*SPECIAL, *ENUMS, *OTHERS]),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.decimals(min_value=D(-1000), max_value=D(10**6), places=3),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
)


def _instrument(**changes: Any) -> Instrument:
    return Instrument(
        **{"instrument_id": "A", "price": D(10), "quantity_step": D(1), "currency": "EUR", **changes}
    )


def _plan_with(**changes: Any) -> object:
    """Every order type over one request, with ``changes`` applied to the request."""
    base: dict[str, Any] = {
        "type": OrderType.BUY,
        "currency": "EUR",
        "cash_amount": D(100),
        "allocation": (AllocationLine("A", D("0.6")), AllocationLine("B", D("0.4"))),
        "instruments": (_instrument(), _instrument(instrument_id="B", price=D("2.5"))),
        "positions": (Position("A", D(30)), Position("B", D(12))),
        "cash": D(1000),
    }
    base.update(changes)
    return plan(PortfolioRequest(**base))


def _key(**changes: Any) -> AllocationKey:
    participants = (
        Participant("p1", D(10000), True, 2),
        Participant("p2", D(20000), True, 1),
        Participant("p3", D(30000)),
    )
    base: dict[str, Any] = {
        "name": "key",
        "unit_type": UnitType.UNIT,
        "margin_handling": MarginHandling.REDUCE,
        "one_time": False,
        "owner_account_id": "block",
        "error_account_id": "error",
        "participants": participants,
    }
    base.update(changes)
    return AllocationKey(**base)


def _allocate(key: AllocationKey | None = None, **changes: Any) -> object:
    base: dict[str, Any] = {
        "key": key or _key(),
        "amount": D(65000),
        "filled": D(65000),
        "price": D(2),
        "buying_power": {"p1": D(10**6), "p2": D(10**6), "p3": D(50000)},
        "fills": (Execution(D(40000), D("1.99")), Execution(D(25000), D("2.01"))),
        "currency": "EUR",
    }
    base.update(changes)
    return allocate(BlockRequest(**base))


def _fill(**changes: Any) -> Fill:
    base: dict[str, Any] = {
        "order_id": "o1",
        "account_id": "acc",
        "instrument": _instrument(),
        "side": Side.BUY,
        "quantity": D(3),
        "price": D(10),
        "execution_time": NOW,
    }
    base.update(changes)
    return Fill(**base)


def _book(**changes: Any) -> AccountBook:
    return AccountBook(**{"account_id": "acc", "currency": "EUR", "cash": D(1000), **changes})


def _costs(**changes: Any) -> CostSchedule:
    return CostSchedule(
        **{
            "commission_rate": D("0.001"),
            "commission_minimum": D(1),
            "stamp_duty_rate": D("0.005"),
            **changes,
        }
    )


def _apply(**changes: Any) -> object:
    """A buy of 3, then a sell of 1, on one book."""
    fill, book, costs = (
        _fill(**changes.get("fill", {})),
        _book(**changes.get("book", {})),
        changes.get("costs"),
    )
    bought = apply_fill(book, fill, costs or _costs())
    return apply_fill(bought.book, _fill(side=Side.SELL, quantity=D(1)), costs or _costs())


#: Each case: the names of the inputs it varies, and how to carry a request with one of them replaced through.
CASES: Mapping[str, tuple[tuple[str, ...], Callable[[str, Any], object]]] = {
    "instrument": (
        ("price", "quantity_step", "min_order_amount", "contract_size", "currency", "asset_type", "symbol",
         "expiry", "ended"),
        lambda name, value: _plan_with(instruments=(_instrument(**{name: value}),
                                                    _instrument(instrument_id="B", price=D("2.5")))),
    ),
    "portfolio request, buy": (
        ("type", "currency", "cash_amount", "allocation", "instruments", "positions", "cash", "policy", "held"),
        lambda name, value: _plan_with(**{name: value}),
    ),
    "portfolio request, sell": (
        ("cash_amount", "positions", "cash", "held"),
        lambda name, value: _plan_with(type=OrderType.SELL, **{name: value}),
    ),
    "portfolio request, rebalancing": (
        ("positions", "cash", "held"),
        lambda name, value: _plan_with(type=OrderType.REBALANCING, cash_amount=None, **{name: value}),
    ),
    "policy": (
        ("sell_nav_limit", "cash_buffer", "drift_band"),
        lambda name, value: (
            _plan_with(type=OrderType.SELL, cash_amount=D(10), policy=Policy(**{name: value})),
            _plan_with(type=OrderType.REBALANCING, cash_amount=None, policy=Policy(**{name: value})),
        ),
    ),
    "allocation line": (
        ("instrument_id", "weight"),
        lambda name, value: Allocation((AllocationLine(**{"instrument_id": "A", "weight": D(1), name: value}),)),
    ),
    "participant": (
        ("account_id", "unit_value", "accept_remainder", "priority"),
        lambda name, value: _allocate(
            _key(participants=(
                Participant(**{"account_id": "p1", "unit_value": D(10000), "accept_remainder": True,
                               "priority": 2, name: value}),
                Participant("p2", D(20000), True, 1),
            ))
        ),
    ),
    "allocation key": (
        ("name", "unit_type", "margin_handling", "one_time", "owner_account_id", "error_account_id", "participants"),
        lambda name, value: _allocate(_key(**{name: value})),
    ),
    "block request": (
        ("amount", "quantity_step", "filled", "partial_fill_policy", "price", "contract_size", "buying_power",
         "fills", "currency"),
        lambda name, value: _allocate(**{name: value}),
    ),
    "execution": (
        ("quantity", "price"),
        lambda name, value: _allocate(
            fills=(Execution(**{"quantity": D(40000), "price": D(2), name: value}), Execution(D(25000), D(2)))
        ),
    ),
    "fill": (
        ("order_id", "account_id", "instrument", "side", "quantity", "price", "execution_time",
         "correlation_key", "booked_value", "fill_id"),
        lambda name, value: _apply(fill={name: value}),
    ),
    "account book": (
        ("account_id", "currency", "cash", "positions", "next_sequence_id"),
        lambda name, value: _apply(book={name: value}),
    ),
    "cost schedule": (
        ("commission_rate", "commission_minimum", "exchange_fee_rate", "stamp_duty_rate", "settlement_days"),
        lambda name, value: _apply(costs=_costs(**{name: value})),
    ),
    "management fee": (
        ("proceeds", "annual_rate", "last_charged", "as_of", "currency"),
        lambda name, value: management_fee(
            **{
                "proceeds": D("1000.00"),
                "schedule": FeeSchedule(**{"annual_rate": D("0.01"), "last_charged": dt.date(2024, 1, 1),
                                           **({name: value} if name in ("annual_rate", "last_charged") else {})}),
                "as_of": dt.date(2024, 6, 1),
                "currency": "EUR",
                **({name: value} if name in ("proceeds", "as_of", "currency") else {}),
            }
        ),
    ),
    "apportion": (
        ("total", "claim", "step", "rank", "cap"),
        lambda name, value: apportion(
            value if name == "total" else D("100.00"),
            [D(1), value if name == "claim" else D(2), D(3)],
            value if name == "step" else D("0.01"),
            ranks=[1, value if name == "rank" else 2, 3],
            caps=[D(50), value if name == "cap" else D(50), D(50)],
        ),
    ),
    "apportion units": (
        ("total", "claim", "rank", "cap"),
        lambda name, value: apportion_units(
            value if name == "total" else 100,
            [1, value if name == "claim" else 2, 3],
            ranks=[1, value if name == "rank" else 2, 3],
            caps=[50, value if name == "cap" else 50, 50],
        ),
    ),
    "numbers": (
        ("value", "step"),
        lambda name, value: (
            split_off_step(value if name == "value" else D("10.005"), value if name == "step" else D("0.01")),
            to_units(value if name == "value" else D("10.00"), value if name == "step" else D("0.01")),
            round_to(value if name == "value" else D("10.005"), value if name == "step" else D("0.01"), "ROUND_FLOOR"),
            check_decimal(value, "value"),
            check_cash(value, "EUR", "value"),
            as_cash(value, "EUR", "value"),
            parse_decimal(value, "value"),
        ),
    ),
    "costs and dates": (
        ("traded_value", "side", "settlement_days", "trade_date"),
        lambda name, value: (
            trading_costs(_costs(), value if name == "traded_value" else D(100),
                          value if name == "side" else Side.BUY, "EUR"),
            value_date(value if name == "trade_date" else dt.date(2024, 3, 1),
                       value if name == "settlement_days" else 2),
        ),
    ),
    "book prices": (
        ("quantities", "executions", "contract_size", "currency"),
        lambda name, value: book_prices(
            value if name == "quantities" else [D(1), D(2)],
            value if name == "executions" else [Execution(D(3), D(2))],
            value if name == "contract_size" else D(1),
            value if name == "currency" else "EUR",
        ),
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
@given(data=st.data())
def test_one_wrong_input_is_answered_or_refused_with_an_allot_error_or_a_type_error(
    case: str, data: st.DataObject
) -> None:
    names, run = CASES[case]
    name = data.draw(st.sampled_from(names), label="input")
    value = data.draw(TROUBLE, label="value")
    with contextlib.suppress(AllotError, TypeError):
        run(name, value)


def _core_enums() -> list[type[NamedEnum]]:
    """Every enum of the core (each of its modules imported, so that none is missed)."""
    for module in pkgutil.iter_modules(core.__path__):
        importlib.import_module(f"core.{module.name}")
    found: list[type[NamedEnum]] = []
    pending = list(NamedEnum.__subclasses__())
    while pending:
        kind = pending.pop()
        found.append(kind)
        pending += kind.__subclasses__()
    return sorted(found, key=lambda kind: kind.__name__)


def test_every_core_enum_is_named_by_its_value_so_what_is_stored_reads_back_as_the_same_member() -> None:
    enums = _core_enums()
    assert len(enums) >= 20
    for kind in enums:
        for member in kind:
            assert member.name == member.value
            assert kind(member.name) is member
            assert kind(member) is member


@given(kind=st.sampled_from(_core_enums()), value=TROUBLE)
def test_an_enum_given_anything_but_a_member_or_its_name_is_refused_with_a_validation_or_type_error(
    kind: type[NamedEnum], value: object
) -> None:
    try:
        member = kind(value)
    except (AllotError, TypeError):
        return
    assert member is value or member.name == value
