"""Checkpoints and proofs on request (LEDGER_FORMAT.md sections 6 and 8).

Each uses the stored Merkle nodes: a checkpoint or a proof on a log of any size
reads O(log n) nodes in one query, never the log itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import merkle
from ledger.entry import format_instant
from ledger.errors import UserError
from ledger.hashing import b64decode, b64encode
from ledger.note import Checkpoint, NoteError, VerifierKey
from ledger.replay import LogReplay
from ledger.signer_record import Signed, SignerRecord, SignerRecordError, SignerRecordSession
from ledger.store import LogStore, iter_leaves
from ledger.tlog_proof import format_tlog_proof

MAX_TREE_SIZE = 2**63 - 1  # the stores keep seqs and sizes as signed 64-bit integers


class ProofRequestError(UserError, ValueError):
    """A proof that cannot be given for the sizes asked; the message says why."""

    rule = "proof-request"


class LogSigner:
    """Issues checkpoints for one log with its log key.

    Given a `record` (ledger.signer_record), the signer remembers every checkpoint it
    signed outside the database and never signs one smaller than, or inconsistent with,
    the largest. Given `confirm` (the writer's replay, ledger.replay), it signs only a
    tree the entries themselves make, after checking the stored head against them.
    """

    def __init__(
        self,
        store: LogStore,
        origin: str,
        log_key: Ed25519PrivateKey,
        *,
        record: SignerRecord | None = None,
        confirm: Callable[[], LogReplay] | None = None,
    ) -> None:
        self.store = store
        self.origin = origin
        self._key = log_key
        self.verifier = VerifierKey(origin, log_key.public_key().public_bytes_raw())
        self.record = record
        self._confirm = confirm
        self._lock = threading.Lock()  # one signature at a time in this process

    def checkpoint(self, size: int | None = None) -> str:
        """The signed checkpoint for `size` (default: the whole log), issuing it if new."""
        if size is not None:
            if not 0 <= size <= MAX_TREE_SIZE:  # beyond any log, and beyond what a store reads
                raise ProofRequestError(f"the log has {self.store.head().size} entries, not {size}")
            for issued_size, note in self.store.checkpoints_near(size):
                if issued_size == size:
                    return self._stored(size, note)  # issued already: nothing to sign
        with self._lock, self._recorded() as session:
            return self._issue(size, session)

    @contextmanager
    def _recorded(self) -> Iterator[SignerRecordSession | None]:
        if self.record is None:
            yield None
        else:
            with self.record.locked() as session:
                yield session

    def _issue(self, size: int | None, session: SignerRecordSession | None) -> str:
        head_size, head_root = self._head()
        size = head_size if size is None else size
        if not 0 <= size <= head_size:
            raise ProofRequestError(f"the log has {head_size} entries, not {size}")
        near = self.store.checkpoints_near(size)
        for issued_size, note in near:
            if issued_size == size:
                return self._stored(size, note)  # another process issued it meanwhile
        if size == head_size:
            root = head_root
        else:
            try:
                root = merkle.root_at(size, self.store.fetch_nodes)
            except LookupError as exc:
                raise _missing(head_size, exc) from None
            # Stored nodes could be edited: the root must be a prefix of the head's.
            self._check_consistent(size, root, head_size, head_root, "the head")
        # Append-only: the new checkpoint must agree with those already issued. Checking
        # the nearest one on each side suffices, since consistency is transitive.
        for old_size, note in near:
            old_root = Checkpoint.open(note, self.verifier).root
            self._check_consistent(old_size, old_root, size, root, "the checkpoint issued")
        largest = session.largest if session is not None else None
        if session is not None:
            self._check_database_known(largest, head_size)
        if largest is not None:
            self._check_record(largest, size, root)
        now = format_instant(datetime.now(UTC))
        note = Checkpoint(self.origin, size, root).sign(self._key)
        if session is not None and (largest is None or largest.size < size):
            session.append(size, root, note, now)  # remembered before anyone sees it
        self.store.add_checkpoint(size, note, now)
        # Another process may have issued it first: Ed25519 is deterministic, so the
        # stored note is this one byte for byte either way.
        return note

    def _head(self) -> tuple[int, bytes]:
        if self._confirm is not None:
            replay = self._confirm()
            return replay.size, replay.root()
        head = self.store.head()
        return head.size, head.frontier.root()  # the head keeps the right edge: no reads

    def _stored(self, size: int, note: str) -> str:
        """A note from the checkpoints table, handed out only if it is the log key's
        checkpoint of `size` entries (an operator can write any row there)."""
        try:
            opened = Checkpoint.open(note, self.verifier)
        except NoteError as exc:
            raise StoredTreeError(
                f"the checkpoint stored for {size} entries is not signed by the log key "
                f"({exc}): the checkpoints table was altered; run cmpp verify"
            ) from None
        if opened.size != size:
            raise StoredTreeError(
                f"the checkpoint stored for {size} entries is one of {opened.size}: the "
                "checkpoints table was altered; run cmpp verify"
            )
        return note

    def _check_database_known(self, largest: Signed | None, head_size: int) -> None:
        """The record starts with the ledger (its first checkpoint, of entry 0), and every
        checkpoint the database holds was signed by this log key, so none may be larger
        than the largest in the record: else the record was lost, cut or is old."""
        issued = self.store.checkpoints_near(MAX_TREE_SIZE)
        stored_size = issued[-1][0] if issued else 0
        if largest is None and max(head_size, stored_size) > 1:
            raise SignerRecordError(
                "the signer's record is missing or empty, but this ledger has grown past "
                "its first checkpoint: the record was lost. Restore it from a copy; for a "
                "ledger made before signers kept records, start one from the latest "
                "checkpoint you hold (from a witness or an auditor): "
                "`cmpp checkpoint --start-record FILE`"
            )
        if largest is None or stored_size <= largest.size:
            return
        self._stored(stored_size, issued[-1][1])  # a row the log key never signed: altered
        raise SignerRecordError(
            f"the database holds a checkpoint of {stored_size} entries signed by the log key, "
            f"larger than any in the signer's record ({largest.size}): the record is an old "
            "copy, or was cut. Restore the whole record"
        )

    def start_record(self, held: str) -> int:
        """Start the signer's record of a ledger made before signers kept one, from `held`
        (the latest checkpoint someone outside holds) or the database's largest if that
        is larger, each checked to be a prefix of the entries. Returns its size."""
        if self.record is None:
            raise SignerRecordError("this signer keeps no record")
        try:
            held_checkpoint = Checkpoint.open(held, self.verifier)
        except NoteError as exc:
            raise SignerRecordError(f"the checkpoint given is not this log's ({exc})") from None
        with self._lock, self.record.locked() as session:
            if session.largest is not None:
                raise SignerRecordError(
                    f"the signer's record already holds checkpoints (up to {session.largest.size})"
                )
            head_size, head_root = self._head()
            candidates = [(held_checkpoint.size, held_checkpoint.root, held)]
            issued = self.store.checkpoints_near(MAX_TREE_SIZE)
            if issued and issued[-1][0] > held_checkpoint.size:
                size, note = issued[-1]
                root = Checkpoint.open(self._stored(size, note), self.verifier).root
                candidates.append((size, root, note))
            for size, root, _note in candidates:
                if size > head_size:
                    raise SignerRecordError(
                        f"rollback: a checkpoint of {size} entries was signed, and the log "
                        f"holds {head_size}"
                    )
                self._check_consistent(size, root, head_size, head_root, "the head")
            size, root, note = candidates[-1]
            session.append(size, root, note, format_instant(datetime.now(UTC)))
            return size

    def _check_record(self, largest: Signed, size: int, root: bytes) -> None:
        """The rule of LEDGER_FORMAT.md section 6 against the signer's own memory."""
        if size < largest.size:
            raise SignerRecordError(
                f"refusing to sign a checkpoint of {size} entries: the log key has already "
                f"signed one of {largest.size}. The database holds fewer entries than were "
                "published (an older copy restored, or the log truncated)"
            )
        if size == largest.size and root != largest.root:
            raise SignerRecordError(
                f"refusing to sign: the log key signed another root for size {size} "
                "(the database's log was rewritten; signing would be a fork)"
            )
        try:
            self._check_consistent(largest.size, largest.root, size, root, "the last signed")
        except NoteError as exc:
            raise SignerRecordError(str(exc)) from None

    def _check_consistent(
        self, old_size: int, old_root: bytes, size: int, root: bytes, what: str
    ) -> None:
        low, high = sorted((old_size, size))
        if low in (0, high):
            if low == high and old_root != root:
                raise NoteError(f"refusing to sign: {what} at size {size} has another root")
            return
        low_root, high_root = (old_root, root) if old_size < size else (root, old_root)
        try:
            proof = merkle.consistency_proof(low, high, self.store.fetch_nodes)
            merkle.verify_consistency(low, high, low_root, high_root, proof)
        except (merkle.ProofError, LookupError) as exc:
            raise NoteError(
                f"refusing to sign: the log at size {size} is not consistent with "
                f"{what} at size {old_size} ({exc})"
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


def _missing(size: int, exc: LookupError) -> StoredTreeError:
    return StoredTreeError(
        f"the log no longer holds what its checkpoint of {size} entries covers ({exc}): "
        "entries were removed; run cmpp verify"
    )


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
    try:
        leaf = fetch({(0, index)})[(0, index)]
        proof = merkle.inclusion_proof(index, tree_size, fetch)
    except LookupError as exc:
        raise _missing(tree_size, exc) from None
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
    try:
        proof = merkle.consistency_proof(old_size, new_size, log.store.fetch_nodes)
    except LookupError as exc:
        raise _missing(new_size, exc) from None
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
