"""The oversight view from kept tallies equals the view counted from every row, as of any entry.

The counting from every row below is the view as it was first written (a full scan of
the projection's tables each time); the kept tallies must not change a single figure."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections import oversight, oversight_detail, oversight_tally
from projections.db import ProjectionDB
from projections.oversight_tally import DIMENSIONS, Tally, median, tally_at
from projections.runner import Projector
from tests.pilot import demo_system


@given(st.lists(st.integers(min_value=-30, max_value=400), max_size=60))
def test_the_median_of_counted_days_is_the_median_of_the_days(days: list[int]) -> None:
    expected = statistics.median(days) if days else None
    found = median(Counter(days))
    assert found == expected and type(found) is type(expected)


def _days(start: str, end: str) -> int:
    return (date.fromisoformat(end) - date.fromisoformat(start)).days


def counted_from_every_row(db: ProjectionDB, at_seq: int) -> dict[str, Any]:
    """The unsuppressed view's figures, scanning every row made by entries 0..at_seq."""
    limit = at_seq + 1
    people = {
        p["participant_id"]: p
        for p in db.query("SELECT * FROM ov_participants WHERE seq < ?", (limit,))
    }
    given_ = db.query("SELECT * FROM ov_consents WHERE seq < ? ORDER BY seq", (limit,))
    services = db.query("SELECT * FROM ov_services WHERE seq < ? ORDER BY seq", (limit,))
    referrals = db.query("SELECT * FROM ov_referrals WHERE seq < ? ORDER BY seq", (limit,))
    complaints = db.query("SELECT * FROM ov_complaints WHERE seq < ?", (limit,))
    accesses = db.query("SELECT * FROM ov_accesses WHERE seq < ?", (limit,))

    def first(rows: list[dict[str, Any]], on: str) -> dict[str, str]:
        found: dict[str, str] = {}
        for r in rows:
            found.setdefault(r["participant_id"], r[on])
        return found

    def waited(dates: dict[str, str], among: set[str]) -> float | None:
        days = [_days(people[p]["enrolled_on"], d) for p, d in dates.items() if p in among]
        return statistics.median(days) if days else None

    consented = {r["participant_id"] for r in given_}
    withdrew = {
        r["participant_id"]
        for r in given_
        if r["withdrawn_seq"] is not None and r["withdrawn_seq"] < limit
    }
    first_service = first(services, "delivered_on")
    per_person = Counter(s["participant_id"] for s in services)
    disparities = {}
    for dimension in DIMENSIONS:
        groups: dict[str, set[str]] = defaultdict(set)
        for pid, person in people.items():
            groups[person[dimension]].add(pid)
        disparities[dimension] = [
            {
                dimension: value,
                "participants": len(members),
                "consented": len(members & consented),
                "services": sum(per_person[p] for p in members),
                "median_days_to_first_service": waited(first_service, members),
            }
            for value, members in sorted(groups.items())
        ]
    by_category: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for complaint in complaints:
        by_category[complaint["category"]].append(complaint)
    complaint_view = {}
    for category, rows in sorted(by_category.items()):
        done = [r for r in rows if r["resolved_seq"] is not None and r["resolved_seq"] < limit]
        days = [_days(r["filed_on"], r["resolved_on"]) for r in done]
        complaint_view[category] = {
            "filed": len(rows),
            "resolved": len(done),
            "outcomes": dict(sorted(Counter(r["outcome"] for r in done).items())),
            "median_days_to_resolution": statistics.median(days) if days else None,
        }
    everyone = set(people)
    return {
        "participants": len(people),
        "consented": len(consented),
        "withdrew": len(withdrew),
        "findings": sum(1 for s in services if s["finding"] is not None),
        "unreleased": sum(1 for r in referrals if not r["released"]),
        "median_days": {
            "enrolment_to_consent": waited(first(given_, "given_on"), everyone),
            "enrolment_to_first_service": waited(first_service, everyone),
            "enrolment_to_first_referral": waited(first(referrals, "made_on"), everyone),
        },
        "language_access": {
            "services": len(services),
            "in_participants_language": sum(s["in_own_language"] for s in services),
            "with_interpreter": sum(s["interpreter"] for s in services),
        },
        "complaints": complaint_view,
        "disparities": disparities,
        "accesses": dict(sorted(Counter(a["purpose"] for a in accesses).items())),
        "first_service_days": sorted(
            _days(people[p]["enrolled_on"], d) for p, d in first_service.items()
        ),
    }


def _figures(view: dict[str, Any], waits: dict[str, Any]) -> dict[str, Any]:
    """The same figures, read from the view and the dashboard's distribution."""
    return {
        "participants": view["participants"],
        "consented": view["consent"]["consented"],
        "withdrew": view["consent"]["withdrew"],
        "findings": view["services_without_valid_consent"]["count"],
        "unreleased": view["referrals_without_release"]["count"],
        "median_days": view["median_days"],
        "language_access": view["language_access"],
        "complaints": view["complaints"],
        "disparities": view["disparities"],
        "accesses": view["protected_record_accesses"],
        "first_service_days": waits,
    }


def _buckets(days: list[int]) -> list[int]:
    return [
        sum(1 for d in days if d >= low and (high is None or d <= high))
        for _label, low, high in oversight_detail.BUCKETS
    ]


@pytest.mark.parametrize(("seed", "every"), [(5, 1), (6, 13), (7, 120)])
def test_kept_tallies_change_no_figure_as_of_any_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int, every: int
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    app = demo_system(url, tmp_path, participants=30, seed=seed).app
    monkeypatch.setattr(oversight, "TALLY_EVERY", every)
    monkeypatch.setattr(oversight_tally, "LOOKUP_CHUNK", 7)  # participants looked up in parts
    projector = Projector(app.store, ProjectionDB(url), [oversight.Oversight()])
    projector.catch_up(batch=50)
    db = projector.db
    kept = db.query("SELECT seq FROM ov_tallies ORDER BY seq")
    assert kept, "the log is long enough for a tally to be kept"
    size = app.store.head().size
    # Entries at and around each kept tally, and a spread of others.
    around = {int(k["seq"]) + d for k in kept[:20] for d in (-1, 0, 1)}
    for at_seq in sorted({s for s in around if 0 <= s < size} | set(range(0, size, 37))):
        expected = counted_from_every_row(db, at_seq)
        view = oversight.report(db, at_seq=at_seq)
        waits = oversight_detail.days_to_first_service(db, at_seq=at_seq)
        assert _figures(view, [b["participants"] for b in waits["buckets"]]) == {
            **expected,
            "first_service_days": _buckets(expected["first_service_days"]),
        }, at_seq
        assert waits["served"] == len(expected["first_service_days"])


def test_a_kept_tally_reads_back_as_it_was_written(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    app = demo_system(url, tmp_path, participants=20, seed=8).app
    projector = Projector(app.store, ProjectionDB(url), [oversight.Oversight()])
    projector.catch_up()
    tally = tally_at(projector.db, 2**62)
    assert tally.participants == 20 and tally.services > 0
    assert Tally.from_json(tally.to_json()).to_json() == tally.to_json()
    assert Tally.from_json(tally.to_json()) == tally


def test_where_tallies_are_kept_depends_on_the_log_alone(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Projected in batches of any size, on either backend, or rebuilt: the same rows."""
    url = database_url
    app = demo_system(url, tmp_path, participants=25, seed=9).app
    monkeypatch.setattr(oversight, "TALLY_EVERY", 11)
    one = Projector(app.store, ProjectionDB(url), [oversight.Oversight()])
    one.catch_up(batch=3)
    other = Projector(
        app.store, ProjectionDB(f"sqlite:///{tmp_path / 'other.sqlite3'}"), [oversight.Oversight()]
    )
    other.catch_up(batch=1000)
    assert one.digest() == other.digest()
    assert len(one.db.query("SELECT seq FROM ov_tallies")) > 3
    at_seq = app.store.head().size // 2
    assert oversight.report(one.db, at_seq=at_seq) == oversight.report(other.db, at_seq=at_seq)
    one.rebuild()
    assert one.digest() == other.digest()
