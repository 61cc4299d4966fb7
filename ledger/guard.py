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

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar, cast

from ledger import guard_snapshot
from ledger.catalogue import LEDGER_ONLY, Catalogue
from ledger.errors import UserError
from ledger.guard_snapshot import SnapshotGuard, SnapshotStore
from ledger.merkle import Frontier
from ledger.replay import AlteredLogError, LogReplay, SignatureCheck
from ledger.trust import TrustState


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


class StoredHead(Protocol):
    """The stored head (ledger.appender.Head) as the guard compares it with the replay."""

    size: int
    last_leaf_hash: bytes | None
    frontier: Frontier


class NoRules:
    """The guard of a ledger without a domain: its writers still replay the log."""

    name = "ledger"
    fingerprint = "no-rules/1"

    def __init__(self) -> None:
        self._position = 0

    @property
    def position(self) -> int:
        return self._position

    def admit(self, seq: int, event: dict[str, Any], *, strict: bool) -> list[str]:
        self._position = seq + 1
        return []

    def begin(self) -> int:
        return self._position

    def undo(self, mark: int) -> None:
        self._position = mark

    def commit(self) -> None:
        pass

    def state(self) -> Any:
        return self._position

    def restore(self, state: Any) -> None:
        self._position = state


class _Replayed:
    """A guard and the log replay it rides on, saved and restored as one snapshot."""

    def __init__(self, guard: Guard, replay: LogReplay) -> None:
        self.guard, self.replay = cast(SnapshotGuard, guard), replay
        self.name = self.guard.name
        self.fingerprint = f"{self.guard.fingerprint}+replay/2"

    @property
    def position(self) -> int:
        return self.replay.size

    def state(self) -> Any:
        return (self.replay.state(), self.guard.state())

    def restore(self, state: Any) -> None:
        replay_state, guard_state = state
        self.replay.restore(replay_state)
        self.guard.restore(guard_state)


class GuardedWrites:
    """Runs a guard for one recorder: the log's replay (ledger.replay), catch-up,
    admission, settling its journal, snapshots.

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
        catalogue: Catalogue = LEDGER_ONLY,
    ) -> None:
        self.guard = guard
        # Every entry the guard applies is first checked and taken in by the replay:
        # chained to the one before, signed by a key the log itself put in force.
        self.replay = LogReplay(catalogue)
        self._read_committed = read_committed
        self._lock = threading.RLock()
        # A batch admitted but not yet settled: its journal mark, rows and events.
        self._pending: tuple[int, Any, list[tuple[int, Any]]] | None = None
        self._snapshots = snapshots if snapshot_key is not None else None
        self._snapshot_key = snapshot_key or b""
        self._started = False
        self._snapshot_at = 0  # the size of the last snapshot this process loaded or saved
        self.snapshot_status = "no snapshot"  # what happened to the stored one, for people
        # Checks of what else the database holds (its checkpoints, the signer's record)
        # against the replay, run once the writer first reaches the committed log.
        self.on_ready: list[Callable[[LogReplay], None]] = []
        self._anchored = False
        self._wrote = False  # whether this process committed a batch through it

    def ready(self) -> None:
        """Bring the guard up to the committed log, from a snapshot where one can be trusted:
        what a writer does before its first write, done now."""
        with self._lock:
            self._start()
            self._catch_up(self._read_committed, None)
            if not self._anchored:
                for check in self.on_ready:
                    check(self.replay)
                self._anchored = True

    def catch_up(self) -> None:
        """Take in whatever entries others committed since: for a check that finds an
        anchor (a record read after the entries were) ahead of the replay."""
        with self._lock:
            self._catch_up(self._read_committed, None)

    def confirmed(self, read_head: Callable[[], StoredHead]) -> LogReplay:
        """The replay brought up to the committed log and checked against the stored head:
        what a signer signs. Raises AlteredLogError where they differ."""
        with self._lock:
            if not self._anchored:
                self.ready()
            # The head first: a log nobody wrote to since costs one read, not two. Others
            # may commit between reading entries and head, hence the loop.
            for _ in range(100):
                head = read_head()
                if head.size <= self.replay.size:
                    break
                self._catch_up(self._read_committed, None)
            self.replay.confirm_head(head.size, head.last_leaf_hash, head.frontier)
            return self.replay

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Around one `insert_events` call: settles the guard as the database did."""
        with self._lock:
            self.replay.refuse_if_broken()
            if not self._started:
                # The first write may find the guard far behind: catch up before taking
                # the database lock. Later writes catch up on other processes' few
                # entries under it (catch_up_to), sparing a query on every write.
                self.ready()
            try:
                yield
            except BaseException:
                self._undo_pending()
                raise
            if self._pending is not None:
                self._wrote = True
                _mark, appended, events = self._pending
                self.guard.commit()
                self._pending = None
                self.replay.committed(
                    appended.keys, appended.head.frontier, appended.head.last_leaf_hash, events
                )
            self._save_snapshot_if_due()

    def catch_up_to(self, read_in_transaction: RowReader, head: StoredHead) -> TrustState:
        """Under the database lock: catch up to the stored head, check that it is the one
        the entries make, and return the keys a new batch is admitted by (the replay's,
        never the `ledger_keys` table's)."""
        self._undo_pending()  # a retried attempt starts from committed state
        self._catch_up(read_in_transaction, head.size)
        self.replay.confirm_head(head.size, head.last_leaf_hash, head.frontier)
        return self.replay.batch_trust()

    def admit_batch(self, events: list[tuple[int, Any]], appended: Any) -> None:
        """Under the database lock, after catch_up_to: admit each new event to the rules.
        `appended` (ledger.appender.Appended) is taken into the replay if the database
        commits."""
        mark = self.guard.begin()
        self._pending = (mark, appended, events)
        for seq, event in events:
            self.guard.admit(seq, event, strict=True)

    def _undo_pending(self) -> None:
        if self._pending is not None:
            self.guard.undo(self._pending[0])
            self._pending = None

    def _catch_up(self, read: RowReader, stop: int | None) -> None:
        replay = self.replay
        while stop is None or replay.size < stop:
            rows = read(replay.size, 1000)
            if not rows:
                return
            deferred: list[SignatureCheck] = []
            reached = False
            try:
                for seq, prev, state in rows:
                    if stop is not None and seq >= stop:
                        reached = True
                        break
                    event = replay.apply(seq, prev, state, deferred)
                    self.guard.admit(seq, event, strict=False)
            except AlteredLogError:
                replay.check_signatures(deferred)  # an earlier entry's may be the first change
                raise
            # Before anything is decided on these entries: all verified, in parallel.
            replay.check_signatures(deferred)
            if reached:
                return
        if stop is not None and replay.size != stop:
            raise replay.fail(f"the stored head says {stop} entries, the log holds {replay.size}")

    # -- snapshots ------------------------------------------------------------------------

    def _start(self) -> None:
        """Once per process, before the first catch-up: start from a stored snapshot."""
        if self._started:
            return
        self._started = True
        store = self._snapshots
        if store is None or self.replay.size != 0 or self.guard.position != 0:
            return
        both = _Replayed(self.guard, self.replay)
        try:
            stored = store.read_guard_snapshot(both.name)
            if stored is None:
                return
            rows = self._read_committed(stored.size - 1, 1) if stored.size > 0 else []
            guard_snapshot.restore(self._snapshot_key, both, stored, rows[0] if rows else None)
        except guard_snapshot.SnapshotRejectedError as exc:
            # Discarded for every writer; a read-only process cannot, and need not.
            with contextlib.suppress(Exception):
                store.delete_guard_snapshot(both.name)
            self.snapshot_status = f"discarded the stored snapshot: {exc}"
            return
        self._snapshot_at = stored.size
        self.snapshot_status = f"started from the snapshot of {stored.size} entries"

    def close(self) -> None:
        """As a writer closes: save a snapshot if it wrote and moved well past the last,
        so that the next process to start catches up on fewer entries."""
        with self._lock:
            if self._wrote and self.replay.broken is None:
                # A snapshot is a shortcut, never needed: one not saved costs a longer start.
                with contextlib.suppress(Exception):
                    self._save_snapshot_if_due(guard_snapshot.SNAPSHOT_ON_CLOSE)

    def _save_snapshot_if_due(self, every: int | None = None) -> None:
        every = guard_snapshot.SNAPSHOT_EVERY if every is None else every
        store = self._snapshots
        if store is None or self.replay.size - self._snapshot_at < every:
            return
        if self.replay.last_leaf is None:
            return
        both = _Replayed(self.guard, self.replay)
        snapshot = guard_snapshot.take(self._snapshot_key, both, self.replay.last_leaf)
        store.write_guard_snapshot(both.name, snapshot)
        self._snapshot_at = both.position
