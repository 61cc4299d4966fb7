"""Filling a ledger with N signed entries through the application, as fast as it goes."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.model import payment
from ledger.application import LedgerApplication
from ledger.settings import persistence_env
from ledger.signing import Signer, SigningKey
from ledger.transparency import LogSigner


@dataclass
class Filled:
    app: LedgerApplication
    log: LogSigner
    clerk: Signer  # registered; signs every entry after the first two


def fill(url: str, entries: int, per_save: int = 500) -> Filled:
    app = LedgerApplication(env=persistence_env(url))
    root = Signer("user:bench", SigningKey.generate("org:board", ("board",)))
    log_key = Ed25519PrivateKey.generate()
    app.open_ledger(
        origin="bench.example/ledger", root=root, log_public=log_key.public_key().public_bytes_raw()
    )
    clerk = Signer("user:bench", SigningKey.generate("org:cws", ("grantee",)))
    app.register_key(root, clerk.key.public_key, "org:cws", ["grantee"])
    log = LogSigner(app.store, app.origin, log_key)
    remaining = entries - app.store.head().size
    while remaining > 0:
        batch = min(per_save, remaining)
        app.save(*[payment() for _ in range(batch)], signer=clerk)
        remaining -= batch
        if app.store.head().size % 100_000 < per_save:
            log.checkpoint()  # a few earlier checkpoints, as a real ledger has
            print(f"  filled {app.store.head().size:,} entries", flush=True)
    log.checkpoint()
    return Filled(app, log, clerk)
