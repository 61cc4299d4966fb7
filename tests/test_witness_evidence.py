"""What a witness keeps as evidence (LEDGER_FORMAT.md section 6): the add-checkpoint
protocol is unauthenticated, so any client can send a log's old checkpoints or a junk
proof. A fork (two log-signed roots at one size) is proof and always kept, once per pair;
a rollback or an inconsistent proof is kept once per checkpoint text, with only the log's
signature line, and at most MAX_UNPROVEN_EVIDENCE such records per log."""

from __future__ import annotations

import secrets
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from ledger import transparency
from ledger.hashing import b64encode, sha256
from ledger.note import Checkpoint, VerifierKey, public_bytes
from ledger.witness import MAX_UNPROVEN_EVIDENCE, Witness
from tests.helpers import LedgerUnderTest, open_ledger
from tools.cli import app

WITNESS = "ig.example.gov/witness"


def junk_line(i: int) -> str:
    """A well-formed signature line by nobody the witness knows, different each time."""
    return f"— junk.example/{i} {b64encode(secrets.token_bytes(68))}\n"


def junk_proof(lines: int) -> str:
    return "".join(f"{b64encode(secrets.token_bytes(32))}\n" for _ in range(lines))


def kept(witness: Witness, kind: str | None = None) -> list[dict[str, str]]:
    return [
        {name: (place / f"{name}.txt").read_text() for name in ("held", "shown", "request", "why")}
        for place in witness.evidence()
        if kind is None or f"-{kind}-" in place.name
    ]


def witnessed(tmp_path: Path) -> tuple[LedgerUnderTest, Witness, str]:
    """A ledger, a witness of it, and the ledger's first checkpoint (not cosigned)."""
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    witness = Witness.create(tmp_path / "witness", WITNESS)
    assert witness.add_log(ledger.log.verifier)
    return ledger, witness, ledger.log.checkpoint()


def advance(ledger: LedgerUnderTest, witness: Witness, old: int, payments: int) -> str:
    """Grow the log and have the witness cosign its new checkpoint; that checkpoint."""
    for _ in range(payments):
        ledger.pay()
    note = ledger.log.checkpoint()
    size = Checkpoint.open(note, ledger.log.verifier).size
    proof = transparency.consistency(ledger.log, old, size)["proof"] if old else []
    body = f"old {old}\n" + "".join(f"{p}\n" for p in proof) + f"\n{note}"
    assert witness.add_checkpoint(body).status == 200
    return note


def size_of(ledger: LedgerUnderTest, note: str) -> int:
    return Checkpoint.open(note, ledger.log.verifier).size


def test_an_old_checkpoint_sent_again_and_again_is_kept_once(tmp_path: Path) -> None:
    ledger, witness, small = witnessed(tmp_path)
    held = advance(ledger, witness, 0, 0)  # the witness cosigns the first checkpoint...
    held = advance(ledger, witness, size_of(ledger, held), 5)  # ...and a larger one
    size = size_of(ledger, held)
    assert size_of(ledger, small) < size
    # The log's genuine earlier checkpoint, sent by anyone with `old` the size held and a
    # signature line of its own each time: refused as ever, kept once.
    for i in range(20):
        answer = witness.add_checkpoint(f"old {size}\n\n{small}{junk_line(i)}")
        assert answer.status == 400 and "larger than the checkpoint's" in answer.body
    [rollback] = kept(witness)
    assert kept(witness, "rollback") == [rollback]
    assert rollback["shown"] == small and rollback["held"] == held  # the log's lines only
    assert "junk.example" not in rollback["request"] and rollback["request"].endswith(small)
    assert "Not proof of a rollback by itself" in rollback["why"]
    # Sent with the right old size it is refused too, and still kept once.
    assert witness.add_checkpoint(f"old {size}\n\n{small}").status == 400
    assert witness.add_checkpoint(f"old 0\n\n{small}{junk_line(99)}") == (409, f"{size}\n")
    assert len(witness.evidence()) == 1
    # The checkpoint the witness holds, shown again with junk lines: cosigned, no evidence.
    assert witness.add_checkpoint(f"old {size}\n\n{held}{junk_line(7)}").status == 200
    assert len(witness.evidence()) == 1
    place = tmp_path / "witness" / "logs" / sha256(ledger.app.origin.encode()).hex()
    assert (place / "checkpoint.txt").read_text() == held


def test_junk_proofs_for_the_log_s_next_checkpoint_are_kept_once(tmp_path: Path) -> None:
    ledger, witness, _ = witnessed(tmp_path)
    held = advance(ledger, witness, 0, 0)
    old = size_of(ledger, held)
    for _ in range(6):
        ledger.pay()
    genuine = ledger.log.checkpoint()
    for i in range(50):
        body = f"old {old}\n{junk_proof(9)}\n{genuine}{junk_line(i)}"
        assert witness.add_checkpoint(body).status == 422
    [inconsistent] = kept(witness)
    assert kept(witness, "inconsistent") == [inconsistent]
    assert inconsistent["held"] == held and inconsistent["shown"] == genuine
    assert "Not proof of an inconsistent log by itself" in inconsistent["why"]
    # The honest log's own request, with the proof it makes, is cosigned all the same.
    proof = transparency.consistency(ledger.log, old, size_of(ledger, genuine))["proof"]
    body = f"old {old}\n" + "".join(f"{p}\n" for p in proof) + f"\n{genuine}"
    assert witness.add_checkpoint(body).status == 200
    assert len(witness.evidence()) == 1


def test_unproven_evidence_is_capped_per_log_and_forks_are_always_kept(
    tmp_path: Path,
) -> None:
    ledger, witness, _ = witnessed(tmp_path)
    held = advance(ledger, witness, 0, 2)
    size, origin = size_of(ledger, held), ledger.app.origin
    extra = 17
    # Checkpoints the log key signed (a dishonest log, or a stolen key), each another.
    for i in range(MAX_UNPROVEN_EVIDENCE + extra):
        larger = Checkpoint(origin, size + 1 + i, secrets.token_bytes(32)).sign(ledger.log_key)
        assert witness.add_checkpoint(f"old {size}\n{junk_proof(3)}\n{larger}").status == 422
    assert len(kept(witness, "inconsistent")) == MAX_UNPROVEN_EVIDENCE
    smaller = Checkpoint(origin, 1, secrets.token_bytes(32)).sign(ledger.log_key)
    assert witness.add_checkpoint(f"old {size}\n\n{smaller}").status == 400
    assert kept(witness, "rollback") == []
    [log] = witness.describe()["logs"]
    assert log["evidence"] == MAX_UNPROVEN_EVIDENCE and log["evidence_cap_reached"]
    assert log["evidence_not_kept"] == extra + 1
    # A fork is proof: kept beyond the cap, once per pair whatever lines it carries.
    fork = Checkpoint(origin, size, secrets.token_bytes(32)).sign(ledger.log_key)
    for i in range(3):
        assert witness.add_checkpoint(f"old {size}\n\n{fork}{junk_line(i)}") == (409, f"{size}\n")
    [forked] = kept(witness, "fork")
    assert forked["held"] == held and forked["shown"] == fork
    assert witness.describe()["logs"][0]["evidence"] == MAX_UNPROVEN_EVIDENCE + 1
    # The log itself is cosigned as it grows.
    advance(ledger, witness, size, 1)

    # Another log's evidence is not held back by this one's cap.
    other_key = Ed25519PrivateKey.generate()
    other = VerifierKey("other.example/log", public_bytes(other_key))
    assert witness.add_log(other)
    first = Checkpoint(other.name, 2, secrets.token_bytes(32)).sign(other_key)
    assert witness.add_checkpoint(f"old 0\n\n{first}").status == 200
    later = Checkpoint(other.name, 5, secrets.token_bytes(32)).sign(other_key)
    assert witness.add_checkpoint(f"old 2\n{junk_proof(2)}\n{later}").status == 422
    assert later in [k["shown"] for k in kept(witness, "inconsistent")]
    logs = {log["origin"]: log for log in witness.describe()["logs"]}
    assert logs[other.name]["evidence"] == 1 and not logs[other.name]["evidence_cap_reached"]

    # `cmpp witness show` says the cap is reached and how much was not kept.
    shown = CliRunner().invoke(app, ["witness", "show", str(tmp_path / "witness")], env={})
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if origin in line)
    assert lines[at + 1].split() == ["evidence", "kept:", str(MAX_UNPROVEN_EVIDENCE + 1)]
    assert "cap reached" in lines[at + 2] and f"{extra + 1} more refusals not kept" in lines[at + 2]
    assert shown.stdout.count("cap reached") == 1
