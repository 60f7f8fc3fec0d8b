"""Model portfolios (allocations) as records: a unique name and instruments with weights that sum to 1."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from core.decisions import Changes, Decision
from core.errors import AlreadyExists, UnknownInstrument
from core.instruments import Allocation, AllocationLine
from core.records import ModelPortfolio
from core.validators import check_text


def create(
    name: str,
    lines: Sequence[AllocationLine],
    *,
    known_instruments: Collection[str],
    taken_names: Collection[str],
    model_id: str,
) -> Decision[ModelPortfolio]:
    """A new model portfolio. Its name is unique, so that orders can name it instead of quoting its id."""
    check_text(name, "name")
    allocation = Allocation(tuple(lines))
    unknown = sorted({line.instrument_id for line in allocation.lines} - set(known_instruments))
    if unknown:
        raise UnknownInstrument(
            f"the model portfolio names instruments that do not exist: {', '.join(unknown)}; add them first",
            {"instruments": unknown},
        )
    if name in taken_names:
        raise AlreadyExists(
            f"a model portfolio named {name!r} exists already; choose another name", {"name": name}
        )
    model = ModelPortfolio(model_id, name, allocation.lines)
    return Decision(model, Changes.of(created=[model]))
