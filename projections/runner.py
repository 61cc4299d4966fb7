"""Projections follow the log in seq order, exactly once, and can be dropped and rebuilt.

Each batch of entries is applied to every projection that has not yet seen it, and
each projection's new position is written in the same transaction as its rows: a
crash mid-batch rolls back both, and the batch is applied again, once, on restart.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError

from domain.catalogue import CATALOGUE
from ledger import canonical
from ledger.appender import Head
from ledger.entry import EntryError, read_event
from ledger.errors import UserError
from ledger.outcome import DatabaseUnavailableError, Outage
from projections.db import ProjectionDB

BATCH = 5000
PATIENCE_SECONDS = 15.0  # how long a one-off catch-up waits for a database that went away
# The log's store (eventsourcing) and the projections' connection (psycopg) each say
# "the connection is gone" in their own way.
DATABASE_DOWN: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    DatabaseUnavailableError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)


class Projection(Protocol):
    """A read model. It may also define `forget()`, to drop any in-memory cache of its
    rows: the projector calls it when a batch rolls back and when it rebuilds."""

    name: str
    version: int  # bump when the tables or their meaning change: the projection is rebuilt
    tables: tuple[str, ...]

    @property
    def types(self) -> frozenset[str] | None:
        """The event types `apply` wants; None for every entry."""
        ...

    def create(self, db: ProjectionDB) -> None: ...

    def apply(self, db: ProjectionDB, seq: int, event: dict[str, Any]) -> None: ...

    def digest_queries(self) -> Sequence[str]:
        """SELECTs with a total ORDER BY whose rows are the projection's whole state."""
        ...


class Entries(Protocol):
    """What a projector reads of a log (a LogStore, or a verified part of one)."""

    def head(self) -> Head: ...

    def read_rows(self, start: int, limit: int) -> list[tuple[int, str, bytes | None]]:
        """Up to `limit` rows (seq, prev, state or None if the event is missing) from `start`."""
        ...


class ProjectionError(UserError, RuntimeError):
    """The log cannot be projected (a missing entry): verify the ledger."""

    rule = "projection"


class AlteredEntryError(ProjectionError):
    """An entry that is not a well-formed ledger entry: no writer made it, so the
    database was altered. The projection stops there, its batch rolled back."""

    rule = "altered-log"


def read_entry(seq: int, state: bytes) -> dict[str, Any]:
    """The event of the entry at `seq`, for the projections (AlteredEntryError if the
    stored bytes are not an entry's)."""
    try:
        return read_event(state)
    except EntryError as exc:
        raise AlteredEntryError(
            f"entry {seq} is not a well-formed ledger entry ({exc}): the log was altered; "
            "run `cmpp verify` to see what changed"
        ) from None


def _not_as_declared(seq: int, event: dict[str, Any], error: Exception) -> Exception:
    """A projection failed on an entry: if the entry's data is not what its type declares
    (no writer made it: the database was altered), say so; otherwise the failure is
    the projection's own, and goes up as it is."""
    kind = event.get("type")
    declared = CATALOGUE.types.get(kind) if isinstance(kind, str) else None
    problems = (
        ["its type is not in the catalogue"]
        if declared is None
        else [message for _rule, message in declared.problems(event.get("data"))]
    )
    if not problems:
        return error
    return AlteredEntryError(
        f"entry {seq} ({kind!s:.80}) is not as its type declares ({problems[0]}): the log "
        "was altered; run `cmpp verify` to see what changed"
    )


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause CPython's cyclic garbage collector for one batch.

    A batch makes many objects that live until it commits (rows waiting to be sent,
    projections' caches), and each collection would scan them all again. Nothing a
    projection builds is cyclic, so reference counting frees it; the collector runs
    again as soon as the batch ends, whichever way it ends.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class Projector:
    def __init__(self, store: Entries, db: ProjectionDB, projections: Iterable[Projection]) -> None:
        self.store = store
        self.db = db
        self.projections = {p.name: p for p in projections}
        # The positions this process last committed: if they moved otherwise, another
        # process applied entries, and whatever the projections cached is stale.
        self._expected: dict[str, int] | None = None
        with db.transaction():
            db.lock()
            db.execute(
                "CREATE TABLE IF NOT EXISTS projection_positions ("
                " name TEXT PRIMARY KEY, position BIGINT NOT NULL, version BIGINT NOT NULL)"
            )
        for projection in self.projections.values():
            self._ensure(projection)

    def _ensure(self, projection: Projection) -> None:
        """Rebuild a projection whose tables were made by another version of it."""
        self._forget([projection])
        with self.db.transaction():
            self.db.lock()  # decided and done by one process: the others then find it current
            rows = self.db.query(
                "SELECT version FROM projection_positions WHERE name = ?", (projection.name,)
            )
            if not rows or rows[0]["version"] != projection.version:
                self._recreate(projection)

    @staticmethod
    def _forget(projections: Iterable[Projection]) -> None:
        for projection in projections:
            forget = getattr(projection, "forget", None)
            if forget is not None:
                forget()

    def _reset(self, projection: Projection) -> None:
        self._forget([projection])
        with self.db.transaction():
            self.db.lock()
            self._recreate(projection)

    def _recreate(self, projection: Projection) -> None:
        for table in projection.tables:
            self.db.execute(f"DROP TABLE IF EXISTS {table}")
        projection.create(self.db)
        self.db.execute("DELETE FROM projection_positions WHERE name = ?", (projection.name,))
        self.db.execute(
            "INSERT INTO projection_positions VALUES (?, 0, ?)",
            (projection.name, projection.version),
        )
        self._expected = None

    def positions(self) -> dict[str, int]:
        rows = self.db.query("SELECT name, position FROM projection_positions")
        return {r["name"]: r["position"] for r in rows if r["name"] in self.projections}

    def lag(self) -> dict[str, int]:
        head = self.store.head().size
        return {name: head - position for name, position in self.positions().items()}

    def catch_up(
        self,
        *,
        stop: int | None = None,
        batch: int = BATCH,
        progress: Callable[[int], None] | None = None,
        patience: float | None = PATIENCE_SECONDS,
    ) -> int:
        """Apply every entry not yet projected (up to seq `stop`, exclusive); return how many.

        A dropped database connection is retried on a new one, with backoff, until
        `patience` seconds pass without the database answering; then it raises
        DatabaseUnavailableError (None: never). A batch whose commit was cut is safe to
        apply again: its rows and positions committed together or not at all.
        """
        applied = 0
        outage = Outage(patience)
        while True:
            try:
                positions = self.positions()
                start = min(positions.values(), default=0)
                limit = batch if stop is None else min(batch, stop - start)
                rows = self.store.read_rows(start, limit) if limit > 0 else []
                if not rows:
                    return applied
                self._apply_batch(rows)
            except DATABASE_DOWN as exc:
                outage.wait(exc)
                self._reconnect()
                continue
            outage.over()
            applied += len(rows)
            if progress is not None:
                progress(rows[-1][0] + 1)

    def _reconnect(self) -> None:
        self._forget(self.projections.values())
        self._expected = None
        with contextlib.suppress(*DATABASE_DOWN):
            self.db.reconnect()

    def _apply_batch(self, rows: list[tuple[int, str, bytes | None]]) -> None:
        # Entry by entry, each decoded once for every projection and dropped at once:
        # a batch of decoded entries kept alive would be scanned by every garbage
        # collection until the batch ended.
        last = rows[-1][0]
        db = self.db
        try:
            with db.transaction(), _collector_paused():
                db.lock()
                # Read again under the lock: another process may have applied some of
                # these entries since the rows were chosen.
                positions = self.positions()
                if positions != self._expected:
                    self._forget(self.projections.values())
                behind = [p for name, p in self.projections.items() if positions[name] <= last]
                wants = [(p.apply, p.types, positions[p.name]) for p in behind]
                for expected, (seq, _prev, state) in enumerate(rows, start=rows[0][0]):
                    if seq != expected or state is None:
                        raise ProjectionError(
                            f"entry {expected} is missing from the log: run cmpp verify"
                        )
                    event = read_entry(seq, state)
                    kind = event["type"]
                    for apply, types, start in wants:
                        if seq >= start and (types is None or kind in types):
                            try:
                                apply(db, seq, event)
                            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                                raise _not_as_declared(seq, event, exc) from None
                for projection in behind:
                    db.execute(
                        "UPDATE projection_positions SET position = ? WHERE name = ?",
                        (last + 1, projection.name),
                    )
        except BaseException:
            self._forget(self.projections.values())  # what they cached was rolled back
            self._expected = None
            raise
        self._expected = {**positions, **{p.name: last + 1 for p in behind}}

    def rebuild(self, name: str | None = None, **kwargs: Any) -> int:
        for projection in self._named(name):
            self._reset(projection)
        return self.catch_up(**kwargs)

    def digest(self, name: str | None = None) -> dict[str, str]:
        """SHA-256 over the canonical JSON of each projection's rows, in a fixed order."""
        out = {}
        for projection in self._named(name):
            digest = hashlib.sha256()
            for query in projection.digest_queries():
                for row in self.db.query(query):
                    digest.update(canonical.dumps(list(row.values())) + b"\n")
            out[projection.name] = digest.hexdigest()
        return out

    def _named(self, name: str | None) -> list[Projection]:
        if name is None:
            return list(self.projections.values())
        if name not in self.projections:
            raise ProjectionError(
                f"no projection {name!r}: there are {', '.join(self.projections)}"
            )
        return [self.projections[name]]
