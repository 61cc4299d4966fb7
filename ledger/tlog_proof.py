"""One entry handed out alone: a C2SP tlog-proof (c2sp.org/tlog-proof@v1) and its line.

    c2sp.org/tlog-proof@v1
    index <seq>
    <base64 hash>            one per line: the audit path, leaf's sibling first
    (blank line)
    <the checkpoint note, verbatim>

A third party holding the log's verifier key checks the entry line against the
checkpoint with nothing else of the log. Standard library and `cryptography` only.
"""

from __future__ import annotations

from ledger import merkle
from ledger.errors import UserError
from ledger.hashing import b64decode, b64encode
from ledger.note import Checkpoint, NoteError, VerifierKey

HEADER = "c2sp.org/tlog-proof@v1"


class TlogProofError(UserError, ValueError):
    """A tlog-proof that is malformed or does not prove its entry."""

    rule = "tlog-proof"


def _is_decimal(text: str) -> bool:
    """ASCII digits (str.isdigit() would take '²'), no leading zero, below 2^64 (an index
    of a log, and short enough for int())."""
    return (
        0 < len(text) <= 20
        and text.isascii()
        and text.isdigit()
        and (text == "0" or not text.startswith("0"))
        and int(text) < 2**64
    )


def format_tlog_proof(index: int, proof: list[bytes], checkpoint_note: str) -> str:
    lines = [HEADER, f"index {index}", *(b64encode(p) for p in proof)]
    return "\n".join(lines) + "\n\n" + checkpoint_note


def verify_tlog_proof(proof_text: str, entry_line: bytes, key: VerifierKey) -> Checkpoint:
    """Check that `entry_line` is in the log at the proof's index; return the checkpoint."""
    # 1. The header, then `index N` (extra data, if any, is not authenticated: ignored).
    head, sep, note = proof_text.partition("\n\n")
    lines = head.split("\n")
    if not sep or not lines or lines[0] != HEADER:
        raise TlogProofError(f"not a {HEADER} proof")
    body = lines[1:]
    if body and body[0].startswith("extra "):
        body = body[1:]
    if not body or not body[0].startswith("index "):
        raise TlogProofError("the proof has no `index N` line")
    index_text = body[0][len("index ") :]
    if not _is_decimal(index_text):
        raise TlogProofError(f"index {index_text[:40]!r} is not a decimal without leading zeros")
    try:
        path = [b64decode(line) for line in body[1:]]
    except ValueError as exc:
        raise TlogProofError(f"proof hash: {exc}") from None
    # 2. The checkpoint, signed by the log key.
    try:
        checkpoint = Checkpoint.open(note, key)
    except NoteError as exc:
        raise TlogProofError(f"checkpoint: {exc}") from None
    # 3. The entry's leaf hash, up the audit path, to the checkpoint's root.
    line = entry_line[:-1] if entry_line.endswith(b"\n") else entry_line
    try:
        merkle.verify_inclusion(
            int(index_text), checkpoint.size, merkle.leaf_hash(line), path, checkpoint.root
        )
    except merkle.ProofError as exc:
        raise TlogProofError(f"the entry is not at index {index_text}: {exc}") from None
    return checkpoint
