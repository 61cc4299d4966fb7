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
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar, cast

from ledger import guard_snapshot
from ledger.entry import EntryError, seal
from ledger.errors import UserError
from ledger.guard_snapshot import SnapshotGuard, SnapshotStore
from ledger.hashing import ZERO_PREV
from ledger.merkle import leaf_hash


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
    """Undo records for a guard's tables, so a batch the database does not commit is undone.

    A guard keeps its state only in tables made here (`journal.table()`), holding
    immutable rows: every change is an item assignment or deletion, and each is recorded
    while a batch is open. There is no other way to change them.
    """

    def __init__(self) -> None:
        self._undo: list[tuple[dict[Any, Any], Any, Any]] = []
        self.active = False

    def table(self, rows: Iterable[tuple[Any, Any]] = ()) -> JournaledTable[Any, Any]:
        return JournaledTable(self, rows)

    def record(self, table: dict[Any, Any], key: Any) -> None:
        if self.active:
            self._undo.append((table, key, table.get(key, _MISSING)))

    def mark(self) -> int:
        self.active = True
        return len(self._undo)

    def undo(self, mark: int) -> None:
        while len(self._undo) > mark:
            table, key, old = self._undo.pop()
            if old is _MISSING:
                dict.__delitem__(table, key)
            else:
                dict.__setitem__(table, key, old)
        self.active = bool(self._undo)

    def commit(self) -> None:
        self._undo.clear()
        self.active = False


class JournaledGuard:
    """A guard whose whole state is in one journal's tables: a batch is the journal's."""

    journal: Journal

    def begin(self) -> int:
        return self.journal.mark()

    def undo(self, mark: int) -> None:
        self.journal.undo(mark)

    def commit(self) -> None:
        self.journal.commit()


K = TypeVar("K")
V = TypeVar("V")


class JournaledTable(dict[K, V]):
    """A dict whose every change goes through its journal (reads are a plain dict's)."""

    def __init__(self, journal: Journal, rows: Iterable[tuple[K, V]] = ()) -> None:
        super().__init__(rows)
        self._journal = journal

    def __setitem__(self, key: K, value: V) -> None:
        self._journal.record(self, key)
        super().__setitem__(key, value)

    def __delitem__(self, key: K) -> None:
        self._journal.record(self, key)
        super().__delitem__(key)

    def _unjournaled(self, *_: Any, **__: Any) -> Any:
        raise TypeError("a guard's table changes only by item assignment (it is journaled)")

    update = pop = popitem = clear = setdefault = __ior__ = _unjournaled


RowReader = Callable[[int, int], list[tuple[int, str, bytes | None]]]


class GuardedWrites:
    """Runs a guard for one recorder: catch-up, admission, settling its journal, snapshots.

    The database lock orders writers across processes; this process lock also covers
    the moments after the database commits and before the guard's journal is settled.
    Given a snapshot store and key, the guard starts from the latest trustworthy snapshot
    (ledger.guard_snapshot) instead of entry 0, and saves a new one every SNAPSHOT_EVERY
    entries it moves past the last.
    """

    def __init__(
        self,
        guard: Guard,
        read_committed: RowReader,
        snapshots: SnapshotStore | None = None,
        snapshot_key: bytes | None = None,
    ) -> None:
        self.guard = guard
        self._read_committed = read_committed
        self._lock = threading.RLock()
        self._pending: int | None = None  # journal mark of a batch not yet settled
        self._snapshots = snapshots if snapshot_key is not None else None
        self._snapshot_key = snapshot_key or b""
        self._started = False
        self._snapshot_at = 0  # the size of the last snapshot this process loaded or saved
        self.snapshot_status = "no snapshot"  # what happened to the stored one, for people
        # The leaf hash of the last entry the guard has applied, recomputed from the entry
        # itself, so that every entry it applies must chain to the one before (and a
        # snapshot's last leaf commits to every byte of the history it was made from).
        self._last_leaf: bytes | None = None
        self._pending_leaf: bytes | None = None

    def ready(self) -> None:
        """Bring the guard up to the committed log, from a snapshot where one can be trusted:
        what a writer does before its first write, done now."""
        with self._lock:
            self._start()
            self._catch_up(self._read_committed, None)

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Around one `insert_events` call: settles the guard as the database did."""
        with self._lock:
            if not self._started:
                # The first write may find the guard far behind: catch up before taking
                # the database lock. Later writes catch up on other processes' few
                # entries under it (admit_batch), sparing a query on every write.
                self.ready()
            try:
                yield
            except BaseException:
                self._undo_pending()
                raise
            if self._pending is not None:
                self.guard.commit()
                self._pending = None
                self._last_leaf = self._pending_leaf
            self._save_snapshot_if_due()

    def admit_batch(
        self,
        read_in_transaction: RowReader,
        head: tuple[int, bytes | None],
        events: list[tuple[int, Any]],
        last_leaf_after: bytes | None,
    ) -> None:
        """Under the database lock: catch up to the head, then admit each new event.

        `head` is the stored head (size, last leaf hash) the batch extends: it must be the
        log the guard has read. `last_leaf_after` is the batch's last leaf hash, kept if
        the database commits.
        """
        self._undo_pending()  # a retried attempt starts from committed state
        head_size, head_leaf = head
        self._catch_up(read_in_transaction, head_size)
        if self.guard.position != head_size:
            raise GuardError(f"the guard is at entry {self.guard.position}, the log at {head_size}")
        if head_leaf != self._last_leaf:
            raise GuardError(
                "the stored head does not match the last entry: the log was changed behind "
                "the writers' backs; run cmpp verify"
            )
        self._pending = self.guard.begin()
        self._pending_leaf = last_leaf_after
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
            for seq, prev, state in rows:
                if stop is not None and seq >= stop:
                    return
                if seq != self.guard.position or state is None:
                    raise GuardError(f"entry {self.guard.position} is missing: verify the log")
                expected = ZERO_PREV if self._last_leaf is None else self._last_leaf.hex()
                if prev != expected:
                    raise GuardError(
                        f"entry {seq} does not chain to entry {seq - 1}: the log was changed "
                        "behind the writers' backs; run cmpp verify"
                    )
                try:
                    self._last_leaf = leaf_hash(seal(state, seq, prev))
                except EntryError:
                    raise GuardError(f"entry {seq} is not a signed event: verify the log") from None
                self.guard.admit(seq, json.loads(state)["event"], strict=False)

    # -- snapshots ------------------------------------------------------------------------

    def _start(self) -> None:
        """Once per process, before the first catch-up: start from a stored snapshot."""
        if self._started:
            return
        self._started = True
        store, guard = self._snapshots, cast(SnapshotGuard, self.guard)
        if store is None or guard.position != 0:
            return
        try:
            stored = store.read_guard_snapshot(guard.name)
            if stored is None:
                return
            rows = self._read_committed(stored.size - 1, 1) if stored.size > 0 else []
            guard_snapshot.restore(self._snapshot_key, guard, stored, rows[0] if rows else None)
        except guard_snapshot.SnapshotRejectedError as exc:
            store.delete_guard_snapshot(guard.name)
            self.snapshot_status = f"discarded the stored snapshot: {exc}"
            return
        self._snapshot_at, self._last_leaf = stored.size, stored.last_leaf_hash
        self.snapshot_status = f"started from the snapshot of {stored.size} entries"

    def _save_snapshot_if_due(self) -> None:
        store, guard = self._snapshots, cast(SnapshotGuard, self.guard)
        if store is None or guard.position - self._snapshot_at < guard_snapshot.SNAPSHOT_EVERY:
            return
        if self._last_leaf is None:
            return
        snapshot = guard_snapshot.take(self._snapshot_key, guard, self._last_leaf)
        store.write_guard_snapshot(guard.name, snapshot)
        self._snapshot_at = guard.position
