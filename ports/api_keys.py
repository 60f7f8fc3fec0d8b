"""API keys: issued for a client's user (or the operator), shown once, stored as a digest, revoked; and the key a
request presents, checked."""

from __future__ import annotations

from core import tenants
from core.idempotency import check_key, fingerprint
from core.records import ApiKey, Client
from core.tenants import Issued, Scope
from ports.driven import UnitOfWork
from ports.use_cases import UseCases, require, transaction


class ApiKeys(UseCases):
    @transaction
    def create(
        self,
        uow: UnitOfWork,
        secret: str,
        client: str | None = None,
        user: str | None = None,
        admin: bool = False,
        idempotency_key: str | None = None,
    ) -> Issued:
        """A new key for ``user`` of ``client`` (both registered with their first key), or an admin key. The
        ``secret`` is random (made by the caller); only its digest is stored. Asked again with the same idempotency
        key and request: the key made first, its text ``SHOWN_ONCE``."""
        key, request = check_key(idempotency_key), fingerprint("API key", client, user, admin)
        made = self.done_before(uow, key, request, uow.api_keys, "API key")
        if made is not None:
            return Issued(made, tenants.SHOWN_ONCE)
        now = self.now()
        decision = tenants.issue_key(
            client,
            user,
            admin,
            uow.clients.get(client) if client is not None else None,
            uow.users.get(user) if user is not None else None,
            key_id=tenants.key_id_from(self.new_id()),
            secret=secret,
            now=now,
        )
        self.remember(uow, key, request, decision.result.key.id)
        return self.save(uow, decision, now)

    @transaction
    def all(self, uow: UnitOfWork) -> list[ApiKey]:
        return uow.api_keys.list()

    @transaction
    def register_client(self, uow: UnitOfWork, client: str, idempotency_key: str | None = None) -> Client:
        """Register a client; registering again with the same idempotency key returns it."""
        key, request = check_key(idempotency_key), fingerprint("client", client)
        registered = self.done_before(uow, key, request, uow.clients, "client")
        if registered is not None:
            return registered
        now = self.now()
        self.remember(uow, key, request, client)
        return self.save(uow, tenants.register_client(client, uow.clients.get(client), now), now)

    @transaction
    def clients(self, uow: UnitOfWork) -> list[Client]:
        return uow.clients.list()

    @transaction
    def revoke(self, uow: UnitOfWork, key_id: str) -> ApiKey:
        key = require(uow.api_keys, key_id, "API key")
        now = self.now()
        return self.save(uow, tenants.revoke_key(key, uow.api_keys.list(), now), now)

    @transaction
    def authenticate(self, uow: UnitOfWork, presented: str) -> Scope:
        """The scope of the key a request presents; ``UNAUTHORIZED`` for a key that is unknown, wrong or revoked."""
        key_id, secret = tenants.parse_key(presented)
        return tenants.authenticate(uow.api_keys.get(key_id), secret)
