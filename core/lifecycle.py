"""Lifecycles as data: one transition table ``{(state, event): next_state}`` per aggregate.

An illegal move raises ``IllegalTransition`` naming the state and the event; since states are plain values
and ``next`` is a pure function, nothing has changed when it raises. The diagrams in ``docs/lifecycles.md``
are generated from these tables (``lifecycles_markdown()``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Generic, TypeVar

import attrs

from core.errors import IllegalTransition


class Event(enum.Enum):
    SUBMIT = "SUBMIT"  #: all individual orders were created
    START = "START"  #: execution began (the first individual order is processing)
    PARTIAL_FILL = "PARTIAL_FILL"  #: part of the quantity was executed
    FILL = "FILL"  #: everything was executed
    CANCEL = "CANCEL"  #: the client cancelled
    FAIL = "FAIL"  #: an error at the trading partner cancelled it


class KeyEvent(enum.Enum):
    USE = "USE"
    DELETE = "DELETE"
    EXPIRE = "EXPIRE"


class PortfolioOrderState(enum.Enum):
    NEW = "NEW"
    SUBMITTED = "SUBMITTED"
    PROCESSING = "PROCESSING"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"


class OrderState(enum.Enum):
    """States of an individual order and of a block order."""

    NEW = "NEW"
    PROCESSING = "PROCESSING"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"


class LiquidationState(enum.Enum):
    NEW = "NEW"
    PROCESSING = "PROCESSING"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"


class KeyStatus(enum.Enum):
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
        try:
            return self.table[(state, event)]
        except KeyError:
            raise IllegalTransition(self.name, state.value, event.value) from None

    def allows(self, state: S, event: E) -> bool:
        return (state, event) in self.table

    def mermaid(self) -> str:
        lines = ["stateDiagram-v2", f"    [*] --> {self.initial.value}"]
        lines += [f"    {s.value} --> {t.value}: {e.value}" for (s, e), t in self.table.items()]
        lines += [f"    {s.value} --> [*]" for s in sorted(self.final, key=lambda s: s.value)]
        return "\n".join(lines)


def _table(*rows: tuple[Sequence[S], E, S]) -> dict[tuple[S, E], S]:
    return {(source, event): target for sources, event, target in rows for source in sources}


P, Ord, L, K = PortfolioOrderState, OrderState, LiquidationState, KeyStatus

PORTFOLIO_ORDER: Lifecycle[PortfolioOrderState, Event] = Lifecycle(
    "portfolio order",
    P.NEW,
    _table(
        ([P.NEW], Event.SUBMIT, P.SUBMITTED),
        ([P.SUBMITTED], Event.START, P.PROCESSING),
        ([P.PROCESSING], Event.FILL, P.FILLED),
        ([P.NEW, P.SUBMITTED], Event.CANCEL, P.CANCELLED),
        ([P.NEW, P.SUBMITTED, P.PROCESSING], Event.FAIL, P.CANCELLED),
    ),
)

ORDER: Lifecycle[OrderState, Event] = Lifecycle(
    "order",
    Ord.NEW,
    _table(
        ([Ord.NEW], Event.START, Ord.PROCESSING),
        ([Ord.PROCESSING], Event.PARTIAL_FILL, Ord.PROCESSING),
        ([Ord.PROCESSING], Event.FILL, Ord.FILLED),
        ([Ord.NEW, Ord.PROCESSING], Event.CANCEL, Ord.CANCELLED),
        ([Ord.NEW, Ord.PROCESSING], Event.FAIL, Ord.CANCELLED),
    ),
)

BLOCK_ORDER: Lifecycle[OrderState, Event] = attrs.evolve(ORDER, name="block order")

ACCOUNT_LIQUIDATION: Lifecycle[LiquidationState, Event] = Lifecycle(
    "account liquidation",
    L.NEW,
    _table(
        ([L.NEW], Event.START, L.PROCESSING),
        ([L.PROCESSING], Event.FILL, L.FILLED),
        ([L.NEW], Event.CANCEL, L.CANCELLED),
        ([L.NEW, L.PROCESSING], Event.FAIL, L.CANCELLED),
    ),
)

ALLOCATION_KEY: Lifecycle[KeyStatus, KeyEvent] = Lifecycle(
    "allocation key",
    K.ACTIVE,
    _table(
        ([K.ACTIVE], KeyEvent.USE, K.ACTIVE),
        ([K.ONE_TIME], KeyEvent.USE, K.USED),
        ([K.ONE_TIME], KeyEvent.EXPIRE, K.EXPIRED),
        ([K.ACTIVE, K.ONE_TIME], KeyEvent.DELETE, K.DELETED),
    ),
)

LIFECYCLES: tuple[
    Lifecycle[PortfolioOrderState, Event]
    | Lifecycle[OrderState, Event]
    | Lifecycle[LiquidationState, Event]
    | Lifecycle[KeyStatus, KeyEvent],
    ...,
] = (
    PORTFOLIO_ORDER,
    ORDER,
    BLOCK_ORDER,
    ACCOUNT_LIQUIDATION,
    ALLOCATION_KEY,
)


def follow_children(
    lifecycle: Lifecycle[S, Event], current: S, children: Sequence[OrderState]
) -> tuple[S, ...]:
    """The states a parent (portfolio order, account liquidation) passes through to agree with its children.

    Returns the path in order, empty when nothing changes: created children submit the parent (where the
    lifecycle has that step), the first child processing starts it, all children filled fill it, and a child
    cancelled while the parent is live means an error at the trading partner, which cancels it.
    Every step goes through the table, so the path is always legal.
    """
    if current in lifecycle.final or not children:
        return ()
    path: list[S] = []
    state = current

    def move(event: Event) -> None:
        nonlocal state
        state = lifecycle.next(state, event)
        path.append(state)

    if lifecycle.allows(state, Event.SUBMIT):
        move(Event.SUBMIT)
    if any(child is OrderState.CANCELLED for child in children):
        move(Event.FAIL)
        return tuple(path)
    if any(child is not OrderState.NEW for child in children) and lifecycle.allows(state, Event.START):
        move(Event.START)
    if all(child is OrderState.FILLED for child in children):
        move(Event.FILL)
    return tuple(path)


def derive_state(lifecycle: Lifecycle[S, Event], current: S, children: Sequence[OrderState]) -> S:
    """The parent's state once it agrees with its children."""
    path = follow_children(lifecycle, current, children)
    return path[-1] if path else current


def lifecycles_markdown() -> str:
    """``docs/lifecycles.md``, generated from the tables above."""
    parts = [
        "# Lifecycles",
        "",
        "Generated from the transition tables in `core/lifecycle.py`; do not edit by hand.",
        "",
    ]
    for lifecycle in LIFECYCLES:
        parts += [f"## {lifecycle.name.capitalize()}", "", "```mermaid", lifecycle.mermaid(), "```", ""]
    return "\n".join(parts)
