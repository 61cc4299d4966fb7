"""The projections' own connection to the ledger's database (SQLite or PostgreSQL).

Projection tables live beside the log; a projection's rows and its position are
written in one transaction of this connection, which is what makes it exactly-once.
SQL is written once with `?` placeholders and portable types (BIGINT, TEXT).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row

from ledger.outcome import READ_PATIENCE_SECONDS, DatabaseUnavailableError, Outage
from ledger.persistence import CONNECT_SECONDS
from ledger.postgres_store import DEAD_PEER_OPTIONS

SQLITE_BUSY_SECONDS = 60
# Projections are applied by one process at a time: each projection transaction takes
# this lock (PostgreSQL; on SQLite, BEGIN IMMEDIATE already serialises writers).
PROJECTION_LOCK_ID = 0x434D5051
STREAM_PAGE = 2000  # rows fetched at a time by `stream` on PostgreSQL


class ProjectionDB:
    def __init__(self, url: str) -> None:
        self._url = url
        self.reconnects = 0  # how many times a dropped connection was replaced
        self.postgres = url.startswith(("postgresql://", "postgres://"))
        # Inside a transaction, inserted rows wait here and go out per table in one
        # call (executemany, or COPY) instead of one per row. Any other statement, and
        # every query, first sends them, so reads see earlier writes.
        self._pending: dict[str, list[Sequence[Any]]] = {}
        self._buffering = False
        if self.postgres:
            self._pg = self._connect_postgres()
        else:
            path = url[len("sqlite:///") :]
            self._sqlite = sqlite3.connect(
                path, timeout=SQLITE_BUSY_SECONDS, isolation_level=None, check_same_thread=False
            )
            self._sqlite.row_factory = sqlite3.Row
            self._sqlite.execute("PRAGMA journal_mode=WAL")
            # Per connection: projections' own commits skip the fsync. In WAL mode that
            # can lose the last batches on power loss, never corrupt them, and a lost
            # batch (rows and position together) is simply projected again. The ledger's
            # connection keeps its full sync.
            self._sqlite.execute("PRAGMA synchronous=NORMAL")

    def _connect_postgres(self) -> psycopg.Connection[dict[str, Any]]:
        try:
            return psycopg.connect(
                self._url,
                autocommit=True,
                row_factory=dict_row,
                connect_timeout=CONNECT_SECONDS,  # as the ledger's own connections
                **DEAD_PEER_OPTIONS,
            )
        except psycopg.OperationalError as exc:  # libpq's message never holds the password
            cause = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
            raise DatabaseUnavailableError(f"cannot connect to PostgreSQL: {cause}") from None

    def reconnect(self) -> None:
        """A new connection after the old one dropped (a restart, a cut, a failover)."""
        self.reconnects += 1
        if self.postgres:
            with contextlib.suppress(psycopg.Error):
                self._pg.close()
            self._pg = self._connect_postgres()

    def lock(self) -> None:
        """Inside a transaction: wait until no other process is applying projections."""
        if self.postgres:
            self.execute("SELECT pg_advisory_xact_lock(?)", (PROJECTION_LOCK_ID,))

    @property
    def seq_key(self) -> str:
        """The column type of a seq primary key: on SQLite, INTEGER PRIMARY KEY is the
        table's rowid (one b-tree, not a table and an index); PostgreSQL needs 64 bits."""
        return "BIGINT PRIMARY KEY" if self.postgres else "INTEGER PRIMARY KEY"

    def _sql(self, text: str) -> str:
        return text.replace("?", "%s") if self.postgres else text

    @contextmanager
    def transaction(self) -> Iterator[ProjectionDB]:
        """All or nothing: rows and position commit together, or neither does."""
        self._buffering = True
        try:
            if self.postgres:
                with self._pg.transaction():
                    yield self
                    self.flush()
                return
            self._sqlite.execute("BEGIN IMMEDIATE")
            try:
                yield self
                self.flush()
            except BaseException:
                self._sqlite.execute("ROLLBACK")
                raise
            self._sqlite.execute("COMMIT")
        finally:
            self._pending.clear()
            self._buffering = False

    def flush(self) -> None:
        pending, self._pending = self._pending, {}
        for table, rows in pending.items():
            if self.postgres:
                # COPY is PostgreSQL's bulk path: several times faster than INSERTs.
                with self._pg.cursor() as cur, cur.copy(f"COPY {table} FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" * len(rows[0]))
                self._sqlite.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)  # noqa: S608

    def insert(self, table: str, row: Sequence[Any]) -> None:
        """One row, every column in order. Inside a transaction it waits, to go out
        with the other rows for its table."""
        pending = self._pending.get(table)
        if pending is None:
            self._pending[table] = [row]
        else:
            pending.append(row)
        if not self._buffering:
            self.flush()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.flush()
        if self.postgres:
            self._pg.execute(self._sql(sql), params)
        else:
            self._sqlite.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self.flush()
        if not self.postgres:
            return [dict(row) for row in self._sqlite.execute(sql, params).fetchall()]
        if self._buffering:  # inside a transaction: its caller retries the whole of it
            return list(self._pg.execute(self._sql(sql), params).fetchall())
        # A read on its own is safe to repeat on a new connection.
        outage = Outage(READ_PATIENCE_SECONDS)
        while True:
            try:
                return list(self._pg.execute(self._sql(sql), params).fetchall())
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                outage.wait(exc)
                with contextlib.suppress(DatabaseUnavailableError):
                    self.reconnect()

    @contextmanager
    def snapshot(self) -> Iterator[ProjectionDB]:
        """Read-only, one consistent state throughout, blocking no writer: a projection's
        rows and its position (committed together) are read as of one moment."""
        self._buffering = True  # inside a transaction: a lost connection is not retried
        try:
            if self.postgres:
                with self._pg.transaction():
                    self._pg.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    yield self
                return
            # A deferred transaction: in WAL mode its first read fixes what it sees.
            self._sqlite.execute("BEGIN")
            try:
                yield self
            finally:
                self._sqlite.execute("ROLLBACK")
        finally:
            self._buffering = False

    def stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[dict[str, Any]]:
        """The rows of a query, a page at a time: memory stays flat however many there are.
        On PostgreSQL, only inside `transaction()` or `snapshot()` (a server-side cursor)."""
        self.flush()
        if not self.postgres:
            for row in self._sqlite.execute(sql, params):
                yield dict(row)
            return
        with self._pg.cursor(name=f"cmpp_stream_{id(self):x}") as cursor:
            cursor.itersize = STREAM_PAGE
            cursor.execute(self._sql(sql), params)
            yield from cursor

    def columns(self, table: str) -> list[str]:
        """The table's columns, in order (none if there is no such table)."""
        if self.postgres:
            rows = self.query(
                "SELECT column_name AS name FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name = ?"
                " ORDER BY ordinal_position",
                (table,),
            )
        else:
            rows = self.query("SELECT name FROM pragma_table_info(?) ORDER BY cid", (table,))
        return [str(row["name"]) for row in rows]

    def table_exists(self, name: str) -> bool:
        if self.postgres:
            rows = self.query("SELECT to_regclass(?) AS t", (name,))
            return rows[0]["t"] is not None
        return bool(
            self.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
        )

    def close(self) -> None:
        if self.postgres:
            self._pg.close()
        else:
            self._sqlite.close()
