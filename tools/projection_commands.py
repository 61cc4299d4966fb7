"""`cmpp projections`: the read models, their positions, rebuilds, digests and the worker."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Annotated

import typer

from projections.worker import follow
from tools.console import JsonOpt, emit, err, out, printable, progress_bar, system

projections = typer.Typer(no_args_is_help=True, help="The read models: status, rebuild, digest.")
MAX_INTERVAL = 3600.0  # seconds: a worker polls at least hourly (inf or nan is no interval)
MAX_BATCH = 1_000_000  # entries in one transaction


@projections.command("status")
def projections_status(as_json: JsonOpt = False) -> None:
    """Each projection's position and how far it lags the log."""
    with system() as ledger:
        positions, lag = ledger.projector.positions(), ledger.projector.lag()
    rows = {name: {"position": positions[name], "lag": lag[name]} for name in positions}

    def show() -> None:
        for name, row in rows.items():
            out.print(f"{name:<12} position {row['position']:>9}  lag {row['lag']:>9}")

    emit(rows, as_json, show)


@projections.command("rebuild")
def projections_rebuild(name: Annotated[str | None, typer.Argument()] = None) -> None:
    """Drop a projection (default: all) and rebuild it from the log."""
    with system() as ledger:
        size = ledger.app.store.head().size
        with progress_bar("rebuilding", size) as advance:
            ledger.projector.rebuild(name, progress=advance)
    out.print(f"rebuilt {name or 'all projections'} to entry {size - 1}")


@projections.command("digest")
def projections_digest(as_json: JsonOpt = False) -> None:
    """A SHA-256 of each projection's state: equal wherever and however it was built."""
    with system() as ledger:
        digests = ledger.reports.digest()

    def show() -> None:
        for name, digest in digests.items():
            out.print(f"{name:<12} {digest}")

    emit(digests, as_json, show)


@projections.command("follow")
def projections_follow(
    interval: Annotated[
        float, typer.Option(min=0.05, max=MAX_INTERVAL, help="Seconds between polls.")
    ] = 1.0,
    batch: Annotated[
        int, typer.Option(min=1, max=MAX_BATCH, help="Entries per transaction.")
    ] = 5000,
) -> None:
    """Run a projection worker: follow the log until stopped (Ctrl-C or SIGTERM)."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        _follow(interval, batch, stop)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _follow(interval: float, batch: int, stop: threading.Event) -> None:
    with system() as ledger:

        def report_lag(applied: int, lag: dict[str, int]) -> None:
            if applied:
                err.print(
                    f"applied {applied}; lag " + ", ".join(f"{k} {v}" for k, v in lag.items())
                )

        def report_outage(cause: Exception) -> None:
            message = f"the database went away ({cause}); waiting for it, then carrying on"
            err.print(printable(message), markup=False)

        with contextlib.suppress(KeyboardInterrupt):
            follow(
                ledger.projector,
                interval_ms=round(interval * 1000),
                batch=batch,
                stop=stop,
                listen_url=ledger.settings.url,
                on_cycle=report_lag,
                on_outage=report_outage,
            )
