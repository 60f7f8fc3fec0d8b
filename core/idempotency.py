"""Idempotency keys: placing the same request again with the same key returns what the first placing created."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Final

import attrs

from core.decisions import Changes, Decision
from core.errors import IdempotencyKeyMissing, IdempotencyKeyReused, RequestInFlight, ValidationError
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

#: A request still marked in flight after this long is taken to have died with its server: the key may be used
#: again (the use cases' own idempotency keeps a retry from creating the work twice).
IN_FLIGHT_LEASE: Final = dt.timedelta(minutes=5)
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


@attrs.frozen
class Begun:
    """What to do with an idempotent request: run it (``replay`` None), or answer with the stored response."""

    replay: StoredResponse | None


def begin_request(
    existing: StoredResponse | None, key: str, request_id: str, request: str, now: dt.datetime
) -> Decision[Begun]:
    """Start a request made with an idempotency key, or answer it from the first one: the same key and the same
    request get the first response; the same key with another request is refused (``IDEMPOTENCY_KEY_REUSED``)
    unless the first was not kept (``finish_request``);
    a first request still running makes the second wait its turn (``REQUEST_IN_FLIGHT``)."""
    if (
        existing is not None
        and existing.state is not RequestState.ABANDONED
        and existing.fingerprint != request
    ):
        raise IdempotencyKeyReused(
            "this Idempotency-Key was already used for a different request; use a new key for a new request",
            {"idempotency_key": key},
        )
    if existing is not None and existing.state is RequestState.DONE:
        return Decision(Begun(existing), Changes.of())
    if (
        existing is not None
        and existing.state is RequestState.IN_FLIGHT
        and now - existing.started_at < IN_FLIGHT_LEASE
    ):
        raise RequestInFlight(
            "a request with this Idempotency-Key is still being processed; retry when it has finished",
            {"idempotency_key": key},
        )
    started = StoredResponse(id=request_id, fingerprint=request, state=RequestState.IN_FLIGHT, started_at=now)
    if existing is None:
        return Decision(Begun(None), Changes.of(created=[started]))
    return Decision(Begun(None), Changes.of(updated=[started]))


#: The status of a refusal of bad input, which is not kept (``finish_request``).
BAD_INPUT: Final = 400


def finish_request(started: StoredResponse, status: int, body: str) -> Decision[StoredResponse]:
    """Keep the response to send again for the same key. Neither a failure of the server's own (5xx) nor a refusal
    of bad input (400) is kept: both changed nothing, so the caller may send the request again, or corrected,
    with the same key (as when the body could not even be read)."""
    state = RequestState.ABANDONED if status >= 500 or status == BAD_INPUT else RequestState.DONE
    done = attrs.evolve(started, state=state, status=status, body=body)
    return Decision(done, Changes.of(updated=[done]))
