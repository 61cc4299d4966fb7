"""Rebuilding every projection from a large log, against the raw rate of decoding it."""

from __future__ import annotations

import json
import random
import statistics
import time

from bench import report
from bench.databases import fresh
from bench.demo_log import fill_demo_log
from projections import balances, oversight
from projections.case_history import CaseHistory
from projections.db import ProjectionDB
from projections.runner import Projector


def raw_decode_rate(store: object, size: int) -> float:
    start, position = time.perf_counter(), 0
    while position < size:
        rows = store.read_rows(position, 5000)  # type: ignore[attr-defined]
        for _seq, _prev, state in rows:
            json.loads(state)["event"]
        position = rows[-1][0] + 1
    return size / (time.perf_counter() - start)


def run(entries: int, backend: str = "sqlite") -> None:
    with fresh(backend) as url:
        print(f"filling a {entries:,}-entry demo log on {backend} …", flush=True)
        ledger = fill_demo_log(url, entries)
        app = ledger.system.app
        size = app.store.head().size
        # The baseline's best of three: noise on a shared machine can only flatter us.
        raw = max(raw_decode_rate(app.store, size) for _ in range(3))
        projector = Projector(
            app.store,
            ProjectionDB(url),
            [balances.Balances(), balances.LogIndex(), CaseHistory(), oversight.Oversight()],
        )
        start = time.perf_counter()
        projector.rebuild()
        rebuilt = size / (time.perf_counter() - start)
        report.line(
            f"rebuild all projections, {size:,} entries, {backend}",
            rebuilt,
            raw,
            "entries/s",
            "≥ 0.25x",
        )
        rng = random.Random(5)
        times = []
        for _ in range(20):
            cut = rng.randrange(size)
            start = time.perf_counter()
            balances.report(projector.db, at_seq=cut)
            times.append((time.perf_counter() - start) * 1000)
        report.absolute(
            f"balances as of a random past seq, {backend}: median",
            statistics.median(times),
            "ms",
            "≤ 1000 ms",
        )
        report.absolute(
            f"balances as of a random past seq, {backend}: max", max(times), "ms", "≤ 1000 ms"
        )
        projector.db.close()
        ledger.close()
