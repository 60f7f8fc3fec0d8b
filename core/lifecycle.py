"""Lifecycles as data: one transition table ``{(state, trigger): next_state}`` per aggregate.

An illegal move raises ``IllegalTransition`` naming the state and the trigger; since states are plain values
and ``next`` is a pure function, nothing has changed when it raises. The diagrams in ``docs/lifecycles.md``
are generated from these tables (``lifecycles_markdown()``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Final, Generic, TypeVar

import attrs

from core.errors import IllegalTransition
from core.validators import NamedEnum


class Trigger(NamedEnum):
    """What moves an order-like lifecycle from one state to the next."""

    SUBMIT = "SUBMIT"  #: all individual orders were created
    START = "START"  #: execution began (the first individual order is processing)
    PARTIAL_FILL = "PARTIAL_FILL"  #: part of the quantity was executed
    FILL = "FILL"  #: everything was executed
    CANCEL = "CANCEL"  #: the client cancelled
    FAIL = "FAIL"  #: an error at the trading partner cancelled it


class KeyTrigger(NamedEnum):
    """What moves an allocation key from one status to the next."""

    USE = "USE"
    DELETE = "DELETE"
    EXPIRE = "EXPIRE"


class ParentState(NamedEnum):
    """States of the records that own individual orders: portfolio orders and account liquidations.

    One set of states for both, so that the rules of a parent following its orders are written once; each
    keeps its own transition table (an account liquidation never passes through SUBMITTED).
    """

    NEW = "NEW"
    SUBMITTED = "SUBMITTED"
    PROCESSING = "PROCESSING"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"


#: The states of a portfolio order.
PortfolioOrderState = ParentState
#: The states of an account liquidation (never SUBMITTED).
LiquidationState = ParentState


class OrderState(NamedEnum):
    """States of an individual order and of a block order."""

    NEW = "NEW"
    PROCESSING = "PROCESSING"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"


#: States in which an order may still trade (and holds back what it may still need).
OPEN: Final = frozenset({OrderState.NEW, OrderState.PROCESSING})


class KeyStatus(NamedEnum):
    ACTIVE = "ACTIVE"
    ONE_TIME = "ONE_TIME"
    USED = "USED"
    EXPIRED = "EXPIRED"
    DELETED = "DELETED"


S = TypeVar("S", bound=enum.Enum)
E = TypeVar("E", bound=enum.Enum)


@attrs.frozen
class Lifecycle(Generic[S, E]):
    name: str
    initial: S
    table: Mapping[tuple[S, E], S]

    @property
    def final(self) -> frozenset[S]:
        """States with no way out."""
        sources = {state for state, _ in self.table}
        return frozenset(target for target in self.table.values() if target not in sources)

    def next(self, state: S, event: E) -> S:
        """The state ``event`` leads to from ``state`` (either given as a member or by its name)."""
        state, event = self._members(state, event)
        try:
            return self.table[(state, event)]
        except KeyError:
            raise IllegalTransition(self.name, state.value, event.value) from None

    def allows(self, state: S, event: E) -> bool:
        return self._members(state, event) in self.table

    def _members(self, state: S, event: E) -> tuple[S, E]:
        state_type, event_type = type(self.initial), type(next(iter(self.table))[1])
        return state_type(state), event_type(event)

    def mermaid(self) -> str:
        lines = ["stateDiagram-v2", f"    [*] --> {self.initial.value}"]
        lines += [f"    {s.value} --> {t.value}: {e.value}" for (s, e), t in self.table.items()]
        lines += [f"    {s.value} --> [*]" for s in sorted(self.final, key=lambda s: s.value)]
        return "\n".join(lines)


def _table(*rows: tuple[Sequence[S], E, S]) -> dict[tuple[S, E], S]:
    return {(source, event): target for sources, event, target in rows for source in sources}


PORTFOLIO_ORDER: Lifecycle[PortfolioOrderState, Trigger] = Lifecycle(
    "portfolio order",
    ParentState.NEW,
    _table(
        ([ParentState.NEW], Trigger.SUBMIT, ParentState.SUBMITTED),
        ([ParentState.SUBMITTED], Trigger.START, ParentState.PROCESSING),
        ([ParentState.PROCESSING], Trigger.FILL, ParentState.FILLED),
        ([ParentState.NEW, ParentState.SUBMITTED], Trigger.CANCEL, ParentState.CANCELLED),
        (
            [ParentState.NEW, ParentState.SUBMITTED, ParentState.PROCESSING],
            Trigger.FAIL,
            ParentState.CANCELLED,
        ),
    ),
)

ORDER: Lifecycle[OrderState, Trigger] = Lifecycle(
    "order",
    OrderState.NEW,
    _table(
        ([OrderState.NEW], Trigger.START, OrderState.PROCESSING),
        ([OrderState.PROCESSING], Trigger.PARTIAL_FILL, OrderState.PROCESSING),
        ([OrderState.PROCESSING], Trigger.FILL, OrderState.FILLED),
        ([OrderState.NEW, OrderState.PROCESSING], Trigger.CANCEL, OrderState.CANCELLED),
        ([OrderState.NEW, OrderState.PROCESSING], Trigger.FAIL, OrderState.CANCELLED),
    ),
)

BLOCK_ORDER: Lifecycle[OrderState, Trigger] = attrs.evolve(ORDER, name="block order")

ACCOUNT_LIQUIDATION: Lifecycle[LiquidationState, Trigger] = Lifecycle(
    "account liquidation",
    ParentState.NEW,
    _table(
        ([ParentState.NEW], Trigger.START, ParentState.PROCESSING),
        ([ParentState.PROCESSING], Trigger.FILL, ParentState.FILLED),
        ([ParentState.NEW], Trigger.CANCEL, ParentState.CANCELLED),
        ([ParentState.NEW, ParentState.PROCESSING], Trigger.FAIL, ParentState.CANCELLED),
    ),
)

ALLOCATION_KEY: Lifecycle[KeyStatus, KeyTrigger] = Lifecycle(
    "allocation key",
    KeyStatus.ACTIVE,
    _table(
        ([KeyStatus.ACTIVE], KeyTrigger.USE, KeyStatus.ACTIVE),
        ([KeyStatus.ONE_TIME], KeyTrigger.USE, KeyStatus.USED),
        ([KeyStatus.ONE_TIME], KeyTrigger.EXPIRE, KeyStatus.EXPIRED),
        ([KeyStatus.ACTIVE, KeyStatus.ONE_TIME], KeyTrigger.DELETE, KeyStatus.DELETED),
    ),
)

LIFECYCLES: tuple[
    Lifecycle[ParentState, Trigger] | Lifecycle[OrderState, Trigger] | Lifecycle[KeyStatus, KeyTrigger],
    ...,
] = (
    PORTFOLIO_ORDER,
    ORDER,
    BLOCK_ORDER,
    ACCOUNT_LIQUIDATION,
    ALLOCATION_KEY,
)


def states_of(lifecycle: Lifecycle[S, E]) -> tuple[S, ...]:
    """Every state a lifecycle can be in, in the order they first appear in its table."""
    seen = [lifecycle.initial]
    for (source, _), target in lifecycle.table.items():
        seen += [source, target]
    return tuple(dict.fromkeys(seen))


def follow_steps(
    lifecycle: Lifecycle[S, Trigger], current: S, children: Sequence[OrderState]
) -> tuple[tuple[Trigger, S], ...]:
    """The moves a parent (portfolio order, account liquidation) makes to agree with its children, in order,
    each as (trigger, state reached); empty when nothing changes.

    Created children submit the parent (where the lifecycle has that step), the first child processing starts
    it, all children filled fill it, and a child cancelled while the parent is live means an error at the
    trading partner, which cancels it. Every step goes through the table, so the path is always legal.
    """
    if current in lifecycle.final or not children:
        return ()
    path: list[tuple[Trigger, S]] = []
    state = current

    def move(trigger: Trigger) -> None:
        nonlocal state
        state = lifecycle.next(state, trigger)
        path.append((trigger, state))

    if lifecycle.allows(state, Trigger.SUBMIT):
        move(Trigger.SUBMIT)
    if any(child is OrderState.CANCELLED for child in children):
        move(Trigger.FAIL)
        return tuple(path)
    if any(child is not OrderState.NEW for child in children) and lifecycle.allows(state, Trigger.START):
        move(Trigger.START)
    if all(child is OrderState.FILLED for child in children):
        move(Trigger.FILL)
    return tuple(path)


def follow_children(
    lifecycle: Lifecycle[S, Trigger], current: S, children: Sequence[OrderState]
) -> tuple[S, ...]:
    """The states a parent passes through to agree with its children (see ``follow_steps``)."""
    return tuple(state for _, state in follow_steps(lifecycle, current, children))


def derive_state(lifecycle: Lifecycle[S, Trigger], current: S, children: Sequence[OrderState]) -> S:
    """The parent's state once it agrees with its children."""
    path = follow_children(lifecycle, current, children)
    return path[-1] if path else current


def lifecycles_markdown() -> str:
    """The order-like part of ``docs/lifecycles.md`` (``core.investments.lifecycles_markdown`` adds the
    investment's), generated from the tables above."""
    parts = [
        "# Lifecycles",
        "",
        "Generated from the transition tables in `core/lifecycle.py`; do not edit by hand.",
        "",
    ]
    for lifecycle in LIFECYCLES:
        parts += [f"## {lifecycle.name.capitalize()}", "", "```mermaid", lifecycle.mermaid(), "```", ""]
    return "\n".join(parts)


#: The states an account liquidation can be in (it shares its state type with portfolio orders).
LIQUIDATION_STATES: tuple[ParentState, ...] = states_of(ACCOUNT_LIQUIDATION)
