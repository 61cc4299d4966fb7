"""What the rules know changes only through their journal: a batch that is undone leaves
no trace, and nothing can change their state around the journal."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.funds_rules import AwardState
from domain.rules import ProgramRules
from ledger.guard import Journal
from ledger.store import iter_leaves
from tests.helpers import known
from tests.pilot import demo_system


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    """Every event of a demo pilot's log, in seq order."""
    with tempfile.TemporaryDirectory() as tmp:
        system = demo_system(
            f"sqlite:///{Path(tmp) / 'db.sqlite3'}", Path(tmp), participants=12, seed=3
        )
        found = [json.loads(leaf)["event"] for _, leaf in iter_leaves(system.app.store)]
        system.close()
    return found


def replay(events: list[dict[str, Any]]) -> ProgramRules:
    rules = ProgramRules()
    for seq, event in enumerate(events):
        rules.admit(seq, event, strict=False)
    return rules


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_an_undone_batch_leaves_the_rules_as_they_were(
    events: list[dict[str, Any]], data: st.DataObject
) -> None:
    committed = data.draw(st.integers(0, len(events) - 1), label="committed")
    batch = data.draw(st.integers(1, len(events) - committed), label="batch")
    rules = replay(events[:committed])
    before = known(rules)

    mark = rules.begin()
    for seq in range(committed, committed + batch):
        rules.admit(seq, events[seq], strict=False)
    assert rules.position == committed + batch
    rules.undo(mark)

    assert rules.position == committed
    assert known(rules) == before
    # And what is then admitted and kept is what a straight replay knows.
    mark = rules.begin()
    for seq in range(committed, committed + batch):
        rules.admit(seq, events[seq], strict=False)
    rules.commit()
    assert known(rules) == known(replay(events[: committed + batch]))


def test_the_rules_tables_cannot_change_around_the_journal() -> None:
    journal = Journal()
    table = journal.table([("a", 1)])
    for change in (
        lambda: table.update(b=2),
        lambda: table.pop("a"),
        table.popitem,
        lambda: table.setdefault("b", 2),
        table.clear,
    ):
        with pytest.raises(TypeError, match="journaled"):
            change()
    with pytest.raises(TypeError):
        table |= {"b": 2}
    award = AwardState("A-1", "FY", "org:irc", 100, "2022-01-01", "2022-12-31", "2023-03-31", "x")
    with pytest.raises(AttributeError):
        award.closed = True  # type: ignore[misc]
    assert table == {"a": 1}
