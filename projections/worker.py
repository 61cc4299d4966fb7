"""A projection worker: its own process, following the log as it grows.

It catches up in batches, then waits for more: woken early by PostgreSQL's NOTIFY
(the recorders notify on every insert) and by polling always, because a notification
can be lost and LISTEN alone can stall. Each cycle reports how far each projection lags.
A database that goes away (a restart, a cut connection, a failover) is waited for,
with backoff, however long it takes; the worker says so and carries on when it is back.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

import psycopg

from ledger.outcome import Outage
from projections.runner import BATCH, DATABASE_DOWN, Projector

CHANNEL = "ledger_events"  # eventsourcing notifies on its events table's name


def follow(
    projector: Projector,
    *,
    interval_ms: int = 1000,
    batch: int = BATCH,
    stop: threading.Event | None = None,
    listen_url: str | None = None,
    on_cycle: Callable[[int, dict[str, int]], None] | None = None,
    on_outage: Callable[[Exception], None] | None = None,
) -> None:
    stop = stop or threading.Event()
    listener = Listener(listen_url)
    outage = Outage(None)
    try:
        while not stop.is_set():
            try:
                applied = projector.catch_up(batch=batch, patience=0)
                lag = projector.lag()
            except DATABASE_DOWN as exc:
                if on_outage is not None and outage.since is None:
                    on_outage(exc)
                listener.close()
                outage.wait(exc)
                continue
            outage.over()
            if on_cycle is not None:
                on_cycle(applied, lag)
            if applied:
                continue
            if not listener.wait(interval_ms / 1000):
                stop.wait(interval_ms / 1000)
    finally:
        listener.close()


class Listener:
    """PostgreSQL's LISTEN on the events' channel, opened again after a lost connection."""

    def __init__(self, url: str | None) -> None:
        self._url = url if url and url.startswith(("postgresql://", "postgres://")) else None
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None

    def wait(self, seconds: float) -> bool:
        """Wait for a notification or `seconds`; False if there is nothing to listen on."""
        if self._url is None:
            return False
        try:
            if self._conn is None:
                self._conn = psycopg.connect(self._url, autocommit=True, connect_timeout=3)
                self._conn.execute(f'LISTEN "{CHANNEL}"')
            for _ in self._conn.notifies(timeout=seconds, stop_after=1):
                pass
            return True
        except psycopg.Error:
            self.close()
            return False  # poll instead, until the database is back

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None
