"""C2SP signed notes and tlog checkpoints (LEDGER_FORMAT.md section 6).

A note is text ending in a newline, one blank line, then signature lines
`— <name> <base64(key hash ‖ signature)>`. The key hash is the first four bytes
of H(name ‖ 0x0A ‖ 0x01 ‖ pub); 0x01 marks an Ed25519 key.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from ledger.errors import UserError
from ledger.hashing import b64decode, b64encode, sha256

ED25519_ALG = b"\x01"
SIG_PREFIX = "— "  # U+2014 EM DASH and a space


class NoteError(UserError, ValueError):
    """A signed note or checkpoint that is malformed or does not verify."""

    rule = "note"


def key_hash(name: str, public_key: bytes) -> bytes:
    return sha256(name.encode() + b"\n" + ED25519_ALG + public_key)[:4]


def check_key_name(name: str) -> None:
    if not name or "+" in name or any(ch.isspace() for ch in name) or not name.isprintable():
        raise NoteError(f"key name {name!r} must be non-empty and printable, with no '+' or spaces")


@dataclass(frozen=True)
class VerifierKey:
    name: str
    public_key: bytes

    @property
    def hash(self) -> bytes:
        return key_hash(self.name, self.public_key)

    def __str__(self) -> str:
        return f"{self.name}+{self.hash.hex()}+{b64encode(ED25519_ALG + self.public_key)}"

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """Read `<name>+<8 hex>+<base64(0x01 ‖ pub)>`, the form Go's sumdb/note reads."""
        name, public, hash_hex = split_key_text(text, ED25519_ALG, "verifier key")
        key = cls(name, public)
        if key.hash.hex() != hash_hex:
            raise NoteError("verifier key hash does not match its name and key")
        return key


def split_key_text(text: str, alg: bytes, what: str) -> tuple[str, bytes, str]:
    """`<name>+<hash>+<base64(alg ‖ pub)>` as (name, pub, hash hex); the caller checks
    the hash, which each kind of key computes its own way."""
    parts = text.strip().split("+", 2)  # base64 may itself hold '+'
    if len(parts) != 3:
        raise NoteError(f"a {what} has the form <name>+<hash>+<key>")
    name, hash_hex, key_b64 = parts
    check_key_name(name)
    try:
        raw = b64decode(key_b64)
    except ValueError as exc:
        raise NoteError(f"{what}: {exc}") from None
    if len(raw) != 33 or raw[:1] != alg:
        raise NoteError(f"the {what} is not an Ed25519 key of type 0x{alg.hex()}")
    return name, raw[1:], hash_hex


def parse_signer_key(text: str) -> tuple[str, Ed25519PrivateKey]:
    """Read Go's `PRIVATE+KEY+<name>+<hash>+<base64(0x01 ‖ seed)>` form."""
    parts = text.strip().split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise NoteError("a signer key has the form PRIVATE+KEY+<name>+<hash>+<key>")
    name, hash_hex, key_b64 = parts[2:]
    raw = b64decode(key_b64)
    if len(raw) != 33 or raw[:1] != ED25519_ALG:
        raise NoteError("signer key is not an Ed25519 key")
    private = Ed25519PrivateKey.from_private_bytes(raw[1:])
    if key_hash(name, public_bytes(private)).hex() != hash_hex:
        raise NoteError("signer key hash does not match its name and key")
    return name, private


def public_bytes(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes_raw()


def signature_line(text: str, name: str, private: Ed25519PrivateKey) -> str:
    check_key_name(name)
    signature = private.sign(text.encode())
    blob = key_hash(name, public_bytes(private)) + signature
    return f"{SIG_PREFIX}{name} {b64encode(blob)}\n"


def sign_note(text: str, name: str, private: Ed25519PrivateKey) -> str:
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    return text + "\n" + signature_line(text, name, private)


def open_note(note: str, key: VerifierKey) -> str:
    """Return the note's text if a signature by `key` verifies; raise NoteError if not."""
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise NoteError("a signed note needs text, a blank line and signature lines")
    text, sig_block = note[: split + 1], note[split + 2 :]
    verifier = Ed25519PublicKey.from_public_bytes(key.public_key)
    found = False
    for line in sig_block.splitlines():
        if not line.startswith(SIG_PREFIX):
            raise NoteError(f"malformed signature line {line!r}")
        name, _, blob_b64 = line[len(SIG_PREFIX) :].partition(" ")
        try:
            blob = b64decode(blob_b64)
        except ValueError as exc:
            raise NoteError(f"signature line: {exc}") from None
        if name != key.name or blob[:4] != key.hash:
            continue  # someone else's signature: a note may carry several
        try:
            verifier.verify(blob[4:], text.encode())
        except InvalidSignature:
            raise NoteError(f"the signature by {name} does not verify") from None
        found = True
    if not found:
        raise NoteError(f"no signature by the key {key.name}+{key.hash.hex()}")
    return text


# -- Checkpoints (c2sp.org/tlog-checkpoint) ------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{b64encode(self.root)}\n"

    def sign(self, private: Ed25519PrivateKey) -> str:
        return sign_note(self.text(), self.origin, private)

    @classmethod
    def parse_text(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) != 4 or lines[3] != "":
            raise NoteError("a checkpoint's text is exactly three lines")
        origin, size_text, root_b64 = lines[:3]
        if not origin:
            raise NoteError("checkpoint origin is empty")
        # ASCII digits only (str.isdigit() takes '²', which int() refuses), and few
        # enough to be a tree size (below 2^63).
        decimal = size_text.isascii() and size_text.isdigit() and len(size_text) <= 19
        if not decimal or (size_text != "0" and size_text.startswith("0")):
            raise NoteError(f"checkpoint size {size_text!r} is not a decimal without zeros")
        try:
            root = b64decode(root_b64)
        except ValueError as exc:
            raise NoteError(f"checkpoint root: {exc}") from None
        if len(root) != 32:
            raise NoteError("checkpoint root is not a SHA-256 hash")
        return cls(origin, int(size_text), root)

    @classmethod
    def open(cls, note: str, key: VerifierKey) -> Checkpoint:
        """Verify a signed checkpoint by the log key and parse it."""
        checkpoint = cls.parse_text(open_note(note, key))
        if checkpoint.origin != key.name:
            raise NoteError(f"checkpoint origin {checkpoint.origin!r} is not {key.name!r}")
        return checkpoint
