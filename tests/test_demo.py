"""The demo pilot: every kind of event, nothing the rules refuse, the same for a seed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from domain import catalogue as c
from domain.verification import verify_log
from ledger.catalogue import KEY_REVOKED
from ledger.live import LiveSource
from ledger.store import iter_leaves
from tests.pilot import demo_system

# Every type of the catalogue, but erasure, key revocation and the server's own records.
NOT_IN_THE_DEMO = {
    c.PARTICIPANT_DATA_ERASED,
    KEY_REVOKED,
    c.RECORDS_ACCESSED,
    c.EXPORT_GENERATED,
}


def demo_ledger(url: str, tmp: Path, participants: int, seed: int) -> list[dict[str, Any]]:
    system = demo_system(url, tmp, participants=participants, seed=seed)
    system.log.checkpoint()
    report = verify_log(LiveSource(system.app.store))
    assert report.ok, list(report.lines())
    events = [json.loads(leaf)["event"] for _, leaf in iter_leaves(system.app.store)]
    system.close()
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
    expected = set(c.CATALOGUE.types) - NOT_IN_THE_DEMO
    assert types >= expected, sorted(expected - types)
    languages = {e["data"]["language"] for e in events if e["type"] == c.PARTICIPANT_ENROLLED}
    assert len(languages) >= 3
    # Closures carry a code, and some a commitment to the caseworker's note in the vault.
    closures = [e["data"] for e in events if e["type"] == c.CASE_CLOSED]
    assert {d["reason"] for d in closures} <= set(c.CLOSURE_REASONS)
    assert any(d["narrative_sha256"] for d in closures)


def test_the_same_seed_gives_the_same_pilot(tmp_path: Path) -> None:
    first = demo_ledger(f"sqlite:///{tmp_path / 'a.sqlite3'}", tmp_path / "a", 20, seed=11)
    again = demo_ledger(f"sqlite:///{tmp_path / 'b.sqlite3'}", tmp_path / "b", 20, seed=11)
    other = demo_ledger(f"sqlite:///{tmp_path / 'c.sqlite3'}", tmp_path / "c", 20, seed=12)
    business = [_content(e) for e in first if not e["type"].startswith("ledger.")]
    assert business == [_content(e) for e in again if not e["type"].startswith("ledger.")]
    assert business != [_content(e) for e in other if not e["type"].startswith("ledger.")]
