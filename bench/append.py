"""Append throughput: the ledger against plain eventsourcing with the same aggregate."""

from __future__ import annotations

import statistics
from typing import Any

from eventsourcing.application import Application

from bench import report
from bench.databases import fresh
from bench.model import access, open_bench_ledger
from ledger.persistence import persistence_env


class PlainApplication(Application[Any]):
    name = "plain"


def _plain_env(url: str) -> dict[str, str]:
    env = persistence_env(url)
    # The library's own recorders and mapper: everything the ledger adds, taken away.
    env["PERSISTENCE_MODULE"] = "eventsourcing." + (
        "sqlite" if url.startswith("sqlite") else "postgres"
    )
    del env["MAPPER_TOPIC"]
    return env


def _rate(save: Any, saves: int, per_save: int) -> float:
    for _ in range(min(20, saves)):  # warm up: connections, caches, table statistics
        save(*[access() for _ in range(per_save)])
    batches = [[access() for _ in range(per_save)] for _ in range(saves)]
    with report.timer() as elapsed:
        for batch in batches:
            save(*batch)
    return saves * per_save / elapsed()


def plain_rate(url: str, saves: int, per_save: int) -> float:
    app = PlainApplication(env=_plain_env(url))
    try:
        return _rate(app.save, saves, per_save)
    finally:
        app.close()


def ledger_rate(url: str, saves: int, per_save: int) -> float:
    """The whole ledger as `cmpp` builds it: signing, the log, trust and the program's rules."""
    ledger = open_bench_ledger(url)
    app = ledger.system.app
    try:
        return _rate(lambda *objs: app.save(*objs, signer=ledger.server), saves, per_save)
    finally:
        ledger.close()


def run(scale: float = 1.0, rounds: int = 3) -> None:
    for backend in ("sqlite", "postgres"):
        for per_save, saves, goal in (
            (1, int(2000 * scale), "≥ 0.8x"),
            (100, int(60 * scale), "≥ 0.5x"),
        ):
            # Commit latency (fsync) drifts over seconds, so the two sides alternate,
            # each round on fresh databases, and the median round is reported.
            plain, ours = [], []
            for _ in range(rounds):
                with fresh(backend) as url:
                    plain.append(plain_rate(url, saves, per_save))
                with fresh(backend) as url:
                    ours.append(ledger_rate(url, saves, per_save))
            ratios = sorted(o / p for o, p in zip(ours, plain, strict=True))
            report.line(
                f"append, {per_save} event(s)/save, {backend}",
                statistics.median(ours),
                statistics.median(plain),
                "events/s",
                goal,
                ratio=ratios[len(ratios) // 2],
            )
