"""Tables kept beside the log in the ledger's own database, on SQLite or PostgreSQL.

They hold what is not a fact of the program: who may sign in (tokens), how a person's
key is kept, the answers already given to idempotent requests. None is authoritative
for anything the log says; each is made if missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.postgres import PostgresDatastore

from ledger.outcome import retry_idempotent

CREATION_LOCK = "SELECT pg_advisory_xact_lock(hashtext('cmpp side tables'))"


class SideTables:
    def __init__(self, datastore: Any, tables: Sequence[str]) -> None:
        self._datastore = datastore
        self.postgres = isinstance(datastore, PostgresDatastore)
        self._create(tables)

    @retry_idempotent
    def _create(self, tables: Sequence[str]) -> None:
        blob = "bytea" if self.postgres else "BLOB"
        with self._datastore.transaction(commit=True) as c:
            if self.postgres:
                # Two processes' first requests at once would both create the tables, and
                # PostgreSQL's CREATE … IF NOT EXISTS is not safe against that: one waits.
                c.execute(CREATION_LOCK)
            for statement in tables:
                c.execute(statement.format(blob=blob))

    def sql(self, text: str) -> str:
        return text.replace("?", "%s") if self.postgres else text

    @retry_idempotent
    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        with self._datastore.transaction(commit=False) as c:
            c.execute(self.sql(sql), params)
            return list(c.fetchall())

    @retry_idempotent  # callers pass only statements that are safe to repeat
    def execute(self, sql: str, params: tuple[Any, ...]) -> int:
        with self._datastore.transaction(commit=True) as c:
            c.execute(self.sql(sql), params)
            return int(getattr(c, "sqlite_cursor", c).rowcount)
