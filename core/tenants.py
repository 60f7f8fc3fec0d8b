"""Tenants: who may see and change what, and the API keys that say who is calling.

A **client** (a platform, an asset manager) owns **users**; a user owns **accounts**. Everything made for an account
(its portfolio orders, liquidations, individual orders, positions, fundings) belongs to the account's owner.
Allocation keys, block orders and webhook subscriptions belong to the client and are shared by its users.
Model portfolios belong to the client that made them; those made by the operator are shared with everyone.
What the operator makes (on the command line, or with an admin key) belongs to no client.

A caller acts within a ``Scope``: a user of a client, a client as a whole, or the operator (who sees everything).
Another tenant's record is answered exactly like a missing one (``NotFound``), so that a caller cannot learn
whether an id exists.

An API key is ``allot_<key id>_<secret>``. Only a digest of the secret is stored; the key id finds the record, and
the digest is compared in constant time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Iterable
from typing import Final, Protocol, TypeVar

import attrs

from core.decisions import Changes, Decision
from core.errors import AlreadyExists, Forbidden, NotFound, Unauthorized, ValidationError
from core.records import Account, ApiKey, Client, User
from core.validators import check_text


class Owned(Protocol):
    """A record that belongs to a tenant: ``client_id`` None is the operator's."""

    @property
    def client_id(self) -> str | None: ...

    @property
    def user_id(self) -> str | None: ...


R = TypeVar("R", bound=Owned)


class Shared(Protocol):
    @property
    def client_id(self) -> str | None: ...


S = TypeVar("S", bound=Shared)


@attrs.frozen
class Scope:
    """Whose records a caller may see: one user's, a whole client's (``user_id`` None), or everyone's (operator)."""

    client_id: str | None
    user_id: str | None = None
    operator: bool = False

    @classmethod
    def of_user(cls, client_id: str, user_id: str) -> Scope:
        return cls(client_id, user_id)

    @classmethod
    def of_client(cls, client_id: str) -> Scope:
        return cls(client_id)


#: The command line and admin keys: every record, whoever owns it.
OPERATOR: Final = Scope(None, None, operator=True)


@attrs.frozen
class Owner:
    """Who a new record belongs to."""

    client_id: str | None = None
    user_id: str | None = None


#: What the operator makes belongs to no client.
NOBODY: Final = Owner()


def admits(scope: Scope, client_id: str | None, user_id: str | None) -> bool:
    """Whether the caller may see a record owned by ``client_id`` / ``user_id``: the operator sees everything; a
    client sees its own records; a user sees its client's shared records (no user) and its own."""
    if scope.operator:
        return True
    if client_id is None or client_id != scope.client_id:
        return False
    return scope.user_id is None or user_id is None or user_id == scope.user_id


def shares(scope: Scope, client_id: str | None) -> bool:
    """Whether the caller may use reference data (a model portfolio) made by ``client_id``: its own client's, or
    the operator's (no client), which everyone shares."""
    return scope.operator or client_id is None or client_id == scope.client_id


def visible(scope: Scope, record: R | None, what: str, record_id: str) -> R:
    """The record, if it exists and the caller may see it; otherwise ``NotFound``, the same either way."""
    if record is None or not admits(scope, record.client_id, record.user_id):
        raise NotFound(f"{what} {record_id} does not exist", {"kind": what, "id": record_id})
    return record


def only_visible(scope: Scope, records: Iterable[R]) -> list[R]:
    """The records the caller may see, in their order."""
    return [r for r in records if admits(scope, r.client_id, r.user_id)]


def filters(scope: Scope) -> dict[str, str]:
    """A ``list(**where)`` filter that narrows a repository to the client's records (the user's come from
    ``only_visible``, which also keeps the client's shared ones)."""
    return {} if scope.operator else {"client_id": scope.client_id or ""}


def require_operator(scope: Scope) -> None:
    """Instruments, prices and clients are the operator's to manage (an admin key)."""
    if not scope.operator:
        raise Forbidden("only an admin key may do this (allot apikeys create --admin)", {})


def client_wide(scope: Scope) -> Scope:
    """The scope of what a client shares: a user acting on the client's allocation keys sees all the client's
    accounts that the keys name, whichever user owns them."""
    return scope if scope.operator else Scope.of_client(scope.client_id or "")


def owner_for(scope: Scope, user_owned: bool) -> Owner:
    """Who a record the caller makes belongs to: the operator's belong to no client; a user's account to the
    user; a client's shared records (``user_owned`` false) to the client."""
    if scope.operator:
        return NOBODY
    return Owner(scope.client_id, scope.user_id if user_owned else None)


def within_client(owner: Owner, account: Account) -> None:
    """A client's key names only its own accounts (any of its users'); the operator's may name any account."""
    if owner.client_id is not None and account.client_id != owner.client_id:
        raise NotFound(f"account {account.id} does not exist", {"kind": "account", "id": account.id})


def named_owner(account: Account, user_id: str | None) -> Account:
    """The account, when a request names its user as well (as the documents' platforms do): a request naming
    another user than the account's owner answers exactly as if the account did not exist. Naming no user names
    none; the caller's scope has decided already which accounts it may use."""
    if user_id is not None and account.user_id != user_id:
        raise NotFound(f"account {account.id} does not exist", {"kind": "account", "id": account.id})
    return account


def shared_only(scope: Scope, records: Iterable[S]) -> list[S]:
    """The reference data (model portfolios) the caller may use, in their order."""
    return [r for r in records if shares(scope, r.client_id)]


# -- clients, users and API keys ---------------------------------------------------------------------------

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
KEY_PREFIX: Final = "allot"
_KEY = re.compile(r"allot_([0-9a-f]{16})_([A-Za-z0-9_-]{32,128})")


def check_name(value: str, what: str) -> str:
    """A client or user id: letters, digits, ``.``, ``_``, ``-``; at most 64; starting with a letter or digit."""
    check_text(value, what)
    if not _NAME.fullmatch(value):
        raise ValidationError(
            f"{what} {value!r} is not usable: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
            {"field": what, "value": value},
        )
    return value


def digest(secret: str) -> str:
    """The stored form of a key's secret (the secret is random and long, so a plain SHA-256 is enough)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def key_id_from(unique: str) -> str:
    """A key's public id: 16 hex digits of a new unique id (a UUID)."""
    digits = "".join(c for c in unique.lower() if c in "0123456789abcdef")
    if len(digits) < 16:
        raise ValidationError("a key id needs a unique id of at least 16 hex digits", {"id": unique})
    return digits[-16:]


def key_text(key_id: str, secret: str) -> str:
    """The key as given to its holder, once."""
    return f"{KEY_PREFIX}_{key_id}_{secret}"


def parse_key(text: str) -> tuple[str, str]:
    """A presented key's id and secret; anything else is ``Unauthorized``."""
    found = _KEY.fullmatch(text.strip())
    if found is None:
        raise Unauthorized("the API key is not valid", {})
    return found.group(1), found.group(2)


def scope_of(key: ApiKey) -> Scope:
    """What a key's holder acts as: the operator (an admin key), a client's user, or the client as a whole."""
    if key.admin:
        return OPERATOR
    if key.user_id is None:
        return Scope.of_client(key.client_id or "")
    return Scope.of_user(key.client_id or "", key.user_id)


def authenticate(stored: ApiKey | None, secret: str) -> Scope:
    """The scope of a presented key, if it is known, not revoked and its secret matches."""
    if stored is None or not hmac.compare_digest(stored.secret_sha256, digest(secret)):
        raise Unauthorized("the API key is not valid", {})
    if stored.revoked_at is not None:
        raise Unauthorized("the API key is not valid", {})
    return scope_of(stored)


@attrs.frozen
class Issued:
    """A new key with its text, which is shown once and never stored."""

    key: ApiKey
    text: str


def issue_key(
    client: str | None,
    user: str | None,
    admin: bool,
    existing_client: Client | None,
    existing_user: User | None,
    *,
    key_id: str,
    secret: str,
    now: dt.datetime,
) -> Decision[Issued]:
    """A new API key: an admin key (the operator's), or one for a client's user (or the client as a whole).
    The client and the user are registered with their first key; a user belongs to one client."""
    if admin:
        if client is not None or user is not None:
            raise ValidationError("an admin key belongs to no client or user; give --admin alone", {})
    elif client is None:
        raise ValidationError("a key needs a client (and usually a user), or --admin", {})
    created: list[Client | User] = []
    if client is not None:
        check_name(client, "client")
        if existing_client is None:
            created.append(Client(id=client, created_at=now))
    if user is not None:
        check_name(user, "user")
        if existing_user is not None and existing_user.client_id != client:
            raise AlreadyExists(
                f"user {user} belongs to another client; choose another user id",
                {"user": user},
            )
        if existing_user is None:
            created.append(User(id=user, client_id=client or "", created_at=now))
    key = ApiKey(
        id=key_id,
        secret_sha256=digest(secret),
        client_id=client,
        user_id=user,
        admin=admin,
        created_at=now,
    )
    return Decision(Issued(key, key_text(key_id, secret)), Changes.of(created=[*created, key]))


def register_client(client: str, existing: Client | None, now: dt.datetime) -> Decision[Client]:
    """A new client (tenant); its users are registered with their first key."""
    check_name(client, "client")
    if existing is not None:
        raise AlreadyExists(f"client {client} exists already", {"client": client})
    made = Client(id=client, created_at=now)
    return Decision(made, Changes.of(created=[made]))


@attrs.frozen(kw_only=True)
class KeyView:
    """An API key as it is listed: everything but the digest of its secret."""

    id: str
    client_id: str | None
    user_id: str | None
    admin: bool
    created_at: dt.datetime
    revoked_at: dt.datetime | None


def shown(key: ApiKey) -> KeyView:
    return KeyView(
        id=key.id,
        client_id=key.client_id,
        user_id=key.user_id,
        admin=key.admin,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
    )


def revoke_key(key: ApiKey, now: dt.datetime) -> Decision[ApiKey]:
    """A revoked key stops working at once; revoking it again changes nothing."""
    if key.revoked_at is not None:
        return Decision(key, Changes.of())
    revoked = attrs.evolve(key, revoked_at=now)
    return Decision(revoked, Changes.of(updated=[revoked]))
