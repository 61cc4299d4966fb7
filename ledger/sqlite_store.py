"""The ledger on SQLite: eventsourcing's recorders, extended to append the log.

Selected with PERSISTENCE_MODULE=ledger.sqlite_store. Each write transaction
begins IMMEDIATE, so writers in other processes queue on SQLite's write lock
rather than failing to upgrade a read; inside it, `_insert_events` inserts the
events and then their log entries, Merkle nodes and the new head.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import astuple
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteFactory,
    SQLiteProcessRecorder,
    SQLiteTransaction,
)

from ledger.appender import (
    Appended,
    Head,
    LogWriter,
    key_record,
    node_home,
    nodes_from_rows,
    prepare,
)
from ledger.guard_snapshot import Snapshot
from ledger.merkle import Node
from ledger.trust import KeyRecord

LOCK_TIMEOUT_SECONDS = 60
_CREATED = re.compile(r"\s*CREATE (?:UNIQUE )?(?:TABLE|INDEX) IF NOT EXISTS (\w+)", re.IGNORECASE)

LOG_TABLES = [
    "CREATE TABLE IF NOT EXISTS ledger_log ("
    " seq INTEGER PRIMARY KEY, originator_id TEXT NOT NULL,"
    " originator_version INTEGER NOT NULL, prev TEXT NOT NULL, leaf_hash BLOB NOT NULL,"
    " nodes BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ledger_head ("
    " id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL,"
    " last_leaf_hash BLOB, frontier BLOB NOT NULL, keys_version INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ledger_keys ("
    " key_id TEXT PRIMARY KEY, public_key BLOB NOT NULL, holder TEXT NOT NULL,"
    " roles TEXT NOT NULL, registered_seq INTEGER NOT NULL, revoked_seq INTEGER, person TEXT)",
    "CREATE TABLE IF NOT EXISTS ledger_checkpoints ("
    " size INTEGER PRIMARY KEY, note TEXT NOT NULL, issued_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ledger_cosignatures ("
    " size INTEGER NOT NULL, witness TEXT NOT NULL, line TEXT NOT NULL,"
    " PRIMARY KEY (size, witness))",
    "CREATE TABLE IF NOT EXISTS ledger_guard_snapshots ("
    " name TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, size INTEGER NOT NULL,"
    " last_leaf_hash BLOB NOT NULL, state BLOB NOT NULL, mac BLOB NOT NULL)",
]


class _WriteFirstTransaction(SQLiteTransaction):
    def __enter__(self) -> SQLiteCursor:
        cursor = self.connection.cursor()
        cursor.execute("BEGIN IMMEDIATE" if self.commit else "BEGIN")
        return cursor

    def __exit__(self, *exc_info: Any) -> None:
        try:
            super().__exit__(*exc_info)
        except BaseException:
            # A COMMIT that fails (disk full, I/O error, interrupted) can leave the
            # transaction open, holding the write lock, on a connection that goes back
            # to the pool: every later write would fail. End it here, whatever it held.
            if self.connection._sqlite_conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self.connection.rollback()
            raise


class LedgerSQLiteDatastore(SQLiteDatastore):
    @contextmanager
    def transaction(self, *, commit: bool) -> Iterator[SQLiteCursor]:
        with (
            self.get_connection(commit=commit) as conn,
            _WriteFirstTransaction(conn, commit=commit) as curs,
            curs,
        ):
            yield curs


def _db_id(originator_id: UUID | str) -> str:
    return originator_id.hex if isinstance(originator_id, UUID) else originator_id


class SQLiteLog(LogWriter):
    """Mixin for eventsourcing's SQLite application and process recorders."""

    datastore: SQLiteDatastore

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *LOG_TABLES]  # type: ignore[misc]

    def create_table(self) -> None:
        # Only the first process makes the tables. Making them takes the write lock,
        # which would queue every command (a verification too) behind any writer, and
        # could not be had at all on a read-only file.
        if not self._tables_missing():
            return
        super().create_table()  # type: ignore[misc]

    def _tables_missing(self) -> bool:
        statements: list[str] = self.create_table_statements  # type: ignore[attr-defined]
        names = set()
        for statement in statements:
            found = _CREATED.match(statement)
            if found is None:
                return True  # a statement we cannot read: let the library run them all
            names.add(found.group(1))
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")
            existing = {row[0] for row in c.fetchall()}
        return not names <= existing

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if self.guarded is None:
            return super().insert_events(stored_events, **kwargs)  # type: ignore[misc,no-any-return]
        with self.guarded.writing():
            returning = super().insert_events(stored_events, **kwargs)  # type: ignore[misc]
        self._committed()
        return returning  # type: ignore[no-any-return]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        prepared = prepare(stored_events, require_signed=self.require_signed)
        returning = super()._insert_events(c, stored_events, **kwargs)  # type: ignore[misc]
        if not stored_events:  # e.g. a process recorder saving only its tracking position
            return returning  # type: ignore[no-any-return]
        head = self._select_head(c)
        appended = self._append(
            lambda start, limit: self._select_rows(c, start, limit),
            head,
            prepared,
            lambda ids: self._select_keys(c, ids),
        )
        self._write(c, appended)
        for sql, params in kwargs.get("alongside", ()):  # in the events' own transaction
            c.execute(sql, params)
        return returning  # type: ignore[no-any-return]

    # -- inside the write transaction ---------------------------------------------

    @staticmethod
    def _select_head(c: SQLiteCursor) -> Head:
        c.execute("SELECT * FROM ledger_head WHERE id = 1")
        return Head.from_row(c.fetchone())

    @staticmethod
    def _select_keys(c: SQLiteCursor, key_ids: set[str]) -> dict[str, KeyRecord]:
        if not key_ids:
            return {}
        marks = ",".join("?" * len(key_ids))
        c.execute(f"SELECT * FROM ledger_keys WHERE key_id IN ({marks})", sorted(key_ids))  # noqa: S608
        return {row["key_id"]: key_record(row) for row in c.fetchall()}

    @staticmethod
    def _write(c: SQLiteCursor, appended: Appended) -> None:
        c.executemany(
            "INSERT INTO ledger_log VALUES (?, ?, ?, ?, ?, ?)",
            [(s, _db_id(o), v, p, h, n) for s, o, v, p, h, n in appended.log_rows],
        )
        head = appended.head
        values = (head.size, head.last_leaf_hash, head.frontier.to_bytes(), head.keys_version)
        if head.size == len(appended.log_rows):  # the first batch creates the head row
            c.execute("INSERT INTO ledger_head VALUES (1, ?, ?, ?, ?)", values)
        else:
            c.execute(
                "UPDATE ledger_head SET size = ?, last_leaf_hash = ?, frontier = ?,"
                " keys_version = ? WHERE id = 1",
                values,
            )
        for key in appended.keys:
            c.execute(
                "INSERT OR REPLACE INTO ledger_keys VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    key.key_id,
                    key.public_key,
                    key.holder,
                    json.dumps(list(key.roles)),
                    key.registered_seq,
                    key.revoked_seq,
                    key.person,
                ),
            )

    # -- the LogStore reads ---------------------------------------------------------

    def head(self) -> Head:
        with self.datastore.transaction(commit=False) as c:
            return self._select_head(c)

    def read_rows(self, start: int, limit: int) -> list[tuple[int, str, bytes | None]]:
        with self.datastore.transaction(commit=False) as c:
            return self._select_rows(c, start, limit)

    def _select_rows(
        self, c: SQLiteCursor, start: int, limit: int
    ) -> list[tuple[int, str, bytes | None]]:
        events = getattr(self, "events_table_name", "stored_events")
        # SQLite keeps whatever type is written into a column: a state set by hand to text
        # or a number is read as its bytes, for the readers to refuse as they refuse any.
        c.execute(
            "SELECT l.seq, l.prev, CAST(e.state AS BLOB) FROM ledger_log l"  # noqa: S608
            f" LEFT JOIN {events} e"
            " ON e.originator_id = l.originator_id"
            " AND e.originator_version = l.originator_version"
            " WHERE l.seq >= ? ORDER BY l.seq LIMIT ?",
            (start, limit),
        )
        return [(r[0], r[1], None if r[2] is None else bytes(r[2])) for r in c.fetchall()]

    def read_tree_rows(self, start: int, limit: int) -> list[tuple[int, bytes, bytes]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT seq, leaf_hash, nodes FROM ledger_log WHERE seq >= ? ORDER BY seq LIMIT ?",
                (start, limit),
            )
            return [(r[0], bytes(r[1]), bytes(r[2])) for r in c.fetchall()]

    def fetch_nodes(self, nodes: set[Node]) -> Mapping[Node, bytes]:
        seqs = sorted({node_home(n)[0] for n in nodes})
        rows: dict[int, tuple[bytes, bytes]] = {}
        with self.datastore.transaction(commit=False) as c:
            for i in range(0, len(seqs), 500):
                chunk = seqs[i : i + 500]
                c.execute(
                    "SELECT seq, leaf_hash, nodes FROM ledger_log"  # noqa: S608
                    f" WHERE seq IN ({','.join('?' * len(chunk))})",
                    chunk,
                )
                rows.update((r[0], (bytes(r[1]), bytes(r[2]))) for r in c.fetchall())
        return nodes_from_rows(nodes, rows)

    def key_records(self) -> list[KeyRecord]:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT * FROM ledger_keys ORDER BY registered_seq")
            return [key_record(row) for row in c.fetchall()]

    def checkpoints(self) -> list[tuple[int, str]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT size, note FROM ledger_checkpoints ORDER BY size")
            return [(row[0], row[1]) for row in c.fetchall()]

    def checkpoints_near(self, size: int) -> list[tuple[int, str]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT size, note FROM (SELECT * FROM ledger_checkpoints WHERE size < ?"
                " ORDER BY size DESC LIMIT 1) UNION ALL SELECT size, note FROM"
                " (SELECT * FROM ledger_checkpoints WHERE size >= ? ORDER BY size LIMIT 2)",
                (size, size),
            )
            rows = [(row[0], row[1]) for row in c.fetchall()]
        return rows

    def add_checkpoint(self, size: int, note: str, issued_at: str) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                "INSERT INTO ledger_checkpoints VALUES (?, ?, ?) ON CONFLICT (size) DO NOTHING",
                (size, note, issued_at),
            )

    # -- witnesses' cosignatures of checkpoints (ledger.witness_client) ------------------

    def add_cosignature(self, size: int, witness: str, line: str) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                "INSERT INTO ledger_cosignatures VALUES (?, ?, ?)"
                " ON CONFLICT (size, witness) DO UPDATE SET line = excluded.line",
                (size, witness, line),
            )

    def cosignatures(self, size: int) -> list[tuple[str, str]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT witness, line FROM ledger_cosignatures WHERE size = ? ORDER BY witness",
                (size,),
            )
            return [(row[0], row[1]) for row in c.fetchall()]

    def last_cosigned(self, witness: str) -> int | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT MAX(size) FROM ledger_cosignatures WHERE witness = ?", (witness,))
            row = c.fetchone()
        return None if row is None or row[0] is None else int(row[0])

    # -- the guard's snapshots (ledger.guard_snapshot) ----------------------------------

    def read_guard_snapshot(self, name: str) -> Snapshot | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT fingerprint, size, last_leaf_hash, state, mac"
                " FROM ledger_guard_snapshots WHERE name = ?",
                (name,),
            )
            row = c.fetchone()
        return None if row is None else Snapshot.from_row(*row)

    def write_guard_snapshot(self, name: str, snapshot: Snapshot) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                "INSERT INTO ledger_guard_snapshots VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET fingerprint = excluded.fingerprint,"
                " size = excluded.size, last_leaf_hash = excluded.last_leaf_hash,"
                " state = excluded.state, mac = excluded.mac"
                " WHERE excluded.size > ledger_guard_snapshots.size"
                " OR excluded.fingerprint != ledger_guard_snapshots.fingerprint",
                (name, *astuple(snapshot)),
            )

    def delete_guard_snapshot(self, name: str) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute("DELETE FROM ledger_guard_snapshots WHERE name = ?", (name,))


class LedgerSQLiteApplicationRecorder(SQLiteLog, SQLiteApplicationRecorder):
    pass


class LedgerSQLiteProcessRecorder(SQLiteLog, SQLiteProcessRecorder):
    pass


class LedgerSQLiteFactory(SQLiteFactory):
    application_recorder_class = LedgerSQLiteApplicationRecorder
    process_recorder_class = LedgerSQLiteProcessRecorder

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        plain = self.datastore
        self.datastore = LedgerSQLiteDatastore(
            db_name=plain.pool.db_name,
            lock_timeout=plain.pool.lock_timeout or LOCK_TIMEOUT_SECONDS,
            single_row_tracking=plain.single_row_tracking,
            originator_id_type=plain.originator_id_type,
        )
        plain.close()
