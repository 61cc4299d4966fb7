"""A guard's state saved after an entry, so that a writer need not replay the whole log to start.

Like a projection, a snapshot is never authoritative. A writer starts from one only if:
  1. its MAC verifies, under a key derived from a secret the database's operators do not
     hold (the vault key): they can neither forge nor edit a snapshot the writers trust;
  2. it was made by the same rules (the guard's fingerprint, a hash of their source);
  3. the log still holds, as entry size - 1, the very entry the snapshot was made after
     (its leaf hash, recomputed from the entry itself).
Otherwise the snapshot is discarded and the guard replays the log from entry 0, as it
would with none. The verifier never uses one: check 9 always replays the whole log.
"""

from __future__ import annotations

import hashlib
import hmac
import marshal
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ledger.entry import EntryError, seal
from ledger.merkle import leaf_hash

SNAPSHOT_EVERY = 20_000  # entries a guard may move past its last snapshot before saving anew
SNAPSHOT_ON_CLOSE = 1_000  # ... or, when a writer closes, past which it saves one then


class SnapshotRejectedError(ValueError):
    """A stored snapshot that a writer must not start from; the message says why."""


@dataclass(frozen=True)
class Snapshot:
    fingerprint: str  # the rules that made it
    size: int  # the state once entries 0 … size - 1 were admitted
    last_leaf_hash: bytes  # leaf_hash(entry size - 1)
    state: bytes  # marshal of the guard's state (builtins only)
    mac: bytes

    @classmethod
    def from_row(cls, fingerprint: Any, size: Any, last: Any, state: Any, mac: Any) -> Snapshot:
        """From a stored row, which anyone with the database may have written anything into."""
        blobs = (last, state, mac)
        if (
            type(fingerprint) is not str
            or type(size) is not int
            or not all(isinstance(b, bytes | memoryview) for b in blobs)
        ):
            raise SnapshotRejectedError("its row does not hold a snapshot's types")
        return cls(fingerprint, size, *(bytes(b) for b in blobs))


class SnapshotGuard(Protocol):
    """A guard (ledger.guard.Guard) whose state can be saved and restored."""

    name: str
    fingerprint: str

    @property
    def position(self) -> int: ...

    def state(self) -> Any: ...

    def restore(self, state: Any) -> None: ...


class SnapshotStore(Protocol):
    def read_guard_snapshot(self, name: str) -> Snapshot | None: ...

    def write_guard_snapshot(self, name: str, snapshot: Snapshot) -> None:
        """Keep `snapshot` unless one of more entries, by the same rules, is kept already."""
        ...

    def delete_guard_snapshot(self, name: str) -> None: ...


def snapshot_key(secret: bytes) -> bytes:
    """The MAC key for snapshots, derived from a secret the writers hold (the vault key)."""
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"cmpp guard snapshot v1").derive(secret)


def _mac(key: bytes, fingerprint: str, size: int, last_leaf_hash: bytes, state: bytes) -> bytes:
    signed = b"\n".join((fingerprint.encode(), str(size).encode(), last_leaf_hash, state))
    return hmac.new(key, signed, hashlib.sha256).digest()


def take(key: bytes, guard: SnapshotGuard, last_leaf_hash: bytes) -> Snapshot:
    """A snapshot of `guard` as it stands (every admitted entry committed)."""
    state = marshal.dumps(guard.state())
    size = guard.position
    return Snapshot(
        guard.fingerprint,
        size,
        last_leaf_hash,
        state,
        _mac(key, guard.fingerprint, size, last_leaf_hash, state),
    )


def leaf_hash_of(row: tuple[int, str, bytes | None]) -> bytes:
    """The leaf hash of a log row (seq, prev, stored state), from the entry's own bytes."""
    seq, prev, state = row
    if state is None:
        raise SnapshotRejectedError(f"entry {seq} has no event")
    try:
        return leaf_hash(seal(state, seq, prev))
    except EntryError as exc:
        raise SnapshotRejectedError(f"entry {seq}: {exc}") from None


def restore(
    key: bytes,
    guard: SnapshotGuard,
    snapshot: Snapshot,
    entry_row: tuple[int, str, bytes | None] | None,
) -> None:
    """Bring a fresh `guard` to the snapshot, after the checks above, or raise why not.

    `entry_row` is the log's row for entry snapshot.size - 1 (None if there is none).
    """
    # 1. The MAC, before a byte of the state is read.
    expected = _mac(
        key, snapshot.fingerprint, snapshot.size, snapshot.last_leaf_hash, snapshot.state
    )
    if not hmac.compare_digest(expected, snapshot.mac):
        raise SnapshotRejectedError("its MAC does not verify: it was not made by a writer")
    # 2. The same rules.
    if snapshot.fingerprint != guard.fingerprint:
        raise SnapshotRejectedError("it was made by other rules (the code changed)")
    # 3. The same log, up to the snapshot's last entry.
    if entry_row is None or entry_row[0] != snapshot.size - 1:
        raise SnapshotRejectedError(f"the log no longer holds entry {snapshot.size - 1}")
    if leaf_hash_of(entry_row) != snapshot.last_leaf_hash:
        raise SnapshotRejectedError(f"entry {snapshot.size - 1} is not the one it was made after")
    # Authentic (1), so the bytes are a writer's own: marshal is never handed a forgery.
    guard.restore(marshal.loads(snapshot.state))  # noqa: S302
