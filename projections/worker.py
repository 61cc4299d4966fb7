"""A projection worker: its own process, following the log as it grows.

It catches up in batches, then waits for more: woken early by PostgreSQL's NOTIFY
(the recorders notify on every insert) and by polling always, because a notification
can be lost and LISTEN alone can stall. Each cycle reports how far each projection lags.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import psycopg

from projections.runner import BATCH, Projector

CHANNEL = "ledger_events"  # eventsourcing notifies on its events table's name


def follow(
    projector: Projector,
    *,
    interval_ms: int = 1000,
    batch: int = BATCH,
    stop: threading.Event | None = None,
    listen_url: str | None = None,
    on_cycle: Callable[[int, dict[str, int]], None] | None = None,
) -> None:
    stop = stop or threading.Event()
    listener = None
    if listen_url is not None and listen_url.startswith(("postgresql://", "postgres://")):
        listener = psycopg.connect(listen_url, autocommit=True)
        listener.execute(f'LISTEN "{CHANNEL}"')
    try:
        while not stop.is_set():
            applied = projector.catch_up(batch=batch)
            if on_cycle is not None:
                on_cycle(applied, projector.lag())
            if applied:
                continue
            if listener is not None:
                for _ in listener.notifies(timeout=interval_ms / 1000, stop_after=1):
                    pass
            else:
                stop.wait(interval_ms / 1000)
    finally:
        if listener is not None:
            listener.close()
