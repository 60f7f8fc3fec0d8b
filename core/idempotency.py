"""Idempotency keys: placing the same request again with the same key returns what the first placing created."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Final

from core.decisions import Changes, Decision
from core.errors import IdempotencyKeyMissing, IdempotencyKeyReused, ValidationError
from core.records import IdempotencyRecord, RequestState, StoredResponse
from core.tenants import Scope
from core.validators import check_text


def fingerprint(*parts: object) -> str:
    """A stable digest of a request (frozen attrs values and enums have a deterministic repr)."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def check_key(key: str | None) -> str | None:
    """No key, or a key with something in it."""
    return None if key is None else check_text(key, "idempotency key")


def replayed(record: IdempotencyRecord | None, key: str, request: str) -> str | None:
    """The id the key already created for this same request; ``None`` if the key is new. The same key with
    another request is refused: the client reused a key by mistake."""
    if record is None:
        return None
    if record.fingerprint != request:
        raise IdempotencyKeyReused(
            f"idempotency key {key!r} was already used for a different request",
            {"idempotency_key": key, "original": record.result_id},
        )
    return record.result_id


# -- idempotent HTTP requests --------------------------------------------------------------------------------

#: The longest idempotency key accepted.
MAX_KEY_LENGTH: Final = 255


def request_key(scope: Scope, key: str | None) -> str:
    """The stored id of an idempotency key: keys are scoped per caller — per client, and within a client per user
    (the operator's apart) — so that no caller is ever answered with a response made for another."""
    if key is None or not key.strip():
        raise IdempotencyKeyMissing(
            "this request creates work: send an Idempotency-Key header (a unique string, such as a UUID)",
            {"header": "Idempotency-Key"},
        )
    if len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationError(
            f"the Idempotency-Key must be at most {MAX_KEY_LENGTH} printable characters",
            {"header": "Idempotency-Key"},
        )
    # Client and user ids have no ":", so the first "::" ends the caller's part, whatever the key holds: a client's
    # key "user:alice:Z" ("client:acme::user:alice:Z") is not its user alice's key "Z" ("client:acme:user:alice::Z").
    if scope.operator:
        return f"operator::{key}"
    if scope.user_id is None:
        return f"client:{scope.client_id}::{key}"
    return f"client:{scope.client_id}:user:{scope.user_id}::{key}"


def kept_answer(existing: StoredResponse | None, key: str, request: str) -> StoredResponse | None:
    """The answer kept for the first request made with this key, to send again for the same request; ``None``:
    run the request (a new key, or a first request whose answer was not kept). The same key with another request
    is refused (``IDEMPOTENCY_KEY_REUSED``).

    Nothing marks a request as running before its work: the use case that does the work keeps the key in the
    work's own transaction, so two requests with one key at once, or a retry after a server died between the work
    and its answer, do the work once and get its result."""
    if existing is None or existing.state is not RequestState.DONE:
        return None  # IN_FLIGHT and ABANDONED are left by earlier releases: their work was keyed too
    if existing.fingerprint != request:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was already used for a different request; use a new key for a new request",
            {"idempotency_key": key},
        )
    return existing


#: The status of a refusal of bad input, which is not kept (``keep_answer``).
BAD_INPUT: Final = 400


def worth_keeping(status: int, code: str | None) -> bool:
    """Whether an answer is kept for its key. Neither a failure of the server's own (5xx) nor a refusal of bad
    input (400) is: both changed nothing, so the caller may send the request again, or corrected, with the same
    key (as when the body could not even be read). Nor is the refusal of a key already used for another request:
    it answers this request, not the key's."""
    return status < 500 and status != BAD_INPUT and code != IdempotencyKeyReused.code


def keep_answer(
    existing: StoredResponse | None,
    request_id: str,
    request: str,
    status: int,
    code: str | None,
    body: str,
    now: dt.datetime,
) -> Decision[StoredResponse | None]:
    """Keep the answer to send again for the same key (``worth_keeping``), unless one is kept already: the first
    kept answer stays the key's, whichever of two requests at once finished last."""
    if not worth_keeping(status, code) or (existing is not None and existing.state is RequestState.DONE):
        return Decision(None, Changes.of())
    done = StoredResponse(
        id=request_id, fingerprint=request, state=RequestState.DONE, started_at=now, status=status, body=body
    )
    if existing is None:
        return Decision(done, Changes.of(created=[done]))
    return Decision(done, Changes.of(updated=[done]))
