"""The projections' own connection to the ledger's database (SQLite or PostgreSQL).

Projection tables live beside the log; a projection's rows and its position are
written in one transaction of this connection, which is what makes it exactly-once.
SQL is written once with `?` placeholders and portable types (BIGINT, TEXT).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row

SQLITE_BUSY_SECONDS = 60


class ProjectionDB:
    def __init__(self, url: str) -> None:
        self.postgres = url.startswith(("postgresql://", "postgres://"))
        # Inside a transaction, `insert`s wait here and go out per statement with
        # executemany: one call per table per batch instead of one per row. Any other
        # statement, and every query, first sends them, so reads see earlier writes.
        self._pending: dict[str, list[Sequence[Any]]] = {}
        self._buffering = False
        if self.postgres:
            self._pg = psycopg.connect(url, autocommit=True, row_factory=dict_row)
        else:
            path = url[len("sqlite:///") :]
            self._sqlite = sqlite3.connect(
                path, timeout=SQLITE_BUSY_SECONDS, isolation_level=None, check_same_thread=False
            )
            self._sqlite.row_factory = sqlite3.Row
            self._sqlite.execute("PRAGMA journal_mode=WAL")
            self._sqlite.execute("PRAGMA synchronous=NORMAL")

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
        for sql, rows in pending.items():
            self._executemany(sql, rows)

    def insert(self, sql: str, params: Sequence[Any]) -> None:
        """An INSERT: inside a transaction it waits, to go out with the others like it."""
        if self._buffering:
            pending = self._pending.get(sql)
            if pending is None:
                self._pending[sql] = [params]
            else:
                pending.append(params)
            return
        self.execute(sql, params)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.flush()
        if self.postgres:
            self._pg.execute(self._sql(sql), params)
        else:
            self._sqlite.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.flush()
        self._executemany(sql, rows)

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        if self.postgres:
            with self._pg.cursor() as cur:
                cur.executemany(self._sql(sql), rows)
        else:
            self._sqlite.executemany(sql, rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self.flush()
        if self.postgres:
            return list(self._pg.execute(self._sql(sql), params).fetchall())
        return [dict(row) for row in self._sqlite.execute(sql, params).fetchall()]

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
