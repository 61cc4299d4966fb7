"""The event catalogue is the one declaration: the permission table, the aggregates' events
and the checks of every event's data all come from it."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import catalogue as c
from domain.application import STREAMS
from ledger.catalogue import (
    CENTS,
    DATE,
    FLAG,
    ID,
    IDS,
    INTEGER,
    LEDGER_TYPES,
    OBJECT,
    SHA256,
    TEXT,
    Kind,
)

# DESIGN.md section 4, Roles, as written there (area.* meaning every type of that area).
DESIGN_ROLES = {
    "board": [
        "ledger.KeyRegistered",
        "ledger.KeyRevoked",
        "org.*",
        "funds.AppropriationRecorded",
        "funds.AwardMade",
        "funds.AwardAmended",
        "funds.AwardClosed",
    ],
    "fiscal_agent": [
        "funds.DisbursementRecorded",
        "funds.DisbursementReversed",
        "funds.RefundReceived",
    ],
    "grantee": ["funds.ExpenditureReported", "case.*"],
    "oversight": ["case.ComplaintResolved"],
    "inspector": [],
    "system": ["audit.*"],
    "public": [],
}


def _design_row(patterns: list[str]) -> list[str]:
    return sorted(
        t
        for t in c.CATALOGUE.types
        if any(t == p or (p.endswith(".*") and t.startswith(p[:-1])) for p in patterns)
    )


@pytest.mark.parametrize("role", c.ROLES)
def test_the_permission_table_is_designs(role: str) -> None:
    assert c.CATALOGUE.signable_by(role) == _design_row(DESIGN_ROLES[role])


def test_every_program_type_is_held_by_one_stream_whose_event_has_its_members() -> None:
    program_types = {t for t in c.CATALOGUE if t not in LEDGER_TYPES}
    assert set(STREAMS) == program_types
    for event_type, stream in STREAMS.items():
        event_class = stream._event_class(c.CATALOGUE[event_type])
        envelope = {"originator_id", "originator_version", "timestamp", "originator_topic"}
        fields = {f.name for f in dataclasses.fields(event_class)} - envelope
        assert fields == set(c.CATALOGUE[event_type].members), event_type


EXAMPLE: dict[Kind, Any] = {
    ID: "x-1",
    TEXT: "some words",
    DATE: "2024-02-29",
    CENTS: 100,
    INTEGER: 3,
    FLAG: True,
    IDS: ["a", "b"],
    SHA256: "ab" * 32,
    OBJECT: {"k": "v"},
}
WRONG: dict[Kind, list[Any]] = {
    ID: ["", "  ", 7, None, ["x"]],
    TEXT: [3, None, {"a": 1}],
    DATE: ["2024-02-30", "2024-2-3", "20240203", 20240203, None],
    CENTS: [1.5, True, "100", None],
    INTEGER: [2.0, False, "30"],
    FLAG: [0, 1, "yes", None],
    IDS: ["a", [1], [""], None],
    SHA256: ["AB" * 32, "ab" * 31, 5, None],
    OBJECT: [[], "x", None],
}


@given(st.data())
def test_data_of_the_wrong_kind_is_never_well_formed(data: st.DataObject) -> None:
    event_type = data.draw(st.sampled_from([t for t in c.CATALOGUE if t not in LEDGER_TYPES]))
    good = {name: EXAMPLE[kind.base] for name, kind in event_type.members.items()}
    assert event_type.problems(good) == []
    member = data.draw(st.sampled_from(sorted(event_type.members)))
    kind = event_type.members[member]
    wrong = [v for v in WRONG[kind.base] if not (v is None and kind.nullable)]
    bad = {**good, member: data.draw(st.sampled_from(wrong))}
    assert event_type.problems(bad), (event_type, member, bad[member])
    assert event_type.problems({**good, "extra": 1})
    assert event_type.problems({k: v for k, v in good.items() if k != member})


@pytest.mark.parametrize(
    "lookalike", [" PR1", "PR1 ", "PR1\t", "PR1\n", "PR1\u200b", "PR\u20281", "P" * 257]
)
def test_an_identifier_cannot_look_like_another(lookalike: str) -> None:
    assert ID.accepts("PR1") and ID.accepts("ICE ERO")
    assert not ID.accepts(lookalike)


def test_amounts_stay_within_what_the_format_can_hold() -> None:
    assert CENTS.accepts(2**53 - 1) and CENTS.accepts(-(2**53 - 1))
    assert not CENTS.accepts(2**53) and not CENTS.accepts(10**30)
    assert not TEXT.accepts("a\ud800")
