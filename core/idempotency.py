"""Idempotency keys: placing the same request again with the same key returns what the first placing created."""

from __future__ import annotations

import hashlib

from core.errors import IdempotencyKeyReused
from core.records import IdempotencyRecord
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
