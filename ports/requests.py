"""Idempotent HTTP requests: the answer to a request that creates work is kept for its idempotency key, and sent
again for the same request with the same key.

Nothing is written before the work: each use case that creates work keeps the key in the work's own transaction
(``UseCases.replay`` / ``remember``), so the work is done at most once per key whatever happens between the work
and its answer; ``kept`` and ``keep`` only spare a retry the work of rebuilding the first answer.
"""

from __future__ import annotations

from core import idempotency
from core.records import StoredResponse
from core.tenants import Scope
from ports.driven import UnitOfWork
from ports.use_cases import UseCases, transaction


class Requests(UseCases):
    @transaction
    def kept(self, uow: UnitOfWork, scope: Scope, key: str | None, request: str) -> StoredResponse | None:
        """The answer kept for the request made with ``key`` (its fingerprint ``request``), or None: run it."""
        request_id = idempotency.request_key(scope, key)
        return idempotency.kept_answer(uow.responses.get(request_id), key or "", request)

    @transaction
    def keep(
        self, uow: UnitOfWork, scope: Scope, key: str, request: str, status: int, code: str | None, body: str
    ) -> StoredResponse | None:
        """Keep the answer to the request made with ``key``, if it is worth keeping and none is kept yet."""
        request_id = idempotency.request_key(scope, key)
        now = self.now()
        decision = idempotency.keep_answer(
            uow.responses.get(request_id), request_id, request, status, code, body, now
        )
        return self.save(uow, decision, now)
