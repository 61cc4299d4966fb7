"""Witness cosignatures: C2SP tlog-cosignature/v1, Ed25519 (LEDGER_FORMAT.md section 6).

A cosignature is one more signature line of a checkpoint note:

    — <witness name> <base64(key hash ‖ timestamp ‖ signature)>

- key hash: the first 4 bytes of H(name ‖ 0x0A ‖ 0x04 ‖ pub); 0x04 marks a timestamped
  Ed25519 cosignature, so a witness's key hash never equals a log key's (0x01);
- timestamp: POSIX seconds when it cosigned, 8 bytes big-endian, at most 2^63 - 1;
- signature: Ed25519 over `cosignature/v1\\n` `time <timestamp>\\n` and then the note's
  text (the checkpoint's lines, final newline included, no signature line).

The witness's verifier key is `<name>+<8 hex of key hash>+<base64(0x04 ‖ pub)>`.
Standard library and `cryptography` only: the verifier uses it.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from ledger.hashing import b64decode, b64encode, sha256
from ledger.note import SIG_PREFIX, NoteError, check_key_name, split_key_text

COSIGNATURE_ALG = b"\x04"
HEADER = "cosignature/v1\n"
MAX_TIMESTAMP = 2**63 - 1
BLOB_SIZE = 4 + 8 + 64  # key hash, timestamp, Ed25519 signature


def witness_key_hash(name: str, public_key: bytes) -> bytes:
    return sha256(name.encode() + b"\n" + COSIGNATURE_ALG + public_key)[:4]


@dataclass(frozen=True)
class WitnessKey:
    """A witness's name and Ed25519 public key, as a verifier is told them."""

    name: str
    public_key: bytes

    @property
    def hash(self) -> bytes:
        return witness_key_hash(self.name, self.public_key)

    @property
    def short(self) -> str:
        """`name+hash`: how findings and messages name the witness."""
        return f"{self.name}+{self.hash.hex()}"

    def __str__(self) -> str:
        return f"{self.short}+{b64encode(COSIGNATURE_ALG + self.public_key)}"

    @classmethod
    def parse(cls, text: str) -> WitnessKey:
        """Read `<name>+<8 hex>+<base64(0x04 ‖ pub)>`."""
        name, public, hash_hex = split_key_text(text, COSIGNATURE_ALG, "witness key")
        key = cls(name, public)
        if key.hash.hex() != hash_hex:
            raise NoteError("witness key hash does not match its name and key")
        return key


def signed_message(text: str, timestamp: int) -> bytes:
    return f"{HEADER}time {timestamp}\n{text}".encode()


def cosignature_line(text: str, name: str, private: Ed25519PrivateKey, timestamp: int) -> str:
    """The signature line a witness adds to the note whose text is `text`."""
    check_key_name(name)
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise NoteError(f"a cosignature's timestamp is 0 to 2^63 - 1, not {timestamp}")
    public = private.public_key().public_bytes_raw()
    signature = private.sign(signed_message(text, timestamp))
    blob = witness_key_hash(name, public) + timestamp.to_bytes(8, "big") + signature
    return f"{SIG_PREFIX}{name} {b64encode(blob)}\n"


def split_note(note: str) -> tuple[str, list[str]]:
    """A signed note's text (final newline included) and its signature lines."""
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise NoteError("a signed note needs text, a blank line and signature lines")
    lines = note[split + 2 :].splitlines()
    for line in lines:
        if not line.startswith(SIG_PREFIX):
            raise NoteError(f"malformed signature line {line!r}")
    return note[: split + 1], lines


def cosignatures_by(note: str, key: WitnessKey) -> list[tuple[str, int]]:
    """Each signature line of `note` by the witness `key` that verifies, with its time.

    Lines of other keys are skipped (a note carries the log's signature and any number
    of cosignatures); a line of this key that does not verify is an error, as for any
    signed note. NoteError if there is none (its message speaks of "this witness": the
    caller names it)."""
    text, lines = split_note(note)
    verifier = Ed25519PublicKey.from_public_bytes(key.public_key)
    found = []
    for line in lines:
        name, _, blob_b64 = line[len(SIG_PREFIX) :].partition(" ")
        try:
            blob = b64decode(blob_b64)
        except ValueError as exc:
            raise NoteError(f"signature line: {exc}") from None
        if name != key.name or blob[:4] != key.hash:
            continue
        if len(blob) != BLOB_SIZE:
            raise NoteError(f"its cosignature is not {BLOB_SIZE} bytes")
        timestamp = int.from_bytes(blob[4:12], "big")
        try:
            if timestamp > MAX_TIMESTAMP:
                raise InvalidSignature
            verifier.verify(blob[12:], signed_message(text, timestamp))
        except InvalidSignature:
            raise NoteError("its cosignature does not verify") from None
        found.append((line + "\n", timestamp))
    if not found:
        raise NoteError("the checkpoint carries no cosignature by this witness")
    return found
