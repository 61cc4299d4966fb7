"""Projections agree with the rules and the log, replay as of any entry, and rebuild alike."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.application import CMPPApplication
from ledger.store import iter_leaves
from projections import balances, oversight
from projections.case_history import CaseHistory, history
from projections.db import ProjectionDB
from projections.runner import Projector
from tests.pilot import demo_system


@pytest.fixture
def pilot_app(database_url: str, tmp_path: Path) -> CMPPApplication:
    return demo_system(database_url, tmp_path, participants=40, seed=5).app


def project(app: CMPPApplication, url: str, stop: int | None = None) -> Projector:
    every = [balances.Balances(), balances.LogIndex(), CaseHistory(), oversight.Oversight()]
    projector = Projector(app.store, ProjectionDB(url), every)
    projector.catch_up(stop=stop, batch=97)  # small batches: many transactions
    return projector


def test_balances_agree_with_the_rules_and_tie_to_the_log(
    pilot_app: CMPPApplication, database_url: str
) -> None:
    projector = project(pilot_app, database_url)
    assert set(projector.lag().values()) == {0}
    result = balances.report(projector.db)
    for award in result["awards"]:
        rules = pilot_app.funds.awards[award["award_id"]]
        assert (
            award["authorised"],
            award["disbursed"],
            award["reversed"],
            award["refunded"],
            award["expended"],
            award["closed"],
        ) == (
            rules.authorised,
            rules.disbursed,
            rules.reversed,
            rules.refunded,
            rules.expended,
            rules.closed,
        )
        sf = award["sf425"]
        assert sf["10c"] == sf["10a"] - sf["10b"]
        assert sf["10g"] == sf["10e"] + sf["10f"]
        assert sf["10h"] == sf["10d"] - sf["10g"]
        assert sf["10a"] == award["disbursed"] - award["reversed"] - award["refunded"]
    # Control totals: counted again straight from the log, with no projection involved.
    counted: Counter[str] = Counter()
    for _, leaf in iter_leaves(pilot_app.store):
        event = json.loads(leaf)["event"]
        if event["type"] in balances.FUNDS_MOVEMENTS:
            counted[event["type"]] += 1
    assert {k: v["events"] for k, v in result["control_totals"].items()} == dict(counted)
    for appropriation in result["appropriations"]:
        assert appropriation["unobligated"] >= 0
        assert appropriation["authorised"] == sum(
            a["authorised"]
            for a in result["awards"]
            if a["appropriation_id"] == appropriation["appropriation_id"]
        )


def test_as_of_any_entry_equals_a_projection_of_the_prefix(
    pilot_app: CMPPApplication, database_url: str, tmp_path: Path
) -> None:
    full = project(pilot_app, database_url)
    size = pilot_app.store.head().size
    rng = random.Random(3)
    for cut in [*sorted(rng.sample(range(size), 8)), 0, size - 1]:
        prefix = project(pilot_app, f"sqlite:///{tmp_path / f'prefix-{cut}.sqlite3'}", stop=cut + 1)
        assert prefix.positions()["balances"] == cut + 1  # it never saw a later entry
        expected = balances.report(prefix.db)
        expected["as_of_seq"] = cut
        assert balances.report(full.db, at_seq=cut) == expected
        seen = oversight.report(prefix.db)
        seen["as_of_seq"] = cut
        assert oversight.report(full.db, at_seq=cut) == seen
        for who in [
            r["participant_id"]
            for r in prefix.db.query(
                "SELECT participant_id FROM case_participants ORDER BY participant_id"
            )
        ][:3]:
            past = history(prefix.db, who, grantee=None)
            past["as_of_seq"] = cut
            assert history(full.db, who, grantee=None, at_seq=cut) == past


def test_the_digest_is_the_same_live_rebuilt_and_elsewhere(
    pilot_app: CMPPApplication, database_url: str, tmp_path: Path
) -> None:
    live = project(pilot_app, database_url)
    before = live.digest()
    live.rebuild()
    assert live.digest() == before
    elsewhere = project(pilot_app, f"sqlite:///{tmp_path / 'elsewhere.sqlite3'}")
    assert elsewhere.digest() == before


TEXT = st.text(
    st.characters(
        blacklist_categories=("Cs",),  # lone surrogates are not text in any database
        blacklist_characters=[chr(c) for c in (*range(0x20), 0x7F) if chr(c) not in "\t\n\r"],
    ),
    max_size=30,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(st.tuples(st.integers(-(2**63), 2**63 - 1), TEXT, st.none() | TEXT), max_size=12)
)
def test_rows_come_back_exactly_as_they_went_in(
    database_url: str, rows: list[tuple[int, str, str | None]]
) -> None:
    """Inserted rows go out in bulk (COPY on PostgreSQL): no text the rules admit, with
    tabs, line breaks, backslashes or quotes, may come back changed."""
    db = ProjectionDB(database_url)
    with db.transaction():
        db.execute("DROP TABLE IF EXISTS round_trip")
        db.execute("CREATE TABLE round_trip (i BIGINT, n BIGINT, t TEXT NOT NULL, u TEXT)")
        for i, row in enumerate(rows):
            db.insert("round_trip", (i, *row))
    back = db.query("SELECT n, t, u FROM round_trip ORDER BY i")
    db.close()
    assert [(r["n"], r["t"], r["u"]) for r in back] == rows
