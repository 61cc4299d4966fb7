"""The hashes and binary encodings of LEDGER_FORMAT.md section 1."""

from __future__ import annotations

import base64
import binascii
import hashlib

ZERO_PREV = "0" * 64


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def key_id(public_key: bytes) -> str:
    """key_id(pub) = hex(H(pub)) of a raw 32-byte Ed25519 public key."""
    return hashlib.sha256(public_key).hexdigest()


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes:
    """Strict standard base64 with padding (RFC 4648 section 4)."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise ValueError(f"not standard base64: {exc}") from None
    if base64.b64encode(data).decode("ascii") != text:
        raise ValueError("base64 is not in its canonical padded form")
    return data
