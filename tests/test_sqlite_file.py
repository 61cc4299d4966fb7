"""The SQLite file: private to its owner, and readable while a writer holds it or when
it may not be written at all."""

from __future__ import annotations

import hashlib
import sqlite3
import stat
import time
from pathlib import Path

import pytest

from ledger.persistence import ConfigError
from projections.system import System
from tests.pilot import new_system


def test_the_database_file_and_its_directory_are_private(tmp_path: Path) -> None:
    path = tmp_path / "var" / "ledger.sqlite3"
    system = new_system(f"sqlite:///{path}", tmp_path / "keys")
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        for companion in path.parent.glob("ledger.sqlite3-*"):  # -wal, -shm
            assert stat.S_IMODE(companion.stat().st_mode) == 0o600, companion
    finally:
        system.close()


def test_verifying_takes_no_lock_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    writer = new_system(f"sqlite:///{path}", tmp_path)
    writer.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    # Another process is in the middle of a long write: it holds the write lock.
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        with System(writer.settings, read_only=True) as reader:
            report = reader.verify()
            assert report.ok
            assert reader.app.store.head().size == 1  # entry 0
        assert time.monotonic() - started < 10  # not the 60 s a writer would wait
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_a_read_only_command_on_a_missing_file_says_so(tmp_path: Path) -> None:
    writer = new_system(f"sqlite:///{tmp_path / 'ledger.sqlite3'}", tmp_path)
    writer.close()
    settings = writer.settings.model_copy(
        update={"database_url": f"sqlite:///{tmp_path / 'typo.sqlite3'}"}
    )
    with (
        System(settings, read_only=True) as reader,
        pytest.raises(ConfigError, match="no database"),
    ):
        reader.app  # noqa: B018
    assert not (tmp_path / "typo.sqlite3").exists()
