"""Filling a ledger with N signed entries through the application, as fast as it goes."""

from __future__ import annotations

from bench.model import BenchLedger, access, open_bench_ledger


def fill(url: str, entries: int, per_save: int = 500) -> BenchLedger:
    ledger = open_bench_ledger(url)
    app, log = ledger.system.app, ledger.system.log
    remaining = entries - app.store.head().size
    while remaining > 0:
        batch = min(per_save, remaining)
        app.save(*[access() for _ in range(batch)], signer=ledger.server)
        remaining -= batch
        if app.store.head().size % 100_000 < per_save:
            log.checkpoint()  # a few earlier checkpoints, as a real ledger has
            print(f"  filled {app.store.head().size:,} entries", flush=True)
    log.checkpoint()
    return ledger
