"""Model portfolios (allocations), referred to by id or by their unique name."""

from __future__ import annotations

from collections.abc import Sequence

from core import allocations
from core.errors import NotFound
from core.instruments import AllocationLine
from core.records import ModelPortfolio
from ports.driven import UnitOfWork
from ports.use_cases import UseCases, transaction


def find_model(uow: UnitOfWork, reference: str) -> ModelPortfolio:
    """The model portfolio with this id, else the one with this name."""
    found = uow.allocations.get(reference) or next(iter(uow.allocations.list(name=reference)), None)
    if found is None:
        raise NotFound(
            f"model portfolio {reference} does not exist (give its id or its name)",
            {"kind": "model portfolio", "id": reference},
        )
    return found


class Allocations(UseCases):
    @transaction
    def create(self, uow: UnitOfWork, name: str, lines: Sequence[AllocationLine]) -> ModelPortfolio:
        """A model portfolio over existing instruments, under a name no other model portfolio has."""
        decision = allocations.create(
            name,
            lines,
            known_instruments={i for i in {line.instrument_id for line in lines} if uow.instruments.get(i)},
            taken_names={m.name for m in uow.allocations.list(name=name)},
            model_id=self.new_id(),
        )
        return self.save(uow, decision, self.now())

    @transaction
    def get(self, uow: UnitOfWork, reference: str) -> ModelPortfolio:
        return find_model(uow, reference)

    @transaction
    def all(self, uow: UnitOfWork) -> list[ModelPortfolio]:
        return uow.allocations.list()
