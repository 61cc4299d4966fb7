"""The demo pilot: every kind of event, nothing the rules refuse, the same for a seed."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domain.application import CMPPApplication
from domain.verification import verify_log
from ledger.keystore import KeyStore
from ledger.live import LiveSource
from ledger.persistence import persistence_env
from ledger.signing import Signer, SigningKey
from ledger.store import iter_leaves
from ledger.transparency import LogSigner
from tools.demo import run_demo

CATALOGUE = {
    "org.OrganisationRegistered",
    "funds.AppropriationRecorded",
    "funds.AwardMade",
    "funds.AwardAmended",
    "funds.DisbursementRecorded",
    "funds.DisbursementReversed",
    "funds.ExpenditureReported",
    "funds.RefundReceived",
    "funds.AwardClosed",
    "case.ParticipantEnrolled",
    "case.ConsentGiven",
    "case.ConsentWithdrawn",
    "case.ServiceDelivered",
    "case.ReferralMade",
    "case.ScreeningCompleted",
    "case.ComplaintFiled",
    "case.ComplaintResolved",
    "case.CaseClosed",
    "ledger.LedgerOpened",
    "ledger.KeyRegistered",
}  # all of DESIGN.md but erasure, key revocation and the audit events


def demo_ledger(url: str, tmp: Path, participants: int, seed: int) -> list[dict[str, Any]]:
    app = CMPPApplication(env=persistence_env(url), vault_key=os.urandom(32))
    board = Signer("user:chair", SigningKey.generate("org:board", ("board",)))
    log_key = Ed25519PrivateKey.generate()
    app.open_ledger(
        origin="cmpp.example.gov/ledger/demo",
        root=board,
        log_public=log_key.public_key().public_bytes_raw(),
    )
    run_demo(app, KeyStore(tmp / "keys", "pass"), board, participants=participants, seed=seed)
    LogSigner(app.store, app.origin, log_key).checkpoint()
    report = verify_log(LiveSource(app.store))
    assert report.ok, list(report.lines())
    events = [json.loads(leaf)["event"] for _, leaf in iter_leaves(app.store)]
    app.close()
    return events


def _content(event: dict[str, Any]) -> tuple[str, str]:
    # What a seed decides: not instants, keys or the vault's random salts.
    data = {
        k: v for k, v in event["data"].items() if not k.endswith("sha256") or k == "document_sha256"
    }
    return event["type"], json.dumps(data, sort_keys=True)


def test_the_demo_has_every_kind_of_event_and_verifies(database_url: str, tmp_path: Path) -> None:
    events = demo_ledger(database_url, tmp_path, participants=30, seed=7)
    types = {e["type"] for e in events}
    assert types >= CATALOGUE, sorted(CATALOGUE - types)
    languages = {e["data"]["language"] for e in events if e["type"] == "case.ParticipantEnrolled"}
    assert len(languages) >= 3


def test_the_same_seed_gives_the_same_pilot(tmp_path: Path) -> None:
    first = demo_ledger(f"sqlite:///{tmp_path / 'a.sqlite3'}", tmp_path / "a", 20, seed=11)
    again = demo_ledger(f"sqlite:///{tmp_path / 'b.sqlite3'}", tmp_path / "b", 20, seed=11)
    other = demo_ledger(f"sqlite:///{tmp_path / 'c.sqlite3'}", tmp_path / "c", 20, seed=12)
    business = [_content(e) for e in first if not e["type"].startswith("ledger.")]
    assert business == [_content(e) for e in again if not e["type"].startswith("ledger.")]
    assert business != [_content(e) for e in other if not e["type"].startswith("ledger.")]
