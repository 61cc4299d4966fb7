"""The ledger on PostgreSQL: eventsourcing's recorders, extended to append the log.

Selected with PERSISTENCE_MODULE=ledger.postgres_store. The library serialises
writers with `LOCK TABLE … IN EXCLUSIVE MODE` inside `_insert_stored_events`;
we take that lock first, so the head we read is the head we extend, and the
entries, Merkle nodes and new head are pipelined into the events' transaction.
Never set POSTGRES_ENABLE_DB_FUNCTIONS: its insert path skips this hook.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import astuple
from typing import Any

from eventsourcing.persistence import (
    IntegrityError,
    InternalError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
    PostgresProcessRecorder,
)
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier

from ledger.appender import (
    Appended,
    Head,
    LogWriter,
    append_batch,
    key_record,
    node_home,
    nodes_from_rows,
    prepare,
)
from ledger.guard_snapshot import Snapshot
from ledger.merkle import Node
from ledger.trust import KeyRecord, TrustState

LOG_TABLES = [
    "CREATE TABLE IF NOT EXISTS {schema}.ledger_log ("
    " seq bigint PRIMARY KEY, originator_id {id_type} NOT NULL,"
    " originator_version bigint NOT NULL, prev text NOT NULL, leaf_hash bytea NOT NULL,"
    " nodes bytea NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {schema}.ledger_head ("
    " id int PRIMARY KEY CHECK (id = 1), size bigint NOT NULL,"
    " last_leaf_hash bytea, frontier bytea NOT NULL, keys_version bigint NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {schema}.ledger_keys ("
    " key_id text PRIMARY KEY, public_key bytea NOT NULL, holder text NOT NULL,"
    " roles text NOT NULL, registered_seq bigint NOT NULL, revoked_seq bigint)",
    "CREATE TABLE IF NOT EXISTS {schema}.ledger_checkpoints ("
    " size bigint PRIMARY KEY, note text NOT NULL, issued_at text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {schema}.ledger_guard_snapshots ("
    " name text PRIMARY KEY, fingerprint text NOT NULL, size bigint NOT NULL,"
    " last_leaf_hash bytea NOT NULL, state bytea NOT NULL, mac bytea NOT NULL)",
]
SCHEMA_LOCK_ID = 0x434D5050  # "CMPP": serialises schema creation across processes


def _bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


class PostgresLog(LogWriter):
    """Mixin for eventsourcing's PostgreSQL application and process recorders."""

    datastore: PostgresDatastore
    events_table_name: str
    sql_create_statements: list[Composed]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        schema = Identifier(self.datastore.schema)
        id_type = Identifier(self.datastore.originator_id_type)
        for statement in LOG_TABLES:
            self.sql_create_statements.append(SQL(statement).format(schema=schema, id_type=id_type))
        self._q = {
            name: SQL(text).format(schema=schema, events=Identifier(self.events_table_name))
            for name, text in _QUERIES.items()
        }

    def create_table(self) -> None:
        # Processes starting together race on PostgreSQL's catalog ("tuple
        # concurrently updated"); creation is idempotent, so try again.
        for attempt in range(5):
            try:
                super().create_table()  # type: ignore[misc]
                return
            except (InternalError, IntegrityError, ProgrammingError):
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def _create_table(self, curs: Cursor[DictRow]) -> None:
        curs.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_ID,))
        super()._create_table(curs)  # type: ignore[misc]

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if self.guarded is None:
            return super().insert_events(stored_events, **kwargs)  # type: ignore[misc,no-any-return]
        with self.guarded.writing():
            return super().insert_events(stored_events, **kwargs)  # type: ignore[misc,no-any-return]

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        # The library catches exceptions inside its transaction block, so a Python
        # error after the events' INSERT would let them commit without entries. All
        # Python work is therefore done first, under the same table lock the library
        # takes (taking it twice in one transaction is a no-op); after that only SQL
        # runs, and any SQL error aborts the whole transaction.
        if not stored_events:
            return
        prepared = prepare(stored_events, require_signed=self.require_signed)
        self._lock_table(curs)  # type: ignore[attr-defined]
        conn = curs.connection
        with conn.cursor() as head_curs:
            head_curs.execute(self._q["head"], prepare=True)
            head = Head.from_row(head_curs.fetchone())

            def read_keys(ids: set[str]) -> dict[str, KeyRecord]:
                head_curs.execute(self._q["keys_in"], (sorted(ids),))
                return {row["key_id"]: key_record(row) for row in head_curs.fetchall()}

            def read_rows(start: int, limit: int) -> list[tuple[int, str, bytes | None]]:
                head_curs.execute(self._q["read_rows"], (start, limit))
                return [(r["seq"], r["prev"], _bytes(r["state"])) for r in head_curs.fetchall()]

            keys = self.key_cache.resolve(head.keys_version, prepared.key_ids, read_keys)
            appended = append_batch(head, TrustState(keys, self.catalogue), prepared)
            self._admit_to_guard(read_rows, head, prepared, appended)
        with conn.cursor() as write_curs:
            self._write(write_curs, appended)
        # Notifies and inserts the events; their ids are left on `curs` for the library.
        super()._insert_stored_events(curs, stored_events, **kwargs)  # type: ignore[misc]

    def _write(self, c: Cursor[Any], appended: Appended) -> None:
        if len(appended.log_rows) == 1:
            c.execute(self._q["insert_log"], appended.log_rows[0], prepare=True)
        else:
            c.executemany(self._q["insert_log"], appended.log_rows)
        head = appended.head
        c.execute(
            self._q["upsert_head"],
            (head.size, head.last_leaf_hash, head.frontier.to_bytes(), head.keys_version),
            prepare=True,
        )
        if appended.keys:
            c.executemany(
                self._q["upsert_key"],
                [
                    (
                        k.key_id,
                        k.public_key,
                        k.holder,
                        json.dumps(list(k.roles)),
                        k.registered_seq,
                        k.revoked_seq,
                    )
                    for k in appended.keys
                ],
            )

    # -- the LogStore reads ---------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Cursor[DictRow]]:
        # One statement each, in autocommit: a consistent snapshot in one round trip,
        # where a transaction block would add BEGIN and ROLLBACK round trips.
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            yield curs

    def head(self) -> Head:
        with self._read() as c:
            c.execute(self._q["head"])
            return Head.from_row(c.fetchone())

    def read_rows(self, start: int, limit: int) -> list[tuple[int, str, bytes | None]]:
        with self._read() as c:
            c.execute(self._q["read_rows"], (start, limit))
            return [(r["seq"], r["prev"], _bytes(r["state"])) for r in c.fetchall()]

    def fetch_nodes(self, nodes: set[Node]) -> Mapping[Node, bytes]:
        seqs = sorted({node_home(n)[0] for n in nodes})
        with self._read() as c:
            c.execute(self._q["log_nodes_in"], (seqs,))
            rows = {r["seq"]: (bytes(r["leaf_hash"]), bytes(r["nodes"])) for r in c.fetchall()}
        return nodes_from_rows(nodes, rows)

    def key_records(self) -> list[KeyRecord]:
        with self._read() as c:
            c.execute(self._q["all_keys"])
            return [key_record(row) for row in c.fetchall()]

    def checkpoints(self) -> list[tuple[int, str]]:
        with self._read() as c:
            c.execute(self._q["checkpoints"])
            return [(row["size"], row["note"]) for row in c.fetchall()]

    def checkpoints_near(self, size: int) -> list[tuple[int, str]]:
        with self._read() as c:
            c.execute(self._q["checkpoints_near"], (size, size))
            rows = [(row["size"], row["note"]) for row in c.fetchall()]
        return rows

    def add_checkpoint(self, size: int, note: str, issued_at: str) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._q["add_checkpoint"], (size, note, issued_at))

    # -- the guard's snapshots (ledger.guard_snapshot) ----------------------------------

    def read_guard_snapshot(self, name: str) -> Snapshot | None:
        with self._read() as c:
            c.execute(self._q["read_snapshot"], (name,))
            row = c.fetchone()
        if row is None:
            return None
        return Snapshot.from_row(
            row["fingerprint"], row["size"], row["last_leaf_hash"], row["state"], row["mac"]
        )

    def write_guard_snapshot(self, name: str, snapshot: Snapshot) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._q["write_snapshot"], (name, *astuple(snapshot)))

    def delete_guard_snapshot(self, name: str) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._q["delete_snapshot"], (name,))


_QUERIES = {
    "head": "SELECT * FROM {schema}.ledger_head WHERE id = 1",
    "keys_in": "SELECT * FROM {schema}.ledger_keys WHERE key_id = ANY(%s)",
    "all_keys": "SELECT * FROM {schema}.ledger_keys ORDER BY registered_seq",
    "insert_log": "INSERT INTO {schema}.ledger_log VALUES (%s, %s, %s, %s, %s, %s)",
    "upsert_head": "INSERT INTO {schema}.ledger_head VALUES (1, %s, %s, %s, %s) ON CONFLICT (id)"
    " DO UPDATE SET size = excluded.size, last_leaf_hash = excluded.last_leaf_hash,"
    " frontier = excluded.frontier, keys_version = excluded.keys_version",
    "upsert_key": "INSERT INTO {schema}.ledger_keys VALUES (%s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (key_id) DO UPDATE SET revoked_seq = excluded.revoked_seq",
    "read_rows": "SELECT l.seq, l.prev, e.state FROM {schema}.ledger_log l"
    " LEFT JOIN {schema}.{events} e ON e.originator_id = l.originator_id"
    " AND e.originator_version = l.originator_version"
    " WHERE l.seq >= %s ORDER BY l.seq LIMIT %s",
    "log_nodes_in": "SELECT seq, leaf_hash, nodes FROM {schema}.ledger_log WHERE seq = ANY(%s)",
    "checkpoints": "SELECT size, note FROM {schema}.ledger_checkpoints ORDER BY size",
    "checkpoints_near": "(SELECT size, note FROM {schema}.ledger_checkpoints WHERE size < %s"
    " ORDER BY size DESC LIMIT 1) UNION ALL (SELECT size, note FROM {schema}.ledger_checkpoints"
    " WHERE size >= %s ORDER BY size LIMIT 2)",
    "add_checkpoint": "INSERT INTO {schema}.ledger_checkpoints VALUES (%s, %s, %s)"
    " ON CONFLICT (size) DO NOTHING",
    "read_snapshot": "SELECT * FROM {schema}.ledger_guard_snapshots WHERE name = %s",
    "write_snapshot": "INSERT INTO {schema}.ledger_guard_snapshots AS s"
    " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET"
    " fingerprint = excluded.fingerprint, size = excluded.size,"
    " last_leaf_hash = excluded.last_leaf_hash, state = excluded.state, mac = excluded.mac"
    " WHERE excluded.size > s.size OR excluded.fingerprint != s.fingerprint",
    "delete_snapshot": "DELETE FROM {schema}.ledger_guard_snapshots WHERE name = %s",
}


class LedgerPostgresApplicationRecorder(PostgresLog, PostgresApplicationRecorder):
    pass


class LedgerPostgresProcessRecorder(PostgresLog, PostgresProcessRecorder):
    pass


class LedgerPostgresFactory(PostgresFactory):
    application_recorder_class = LedgerPostgresApplicationRecorder
    process_recorder_class = LedgerPostgresProcessRecorder

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        if self.datastore.enable_db_functions:
            raise ValueError(
                "POSTGRES_ENABLE_DB_FUNCTIONS bypasses the ledger's log: leave it unset"
            )
