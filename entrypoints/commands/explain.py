"""``allot explain``: how each share of a block order or a portfolio order came about, stage by stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import click

from adapters.serialization import structure
from core.blocks import BlockRequest, allocate
from core.explain import Explanation
from core.portfolio import PortfolioRequest, plan
from core.records import ParentKind
from entrypoints.cli_io import read_request
from entrypoints.render import explanation_text
from entrypoints.session import Session, with_session
from ports.queries import Explained

#: Why a record of each kind may have no explanation.
WITHOUT_ONE: Final = {
    ParentKind.BLOCK_ORDER: "it was placed before allot recorded explanations",
    ParentKind.PORTFOLIO_ORDER: "it was placed before allot recorded explanations, or it is a LIQUIDATION (every "
    "position is sold in full: nothing is apportioned)",
}
NOTHING_APPORTIONED: Final = (
    "nothing to explain: the request's plan apportions nothing (a LIQUIDATION sells every position in full)"
)


def is_request(target: str) -> bool:
    """A JSON request rather than an id: ``-`` (stdin), an existing file, or a name that can only be a file's
    (ending in .json, or with a /). Block and portfolio order ids are UUIDs, which are none of these."""
    return target == "-" or target.endswith(".json") or "/" in target or _is_file(target)


def _is_file(target: str) -> bool:
    """Whether a file of that name exists; a name the system cannot even look up (too long) is no file."""
    try:
        return Path(target).is_file()
    except OSError:
        return False


@click.command()
@click.argument("target", metavar="TARGET")
@with_session
def explain(session: Session, target: str) -> None:
    """How each share of a block order or a portfolio order came about.

    \b
    TARGET is one of:
      - a block order id or a portfolio order id: the explanation recorded
        when it was placed (nothing is written; a missing id is NOT_FOUND);
      - a JSON request: - for stdin, or a file (one that exists, or a name
        ending in .json or containing a /). A request with a "key" is a
        block request, as for `allot allocate`; any other a portfolio
        request, as for `allot split`. Nothing is stored.

    For every stage of the split (a key's base and remainder, a margin cut,
    the cash over the weights ...) a table lists each recipient: its claim,
    its exact quota (a fraction), the floor and the remainder, its rank and
    place in the queue for the leftover steps, whether it won one and why,
    and its share. --json prints the explanation as JSON (null if none).

    \b
    Example:  allot explain "$BLOCK_ID"
              allot explain entrypoints/samples/block_remainder.json --json
    """
    if is_request(target):
        explanation = of_request(read_request(target))
        session.emit(
            explanation, lambda: NOTHING_APPORTIONED if explanation is None else explanation_text(explanation)
        )
        return
    explained = session.open(writes=False).queries.explanation(target)
    session.emit(explained.explanation, lambda: described(explained))


def of_request(data: Any) -> Explanation | None:
    """The explanation of a pure calculation: a block request (it has a "key") or a portfolio request."""
    if isinstance(data, dict) and "key" in data:
        return allocate(structure(data, BlockRequest), explain=True).explanation
    return plan(structure(data, PortfolioRequest)).explanation


def described(explained: Explained) -> str:
    kind = explained.kind.value.lower().replace("_", " ")
    if explained.explanation is None:
        return f"{kind} {explained.id} has no recorded explanation: {WITHOUT_ONE[explained.kind]}"
    return f"{kind} {explained.id}\n\n{explanation_text(explained.explanation)}"
