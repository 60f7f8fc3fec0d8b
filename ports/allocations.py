"""Model portfolios (allocations), referred to by id or by their unique name."""

from __future__ import annotations

from collections.abc import Sequence

from core import allocations
from core.fairness import Fairness
from core.idempotency import check_key, fingerprint
from core.instruments import AllocationLine
from core.records import ModelPortfolio
from core.tenants import OPERATOR, Scope, owner_for, shared_only
from ports.driven import UnitOfWork
from ports.use_cases import UseCases, transaction


def find_model(uow: UnitOfWork, reference: str, scope: Scope = OPERATOR) -> ModelPortfolio:
    """The model portfolio a person means by ``reference`` (its id or its name), among those the caller may use."""
    by_id = shared_only(scope, [m for m in [uow.allocations.get(reference)] if m is not None])
    by_name = shared_only(scope, uow.allocations.list(name=reference))
    return allocations.find(reference, next(iter(by_id), None), by_name)


class Allocations(UseCases):
    @transaction
    def create(
        self,
        uow: UnitOfWork,
        name: str,
        lines: Sequence[AllocationLine],
        scope: Scope = OPERATOR,
        fairness: Fairness = Fairness.PLAIN,
        idempotency_key: str | None = None,
    ) -> ModelPortfolio:
        """A model portfolio over existing instruments, under a name no other model portfolio has (ROTATE: the
        cents left over when a buy is split over its weights rotate over its instruments, order after order).
        Creating again with the same idempotency key and request returns the model portfolio."""
        key, request = (
            check_key(idempotency_key),
            fingerprint("model portfolio", name, tuple(lines), fairness),
        )
        made = self.done_before(uow, key, request, uow.allocations, "model portfolio")
        if made is not None:
            return made
        decision = allocations.create(
            name,
            lines,
            known_instruments={i for i in {line.instrument_id for line in lines} if uow.instruments.get(i)},
            same_name=uow.allocations.list(name=name),
            same_id=uow.allocations.get(name),
            model_id=self.new_id(),
            owner=owner_for(scope, user_owned=False),
            fairness=fairness,
        )
        self.remember(uow, key, request, decision.result.id)
        return self.save(uow, decision, self.now())

    @transaction
    def get(self, uow: UnitOfWork, reference: str, scope: Scope = OPERATOR) -> ModelPortfolio:
        return find_model(uow, reference, scope)

    @transaction
    def all(self, uow: UnitOfWork, scope: Scope = OPERATOR) -> list[ModelPortfolio]:
        return shared_only(scope, uow.allocations.list())
