"""Checkpoint, inclusion and consistency proofs on a large log: milliseconds each."""

from __future__ import annotations

import random
import statistics
import time

from bench import report
from bench.model import payment
from ledger import transparency
from ledger.application import LedgerApplication
from ledger.signing import Signer
from ledger.transparency import LogSigner


def _ms(action: object, runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()  # type: ignore[operator]
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times)


def run(backend: str, app: LedgerApplication, log: LogSigner, signer: Signer) -> None:
    size = app.store.head().size
    rng = random.Random(7)

    def new_checkpoint() -> None:
        app.save(payment(), signer=signer)  # untimed below: we time only the checkpoint
        start = time.perf_counter()
        log.checkpoint()
        checkpoint_times.append((time.perf_counter() - start) * 1000)

    checkpoint_times: list[float] = []
    for _ in range(20):
        new_checkpoint()
    inclusion = _ms(lambda: transparency.inclusion(log, rng.randrange(size), size), 100)
    consistency = _ms(lambda: transparency.consistency(log, rng.randrange(1, size // 2), size), 100)
    for name, (median, worst) in (
        ("checkpoint (new)", (statistics.median(checkpoint_times), max(checkpoint_times))),
        ("inclusion proof", inclusion),
        ("consistency proof", consistency),
    ):
        report.absolute(f"{name}, {size:,} entries, {backend} (median)", median, "ms", "≤ 10 ms")
        report.absolute(f"{name}, {size:,} entries, {backend} (worst)", worst, "ms", "≤ 10 ms")
