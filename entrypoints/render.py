"""Human-readable output: plain-text tables with numbers aligned on the right."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

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
