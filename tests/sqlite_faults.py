"""Faults on the SQLite write path: a statement that fails, a full disk, a killed process.

Every connection eventsourcing opens while `instrumented()` is active gets a trace
callback (which statement is running) and a progress handler (which can interrupt it:
SQLite then fails the statement exactly as it fails one it cannot finish). A fault
names a statement by a fragment of its SQL, and strikes at it ("before") or at the
statement that follows it ("after").
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import eventsourcing.sqlite


@dataclass
class Armed:
    pattern: str
    after: bool
    kind: str  # "fail": the statement fails; "kill": the process dies there
    seen: bool = False
    fired: bool = False


@dataclass
class SqliteFaults:
    connections: list[sqlite3.Connection] = field(default_factory=list)
    armed: Armed | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def arm(self, pattern: str, *, after: bool, kind: str = "fail") -> Armed:
        self.armed = Armed(pattern, after, kind)
        return self.armed

    def disarm(self) -> None:
        self.armed = None

    def fill_disk(self) -> None:
        """Let the database grow no more: the next page it needs is refused (SQLITE_FULL)."""
        for conn in self._open():
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {pages}")

    def free_disk(self) -> None:
        for conn in self._open():
            conn.execute("PRAGMA max_page_count = 4294967294")

    def _open(self) -> list[sqlite3.Connection]:
        alive = []
        for conn in self.connections:
            try:
                conn.execute("SELECT 1")
            except sqlite3.ProgrammingError:  # closed by its pool
                continue
            alive.append(conn)
        self.connections = alive
        return alive

    # -- per connection ------------------------------------------------------------------

    def _watch(self, conn: sqlite3.Connection) -> None:
        striking = {"now": False}

        def trace(sql: str) -> None:
            armed = self.armed
            striking["now"] = False
            if armed is None or armed.fired:
                return
            matches = armed.pattern in sql
            if (armed.after and armed.seen and not matches) or (matches and not armed.after):
                self._strike(armed, striking)
            elif matches:
                armed.seen = True

        def progress() -> int:
            return 1 if striking["now"] else 0  # non-zero interrupts the statement

        conn.set_trace_callback(trace)
        conn.set_progress_handler(progress, 1)

    def _strike(self, armed: Armed, striking: dict[str, bool]) -> None:
        with self._lock:
            if armed.fired:
                return
            armed.fired = True
        if armed.kind == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        striking["now"] = True


@contextmanager
def instrumented() -> Iterator[SqliteFaults]:
    """Watch every SQLite connection eventsourcing opens inside the block."""
    faults = SqliteFaults()
    module: Any = eventsourcing.sqlite.sqlite3
    real_connect = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = real_connect(*args, **kwargs)
        faults.connections.append(conn)
        faults._watch(conn)
        return conn

    module.connect = connect
    try:
        yield faults
    finally:
        module.connect = real_connect
