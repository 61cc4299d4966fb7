"""Append throughput: the ledger against plain eventsourcing with the same aggregate."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.application import Application

from bench import report
from bench.databases import fresh
from bench.model import payment
from ledger.application import LedgerApplication
from ledger.settings import persistence_env
from ledger.signing import Signer, SigningKey


class PlainApplication(Application[Any]):
    name = "plain"


def _plain_env(url: str) -> dict[str, str]:
    env = persistence_env(url)
    # The library's own recorders and mapper: everything the ledger adds, taken away.
    env["PERSISTENCE_MODULE"] = (
        env["PERSISTENCE_MODULE"].split(".")[0]
        + "."
        + ("sqlite" if url.startswith("sqlite") else "postgres")
    )
    env["PERSISTENCE_MODULE"] = "eventsourcing." + (
        "sqlite" if url.startswith("sqlite") else "postgres"
    )
    del env["MAPPER_TOPIC"]
    return env


def _rate(save: Any, saves: int, per_save: int) -> float:
    for _ in range(min(20, saves)):  # warm up: connections, caches, table statistics
        save(*[payment() for _ in range(per_save)])
    batches = [[payment() for _ in range(per_save)] for _ in range(saves)]
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
    app = LedgerApplication(env=persistence_env(url))
    root = Signer("user:bench", SigningKey.generate("org:board", ("board",)))
    app.open_ledger(
        origin="bench.example/ledger",
        root=root,
        log_public=Ed25519PrivateKey.generate().public_key().public_bytes_raw(),
    )
    fiscal = Signer("user:bench", SigningKey.generate("org:cws", ("fiscal_agent",)))
    app.register_key(root, fiscal.key.public_key, "org:cws", ["fiscal_agent"])
    try:
        return _rate(lambda *objs: app.save(*objs, signer=fiscal), saves, per_save)
    finally:
        app.close()


def run(scale: float = 1.0) -> None:
    for backend in ("sqlite", "postgres"):
        for per_save, saves, goal in (
            (1, int(2000 * scale), "≥ 0.8x"),
            (100, int(60 * scale), "≥ 0.5x"),
        ):
            # Alternate and take the best of two, so neither side gets the quieter moment.
            plain, ours = 0.0, 0.0
            for _ in range(2):
                with fresh(backend) as url:
                    plain = max(plain, plain_rate(url, saves, per_save))
                with fresh(backend) as url:
                    ours = max(ours, ledger_rate(url, saves, per_save))
            report.line(
                f"append, {per_save} event(s)/save, {backend}", ours, plain, "events/s", goal
            )
