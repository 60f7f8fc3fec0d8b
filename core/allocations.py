"""Model portfolios (allocations) as records: a unique name and instruments with weights that sum to 1."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from core.decisions import Changes, Decision
from core.errors import AlreadyExists, NotFound, UnknownInstrument
from core.fairness import Fairness
from core.instruments import Allocation, AllocationLine
from core.records import ModelPortfolio
from core.tenants import NOBODY, Owner
from core.validators import check_text


def create(
    name: str,
    lines: Sequence[AllocationLine],
    *,
    known_instruments: Collection[str],
    same_name: Sequence[ModelPortfolio],
    same_id: ModelPortfolio | None,
    model_id: str,
    owner: Owner = NOBODY,
    fairness: Fairness = Fairness.PLAIN,
) -> Decision[ModelPortfolio]:
    """A new model portfolio. Its name is unique, and no other model portfolio's id (``same_name``, ``same_id``:
    those that already go by it), so that orders can name it instead of quoting its id."""
    check_text(name, "name")
    allocation = Allocation(tuple(lines))
    unknown = sorted({line.instrument_id for line in allocation.lines} - set(known_instruments))
    if unknown:
        raise UnknownInstrument(
            f"the model portfolio names instruments that do not exist: {', '.join(unknown)}; add them first",
            {"instruments": unknown},
        )
    if same_name or same_id is not None:
        raise AlreadyExists(
            f"a model portfolio named {name!r} (or with that id) exists already; choose another name",
            {"name": name},
        )
    model = ModelPortfolio(model_id, name, allocation.lines, client_id=owner.client_id, fairness=fairness)
    return Decision(model, Changes.of(created=[model]))


def find(reference: str, by_id: ModelPortfolio | None, by_name: Sequence[ModelPortfolio]) -> ModelPortfolio:
    """The model portfolio a person means by ``reference``: the one with that id, else the one with that name."""
    found = by_id or next(iter(by_name), None)
    if found is None:
        raise NotFound(
            f"model portfolio {reference} does not exist (give its id or its name)",
            {"kind": "model portfolio", "id": reference},
        )
    return found
