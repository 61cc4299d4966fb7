"""The oversight view: it finds what consent rules forbid, and suppresses small counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from domain import catalogue as c
from projections import oversight
from projections.db import ProjectionDB
from projections.runner import Projector
from tests.helpers import BareLedger
from tests.pilot import demo_system

COUNTS = {
    "participants",
    "consented",
    "withdrew",
    "count",
    "filed",
    "resolved",
    "services",
    "in_participants_language",
    "with_interpreter",
    *c.COMPLAINT_OUTCOMES,  # complaints resolved, by outcome
}


def _small_counts(value: Any, key: str = "") -> list[tuple[str, int]]:
    if isinstance(value, dict):
        return [hit for k, v in value.items() for hit in _small_counts(v, k)]
    if isinstance(value, list):
        return [hit for v in value for hit in _small_counts(v, key)]
    if key in COUNTS and isinstance(value, int) and 0 < value < oversight.SMALL_CELL:
        return [(key, value)]
    return []


def test_a_demo_pilot_has_no_findings_and_suppresses_small_cells(
    database_url: str, tmp_path: Path
) -> None:
    app = demo_system(database_url, tmp_path, participants=60, seed=4).app
    projector = Projector(app.store, ProjectionDB(database_url), [oversight.Oversight()])
    projector.catch_up()

    full = oversight.report(projector.db)
    assert full["services_without_valid_consent"]["count"] == 0
    assert full["referrals_without_release"]["count"] == 0
    assert full["participants"] == 60 and full["consent"]["consent_rate"] == 1.0
    assert 0 <= full["consent"]["withdrawal_rate"] <= 1
    assert _small_counts(full)  # the oversight role sees small counts as they are
    # Complaints by category and outcome: both codes of the catalogue's published lists.
    complaints = full["complaints"]
    assert complaints and set(complaints) <= set(c.COMPLAINT_CATEGORIES)
    for row in complaints.values():
        assert set(row["outcomes"]) <= set(c.COMPLAINT_OUTCOMES)
        assert sum(row["outcomes"].values()) == row["resolved"]

    outside = oversight.report(projector.db, suppress=True)
    assert _small_counts(outside) == []
    assert isinstance(outside["services_without_valid_consent"]["listed"], str)
    before = projector.digest()
    projector.rebuild()
    assert projector.digest() == before


def test_oversight_lists_each_service_and_referral_without_valid_consent(database_url: str) -> None:
    bad = BareLedger(database_url)  # around the domain's rules
    app, irc = bad.app, bad.signer("org:irc", "grantee")
    expected: dict[int, str] = {}

    def service(sid: str, kind: str, on: str, finding: str | None) -> None:
        seq = bad.record(
            irc,
            c.SERVICE_DELIVERED,
            participant_id="P-1",
            service_id=sid,
            service_type=kind,
            delivered_on=on,
            minutes=30,
            language="es",
            interpreter=False,
            notes_sha256=None,
        )
        if finding:
            expected[seq] = finding

    bad.record(
        irc,
        c.PARTICIPANT_ENROLLED,
        participant_id="P-1",
        grantee="org:irc",
        enrolled_on="2023-01-02",
        referral_source="self",
        language="es",
        age_band="25-34",
        gender="male",
        nationality="HN",
        pii_sha256="cd" * 32,
    )
    service("S-0", "case_management", "2023-01-03", "before consent")
    bad.record(
        irc,
        c.CONSENT_GIVEN,
        participant_id="P-1",
        consent_id="C-1",
        services=["case_management"],
        share_with=["shelter"],
        method="oral",
        language="es",
        interpreter=False,
        form_version="1",
        given_on="2023-01-05",
        expires_on="2023-06-30",
    )
    service("S-1", "case_management", "2023-01-06", None)
    service("S-2", "mental_health", "2023-01-06", "outside scope")
    unreleased_seq = bad.record(
        irc,
        c.REFERRAL_MADE,
        participant_id="P-1",
        referral_id="R-1",
        to_kind="employer",
        consent_id="C-1",
        made_on="2023-01-07",
    )
    bad.record(
        irc, c.CONSENT_WITHDRAWN, participant_id="P-1", consent_id="C-1", withdrawn_on="2023-02-01"
    )
    service("S-3", "case_management", "2023-02-02", "after withdrawal")
    service("S-4", "case_management", "2023-07-01", "after withdrawal")

    projector = Projector(app.store, ProjectionDB(database_url), [oversight.Oversight()])
    projector.catch_up()
    result = oversight.report(projector.db)
    listed = result["services_without_valid_consent"]["listed"]
    assert {row["seq"]: row["finding"] for row in listed} == expected
    assert [r["seq"] for r in result["referrals_without_release"]["listed"]] == [unreleased_seq]
    # As of just before the withdrawal, the services after it did not exist yet.
    earlier = oversight.report(projector.db, at_seq=unreleased_seq)
    assert len(earlier["services_without_valid_consent"]["listed"]) == 2


class FailsOnce:
    """A projection that breaks the first batch it sees, as a crash mid-batch would."""

    name, version, tables, types = "fails_once", 1, (), None

    def __init__(self) -> None:
        self.failed = False

    def create(self, db: ProjectionDB) -> None:
        pass

    def apply(self, db: ProjectionDB, seq: int, event: dict[str, Any]) -> None:
        if not self.failed and event["type"] == c.SERVICE_DELIVERED:
            self.failed = True
            raise RuntimeError("lost the connection")

    def digest_queries(self) -> list[str]:
        return []


def test_a_batch_that_fails_leaves_no_trace_in_position_or_cache(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    app = demo_system(url, tmp_path, participants=15, seed=2).app
    watched = oversight.Oversight()
    projector = Projector(app.store, ProjectionDB(url), [watched, FailsOnce()])  # type: ignore[list-item]
    try:
        projector.catch_up()
        raise AssertionError("the batch should have failed")
    except RuntimeError:
        pass
    assert projector.positions()["oversight"] == 0
    assert watched._consents == {} and watched._people == {}
    projector.catch_up()
    clean = Projector(
        app.store, ProjectionDB(f"sqlite:///{tmp_path / 'clean.sqlite3'}"), [oversight.Oversight()]
    )
    clean.catch_up()
    assert oversight.report(projector.db) == oversight.report(clean.db)


def test_a_tiny_cache_gives_the_same_view(tmp_path: Path, monkeypatch: Any) -> None:
    """The worker drops its cache when full; what it reloads from the tables is the same."""
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    app = demo_system(url, tmp_path, participants=40, seed=3).app
    roomy = Projector(
        app.store, ProjectionDB(f"sqlite:///{tmp_path / 'roomy.sqlite3'}"), [oversight.Oversight()]
    )
    roomy.catch_up()
    monkeypatch.setattr(oversight, "CACHED_PARTICIPANTS", 2)
    cramped = oversight.Oversight()
    tiny = Projector(app.store, ProjectionDB(url), [cramped])
    tiny.catch_up(batch=7)
    assert len(cramped._consents) <= 2 and len(cramped._people) <= 2
    assert tiny.digest() == roomy.digest()
    assert oversight.report(tiny.db)["services_without_valid_consent"]["count"] == 0
