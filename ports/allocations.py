"""Model portfolios (allocations), referred to by id or by their unique name."""

from __future__ import annotations

from collections.abc import Sequence

from core import allocations
from core.instruments import AllocationLine
from core.records import ModelPortfolio
from ports.driven import UnitOfWork
from ports.use_cases import UseCases, transaction


def find_model(uow: UnitOfWork, reference: str) -> ModelPortfolio:
    """The model portfolio a person means by ``reference`` (its id or its name)."""
    return allocations.find(reference, uow.allocations.get(reference), uow.allocations.list(name=reference))


class Allocations(UseCases):
    @transaction
    def create(self, uow: UnitOfWork, name: str, lines: Sequence[AllocationLine]) -> ModelPortfolio:
        """A model portfolio over existing instruments, under a name no other model portfolio has."""
        decision = allocations.create(
            name,
            lines,
            known_instruments={i for i in {line.instrument_id for line in lines} if uow.instruments.get(i)},
            same_name=uow.allocations.list(name=name),
            same_id=uow.allocations.get(name),
            model_id=self.new_id(),
        )
        return self.save(uow, decision, self.now())

    @transaction
    def get(self, uow: UnitOfWork, reference: str) -> ModelPortfolio:
        return find_model(uow, reference)

    @transaction
    def all(self, uow: UnitOfWork) -> list[ModelPortfolio]:
        return uow.allocations.list()
