"""Human-readable output: plain-text tables with numbers aligned on the right."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

from core.explain import Explanation
from core.journal import Audit
from core.numbers import fmt


def cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, Decimal):
        return fmt(value)
    if hasattr(value, "value"):
        return str(value.value)
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A table whose numeric columns are right-aligned; ``None`` shows as ``-``."""
    text = [[cell(v) for v in row] for row in rows]
    numeric = [
        bool(rows) and all(isinstance(row[i], Decimal | int) or row[i] is None for row in rows)
        for i in range(len(headers))
    ]
    widths = [max([len(h)] + [len(r[i]) for r in text]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in text)])


def counted(count: int, thing: str) -> str:
    """``1 entry``, ``2 entries``: a count with its noun (``thing`` singular; -y becomes -ies)."""
    if count == 1:
        return f"1 {thing}"
    return f"{count} {thing[:-1]}ies" if thing.endswith("y") else f"{count} {thing}s"


def books_balance(audit: Audit) -> str:
    """The sentence that says what ``ledger verify`` checked, when the books balance."""
    return (
        f"the books balance: {counted(audit.entries, 'entry')} checked, each balanced; "
        f"{counted(audit.assets, 'asset')} summing to zero over {counted(audit.ledger_accounts, 'ledger account')}; "
        f"the cash and positions of {counted(audit.accounts, 'account')} equal to their postings, "
        f"and what they hold back to the holds of {counted(audit.orders, 'open order')}"
    )


def explanation_text(explanation: Explanation | None) -> str:
    """Every stage of an allocation as a table: who claimed what, its exact quota, the floor and the remainder,
    its rank and place in the queue for the leftover steps, whether it won one and why, its share, and (for a
    ROTATE stage) its cumulative lead (+) or lag (-) in steps afterwards."""
    if explanation is None:
        return "no explanation was recorded (it was made before allot recorded them)"
    if not explanation.stages:
        return "nothing was apportioned: every share is whole, or the block is not done yet"
    parts = []
    for stage in explanation.stages:
        leftover = f", {counted(stage.leftover_steps, 'leftover step')}" if stage.leftover_steps else ""
        title = f"{stage.name}: {fmt(stage.total)} in steps of {fmt(stage.step)} by {stage.method.value}{leftover}"
        headers = [
            "recipient",
            "claim",
            "quota",
            "floor",
            "remainder",
            "rank",
            "place",
            "won",
            "reason",
            "share",
        ]
        rotating = any(line.lag is not None for line in stage.lines)
        rows = [
            [
                line.recipient, line.claim, fraction(line.quota), line.floor, fraction(line.remainder), line.rank,
                line.place, "yes" if line.won_step else "", line.reason, line.share,
                *([fraction(line.lag, signed=True)] if rotating else []),
            ]
            for line in stage.lines
        ]  # fmt: skip
        note = f"\n({stage.note})" if stage.note else ""
        parts.append(f"{title}\n{table([*headers, *(['lead/lag'] if rotating else [])], rows)}{note}")
    return "\n\n".join(parts)


def fraction(value: Fraction | None, signed: bool = False) -> str:
    """An exact fraction as written (``100/3``), whole numbers as such; ``signed`` shows ``+`` on a lead."""
    if value is None:
        return "-"
    sign = "+" if signed and value > 0 else ""
    return f"{sign}{value}"
