"""`cmpp projections`: the read models, their positions, rebuilds, digests, checks and the
worker."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Annotated

import typer

from projections.check import CheckResult, check_projections
from projections.db import ProjectionDB
from projections.worker import follow
from tools.console import JsonOpt, emit, err, out, printable, progress_bar, system

projections = typer.Typer(
    no_args_is_help=True, help="The read models: status, rebuild, digest, check."
)
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


@projections.command("check")
def projections_check(as_json: JsonOpt = False) -> None:
    """Compare each stored projection with a rebuild from the log; exit 1 if any row differs."""
    with system(read_only=True) as ledger:  # the log is only read; so are the projections
        stored = ProjectionDB(ledger.settings.url)
        try:
            result = check_projections(ledger.app.store, stored, ledger.progress)
        finally:
            stored.close()
    emit(result.to_json(), as_json, lambda: _check_text(result))
    raise typer.Exit(0 if result.ok else 1)


def _check_text(result: CheckResult) -> None:
    for name, position in result.positions.items():
        tables = result.tables[name]
        rows = sum(result.rows.get(t, 0) for t in tables)
        found = sum(result.counts.get(t, 0) for t in [*tables, f"({name})"])
        verdict = "match" if not found else f"{found} differ"
        span = f"entries 0–{position - 1}" if position else "no entries"
        out.print(f"{name:<12} {span:<16} {len(tables)} tables, {rows:>9} rows  {verdict}")
    for name in result.not_built:
        out.print(f"{name:<12} not built yet: nothing to compare")
    for difference in result.differences:
        out.print("  " + printable(difference))
    kept = len(result.differences)
    total = sum(result.counts.values())
    if total > kept:
        out.print(f"  … and {total - kept} more")
    out.print("PROJECTIONS MATCH THE LOG" if result.ok else f"DIFFERENCES FOUND: {total}")


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
