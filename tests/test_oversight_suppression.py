"""The oversight view leaving the oversight role, attacked: every list of counts the
view publishes with its total is an equation, and no hidden count can be narrowed to a
range under 10 wide; nor can a hidden total be read off a list shown whole, or off a
rate beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from projections import oversight, oversight_detail
from projections.db import ProjectionDB
from projections.oversight_suppression import HIDDEN, protect_lists
from projections.runner import Projector
from projections.suppression import MIN_WIDTH, SMALL
from tests.pilot import demo_system

Equation = tuple[list[Any], Any]  # (parts, total), as shown


def _equations(view: dict[str, Any], waits: dict[str, Any]) -> list[Equation]:
    """Every published sum of the suppressed view: parts and total, as shown."""
    found: list[Equation] = []
    totals = {
        "participants": view["participants"],
        "consented": view["consent"]["consented"],
        "services": view["language_access"]["services"],
    }
    for rows in view["disparities"].values():
        for member, total in totals.items():
            found.append(([r[member] for r in rows], total))
    findings = view["services_without_valid_consent"]
    found.append((list(findings["by_finding"].values()), findings["count"]))
    for complaint in view["complaints"].values():
        found.append((list(complaint["outcomes"].values()), complaint["resolved"]))
    buckets = [b["participants"] for b in waits["buckets"]]
    found.append(([*buckets, waits["before_enrolment"]], waits["served"]))
    return found


def _attack(parts: list[Any], total: Any) -> None:
    """The attacker's bounds for a list with a published total: hidden counts (each at
    least 1) add up to the total less the shown ones; with no total, none is bounded."""
    assert all(p == HIDDEN or not 1 <= p <= SMALL for p in [*parts, total])
    hidden = [p for p in parts if p == HIDDEN]
    if total == HIDDEN:
        # A hidden total is not the sum of a list shown whole.
        assert hidden or not any(parts), parts
        return
    if hidden:
        rest = total - sum(p for p in parts if p != HIDDEN)
        assert rest - len(hidden) >= MIN_WIDTH, (parts, total)


@pytest.mark.parametrize(("participants", "seed"), [(5, 1), (25, 2), (60, 3), (140, 4)])
def test_no_hidden_count_of_the_view_can_be_narrowed_below_ten(
    tmp_path: Path, participants: int, seed: int
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    app = demo_system(url, tmp_path, participants=participants, seed=seed).app
    projector = Projector(app.store, ProjectionDB(url), [oversight.Oversight()])
    projector.catch_up()
    db = projector.db
    full = oversight.report(db)
    view = oversight.report(db, suppress=True)
    waits = oversight_detail.days_to_first_service(db, suppress=True)
    for parts, total in _equations(view, waits):
        _attack(parts, total)
    consent = view["consent"]
    if HIDDEN in (view["participants"], consent["consented"]):
        assert consent["consent_rate"] == HIDDEN
    # What is shown is what is so.
    if view["participants"] != HIDDEN:
        assert view["participants"] == full["participants"]
    assert isinstance(view["services_without_valid_consent"]["listed"], str)


@given(st.lists(st.lists(st.integers(0, 40), min_size=1, max_size=8), min_size=1, max_size=4))
@example([[5, 6]])  # two small counts adding up to a published 11: each in [1, 10]
@example([[30, 4], [12, 22]])
def test_lists_sharing_a_total_keep_every_hidden_count_ten_wide(lists: list[list[int]]) -> None:
    total = sum(lists[0])
    lists = [[*counts, max(0, total - sum(counts))] for counts in lists]  # each adds up
    lists = [c for c in lists if sum(c) == total]
    total_hidden, hiddens = protect_lists(lists, total)
    for counts, hidden in zip(lists, hiddens, strict=True):
        assert {i for i, n in enumerate(counts) if 1 <= n <= SMALL} <= hidden
        assert all(counts[i] > 0 for i in hidden)
        shown = [HIDDEN if i in hidden else n for i, n in enumerate(counts)]
        _attack(shown, HIDDEN if total_hidden else total)
    assert total_hidden or not 1 <= total <= SMALL
