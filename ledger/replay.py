"""What a writer trusts about the log, replayed from the entries themselves.

The tables beside the log (`ledger_head`, `ledger_keys`, the stored Merkle nodes) are
indexes an operator can edit with one statement. A writer that believed them would
append entries signed by a key the operator inserted, or sign a checkpoint over a
tree the entries do not make. So a writer replays every entry it has not seen —
checking the chain, the signature, and the trust rules of LEDGER_FORMAT.md section 4
exactly as the verifier does — and keeps, from that replay alone, the keys in force,
the last leaf hash and the Merkle tree's right edge. Before each batch it compares
the stored head with them; the first difference makes it refuse, for good, to write
or sign (`AlteredLogError`), naming what differs.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger import merkle
from ledger.catalogue import LEDGER_ONLY, LOG_ROLE, Catalogue
from ledger.entry import EntryError, event_bytes_of, parse_signed_state, seal
from ledger.errors import UserError
from ledger.hashing import ZERO_PREV, b64decode
from ledger.merkle import Frontier, Node, leaf_hash
from ledger.note import Checkpoint, NoteError, VerifierKey
from ledger.trust import KeyRecord, TrustError, TrustState


class AlteredLogError(UserError, RuntimeError):
    """The database does not hold what the log's own entries say: someone altered it.

    A writer that has seen this refuses every later write and checkpoint in its process.
    """

    rule = "altered-log"


def altered(where: str) -> AlteredLogError:
    return AlteredLogError(
        f"the database was altered: {where}. This writer refuses to write or sign; "
        "run `cmpp verify` (with a checkpoint you hold) to see what changed"
    )


PARALLEL_THRESHOLD = 64  # signatures below which threads cost more than they save
_CORES = os.cpu_count() or 1
_POOL: list[ThreadPoolExecutor] = []
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    with _POOL_LOCK:
        if not _POOL:
            _POOL.append(ThreadPoolExecutor(max_workers=_CORES, thread_name_prefix="replay"))
        return _POOL[0]


@dataclass(frozen=True)
class SignatureCheck:
    seq: int
    key: Ed25519PublicKey
    sig: str
    signed: bytes  # JCS(event): what the signature covers

    def holds(self) -> bool:
        try:
            self.key.verify(b64decode(self.sig), self.signed)
        except (InvalidSignature, ValueError):
            return False
        return True


def _failing(checks: list[SignatureCheck]) -> list[int]:
    return [check.seq for check in checks if not check.holds()]


class LogReplay:
    """The log's state as its entries make it: size, last leaf, tree edge and keys."""

    def __init__(self, catalogue: Catalogue = LEDGER_ONLY) -> None:
        self.trust = TrustState(catalogue=catalogue)
        self.frontier = Frontier()
        self.last_leaf: bytes | None = None
        self.origin: str | None = None
        self.broken: AlteredLogError | None = None  # once altered, always refused
        # Counts the moments the keys changed (an entry or batch registering or revoking
        # one, a snapshot restored): whatever was worked out from the keys still holds
        # while it is unchanged.
        self.keys_changed = 0
        self._public: dict[str, Ed25519PublicKey] = {}

    @property
    def size(self) -> int:
        return self.frontier.size

    def root(self) -> bytes:
        return self.frontier.root()

    def refuse_if_broken(self) -> None:
        if self.broken is not None:
            raise self.broken

    def fail(self, where: str) -> AlteredLogError:
        self.broken = altered(where)
        return self.broken

    # -- replaying committed entries ------------------------------------------------------

    def apply(
        self,
        seq: int,
        prev: str,
        state: bytes | None,
        deferred: list[SignatureCheck] | None = None,
    ) -> dict[str, Any]:
        """Check the committed entry at `seq` as a verifier would, then take it in.
        Returns its event (for the domain's rules). With `deferred`, its signature check
        is added there, for `check_signatures` to run with others' in parallel."""
        self.refuse_if_broken()
        if seq != self.size or state is None:
            raise self.fail(f"entry {self.size} is missing from the log")
        expected = ZERO_PREV if self.last_leaf is None else self.last_leaf.hex()
        if prev != expected:
            raise self.fail(f"entry {seq} does not chain to entry {seq - 1}")
        try:
            leaf = seal(state, seq, prev)
            event, sig = parse_signed_state(state)
        except EntryError as exc:
            raise self.fail(f"entry {seq} is not a signed event ({exc})") from None
        try:
            signer = self.trust.admit(seq, event)
        except (TrustError, KeyError, TypeError) as exc:
            raise self.fail(f"entry {seq} breaks the key rules ({exc})") from None
        check = SignatureCheck(seq, self._public_key(signer), sig, event_bytes_of(leaf))
        if deferred is None:
            self.check_signatures([check])
        else:
            deferred.append(check)
        if seq == 0:
            self.origin = event["data"]["origin"]
        if self.trust.changed:
            self.keys_changed += 1
        self.trust.changed.clear()  # replayed changes are history, not a batch's
        self.take(leaf_hash(leaf))
        return event

    def _public_key(self, signer: KeyRecord) -> Ed25519PublicKey:
        key = self._public.get(signer.key_id)
        if key is None:
            key = self._public[signer.key_id] = Ed25519PublicKey.from_public_bytes(
                signer.public_key
            )
        return key

    def check_signatures(self, checks: list[SignatureCheck]) -> None:
        """Verify signatures of entries already taken in (in threads: Ed25519 releases the
        interpreter); the first that fails breaks the replay for good."""
        if len(checks) < PARALLEL_THRESHOLD or _CORES == 1:
            failed = [c.seq for c in checks if not c.holds()]
        else:
            step = -(-len(checks) // _CORES)
            parts = [checks[i : i + step] for i in range(0, len(checks), step)]
            failed = [seq for part in _pool().map(_failing, parts) for seq in part]
        if failed:
            raise self.fail(f"the signature of entry {min(failed)} does not verify")

    def take(self, leaf: bytes) -> None:
        self.frontier.append(leaf)
        self.last_leaf = leaf

    # -- a batch of this writer's own -----------------------------------------------------

    def batch_trust(self) -> TrustState:
        """The keys for admitting a new batch: reads the replay's, records changes apart,
        so a batch that does not commit leaves the replay as it was."""
        return TrustState.over(self.trust)

    def committed(
        self,
        keys: list[KeyRecord],
        frontier: Frontier,
        last: bytes | None,
        events: list[tuple[int, dict[str, Any]]],
    ) -> None:
        """Take in a batch this writer admitted, once the database committed it."""
        if events and events[0][0] == 0:
            self.origin = events[0][1]["data"]["origin"]
        for record in keys:
            self.trust.keys[record.key_id] = record
        if keys:
            self.keys_changed += 1
        self.frontier, self.last_leaf = frontier.copy(), last

    # -- the stored head and checkpoints, against the replay --------------------------------

    def confirm_head(self, size: int, last_leaf: bytes | None, frontier: Frontier) -> None:
        """The stored head (ledger_head) must be the replay's, byte for byte."""
        self.refuse_if_broken()
        if size < self.size:
            raise self.fail(
                f"the stored head says {size} entries, but this writer has read {self.size}: "
                "entries were removed (a truncated log or an older copy restored)"
            )
        if size != self.size or last_leaf != self.last_leaf:
            raise self.fail(f"the stored head (size {size}) does not match the last entry")
        if frontier.to_bytes() != self.frontier.to_bytes():
            raise self.fail("the stored head's Merkle edge is not the one the entries make")

    def log_key(self) -> VerifierKey:
        records = [r for r in self.trust.keys.values() if r.roles == (LOG_ROLE,)]
        if self.origin is None or len(records) != 1:
            raise self.fail("entry 0 does not name one log key")
        return VerifierKey(self.origin, records[0].public_key)

    def confirm_checkpoint(
        self, size: int, root: bytes, fetch: Callable[[set[Node]], Mapping[Node, bytes]], what: str
    ) -> None:
        """A checkpoint (size, root) signed earlier must describe a prefix of these entries:
        the log is at least that long, and a consistency proof (made from stored nodes,
        which cannot forge one) joins its root to the root the replay computed."""
        self.refuse_if_broken()
        if size > self.size:
            raise self.fail(
                f"{what} covers {size} entries, but the log has only {self.size}: entries "
                "were removed (a truncated log or an older copy restored)"
            )
        if size == 0:
            return
        try:
            proof = merkle.consistency_proof(size, self.size, fetch)
            merkle.verify_consistency(size, self.size, root, self.root(), proof)
        except (merkle.ProofError, LookupError) as exc:
            raise self.fail(
                f"the log is not consistent with {what} of size {size} ({exc}): entries "
                "before it were rewritten, or the stored Merkle nodes altered"
            ) from None

    def confirm_note(
        self, size: int, note: str, fetch: Callable[[set[Node]], Mapping[Node, bytes]], what: str
    ) -> None:
        try:
            checkpoint = Checkpoint.open(note, self.log_key())
        except NoteError as exc:
            raise self.fail(f"{what} of size {size} is not signed by the log key ({exc})") from None
        if checkpoint.size != size:
            raise self.fail(f"{what} stored for size {size} is for size {checkpoint.size}")
        self.confirm_checkpoint(size, checkpoint.root, fetch, what)

    # -- snapshots (ledger.guard_snapshot) --------------------------------------------------

    def state(self) -> tuple[Any, ...]:
        keys = [
            (r.key_id, r.public_key, r.holder, r.roles, r.registered_seq, r.revoked_seq, r.person)
            for r in self.trust.keys.values()
        ]
        last = self.last_leaf or b""
        return (keys, self.size, self.frontier.to_bytes(), last, self.origin)

    def restore(self, state: tuple[Any, ...]) -> None:
        keys, size, frontier, last, origin = state
        self.keys_changed += 1
        self.trust.keys.clear()
        for key_id, public, holder, roles, registered, revoked, person in keys:
            self.trust.keys[key_id] = KeyRecord(
                key_id, public, holder, tuple(roles), registered, revoked, person
            )
        self.frontier = Frontier.from_bytes(size, frontier)
        self.last_leaf = last or None
        self.origin = origin
