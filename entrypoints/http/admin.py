"""The operator's routes (admin key): clients and the API keys of their users."""

from __future__ import annotations

import secrets
from typing import ClassVar, Final

import attrs

from core.records import Client
from core.tenants import KeyView, shown
from entrypoints.http.openapi import NAME, Rules, checked
from entrypoints.http.routing import PAGING, Access, Call, Operation, Reply, as_json, page


@attrs.frozen
class NewClient:
    client_id: str = attrs.field(metadata=checked(NAME))


@attrs.frozen(kw_only=True)
class NewApiKey:
    """A key for a client's user (or the client as a whole), or an admin key."""

    client_id: str | None = attrs.field(default=None, metadata=checked(NAME))
    user_id: str | None = attrs.field(default=None, metadata=checked(NAME))
    admin: bool = False
    #: An admin key names no client nor user; any other key names its client.
    openapi_rules: ClassVar[Rules] = ({"anyOf": [
        {"properties": {"admin": {"const": True}, "client_id": {"type": "null"}, "user_id": {"type": "null"}},
         "required": ["admin"]},
        {"properties": {"admin": {"const": False}, "client_id": {"type": "string"}}, "required": ["client_id"]},
    ]},)  # fmt: skip


def create_client(call: Call) -> Reply:
    body: NewClient = call.body
    return Reply(
        201, as_json(call.app.api_keys.register_client(body.client_id, idempotency_key=call.idempotency_key))
    )


def list_clients(call: Call) -> Reply:
    return page(call, call.app.api_keys.clients(), key=lambda c: c.id)


def create_key(call: Call) -> Reply:
    body: NewApiKey = call.body
    issued = call.app.api_keys.create(
        secrets.token_urlsafe(32),
        client=body.client_id,
        user=body.user_id,
        admin=body.admin,
        idempotency_key=call.idempotency_key,
    )
    return Reply(201, as_json(shown(issued.key)) | {"key": issued.text})


def list_keys(call: Call) -> Reply:
    return page(call, [shown(k) for k in call.app.api_keys.all()], key=lambda k: k.id)


def revoke_key(call: Call) -> Reply:
    return Reply(200, as_json(shown(call.app.api_keys.revoke(call.path["key_id"]))))


KEY_SCHEMA: Final = {"type": "object", "properties": {"key": {"type": "string"}}}

OPERATIONS: Final = (
    Operation("POST", "/clients", create_client, "Register a client (admin key)", "admin",
              body=NewClient, response=Client, status=201, access=Access.ADMIN, creates_work=True,
              errors=(403, 409), renamed={"client": "client_id"}),
    Operation("GET", "/clients", list_clients, "Every client (admin key)", "admin",
              response=Client, access=Access.ADMIN, paged=True, query=PAGING, errors=(403,)),
    Operation("POST", "/apikeys", create_key,
              "Issue an API key, shown once in `key` (admin key); only its digest is kept", "admin",
              body=NewApiKey, response=KEY_SCHEMA, status=201, access=Access.ADMIN, creates_work=True,
              errors=(403, 409), shown_once=("key",), renamed={"client": "client_id", "user": "user_id"}),
    Operation("GET", "/apikeys", list_keys, "Every API key, without its secret (admin key)", "admin",
              response=KeyView, access=Access.ADMIN, paged=True, query=PAGING, errors=(403,)),
    Operation("DELETE", "/apikeys/{key_id}", revoke_key, "Revoke an API key at once (admin key)", "admin",
              response=KeyView, access=Access.ADMIN, errors=(403, 404)),
)  # fmt: skip
