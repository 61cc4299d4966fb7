"""The ledger on PostgreSQL: eventsourcing's recorders, extended to append the log.

Selected with PERSISTENCE_MODULE=ledger.postgres_store. The library serialises
writers with `LOCK TABLE … IN EXCLUSIVE MODE` inside `_insert_stored_events`;
we take that lock first, so the head we read is the head we extend, and the
entries, Merkle nodes and new head are pipelined into the events' transaction.
Never set POSTGRES_ENABLE_DB_FUNCTIONS: its insert path skips this hook.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import astuple
from typing import Any

import psycopg
from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    InternalError,
    OperationalError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
    PostgresProcessRecorder,
)
from psycopg import Connection, Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier
from psycopg_pool import PoolTimeout

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
from ledger.outcome import (
    CONNECTION_ERRORS,
    AlreadyRecorded,
    Attempts,
    DatabaseUnavailableError,
    Statement,
    learn_outcome,
    retry_idempotent,
    same_events,
)
from ledger.trust import KeyRecord

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
    " roles text NOT NULL, registered_seq bigint NOT NULL, revoked_seq bigint, person text)",
    "CREATE TABLE IF NOT EXISTS {schema}.ledger_checkpoints ("
    " size bigint PRIMARY KEY, note text NOT NULL, issued_at text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {schema}.ledger_cosignatures ("
    " size bigint NOT NULL, witness text NOT NULL, line text NOT NULL,"
    " PRIMARY KEY (size, witness))",
    "CREATE TABLE IF NOT EXISTS {schema}.ledger_guard_snapshots ("
    " name text PRIMARY KEY, fingerprint text NOT NULL, size bigint NOT NULL,"
    " last_leaf_hash bytea NOT NULL, state bytea NOT NULL, mac bytea NOT NULL)",
]
PROBE_SECONDS = 2  # libpq's smallest connect_timeout
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
            except (InternalError, IntegrityError, ProgrammingError, *CONNECTION_ERRORS):
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def _create_table(self, curs: Cursor[DictRow]) -> None:
        curs.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_ID,))
        super()._create_table(curs)  # type: ignore[misc]

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Insert the events (and their entries), once, with an outcome the caller can
        trust across dropped connections (see ledger.outcome)."""
        kwargs["attempts"] = Attempts()
        returning = None
        try:
            returning = self._insert_guarded(stored_events, **kwargs)
        except AlreadyRecorded:
            pass  # a retry found this very batch committed: it happened, once
        except (*CONNECTION_ERRORS, DatabaseUnavailableError) as exc:
            if not stored_events or not kwargs["attempts"].count:
                # Nothing was sent: nothing can have been recorded.
                raise DatabaseUnavailableError(f"the command was not recorded: {exc}") from None
            learn_outcome(self.recorded, stored_events, exc)
        if stored_events:
            self._committed()
        return returning

    def _insert_guarded(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # The library's insert_events retries itself on a dropped connection.
        if self.guarded is None:
            return super().insert_events(stored_events, **kwargs)  # type: ignore[misc,no-any-return]
        with self.guarded.writing():
            return super().insert_events(stored_events, **kwargs)  # type: ignore[misc,no-any-return]

    def recorded(self, stored_events: Sequence[StoredEvent]) -> bool:
        """Whether exactly these events are committed, asked under a lock that waits for
        any writer's transaction in flight to end."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._q["outcome_lock_timeout"])
            curs.execute(self._q["share_lock"])
            return self._found(curs, stored_events)

    def _found(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent]) -> bool:
        ids = [e.originator_id for e in stored_events]
        versions = [e.originator_version for e in stored_events]
        curs.execute(self._q["select_own"], (ids, versions))
        found = [
            StoredEvent(r["originator_id"], r["originator_version"], "", bytes(r["state"]))
            for r in curs.fetchall()
        ]
        return same_events(found, stored_events)

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
        attempts: Attempts | None = kwargs.get("attempts")
        if attempts is not None and attempts.next():
            # An earlier attempt's COMMIT may have reached the server before its
            # connection dropped; under the lock, its events are there or never will be.
            with conn.cursor() as check_curs:
                if self._found(check_curs, stored_events):
                    raise AlreadyRecorded
        with conn.cursor() as head_curs:
            head_curs.execute(self._q["head"], prepare=True)
            head = Head.from_row(head_curs.fetchone())

            def read_keys(ids: set[str]) -> dict[str, KeyRecord]:
                head_curs.execute(self._q["keys_in"], (sorted(ids),))
                return {row["key_id"]: key_record(row) for row in head_curs.fetchall()}

            def read_rows(start: int, limit: int) -> list[tuple[int, str, bytes | None]]:
                head_curs.execute(self._q["read_rows"], (start, limit))
                return [(r["seq"], r["prev"], _bytes(r["state"])) for r in head_curs.fetchall()]

            appended = self._append(read_rows, head, prepared, read_keys)
        with conn.cursor() as write_curs:
            self._write(write_curs, appended)
            self._write_alongside(write_curs, kwargs.get("alongside", ()))
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
                        k.person,
                    )
                    for k in appended.keys
                ],
            )

    @staticmethod
    def _write_alongside(c: Cursor[Any], statements: Sequence[Statement]) -> None:
        for sql, params in statements:
            c.execute(sql.replace("?", "%s"), params)

    # -- the LogStore reads ---------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Cursor[DictRow]]:
        # One statement each, in autocommit: a consistent snapshot in one round trip,
        # where a transaction block would add BEGIN and ROLLBACK round trips.
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            yield curs

    @retry_idempotent
    def head(self) -> Head:
        with self._read() as c:
            c.execute(self._q["head"])
            return Head.from_row(c.fetchone())

    @retry_idempotent
    def read_rows(self, start: int, limit: int) -> list[tuple[int, str, bytes | None]]:
        with self._read() as c:
            c.execute(self._q["read_rows"], (start, limit))
            return [(r["seq"], r["prev"], _bytes(r["state"])) for r in c.fetchall()]

    @retry_idempotent
    def read_tree_rows(self, start: int, limit: int) -> list[tuple[int, bytes, bytes]]:
        with self._read() as c:
            c.execute(self._q["tree_rows"], (start, limit))
            return [(r["seq"], bytes(r["leaf_hash"]), bytes(r["nodes"])) for r in c.fetchall()]

    @retry_idempotent
    def fetch_nodes(self, nodes: set[Node]) -> Mapping[Node, bytes]:
        seqs = sorted({node_home(n)[0] for n in nodes})
        with self._read() as c:
            c.execute(self._q["log_nodes_in"], (seqs,))
            rows = {r["seq"]: (bytes(r["leaf_hash"]), bytes(r["nodes"])) for r in c.fetchall()}
        return nodes_from_rows(nodes, rows)

    @retry_idempotent
    def key_records(self) -> list[KeyRecord]:
        with self._read() as c:
            c.execute(self._q["all_keys"])
            return [key_record(row) for row in c.fetchall()]

    @retry_idempotent
    def checkpoints(self) -> list[tuple[int, str]]:
        with self._read() as c:
            c.execute(self._q["checkpoints"])
            return [(row["size"], row["note"]) for row in c.fetchall()]

    @retry_idempotent
    def checkpoints_near(self, size: int) -> list[tuple[int, str]]:
        with self._read() as c:
            c.execute(self._q["checkpoints_near"], (size, size))
            rows = [(row["size"], row["note"]) for row in c.fetchall()]
        return rows

    @retry_idempotent
    def add_checkpoint(self, size: int, note: str, issued_at: str) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._q["add_checkpoint"], (size, note, issued_at))

    # -- witnesses' cosignatures of checkpoints (ledger.witness_client) ------------------

    @retry_idempotent
    def add_cosignature(self, size: int, witness: str, line: str) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._q["add_cosignature"], (size, witness, line))

    @retry_idempotent
    def cosignatures(self, size: int) -> list[tuple[str, str]]:
        with self._read() as c:
            c.execute(self._q["cosignatures"], (size,))
            return [(row["witness"], row["line"]) for row in c.fetchall()]

    @retry_idempotent
    def last_cosigned(self, witness: str) -> int | None:
        with self._read() as c:
            c.execute(self._q["last_cosigned"], (witness,))
            row = c.fetchone()
        return None if row is None or row["size"] is None else int(row["size"])

    # -- the guard's snapshots (ledger.guard_snapshot) ----------------------------------

    @retry_idempotent
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
    "upsert_key": "INSERT INTO {schema}.ledger_keys VALUES (%s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (key_id) DO UPDATE SET revoked_seq = excluded.revoked_seq",
    "read_rows": "SELECT l.seq, l.prev, e.state FROM {schema}.ledger_log l"
    " LEFT JOIN {schema}.{events} e ON e.originator_id = l.originator_id"
    " AND e.originator_version = l.originator_version"
    " WHERE l.seq >= %s ORDER BY l.seq LIMIT %s",
    "log_nodes_in": "SELECT seq, leaf_hash, nodes FROM {schema}.ledger_log WHERE seq = ANY(%s)",
    "tree_rows": "SELECT seq, leaf_hash, nodes FROM {schema}.ledger_log WHERE seq >= %s"
    " ORDER BY seq LIMIT %s",
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
    "select_own": "SELECT e.originator_id, e.originator_version, e.state"
    " FROM {schema}.{events} e JOIN unnest(%s, %s::bigint[]) AS w(id, v)"
    " ON e.originator_id = w.id AND e.originator_version = w.v",
    "share_lock": "LOCK TABLE {schema}.{events} IN SHARE MODE",
    "outcome_lock_timeout": "SET LOCAL lock_timeout = '5s'",
    "delete_snapshot": "DELETE FROM {schema}.ledger_guard_snapshots WHERE name = %s",
    "add_cosignature": "INSERT INTO {schema}.ledger_cosignatures VALUES (%s, %s, %s)"
    " ON CONFLICT (size, witness) DO UPDATE SET line = excluded.line",
    "cosignatures": "SELECT witness, line FROM {schema}.ledger_cosignatures WHERE size = %s"
    " ORDER BY witness",
    "last_cosigned": "SELECT MAX(size) AS size FROM {schema}.ledger_cosignatures"
    " WHERE witness = %s",
}


class LedgerPostgresApplicationRecorder(PostgresLog, PostgresApplicationRecorder):
    pass


class LedgerPostgresProcessRecorder(PostgresLog, PostgresProcessRecorder):
    pass


# A connection whose other end is gone is noticed, on both sides, in seconds rather
# than never: the client by TCP keepalives and an unacknowledged-data timeout, the
# server by its own keepalives and by checking its client while a query runs (its
# backend would otherwise hold the writers' lock for a client long gone). A writer
# waits at most WRITERS_LOCK_SECONDS for that lock, then the attempt is retried.
WRITERS_LOCK_SECONDS = 10
DEAD_PEER_OPTIONS: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 15_000,
    "options": "-c client_connection_check_interval=2000 -c tcp_keepalives_idle=5"
    " -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3",
}
CONNECTION_OPTIONS: dict[str, Any] = {
    **DEAD_PEER_OPTIONS,
    "options": f"{DEAD_PEER_OPTIONS['options']} -c lock_timeout={WRITERS_LOCK_SECONDS * 1000}",
}


class LedgerPostgresDatastore(PostgresDatastore):
    """Recovers from a restart at once, and says why a connection cannot be made.

    A process that has never reached the database fails at once (in the pool's
    timeout), with the cause; one that has (a server, a worker, a command half done)
    is seeing an outage, and its callers retry with backoff (ledger.outcome).
    """

    reached = False

    @contextmanager
    def get_connection(self) -> Iterator[Connection[DictRow]]:
        try:
            with super().get_connection() as conn:
                self.reached = True
                yield conn
        except (OperationalError, InterfaceError) as exc:
            if isinstance(exc.__cause__, PoolTimeout):
                cause = self._cause()
                message = f"cannot connect to PostgreSQL at {self._where()}: " + (
                    cause
                    or "it answers, but no pooled connection came in time (a busy server, or "
                    "more connections asked of it than its max_connections)"
                )
                if not self.reached and cause is not None:
                    # Stop the pool's workers now: left to the garbage collector, closing
                    # waits for their connection attempts (15 s more on a silent server).
                    self.pool.close(timeout=0)
                    raise DatabaseUnavailableError(message) from None
                # An outage, or a server that answers but slowly (a busy machine, a full
                # pool): the caller retries.
                raise OperationalError(message) from None
            # A connection died under us: after a restart or a cut, so have its idle
            # siblings. Replace every dead one now, so the caller's retry (the library's,
            # or ledger.outcome's) draws a live connection rather than the next corpse.
            with contextlib.suppress(psycopg.Error):
                self.pool.check()
            raise

    def _kwargs(self) -> dict[str, Any]:
        kwargs = self.pool.kwargs  # the library passes a dict (a callable is allowed too)
        return dict(kwargs() if callable(kwargs) else kwargs or {})

    def _where(self) -> str:
        kwargs = self._kwargs()
        return f"{kwargs.get('host')}:{kwargs.get('port')}/{kwargs.get('dbname')}"

    def _cause(self) -> str | None:
        """Why no connection can be made, or None if one can (the pool was only slow).

        The pool only says it waited; one direct attempt says why (refused, no such
        database, authentication failed…). libpq's messages never hold the password."""
        kwargs = {k: v for k, v in self._kwargs().items() if k != "row_factory"}
        try:
            psycopg.connect(**kwargs, connect_timeout=PROBE_SECONDS).close()
        except psycopg.Error as exc:
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            return "; ".join(lines) or type(exc).__name__
        return None


class LedgerPostgresFactory(PostgresFactory):
    application_recorder_class = LedgerPostgresApplicationRecorder
    process_recorder_class = LedgerPostgresProcessRecorder

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        # The library builds its datastore inline; ours only adds a method, so the
        # object it built is given our class rather than being built twice.
        self.datastore.__class__ = LedgerPostgresDatastore
        kwargs = self.datastore.pool.kwargs
        if isinstance(kwargs, dict):
            kwargs.update(CONNECTION_OPTIONS)

        if self.datastore.enable_db_functions:
            raise ValueError(
                "POSTGRES_ENABLE_DB_FUNCTIONS bypasses the ledger's log: leave it unset"
            )
