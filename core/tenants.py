"""Tenants: who may see and change what, and the API keys that say who is calling.

A **client** (a platform, an asset manager) owns **users**; a user owns **accounts**. Everything made for an account
(its portfolio orders, liquidations, individual orders, positions, fundings) belongs to the account's owner.
Allocation keys, block orders and webhook subscriptions belong to whoever made them: a user's are the user's, a
client-wide caller's are the client's. Model portfolios are reference data: they belong to the client that made
them and every caller of that client may use them; those made by the operator are shared with everyone.
What the operator makes (on the command line, or with an admin key) belongs to no client.

A caller acts within a ``Scope``: a user of a client, a client as a whole, or the operator (who sees everything).
A user sees its own records only; a client sees all of its records, its users' included.

**One rule decides every access** (``visible``): a record may be used by a caller only if the caller may see it
*and every record it names* — a key's owner, error and participant accounts, a block's accounts (``names``);
records that name one other record (an investment's funding account, an order's account and model) are loaded
through ``visible`` one by one. So a user cannot reach another user's money through a record that names it, and
a client's key over several users' accounts is the client's alone. Another tenant's record is answered exactly
like a missing one (``NotFound``, naming what was asked for and nothing it names), so that a caller cannot learn
whether an id exists.

An API key is ``allot_<key id>_<secret>``. Only a digest of the secret is stored; the key id finds the record, and
the digest is compared in constant time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable
from typing import Final, Protocol, TypeVar

import attrs

from core.decisions import Changes, Decision
from core.errors import AlreadyExists, Forbidden, LastAdminKey, NotFound, Unauthorized, ValidationError
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
    client sees its own records and its users'; a user sees its own only (not the client's, nor another user's)."""
    if scope.operator:
        return True
    if client_id is None or client_id != scope.client_id:
        return False
    return scope.user_id is None or user_id == scope.user_id


def shares(scope: Scope, client_id: str | None) -> bool:
    """Whether the caller may use reference data (a model portfolio) made by ``client_id``: its own client's, or
    the operator's (no client), which everyone shares."""
    return scope.operator or client_id is None or client_id == scope.client_id


def reaches(scope: Scope, record: Owned, names: Iterable[Owned | None] = ()) -> bool:
    """Whether the caller may use ``record``: it may see the record and every record the record names (``names``:
    a key's accounts, a block's key and accounts, an investment's funding account). A named record that is
    missing (``None``) is one the caller cannot see."""
    if scope.operator:
        return True
    return admits(scope, record.client_id, record.user_id) and all(
        named is not None and admits(scope, named.client_id, named.user_id) for named in names
    )


def visible(
    scope: Scope, record: R | None, what: str, record_id: str, names: Iterable[Owned | None] = ()
) -> R:
    """The record, if it exists and the caller may use it (``reaches``); otherwise ``NotFound`` naming the record
    asked for, the same either way."""
    if record is None or not reaches(scope, record, names):
        raise NotFound(f"{what} {record_id} does not exist", {"kind": what, "id": record_id})
    return record


def only_visible(
    scope: Scope, records: Iterable[R], names: Callable[[R], Iterable[Owned | None]] = lambda _: ()
) -> list[R]:
    """The records the caller may use (``reaches``, with ``names`` giving what each one names), in their order."""
    return [r for r in records if reaches(scope, r, names(r))]


def filters(scope: Scope) -> dict[str, str]:
    """A ``list(**where)`` filter that narrows a repository to the client's records (``only_visible`` then keeps
    a user's own)."""
    return {} if scope.operator else {"client_id": scope.client_id or ""}


def require_operator(scope: Scope) -> None:
    """Instruments, prices and clients are the operator's to manage (an admin key)."""
    if not scope.operator:
        raise Forbidden("only an admin key may do this (allot apikeys create --admin)", {})


def owner_for(scope: Scope, user_owned: bool = True) -> Owner:
    """Who a record the caller makes belongs to: the operator's belong to no client; a user's to the user (a
    client-wide caller's to the client); reference data the client's callers share (``user_owned`` false: a model
    portfolio) to the client."""
    if scope.operator:
        return NOBODY
    return Owner(scope.client_id, scope.user_id if user_owned else None)


def scope_of_owner(owner: Owner) -> Scope:
    """The scope of whoever owns a record: what a record it names must be visible to."""
    return OPERATOR if owner.client_id is None else Scope(owner.client_id, owner.user_id)


def within(owner: Owner, account: Account) -> None:
    """A key names only accounts its owner may see: a user's key the user's accounts, a client's key the client's
    (any of its users'); the operator's may name any account."""
    visible(scope_of_owner(owner), account, "account", account.id)


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

#: A client's or user's name: a letter or digit, then up to 63 letters, digits, dots, underscores or hyphens.
NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
KEY_PREFIX: Final = "allot"
_KEY = re.compile(r"allot_([0-9a-f]{16})_([A-Za-z0-9_-]{32,128})")


def check_name(value: str, what: str) -> str:
    """A client or user id: letters, digits, ``.``, ``_``, ``-``; at most 64; starting with a letter or digit."""
    check_text(value, what)
    if not NAME_PATTERN.fullmatch(value):
        raise ValidationError(
            f"{what} {value!r} is not usable: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
            {"field": what, "value": value},
        )
    return value


#: The shortest service token (the store API's) a server takes: as hard to guess as an API key's secret.
MIN_SERVICE_TOKEN: Final = 32


def check_service_token(token: str, what: str) -> str:
    """A service token chosen by a person: at least ``MIN_SERVICE_TOKEN`` characters and no blanks around it (a
    token that only works once stripped would be accepted at start and then match no request)."""
    if token != token.strip():
        raise ValidationError(f"{what} starts or ends with blanks: set it without them", {"field": what})
    if not (token.isascii() and token.isprintable() and " " not in token):
        raise ValidationError(
            f"{what} must be printable ASCII without blanks (it travels in an HTTP header)", {"field": what}
        )
    if len(token) < MIN_SERVICE_TOKEN:
        raise ValidationError(
            f"{what} is {len(token)} characters long: use at least {MIN_SERVICE_TOKEN} random ones "
            "(leave it unset and one is made for you)",
            {"field": what, "minimum": MIN_SERVICE_TOKEN},
        )
    return token


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


#: What an answer given again shows in place of what is shown only once (a new API key, a webhook's secret).
SHOWN_ONCE: Final = "shown only in the first answer"


@attrs.frozen
class Issued:
    """A new key with its text, which is shown once and never stored (``SHOWN_ONCE`` when the key is given again
    to a retry of the request that made it)."""

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


def revoke_key(key: ApiKey, admin_keys: Iterable[ApiKey], now: dt.datetime) -> Decision[ApiKey]:
    """A revoked key stops working at once; revoking it again changes nothing. The last admin key in force
    (``admin_keys``: every admin key) cannot be revoked: make another one first."""
    if key.revoked_at is not None:
        return Decision(key, Changes.of())
    if key.admin and not any(k.id != key.id and k.revoked_at is None for k in admin_keys if k.admin):
        raise LastAdminKey(
            f"API key {key.id} is the last admin key: make another (allot apikeys create --admin) before "
            "revoking it",
            {"key_id": key.id},
        )
    revoked = attrs.evolve(key, revoked_at=now)
    return Decision(revoked, Changes.of(updated=[revoked]))
