"""Auditors compare the log with checkpoints they hold (LEDGER_FORMAT.md section 7, step
8; issue 10): a database restored from an older copy is a rollback, another root
signed for a size already published is a fork, and `cmpp verify --checkpoint` says so."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from ledger.live import LiveSource
from ledger.note import Checkpoint
from ledger.report import Check
from ledger.verify import verify
from tests.helpers import LedgerUnderTest, open_ledger
from tests.pilot import open_pilot
from tools.cli import app as cli


def held_findings(ledger: LedgerUnderTest, *held: str) -> list[str]:
    report = verify(LiveSource(ledger.app.store), catalogue=ledger.catalogue, held_checkpoints=held)
    return [f.message for f in report.findings[Check.EARLIER_CHECKPOINTS]]


def test_a_fork_and_a_bad_signature_among_held_checkpoints(database_url: str) -> None:
    ledger = open_ledger(database_url)
    for _ in range(3):
        ledger.pay()
    size = ledger.app.store.head().size
    published = ledger.log.checkpoint()
    assert held_findings(ledger, published) == []
    # The log key signs another root for the same size: an equivocation someone kept.
    other = Checkpoint(ledger.app.origin, size, b"\x07" * 32).sign(ledger.log_key)
    assert [m.split(":")[0] for m in held_findings(ledger, other)] == ["fork"]
    forged = Checkpoint(ledger.app.origin, size, b"\x07" * 32).sign(Ed25519PrivateKey.generate())
    [finding] = held_findings(ledger, forged)
    assert finding.startswith("held checkpoint 1:")
    assert [m.split(":")[0] for m in held_findings(ledger, "not a note")] == ["held checkpoint 1"]
    # A size in digits int() refuses (str.isdigit() takes them) is a finding, not a crash.
    for digits in ("\u00b2", "\u0661\u0662"):
        text = published.replace(f"\n{size}\n", f"\n{digits}\n", 1)
        assert [m.split(":")[0] for m in held_findings(ledger, text)] == ["held checkpoint 1"]


def test_cmpp_verify_names_a_database_restored_from_an_older_copy(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    url = f"sqlite:///{path}"
    pilot = open_pilot(url)
    pilot.enrol()
    early = pilot.log.checkpoint()
    backup = sqlite3.connect(tmp_path / "backup.sqlite3")
    with sqlite3.connect(path) as live:
        live.backup(backup)  # the operator's copy, taken now
    for _ in range(3):
        pilot.enrol()
    late = pilot.log.checkpoint()
    (tmp_path / "late.txt").write_text(late)
    (tmp_path / "early.txt").write_text(early)
    pilot.system.close()
    env = {"CMPP_DATABASE_URL": url, "CMPP_DATA_DIR": str(tmp_path)}

    def verify_with(*held: str) -> tuple[int, list[dict[str, object]]]:
        args = ["verify", "--json"] + [a for h in held for a in ("--checkpoint", h)]
        result = CliRunner().invoke(cli, args, env=env)
        checks = json.loads(result.stdout)["checks"]
        return result.exit_code, next(c for c in checks if c["number"] == 8)["findings"]

    assert verify_with(str(tmp_path / "early.txt"), str(tmp_path / "late.txt")) == (0, [])
    with sqlite3.connect(path) as live:
        backup.backup(live)  # ... restored over the ledger
    backup.close()
    # Everything inside the database agrees with itself; only what the auditor holds
    # shows that entries were taken away.
    code, findings = verify_with(str(tmp_path / "late.txt"))
    assert code == 1
    assert [str(f["message"]).split(":")[0] for f in findings] == ["rollback"]
    assert verify_with(str(tmp_path / "early.txt")) == (0, [])
