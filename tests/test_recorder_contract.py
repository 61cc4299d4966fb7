"""eventsourcing's own recorder contract suites, run against the ledger's recorders.

The suites store opaque bytes ("state1"), not signed events, so they run against
recorders built with require_signed=False: everything else (the lock, seq, the
Merkle nodes and head written in each transaction) is exercised as in production.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.tests import persistence as contract

from ledger.postgres_store import (
    LedgerPostgresApplicationRecorder,
    LedgerPostgresProcessRecorder,
)
from ledger.sqlite_store import (
    LedgerSQLiteApplicationRecorder,
    LedgerSQLiteDatastore,
    LedgerSQLiteProcessRecorder,
)
from tests.conftest import PG_HOST, PG_PORT, PG_USER, PostgresDatabase, require_postgres


class OpaqueSQLiteApplicationRecorder(LedgerSQLiteApplicationRecorder):
    require_signed = False


class OpaqueSQLiteProcessRecorder(LedgerSQLiteProcessRecorder):
    require_signed = False


class OpaquePostgresApplicationRecorder(LedgerPostgresApplicationRecorder):
    require_signed = False


class OpaquePostgresProcessRecorder(LedgerPostgresProcessRecorder):
    require_signed = False


def join_stray_threads() -> None:
    """The library's concurrency tests stop their reader threads without joining them;
    closing a SQLite connection under a running query crashes the interpreter."""
    for thread in threading.enumerate():
        if "read_continuously" in thread.name:
            thread.join(timeout=10)


class SQLiteFile:
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.datastore = LedgerSQLiteDatastore(db_name=str(self.tmp / "db.sqlite3"))
        super().setUp()  # type: ignore[misc]

    def tearDown(self) -> None:
        super().tearDown()  # type: ignore[misc]
        join_stray_threads()
        self.datastore.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class TestSQLiteApplicationRecorder(SQLiteFile, contract.ApplicationRecorderTestCase):  # type: ignore[type-arg]
    def create_recorder(self) -> Any:
        recorder = OpaqueSQLiteApplicationRecorder(self.datastore)
        recorder.create_table()
        return recorder


class TestSQLiteProcessRecorder(SQLiteFile, contract.ProcessRecorderTestCase):
    def create_recorder(self) -> Any:
        recorder = OpaqueSQLiteProcessRecorder(self.datastore)
        recorder.create_table()
        return recorder


class TestSQLiteNonInterleaving(SQLiteFile, contract.NonInterleavingNotificationIDsBaseCase):
    def create_recorder(self) -> Any:
        recorder = OpaqueSQLiteApplicationRecorder(self.datastore)
        recorder.create_table()
        return recorder


class PostgresDB:
    def setUp(self) -> None:
        require_postgres()
        self.db = PostgresDatabase()
        self.db.create()
        self.datastore = PostgresDatastore(
            dbname=self.db.name,
            host=PG_HOST,
            port=PG_PORT,
            user=PG_USER,
            password="",
            pool_size=4,
            max_overflow=12,
        )
        super().setUp()  # type: ignore[misc]

    def tearDown(self) -> None:
        super().tearDown()  # type: ignore[misc]
        join_stray_threads()
        self.datastore.close()
        self.db.drop()


class TestPostgresApplicationRecorder(PostgresDB, contract.ApplicationRecorderTestCase):  # type: ignore[type-arg]
    EXPECT_CONTIGUOUS_NOTIFICATION_IDS = False

    def create_recorder(self) -> Any:
        recorder = OpaquePostgresApplicationRecorder(self.datastore)
        recorder.create_table()
        return recorder


class TestPostgresProcessRecorder(PostgresDB, contract.ProcessRecorderTestCase):
    def create_recorder(self) -> Any:
        recorder = OpaquePostgresProcessRecorder(
            self.datastore, events_table_name="stored_events", tracking_table_name="tracking"
        )
        recorder.create_table()
        return recorder


class TestPostgresNonInterleaving(PostgresDB, contract.NonInterleavingNotificationIDsBaseCase):
    def create_recorder(self) -> Any:
        recorder = OpaquePostgresApplicationRecorder(self.datastore)
        recorder.create_table()
        return recorder


def test_opaque_rows_still_form_a_gap_free_log(tmp_path: Path) -> None:
    """What the suites wrote is logged too: one entry per event, in commit order."""
    from uuid import uuid4

    from eventsourcing.persistence import StoredEvent

    from ledger.store import iter_leaves

    datastore = LedgerSQLiteDatastore(db_name=str(tmp_path / "db.sqlite3"))
    recorder = OpaqueSQLiteApplicationRecorder(datastore)
    recorder.create_table()
    for _ in range(3):
        oid = uuid4()
        recorder.insert_events([StoredEvent(oid, v, "topic", b"state") for v in (1, 2)])
    assert [seq for seq, _leaf in iter_leaves(recorder)] == list(range(6))
    assert recorder.head().size == 6
    datastore.close()
