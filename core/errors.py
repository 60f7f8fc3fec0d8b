"""One root error with a stable code, a message that says what to do, and details.

Entrypoints map these in one place (HTTP status, CLI exit status). ``code`` values are part of the
public contract: never rename one, add a new one instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class AllotError(Exception):
    """Root of every error allot raises on purpose."""

    code: ClassVar[str] = "ALLOT_ERROR"

    def __init__(self, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, details={self.details!r})"
        )


class ValidationError(AllotError):
    """The input is malformed: a missing field, a bad number, a value out of range."""

    code = "VALIDATION_ERROR"


class NotFound(ValidationError):
    """A record the request names does not exist (a mistyped id is bad input, like any other)."""

    code = "NOT_FOUND"


class AlreadyExists(AllotError):
    """A record with this id (or, for model portfolios, this name) exists already; nothing was written."""

    code = "ALREADY_EXISTS"


class InsufficientFunds(AllotError):
    code = "INSUFFICIENT_FUNDS"


class InsufficientPosition(AllotError):
    code = "INSUFFICIENT_POSITION"


class NavLimitExceeded(AllotError):
    code = "NAV_LIMIT_EXCEEDED"


class BalanceLimitExceeded(AllotError):
    """A deposit would give the account more cash than any amount allot keeps can hold."""

    code = "BALANCE_LIMIT_EXCEEDED"


class BelowMinimumOrder(AllotError):
    code = "BELOW_MINIMUM_ORDER"


class MissingPrice(AllotError):
    code = "MISSING_PRICE"


class UnknownInstrument(ValidationError):
    """The request names an instrument it does not describe."""

    code = "UNKNOWN_INSTRUMENT"


class CurrencyMismatch(AllotError):
    code = "CURRENCY_MISMATCH"


class ApportionmentError(AllotError):
    """The apportionment kernel was asked for something impossible (no claims, caps too small, ...)."""

    code = "APPORTIONMENT_IMPOSSIBLE"


class OffStep(ValidationError):
    """An amount is not a whole multiple of the step it must be split in."""

    code = "NOT_A_MULTIPLE_OF_STEP"


class MarginRejected(AllotError):
    code = "MARGIN_REJECTED"


class AllocationKeyNotUsable(AllotError):
    code = "ALLOCATION_KEY_NOT_USABLE"


class IllegalTransition(AllotError):
    """A lifecycle was asked to make a move its transition table does not have. Nothing changed."""

    code = "ILLEGAL_TRANSITION"

    def __init__(self, lifecycle: str, state: str, event: str) -> None:
        super().__init__(
            f"{lifecycle} cannot {event} while {state}",
            {"lifecycle": lifecycle, "state": state, "event": event},
        )
        self.lifecycle = lifecycle
        self.state = state
        self.event = event


class NothingToTrade(AllotError):
    code = "NOTHING_TO_TRADE"


class InstrumentEnded(AllotError):
    """The instrument (an option) was exercised or has expired: it no longer trades."""

    code = "INSTRUMENT_ENDED"


class AccountClosed(AllotError):
    code = "ACCOUNT_CLOSED"


class AccountManaged(AllotError):
    """The account is an investment's: its money moves only through the investment."""

    code = "ACCOUNT_MANAGED"


class AccountNotEmpty(AllotError):
    """An account is closed only once it holds nothing."""

    code = "ACCOUNT_NOT_EMPTY"


class IdempotencyKeyReused(AllotError):
    """The idempotency key was first used for a different request."""

    code = "IDEMPOTENCY_KEY_REUSED"


class Unauthorized(AllotError):
    """No API key, or one that is unknown, malformed or revoked."""

    code = "UNAUTHORIZED"


class Forbidden(AllotError):
    """The key is valid but may not do this (only an admin key manages instruments, prices and clients)."""

    code = "FORBIDDEN"


class LastAdminKey(AllotError):
    """Revoking this key would leave no admin key: nobody could manage instruments, prices or clients over HTTP."""

    code = "LAST_ADMIN_KEY"


class IdempotencyKeyMissing(ValidationError):
    """A request that creates work needs an ``Idempotency-Key``."""

    code = "IDEMPOTENCY_KEY_MISSING"


class ConcurrentUpdate(AllotError):
    """Someone else changed the record since it was read; nothing was written. Try again."""

    code = "CONCURRENT_UPDATE"


class StorageError(AllotError):
    """The store itself failed (read-only file, disk full, I/O error, busy beyond the timeout): nothing of the
    request was written. Fix the storage and run the command again."""

    code = "STORAGE_ERROR"


class DatabaseNotFound(StorageError):
    """A command that only reads was pointed at a database file that does not exist (it is never created for it),
    or the folder a new database should go in does not exist."""

    code = "DATABASE_NOT_FOUND"


class NotAnAllotDatabase(StorageError):
    """The file is not an allot database (another program's SQLite file, not SQLite at all, a directory).
    It is left untouched."""

    code = "NOT_AN_ALLOT_DATABASE"


class SchemaTooNew(StorageError):
    code = "SCHEMA_TOO_NEW"


class DatabaseCorrupt(StorageError):
    """The database file is damaged (zeroed or lost pages, a truncated file, a broken index): it is refused when it
    is opened, before anything is written. Restore it from a backup."""

    code = "DATABASE_CORRUPT"


class DiskFull(StorageError):
    """The disk holding the database has no room left: the transaction under way was rolled back whole."""

    code = "DISK_FULL"


class ReadOnlyDatabase(StorageError):
    """The database file may be read but not written by this process; commands that only read still work."""

    code = "READ_ONLY_DATABASE"


class ReadOnlyFolder(StorageError):
    """The folder holding the database may not be written by this process: a new database cannot be created there,
    and SQLite cannot keep the ``-wal`` and ``-shm`` files it needs beside an existing one."""

    code = "READ_ONLY_FOLDER"


class UnsafeWebhookUrl(ValidationError):
    code = "UNSAFE_WEBHOOK_URL"
