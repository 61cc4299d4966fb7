"""Checkpoints and proofs on request (LEDGER_FORMAT.md sections 6 and 8).

Each uses the stored Merkle nodes: a checkpoint or a proof on a log of any size
reads O(log n) nodes in one query, never the log itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import merkle
from ledger.entry import format_instant
from ledger.errors import UserError
from ledger.hashing import b64decode, b64encode
from ledger.note import Checkpoint, NoteError, VerifierKey
from ledger.store import LogStore, iter_leaves
from ledger.tlog_proof import format_tlog_proof

MAX_TREE_SIZE = 2**63 - 1  # the stores keep seqs and sizes as signed 64-bit integers


class ProofRequestError(UserError, ValueError):
    """A proof that cannot be given for the sizes asked; the message says why."""

    rule = "proof-request"


class LogSigner:
    """Issues checkpoints for one log with its log key."""

    def __init__(self, store: LogStore, origin: str, log_key: Ed25519PrivateKey) -> None:
        self.store = store
        self.origin = origin
        self._key = log_key
        self.verifier = VerifierKey(origin, log_key.public_key().public_bytes_raw())

    def checkpoint(self, size: int | None = None) -> str:
        """The signed checkpoint for `size` (default: the whole log), issuing it if new."""
        head = None
        if size is None:
            head = self.store.head()
            size = head.size
        elif not 0 <= size <= MAX_TREE_SIZE:  # beyond any log, and beyond what a store can read
            raise ProofRequestError(f"the log has {self.store.head().size} entries, not {size}")
        near = self.store.checkpoints_near(size)
        for issued_size, note in near:
            if issued_size == size:
                return note  # issued already: no need to read the head
        head = head or self.store.head()
        head_size = head.size
        if not 0 <= size <= head_size:
            raise ProofRequestError(f"the log has {head_size} entries, not {size}")
        if size == head_size:
            root = head.frontier.root()  # the head keeps the right edge: no reads needed
        else:
            root = merkle.root_at(size, self.store.fetch_nodes)
        # Append-only: the new checkpoint must agree with those already issued. Checking
        # the nearest one on each side suffices, since consistency is transitive.
        for old_size, note in near:
            self._check_consistent(old_size, Checkpoint.open(note, self.verifier).root, size, root)
        note = Checkpoint(self.origin, size, root).sign(self._key)
        self.store.add_checkpoint(size, note, format_instant(datetime.now(UTC)))
        # Another process may have issued it first: Ed25519 is deterministic, so the
        # stored note is this one byte for byte either way.
        return note

    def _check_consistent(self, old_size: int, old_root: bytes, size: int, root: bytes) -> None:
        low, high = sorted((old_size, size))
        if low == 0:
            return
        low_root, high_root = (old_root, root) if old_size < size else (root, old_root)
        proof = merkle.consistency_proof(low, high, self.store.fetch_nodes)
        try:
            merkle.verify_consistency(low, high, low_root, high_root, proof)
        except merkle.ProofError as exc:
            raise NoteError(
                f"refusing to sign: the log at size {size} is not consistent with the "
                f"checkpoint issued at size {old_size} ({exc})"
            ) from None


class StoredTreeError(UserError, RuntimeError):
    """The stored leaf hashes or Merkle nodes do not match the log they were made from."""

    rule = "stored-tree"


def _refuse_unless(check: Any, *args: Any) -> None:
    # A proof is made from stored nodes, which an operator can edit: one that does
    # not verify is never handed out.
    try:
        check(*args)
    except merkle.ProofError as exc:
        raise StoredTreeError(
            f"refusing to give a proof that does not verify ({exc}): the stored Merkle "
            "nodes or leaf hashes were altered; run cmpp verify"
        ) from None


def inclusion(log: LogSigner, index: int, size: int | None = None) -> dict[str, Any]:
    return _inclusion(log, index, size)[0]


def _inclusion(log: LogSigner, index: int, size: int | None) -> tuple[dict[str, Any], bytes]:
    """The proof, checked before it is handed out, and the entry's line it proves."""
    note = log.checkpoint(size)
    checkpoint = Checkpoint.parse_text(note.split("\n\n")[0] + "\n")
    tree_size = checkpoint.size
    if not 0 <= index < tree_size:
        raise ProofRequestError(f"entry {index} is not in a tree of {tree_size} entries")
    fetch = log.store.fetch_nodes
    leaf = fetch({(0, index)})[(0, index)]
    proof = merkle.inclusion_proof(index, tree_size, fetch)
    found = next(iter_leaves(log.store, index, index + 1), None)
    if found is None or found[0] != index:
        raise StoredTreeError(f"entry {index} is missing from the log; run cmpp verify")
    if merkle.leaf_hash(found[1]) != leaf:
        raise StoredTreeError(
            f"the stored leaf hash of entry {index} is not the hash of the entry: the "
            "stored tree was altered; run cmpp verify"
        )
    _refuse_unless(merkle.verify_inclusion, index, tree_size, leaf, proof, checkpoint.root)
    given = {
        "index": index,
        "tree_size": tree_size,
        "leaf_hash": b64encode(leaf),
        "proof": [b64encode(p) for p in proof],
        "checkpoint": note,
    }
    return given, found[1]


def consistency(log: LogSigner, old_size: int, new_size: int) -> dict[str, Any]:
    if not 0 < old_size <= new_size:
        raise ProofRequestError(
            f"a consistency proof needs 0 < OLD <= NEW (got {old_size} and {new_size})"
        )
    new_note = log.checkpoint(new_size)
    old_note = log.checkpoint(old_size)
    proof = merkle.consistency_proof(old_size, new_size, log.store.fetch_nodes)
    old_root, new_root = (
        Checkpoint.parse_text(note.split("\n\n")[0] + "\n").root for note in (old_note, new_note)
    )
    _refuse_unless(merkle.verify_consistency, old_size, new_size, old_root, new_root, proof)
    return {
        "old_size": old_size,
        "new_size": new_size,
        "proof": [b64encode(p) for p in proof],
        "old_checkpoint": old_note,
        "new_checkpoint": new_note,
    }


def entry_proof(log: LogSigner, index: int, size: int | None = None) -> tuple[bytes, str]:
    """Entry `index`'s line and a C2SP tlog-proof of it against a signed checkpoint."""
    proof, line = _inclusion(log, index, size)
    path = [b64decode(p) for p in proof["proof"]]
    return line + b"\n", format_tlog_proof(index, path, proof["checkpoint"])
