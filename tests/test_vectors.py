"""Conformance: every public vector in tests/vectors passes (docs/ledger-format.md).

Where each vector set comes from, and its licence: tests/vectors/README.md.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from ledger import merkle
from ledger.note import VerifierKey, open_note, parse_signer_key, signature_line

VECTORS = Path(__file__).parent / "vectors"


def _cases(kind: str) -> list[Path]:
    found = sorted((VECTORS / "merkle" / kind).rglob("*.json"))
    assert found, f"no {kind} vectors under {VECTORS}"
    return found


def _b64(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(VECTORS / "merkle")) for p in paths]


INCLUSION = _cases("inclusion")
CONSISTENCY = _cases("consistency")


@pytest.mark.parametrize("path", INCLUSION, ids=_ids(INCLUSION))
def test_inclusion_vector(path: Path) -> None:
    case = json.loads(path.read_text())
    proof = [_b64(p) for p in case["proof"] or []]
    args = (case["leafIdx"], case["treeSize"], _b64(case["leafHash"]), proof, _b64(case["root"]))
    if case["wantErr"]:
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(*args)
    else:
        merkle.verify_inclusion(*args)


@pytest.mark.parametrize("path", CONSISTENCY, ids=_ids(CONSISTENCY))
def test_consistency_vector(path: Path) -> None:
    case = json.loads(path.read_text())
    proof = [_b64(p) for p in case["proof"] or []]
    args = (case["size1"], case["size2"], _b64(case["root1"]), _b64(case["root2"]), proof)
    if case["wantErr"]:
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(*args)
    else:
        merkle.verify_consistency(*args)


SIGNED_NOTES = json.loads((VECTORS / "signed-note.json").read_text())


@pytest.mark.parametrize("case", SIGNED_NOTES["verify"], ids=lambda c: c["desc"])
def test_signed_note_verify_vector(case: dict[str, object]) -> None:
    key = VerifierKey.parse(str(case["vkey"]))
    assert str(key) == case["vkey"]
    if case["valid"]:
        assert open_note(str(case["note"]), key) == case["text"]


@pytest.mark.parametrize("case", SIGNED_NOTES["sign"], ids=lambda c: c["desc"])
def test_signed_note_sign_vector_byte_for_byte(case: dict[str, str]) -> None:
    name, private = parse_signer_key(case["skey"])
    line = signature_line(case["text"], name, private)
    assert line == case["signature_line"] + "\n"
    note = case["text"] + "\n" + line
    assert open_note(note, VerifierKey.parse(case["vkey"])) == case["text"]
