"""Tamper evidence: each way of rewriting history is caught by `cmpp verify`.

Every case starts from the same honest ledger, reaches around the application
into the database, and checks that `cmpp verify` exits 1 naming the first bad
seq (or the bad checkpoint). The untouched ledger verifies.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from domain.application import CMPPApplication
from domain.catalogue import DISBURSEMENT_RECORDED
from ledger import canonical, merkle
from ledger.entry import seal, signed_state
from ledger.hashing import b64encode
from ledger.note import Checkpoint
from ledger.signing import Signer, SigningKey
from ledger.store import iter_leaves
from projections.system import System
from tests.helpers import RawDatabase
from tests.pilot import new_system
from tools.cli import app as cli

LAST = 11  # the honest ledger holds entries 0..11, checkpointed at 6 and 12


@dataclass
class Honest:
    """A program ledger whose fiscal agent's clerk pays award A-1 now and then."""

    system: System
    board: Signer
    clerk: Signer

    @property
    def app(self) -> CMPPApplication:
        return self.system.app

    @property
    def log_key(self) -> Ed25519PrivateKey:
        return self.system.keys.load(self.app.opening["data"]["log_key"]["key_id"]).private

    def pay(self, signer: Signer | None = None) -> None:
        ref = uuid4().hex[:8]
        self.app.record_disbursement(
            signer or self.clerk,
            award_id="A-1",
            disbursement_id=f"D-{ref}",
            amount_cents=120_000,
            payment_ref=f"PAY-{ref}",
            paid_on="2022-10-01",
        )


def build(url: str) -> tuple[Honest, Signer]:
    system = new_system(url)  # 0 opened
    board = system.root_signer()
    clerk = Signer(SigningKey.generate("org:cws", ("fiscal_agent",), "user:clerk"))
    system.app.register_key(  # 1
        board, clerk.key.public_key, "org:cws", ["fiscal_agent"], "user:clerk"
    )
    system.app.record_appropriation(  # 2
        board,
        appropriation_id="FY2022",
        fiscal_year=2022,
        public_law="P.L. 117-103",
        amount_cents=15_000_000_00,
        available_until="2024-09-30",
    )
    system.app.make_award(  # 3
        board,
        award_id="A-1",
        appropriation_id="FY2022",
        grantee="org:irc",
        amount_cents=1_000_000_00,
        period_start="2022-10-01",
        period_end="2023-09-30",
        method="advance",
    )
    ledger = Honest(system, board, clerk)
    for _ in range(2):  # 4..5
        ledger.pay()
    system.log.checkpoint()  # size 6
    second = Signer(SigningKey.generate("org:cws", ("fiscal_agent",)))
    system.app.register_key(board, second.key.public_key, "org:cws", ["fiscal_agent"])  # 6
    ledger.pay(signer=second)  # 7
    system.app.revoke_key(board, second.key.key_id, "left the agency")  # 8
    for _ in range(3):  # 9..11
        ledger.pay()
    system.log.checkpoint()  # size 12
    return ledger, second


def run_verify(url: str, tmp: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(
        cli,
        ["verify", "--json", *args],
        env={"CMPP_DATABASE_URL": url, "CMPP_DATA_DIR": str(tmp)},
    )
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def first_bad_seq(report: dict[str, Any]) -> int | None:
    seqs = [f["seq"] for c in report["checks"] for f in c["findings"] if f["seq"] is not None]
    return min(seqs) if seqs else None


def failed_checks(report: dict[str, Any]) -> set[int]:
    return {c["number"] for c in report["checks"] if c["status"] == "FAIL"}


def forge_entry(ledger: Honest, raw: RawDatabase, signer: Signer, actor: str | None = None) -> int:
    """Append a well-formed entry signed by `signer`, with a correct prev, behind the app's
    back; its actor is the signer's own unless another is named."""
    store = ledger.app.store
    seq = store.head().size
    last_leaf = next(iter_leaves(store, seq - 1, seq))[1]
    stream = uuid4()
    event = {
        "type": DISBURSEMENT_RECORDED,
        "stream": str(stream),
        "version": 1,
        "at": "2026-11-27T20:18:14.123456Z",
        "actor": actor or signer.actor,
        "org": signer.org,
        "key": signer.key.key_id,
        "data": {
            "award_id": "A-1",
            "disbursement_id": "D-X",
            "amount_cents": 99_999_00,
            "payment_ref": "PAY-X",
            "paid_on": "2022-10-01",
        },
    }
    event_bytes = canonical.dumps(event)
    state = signed_state(event_bytes, b64encode(signer.key.sign(event_bytes)))
    oid: Any = str(stream) if raw.postgres else stream.hex
    raw.execute(
        "INSERT INTO {events} (originator_id, originator_version, topic, state)"
        " VALUES (?, 1, ?, ?)",
        (oid, event["type"], state),
    )
    prev = merkle.leaf_hash(last_leaf).hex()
    leaf_hash = merkle.leaf_hash(seal(state, seq, prev))
    raw.execute(
        "INSERT INTO ledger_log VALUES (?, ?, 1, ?, ?, ?)", (seq, oid, prev, leaf_hash, b"")
    )
    return seq


def edit_one_byte(ledger: Honest, raw: RawDatabase, _: Signer) -> int:
    state = raw.state(4)
    raw.set_state(4, state.replace(b"user:clerk", b"user:clerx"))
    return 4


def change_an_amount(ledger: Honest, raw: RawDatabase, _: Signer) -> int:
    state = raw.state(5)
    assert b'"amount_cents":120000' in state
    raw.set_state(5, state.replace(b'"amount_cents":120000', b'"amount_cents":1200000'))
    return 5


def delete_an_entry(ledger: Honest, raw: RawDatabase, _: Signer) -> int:
    raw.delete_entry(3)
    return 3


def swap_two_entries(ledger: Honest, raw: RawDatabase, _: Signer) -> int:
    raw.execute("UPDATE ledger_log SET seq = -1 WHERE seq = 4")
    raw.execute("UPDATE ledger_log SET seq = 4 WHERE seq = 5")
    raw.execute("UPDATE ledger_log SET seq = 5 WHERE seq = -1")
    return 4


def forge_with_unregistered_key(ledger: Honest, raw: RawDatabase, _: Signer) -> int:
    stranger = Signer(SigningKey.generate("org:cws", ("fiscal_agent",)))
    return forge_entry(ledger, raw, stranger)


def forge_with_revoked_key(ledger: Honest, raw: RawDatabase, revoked: Signer) -> int:
    return forge_entry(ledger, raw, revoked)


def forge_in_another_persons_name(ledger: Honest, raw: RawDatabase, _: Signer) -> int:
    """The clerk's own key, validly signing an event that says someone else did it."""
    return forge_entry(ledger, raw, ledger.clerk, actor="user:someone-else")


def truncate_the_tail(ledger: Honest, raw: RawDatabase, _: Signer) -> None:
    for seq in (11, 10, 9):
        raw.delete_entry(seq)


def fork_the_latest_checkpoint(ledger: Honest, raw: RawDatabase, _: Signer) -> None:
    leaves = [merkle.leaf_hash(leaf) for _, leaf in iter_leaves(ledger.app.store)]
    leaves[-1] = merkle.leaf_hash(b"another history")
    forked = Checkpoint(ledger.app.origin, len(leaves), merkle.root_of(leaves))
    raw.execute(
        "UPDATE ledger_checkpoints SET note = ? WHERE size = ?",
        (forked.sign(ledger.log_key), len(leaves)),
    )


CASES: dict[str, Callable[[Honest, RawDatabase, Signer], int | None]] = {
    "edit one byte of an event": edit_one_byte,
    "change an amount": change_an_amount,
    "delete an entry": delete_an_entry,
    "swap two entries": swap_two_entries,
    "forged entry, unregistered key": forge_with_unregistered_key,
    "forged entry, revoked key": forge_with_revoked_key,
    "forged entry, another person's name": forge_in_another_persons_name,
    "truncate the tail": truncate_the_tail,
    "fork the latest checkpoint": fork_the_latest_checkpoint,
}
EXPECTED_CHECKS = {
    "edit one byte of an event": {5},
    "change an amount": {5},
    "delete an entry": {2, 3},
    "swap two entries": {3},
    "forged entry, unregistered key": {5},
    "forged entry, revoked key": {5},
    "forged entry, another person's name": {5},
    "truncate the tail": {6},
    "fork the latest checkpoint": {6},
}


def test_the_untouched_ledger_verifies(database_url: str, tmp_path: Path) -> None:
    build(database_url)
    code, report = run_verify(database_url, tmp_path)
    assert code == 0 and report["verified"], report
    assert report["size"] == LAST + 1


@pytest.mark.parametrize("case", list(CASES))
def test_tampering_is_detected(database_url: str, tmp_path: Path, case: str) -> None:
    ledger, revoked = build(database_url)
    bad_seq = CASES[case](ledger, RawDatabase(database_url), revoked)
    code, report = run_verify(database_url, tmp_path)
    assert code == 1 and not report["verified"]
    assert report["verdict"].startswith("FAILED: ")
    assert EXPECTED_CHECKS[case] <= failed_checks(report), report
    if bad_seq is not None:
        assert first_bad_seq(report) == bad_seq, report
    else:
        messages = [f["message"] for c in report["checks"] for f in c["findings"]]
        assert any("checkpoint" in m for m in messages), messages


# -- the same, on an exported bundle ---------------------------------------------------


@pytest.fixture
def bundle(tmp_path: Path) -> tuple[Path, str]:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    ledger, _ = build(url)
    from ledger.export import export_bundle

    out = tmp_path / "bundle"
    root_id = ledger.app.opening["data"]["root_key"]["key_id"]
    export_bundle(ledger.app.store, ledger.system.log, root_id, out)
    return out, str(ledger.app.log_verifier_key)


def _rewrite_line(
    bundle_dir: Path, seq: int, edit: Callable[[bytes], bytes], fix_hash: bool
) -> None:
    path = bundle_dir / "entries.jsonl"
    lines = path.read_bytes().split(b"\n")
    lines[seq] = edit(lines[seq])
    path.write_bytes(b"\n".join(lines))
    if fix_hash:
        import hashlib

        manifest = json.loads((bundle_dir / "manifest.json").read_text())
        manifest["files"]["entries.jsonl"] = hashlib.sha256(path.read_bytes()).hexdigest()
        (bundle_dir / "manifest.json").write_text(json.dumps(manifest))


def test_a_clean_bundle_verifies_against_the_trusted_key(
    bundle: tuple[Path, str], tmp_path: Path
) -> None:
    out, vkey = bundle
    code, report = run_verify(
        "sqlite:///unused", tmp_path, "--bundle", str(out), "--trusted-key", vkey
    )
    assert code == 0, report
    assert report["size"] == LAST + 1


def test_a_bundle_with_a_changed_amount_fails_even_with_a_fixed_manifest(
    bundle: tuple[Path, str], tmp_path: Path
) -> None:
    out, vkey = bundle
    _rewrite_line(out, 5, lambda b: b.replace(b'"amount_cents":120000', b'"amount_cents":9'), True)
    code, report = run_verify(
        "sqlite:///unused", tmp_path, "--bundle", str(out), "--trusted-key", vkey
    )
    assert code == 1
    assert first_bad_seq(report) == 5
    assert {5, 6} <= failed_checks(report) and 1 not in failed_checks(report)


def test_a_bundle_edited_in_place_fails_its_manifest_too(
    bundle: tuple[Path, str], tmp_path: Path
) -> None:
    out, _ = bundle
    _rewrite_line(out, 4, lambda b: b.replace(b"user:clerk", b"user:clerx"), False)
    code, report = run_verify("sqlite:///unused", tmp_path, "--bundle", str(out))
    assert code == 1
    assert {1, 5, 6} <= failed_checks(report)
    assert first_bad_seq(report) == 4


def test_a_bundle_under_another_log_key_is_refused(
    bundle: tuple[Path, str], tmp_path: Path
) -> None:
    out, _ = bundle
    other = new_system(f"sqlite:///{tmp_path / 'other.sqlite3'}")
    code, report = run_verify(
        "sqlite:///unused",
        tmp_path,
        "--bundle",
        str(out),
        "--trusted-key",
        str(other.app.log_verifier_key),
    )
    assert code == 1
    assert {4, 7} <= failed_checks(report)


def test_a_bundle_missing_an_earlier_checkpoint_fails_the_manifest(
    bundle: tuple[Path, str], tmp_path: Path
) -> None:
    out, _ = bundle
    (out / "checkpoints" / "6.txt").unlink()
    code, report = run_verify("sqlite:///unused", tmp_path, "--bundle", str(out))
    assert code == 1 and failed_checks(report) == {1}


def test_not_a_bundle_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["verify", "--bundle", str(tmp_path)], env={"CMPP_DATA_DIR": str(tmp_path)}
    )
    assert result.exit_code == 2
    assert "manifest.json" in result.output
    shutil.rmtree(tmp_path, ignore_errors=True)
