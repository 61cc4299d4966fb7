"""Shared fixtures: PostgreSQL databases of our own, and an environment of our own.

The tests set every CMPP_* setting they use themselves: whatever the caller exported
(a vault key, a database URL, demo mode…) is removed before any test runs, so it can
neither break a test nor be written to by one. CMPP_TEST_* say where PostgreSQL is.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_HOST = os.environ.get("CMPP_TEST_PGHOST", "127.0.0.1")
PG_PORT = int(os.environ.get("CMPP_TEST_PGPORT", "5432"))
PG_USER = os.environ.get("CMPP_TEST_PGUSER", "postgres")
for _name in [n for n in os.environ if n.startswith("CMPP_")]:
    del os.environ[_name]


def _admin_connect():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(
        host=PG_HOST,
        port=PG_PORT,
        user=PG_USER,
        dbname="postgres",
        autocommit=True,
        connect_timeout=5,
    )


def postgres_available() -> bool:
    try:
        with _admin_connect():
            return True
    except Exception:
        return False


def require_postgres() -> None:
    """Skip without PostgreSQL, except in CI, where its absence is a failure."""
    if postgres_available():
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("PostgreSQL is not reachable, and in CI its tests must run")
    pytest.skip("PostgreSQL is not reachable")


class PostgresDatabase:
    """A database created for one test and dropped after it."""

    def __init__(self) -> None:
        self.name = f"cmpp_test_{uuid.uuid4().hex[:12]}"

    @property
    def url(self) -> str:
        return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{self.name}"

    def create(self) -> None:
        with _admin_connect() as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        with _admin_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


@pytest.fixture
def pg_database() -> Iterator[PostgresDatabase]:
    require_postgres()
    db = PostgresDatabase()
    db.create()
    try:
        yield db
    finally:
        db.drop()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
        return
    require_postgres()
    db = PostgresDatabase()
    db.create()
    try:
        yield db.url
    finally:
        db.drop()
