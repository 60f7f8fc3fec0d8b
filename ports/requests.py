"""Idempotent HTTP requests: a request that creates work is run once per idempotency key, and its response kept.

``begin`` is committed before the work starts, so that a second request with the same key, arriving while the
first runs, is told so (``REQUEST_IN_FLIGHT``) instead of doing the work twice; ``finish`` keeps the response.
"""

from __future__ import annotations

from core import idempotency
from core.idempotency import Begun
from core.records import StoredResponse
from core.tenants import Scope
from ports.driven import UnitOfWork
from ports.use_cases import UseCases, require, transaction


class Requests(UseCases):
    @transaction
    def begin(self, uow: UnitOfWork, scope: Scope, key: str | None, request: str) -> Begun:
        """Start the request made with ``key`` (its fingerprint ``request``), or answer with the stored response."""
        request_id = idempotency.request_key(scope, key)
        now = self.now()
        decision = idempotency.begin_request(
            uow.responses.get(request_id), key or "", request_id, request, now
        )
        return self.save(uow, decision, now)

    @transaction
    def finish(self, uow: UnitOfWork, scope: Scope, key: str, status: int, body: str) -> StoredResponse:
        """Keep the response to the request begun with ``key``."""
        request_id = idempotency.request_key(scope, key)
        started = require(uow.responses, request_id, "idempotent request")
        return self.save(uow, idempotency.finish_request(started, status, body), self.now())
