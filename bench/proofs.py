"""Checkpoint, inclusion and consistency proofs on a large log: milliseconds each."""

from __future__ import annotations

import random
import statistics
import time

from bench import report
from bench.model import BenchLedger, access
from ledger import transparency


def _ms(action: object, runs: int) -> list[float]:
    for _ in range(5):  # untimed: the first reads of a large file come from disk, not cache
        action()  # type: ignore[operator]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()  # type: ignore[operator]
        times.append((time.perf_counter() - start) * 1000)
    return times


def run(backend: str, ledger: BenchLedger) -> None:
    app, log = ledger.system.app, ledger.system.log
    size = app.store.head().size
    rng = random.Random(7)

    def new_checkpoint() -> None:
        app.save(access(), signer=ledger.server)  # untimed below: we time only the checkpoint
        start = time.perf_counter()
        log.checkpoint()
        checkpoint_times.append((time.perf_counter() - start) * 1000)

    checkpoint_times: list[float] = []
    for _ in range(20):
        new_checkpoint()
    inclusion = _ms(lambda: transparency.inclusion(log, rng.randrange(size), size), 100)
    consistency = _ms(lambda: transparency.consistency(log, rng.randrange(1, size // 2), size), 100)
    for name, measured in (
        ("checkpoint (new)", checkpoint_times),
        ("inclusion proof", inclusion),
        ("consistency proof", consistency),
    ):
        times = sorted(measured)
        p95 = times[int(len(times) * 0.95) - 1]
        report.absolute(
            f"{name}, {size:,} entries, {backend}: median",
            statistics.median(times),
            "ms",
            "≤ 10 ms",
        )
        report.absolute(f"{name}, {size:,} entries, {backend}: p95", p95, "ms", "≤ 10 ms")
        report.absolute(f"{name}, {size:,} entries, {backend}: max", times[-1], "ms", "—")
