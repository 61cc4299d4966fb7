"""Rules beyond trust, kept atomically: checked under the writers' lock, like the trust rules.

A domain's invariants often span aggregates (an appropriation's awards, a payment
reference used once anywhere), and the event catalogue has no events to coordinate
them through. So the recorders offer a hook: a `Guard` sees every committed entry
in seq order and is asked, under the same lock that orders the log, whether each new
event may be appended. It refuses by raising `GuardError`; then nothing is written.

A guard keeps its state in memory and catches up from the log (entries other
processes committed) before each batch. Changes it makes while admitting a batch
are journaled and undone if the transaction does not commit.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, Protocol

from ledger.errors import UserError


class GuardError(UserError, ValueError):
    """An event that a domain rule refuses; the message names the rule and the figures."""

    rule = "guard"


class Guard(Protocol):
    @property
    def position(self) -> int:
        """How many entries (seq 0 … position - 1) the guard has applied."""
        ...

    def admit(self, seq: int, event: dict[str, Any], *, strict: bool) -> list[str]:
        """Apply the entry at `seq`; return what it breaks.

        strict=True (a new event): if it breaks a rule, raise GuardError, changing nothing.
        strict=False (committed history, or a verifier's replay): apply it regardless,
        and return a message for each rule it breaks.
        """
        ...

    def begin(self) -> int:
        """Start a batch; return a mark to undo to."""
        ...

    def undo(self, mark: int) -> None: ...

    def commit(self) -> None: ...


_MISSING = object()


class Journal:
    """Undo records for changes to plain dicts, so a guard can roll a batch back."""

    def __init__(self) -> None:
        self._undo: list[tuple[MutableMapping[Any, Any], Any, Any]] = []
        self.active = False

    def set(self, mapping: MutableMapping[Any, Any], key: Any, value: Any) -> None:
        if self.active:
            self._undo.append((mapping, key, mapping.get(key, _MISSING)))
        mapping[key] = value

    def mark(self) -> int:
        self.active = True
        return len(self._undo)

    def undo(self, mark: int) -> None:
        while len(self._undo) > mark:
            mapping, key, old = self._undo.pop()
            if old is _MISSING:
                del mapping[key]
            else:
                mapping[key] = old
        self.active = bool(self._undo)

    def commit(self) -> None:
        self._undo.clear()
        self.active = False


RowReader = Callable[[int, int], list[tuple[int, str, bytes | None]]]


class GuardedWrites:
    """Runs a guard for one recorder: catch-up, admission, and settling its journal.

    The database lock orders writers across processes; this process lock also covers
    the moments after the database commits and before the guard's journal is settled.
    """

    def __init__(self, guard: Guard, read_committed: RowReader) -> None:
        self.guard = guard
        self._read_committed = read_committed
        self._lock = threading.RLock()
        self._pending: int | None = None  # journal mark of a batch not yet settled

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Around one `insert_events` call: settles the guard as the database did."""
        with self._lock:
            # Catch up on other processes' entries before taking the database lock,
            # so that only the last few are read while holding it.
            self._catch_up(self._read_committed, None)
            try:
                yield
            except BaseException:
                self._undo_pending()
                raise
            if self._pending is not None:
                self.guard.commit()
                self._pending = None

    def admit_batch(
        self, read_in_transaction: RowReader, head_size: int, events: list[tuple[int, Any]]
    ) -> None:
        """Under the database lock: catch up to the head, then admit each new event."""
        self._undo_pending()  # a retried attempt starts from committed state
        self._catch_up(read_in_transaction, head_size)
        if self.guard.position != head_size:
            raise GuardError(f"the guard is at entry {self.guard.position}, the log at {head_size}")
        self._pending = self.guard.begin()
        for seq, event in events:
            self.guard.admit(seq, event, strict=True)

    def _undo_pending(self) -> None:
        if self._pending is not None:
            self.guard.undo(self._pending)
            self._pending = None

    def _catch_up(self, read: RowReader, stop: int | None) -> None:
        while stop is None or self.guard.position < stop:
            rows = read(self.guard.position, 1000)
            if not rows:
                return
            for seq, _prev, state in rows:
                if stop is not None and seq >= stop:
                    return
                if seq != self.guard.position or state is None:
                    raise GuardError(f"entry {self.guard.position} is missing: verify the log")
                self.guard.admit(seq, json.loads(state)["event"], strict=False)
