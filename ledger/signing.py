"""Signing keys and signers: who signs an event, with which key, on whose behalf."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.hashing import b64encode, key_id

PARALLEL_SIGNING_THRESHOLD = 16  # below this, handing work to threads costs more than it saves
_CORES = os.cpu_count() or 1
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _signing_pool() -> ThreadPoolExecutor:
    global _pool  # noqa: PLW0603 (one pool per process, made on first use)
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_CORES - 1, thread_name_prefix="sign")
        return _pool


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 private key with the organisation that holds it, its roles, and the
    one person who holds it (None for an organisation's own service key)."""

    private: Ed25519PrivateKey = field(repr=False)
    holder: str
    roles: tuple[str, ...]
    person: str | None = None
    public_key: bytes = field(init=False, repr=False)
    key_id: str = field(init=False)

    def __post_init__(self) -> None:
        public = self.private.public_key().public_bytes_raw()
        object.__setattr__(self, "public_key", public)
        object.__setattr__(self, "key_id", key_id(public))

    @classmethod
    def generate(cls, holder: str, roles: tuple[str, ...], person: str | None = None) -> SigningKey:
        return cls(Ed25519PrivateKey.generate(), holder, roles, person)

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data)

    def sign_many(self, messages: Sequence[bytes]) -> list[bytes]:
        """Sign each message; large batches use every core (signing releases the GIL)."""
        if len(messages) < PARALLEL_SIGNING_THRESHOLD or _CORES < 2:
            return [self.private.sign(m) for m in messages]
        step = -(-len(messages) // _CORES)
        chunks = [messages[i : i + step] for i in range(0, len(messages), step)]
        sign = self.private.sign
        others = [_signing_pool().submit(lambda c: [sign(m) for m in c], c) for c in chunks[1:]]
        signatures = [sign(m) for m in chunks[0]]  # this thread takes a share, not just waits
        for future in others:
            signatures.extend(future.result())
        return signatures

    @property
    def public_key_b64(self) -> str:
        return b64encode(self.public_key)


class EventKey(Protocol):
    """What signs events: a key held here (SigningKey), or a signature its holder made
    elsewhere over bytes prepared for them (ledger.prepared)."""

    @property
    def key_id(self) -> str: ...
    @property
    def public_key(self) -> bytes: ...
    @property
    def holder(self) -> str: ...
    @property
    def roles(self) -> tuple[str, ...]: ...
    @property
    def person(self) -> str | None: ...

    def sign_many(self, messages: Sequence[bytes]) -> list[bytes]: ...


@dataclass(frozen=True)
class Signer:
    """Who signs an event: the key's person, or (for a service key) its organisation.

    The actor is never chosen by a caller: it is the key's own (LEDGER_FORMAT.md
    section 4), so an event cannot say one person did what another's key signed.
    `at`, if set, is the instant the events are recorded at (an event prepared for its
    signer earlier keeps the instant its signed bytes name)."""

    key: EventKey
    at: datetime | None = None

    @property
    def actor(self) -> str:
        return self.key.person or self.key.holder

    @property
    def org(self) -> str:
        return self.key.holder
