"""A write's outcome, known even when the connection drops while it commits.

A COMMIT sent on a connection that then drops may have happened or not; the client
cannot tell from the error. eventsourcing's PostgreSQL recorders retry the whole
insert on a dropped connection, and a retry of a write that did commit would find its
own events and be refused as a conflict (or by the program's rules), telling the user
that a recorded command failed. So:

1. Every attempt after the first looks for the batch's own events under the writers'
   lock before doing anything else. Finding them, byte for byte (the same signed
   state), it stops: the write happened, once.
2. When every attempt has failed on the connection, the writer looks again, with
   backoff, until it can tell; the caller gets success, or a clear error saying the
   command was not recorded, or (only if the database stays unreachable) that the
   database could not be reached to find out.

A signed state holds the writer's timestamp and signature, so another writer's event
at the same stream and version never matches: a genuine conflict is still one.

Statements `alongside` a batch (the vault's records, say) are written in the events'
own transaction, so they exist exactly when the events do.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent

from ledger.errors import UserError

# SQL with `?` placeholders and its parameters, run in the events' transaction.
Statement = tuple[str, tuple[Any, ...]]

CONNECTION_ERRORS = (OperationalError, InterfaceError)
READ_PATIENCE_SECONDS = 15.0  # how long a read waits for a database that went away
OUTCOME_WAIT_SECONDS = 30.0  # how long a writer keeps trying to learn a write's outcome


class AlreadyRecorded(Exception):  # noqa: N818 (an outcome, not a failure)
    """A retried attempt found the batch it was writing already committed."""


class DatabaseUnavailableError(UserError, RuntimeError):
    """The database could not be reached (for long enough to matter)."""

    rule = "database-unavailable"


class OutcomeUnknownError(DatabaseUnavailableError):
    """A write was sent, and the database stayed away before it could say whether it
    committed: whatever the write depends on (a key's private file) must be kept."""

    rule = "outcome-unknown"


@dataclass
class Attempts:
    """Carried through eventsourcing's retries of one insert (the same kwargs each time)."""

    count: int = 0

    def next(self) -> bool:
        """Count an attempt; True if an earlier one may have committed."""
        self.count += 1
        return self.count > 1


def same_events(found: Sequence[StoredEvent], wanted: Sequence[StoredEvent]) -> bool:
    """Whether `found` (read back from the store) are exactly the `wanted` events."""
    key = {(str(e.originator_id), e.originator_version): bytes(e.state) for e in found}
    return all(
        key.get((str(e.originator_id), e.originator_version)) == bytes(e.state) for e in wanted
    )


def learn_outcome(
    recorded: Callable[[Sequence[StoredEvent]], bool],
    stored_events: Sequence[StoredEvent],
    cause: Exception,
    *,
    wait: float = OUTCOME_WAIT_SECONDS,
) -> None:
    """After a write failed on its connection: return if its events committed, else raise.

    `recorded` must look under the writers' lock, so a transaction still in flight on
    the server has finished (committed or rolled back) before the answer is read.
    """
    deadline = time.monotonic() + wait
    pause = 0.1
    while True:
        try:
            found = recorded(stored_events)
        except (*CONNECTION_ERRORS, DatabaseUnavailableError):
            if time.monotonic() + pause > deadline:
                raise OutcomeUnknownError(
                    f"the database connection was lost while the command committed, and "
                    f"the database stayed unreachable for {wait:.0f} s, so whether it was "
                    f"recorded is not known: check before repeating it ({_reason(cause)})"
                ) from None
            time.sleep(pause)
            pause = min(pause * 2, 2.0)
            continue
        if found:
            return
        raise DatabaseUnavailableError(
            f"the command was not recorded: the database connection failed ({_reason(cause)})"
        ) from None


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class Outage:
    """Backoff while the database is away; gives up once it has been away `patience`
    seconds (None: never), saying why."""

    def __init__(self, patience: float | None) -> None:
        self.patience = patience
        self._since: float | None = None
        self._pause = 0.1

    def wait(self, cause: Exception) -> None:
        now = time.monotonic()
        if self._since is None:
            self._since = now
        elif self.patience is not None and now - self._since > self.patience:
            raise DatabaseUnavailableError(
                f"the database stayed unreachable for {self.patience:.0f} s ({_reason(cause)})"
            ) from None
        time.sleep(self._pause)
        self._pause = min(self._pause * 2, 5.0)

    @property
    def since(self) -> float | None:
        return self._since

    def over(self) -> None:
        self._since, self._pause = None, 0.1


F = TypeVar("F", bound=Callable[..., Any])


def retry_idempotent(func: F) -> F:
    """Repeat a read, or a write whose repetition changes nothing (CREATE … IF NOT
    EXISTS, INSERT … ON CONFLICT DO NOTHING, a DELETE by key), on a dropped connection,
    with backoff, until the database has been away READ_PATIENCE_SECONDS; then
    DatabaseUnavailableError."""

    @wraps(func)
    def repeating(*args: Any, **kwargs: Any) -> Any:
        outage = Outage(READ_PATIENCE_SECONDS)
        while True:
            try:
                return func(*args, **kwargs)
            except CONNECTION_ERRORS as exc:
                outage.wait(exc)

    return cast(F, repeating)
