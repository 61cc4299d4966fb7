"""The worked example of docs/ledger-format.md section 10 is what the code makes.

Its entry 0 and checkpoint are rebuilt here from the seeds the page gives; the page must
show exactly those bytes, and the trust rules must admit the entry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domain.catalogue import CATALOGUE
from ledger import canonical, merkle
from ledger.hashing import b64encode, key_id
from ledger.note import sign_note
from ledger.trust import TrustError, TrustState

PAGE = Path(__file__).resolve().parents[1] / "docs" / "ledger-format.md"
ORIGIN = "example.org/ledger/demo"


def _entry_zero(actor: str = "org:board") -> dict[str, object]:
    root = Ed25519PrivateKey.from_private_bytes(b"\x01" * 32)
    log = Ed25519PrivateKey.from_private_bytes(b"\x02" * 32)
    root_pub, log_pub = (k.public_key().public_bytes_raw() for k in (root, log))
    event = {
        "type": "ledger.LedgerOpened",
        "stream": "00000000-0000-4000-8000-000000000000",
        "version": 1,
        "at": "2026-01-01T00:00:00.000000Z",
        "actor": actor,
        "org": "org:board",
        "key": key_id(root_pub),
        "data": {
            "origin": ORIGIN,
            "root_key": {
                "key_id": key_id(root_pub),
                "public_key": b64encode(root_pub),
                "holder": "org:board",
            },
            "log_key": {"key_id": key_id(log_pub), "public_key": b64encode(log_pub)},
        },
    }
    signature = b64encode(root.sign(canonical.dumps(event)))
    return {"event": event, "prev": "0" * 64, "seq": 0, "sig": signature}


def test_the_page_shows_the_entry_and_checkpoint_the_code_makes() -> None:
    page = PAGE.read_text()
    leaf = canonical.dumps(_entry_zero())
    assert leaf.decode() in page.splitlines()
    assert f"({len(leaf)} bytes, one line)" in page
    root = b64encode(merkle.leaf_hash(leaf))
    log = Ed25519PrivateKey.from_private_bytes(b"\x02" * 32)
    note = sign_note(f"{ORIGIN}\n1\n{root}\n", ORIGIN, log)
    shown = re.sub(r"\n  ", "\n", page)  # the page indents the note in a list item
    assert note.rstrip("\n") in shown
    assert f"VERIFIED 1 entries, root {root}" in page


def test_entry_zero_is_admitted_only_with_the_boards_own_actor() -> None:
    TrustState(catalogue=CATALOGUE).admit(0, _entry_zero()["event"])  # type: ignore[arg-type]
    with pytest.raises(TrustError, match="actor"):
        TrustState(catalogue=CATALOGUE).admit(0, _entry_zero("user:setup")["event"])  # type: ignore[arg-type]
