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
    code_from,
    codes_from,
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
    c.RECIPIENT: "org:dhs-oig",
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
    c.RECIPIENT: ["Jane Doe", "", "org:", "user:Jane", "FOIA-26-1", 7, None, ["org:x"]],
}


# What is typed where a code belongs: refused by every code kind, single or list.
NOT_CODES = ["John Doe A123456789", "", "Other", " other", ["John Doe"], 7, None, {"a": 1}]


def _example(kind: Kind) -> Any:
    if kind.codes is None:
        return EXAMPLE[kind.base]
    return next(v for v in (kind.codes[0], [kind.codes[0]]) if kind.accepts(v))


def _wrong(kind: Kind) -> list[Any]:
    return NOT_CODES if kind.codes is not None else WRONG[kind.base]


@given(st.data())
def test_data_of_the_wrong_kind_is_never_well_formed(data: st.DataObject) -> None:
    event_type = data.draw(st.sampled_from([t for t in c.CATALOGUE if t not in LEDGER_TYPES]))
    good = {name: _example(kind) for name, kind in event_type.members.items()}
    assert event_type.problems(good) == []
    member = data.draw(st.sampled_from(sorted(event_type.members)))
    kind = event_type.members[member]
    wrong = [v for v in _wrong(kind) if not (v is None and kind.nullable)]
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


# DESIGN.md section 4: "No case event carries free text: reason (closure), outcome
# (complaint), authority (erasure), category (complaint), referral_source and to_kind keep
# their member names but hold codes from published lists". A consent's share_with names
# the same recipients a referral's to_kind does.
PUBLISHED = {
    (c.CASE_CLOSED, "reason"): c.CLOSURE_REASONS,
    (c.COMPLAINT_RESOLVED, "outcome"): c.COMPLAINT_OUTCOMES,
    (c.PARTICIPANT_DATA_ERASED, "authority"): c.ERASURE_AUTHORITIES,
    (c.COMPLAINT_FILED, "category"): c.COMPLAINT_CATEGORIES,
    (c.PARTICIPANT_ENROLLED, "referral_source"): c.REFERRAL_SOURCES,
    (c.REFERRAL_MADE, "to_kind"): c.REFERRAL_RECIPIENTS,
    (c.CONSENT_GIVEN, "share_with"): c.REFERRAL_RECIPIENTS,
    # Issue 13: money entries are released whole, so their reasons are codes too.
    (c.AWARD_AMENDED, "reason"): c.AMENDMENT_REASONS,
    (c.DISBURSEMENT_REVERSED, "reason"): c.REVERSAL_REASONS,
}


@pytest.mark.parametrize(("event_type", "member"), list(PUBLISHED))
def test_case_members_hold_codes_of_their_published_list_only(event_type: Any, member: str) -> None:
    kind = event_type.members[member]
    listed = PUBLISHED[event_type, member]
    assert kind.codes == listed and kind.rule == "published-code"
    for code in listed:
        assert kind.accepts(code) or kind.accepts([code])
    for typed in NOT_CODES:
        assert not kind.accepts(typed)


def test_a_money_event_holds_no_text_but_the_public_law_it_cites() -> None:
    """A money entry is released whole with its inclusion proof: nothing in it may need
    withholding, so no member may hold free text (a public law's citation is public)."""
    texts = {(t, m) for t in c.FUNDS_TYPES for m in t.text_members}
    assert texts == {(c.APPROPRIATION_RECORDED, "public_law")}
    assert "service_ids" not in c.EXPENDITURE_REPORTED.members


def test_no_case_event_has_a_text_member() -> None:
    """Only codes, ids, dates and commitments: a narrative is a commitment to the vault."""
    assert [(t, t.text_members) for t in c.CASE_TYPES if t.text_members] == []
    for event_type in (c.CASE_CLOSED, c.COMPLAINT_FILED, c.COMPLAINT_RESOLVED):
        narrative = event_type.members["narrative_sha256"]
        assert narrative.base is SHA256 and narrative.nullable  # null: no narrative


def test_a_refused_code_is_not_repeated_in_the_message() -> None:
    data = {
        "participant_id": "P-1",
        "closed_on": "2023-03-01",
        "reason": "John Doe A123456789",
        "narrative_sha256": None,
    }
    [(rule, message)] = c.CASE_CLOSED.problems(data)
    assert rule == "published-code" and "John" not in message
    assert message.startswith("reason must be a code from the published list of closure reasons")
    assert "services_completed" in message
    # Other kinds still show what they were given: an id or a date is no narrative.
    [(_, dated)] = c.CASE_CLOSED.problems({**data, "reason": "other", "closed_on": "2023-02-30"})
    assert "'2023-02-30'" in dated


@pytest.mark.parametrize(
    "listed", [(), ("ICE ERO",), ("self", "self"), ("Other",), ("a b",), (" other",)]
)
def test_a_published_list_is_of_distinct_lowercase_codes(listed: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="distinct lowercase codes"):
        code_from(listed, "sources")
    with pytest.raises(ValueError, match="distinct lowercase codes"):
        codes_from(listed, "sources")


def test_a_code_kind_or_null_keeps_its_list() -> None:
    kind = code_from(("yes", "no"), "answers").or_null()
    assert kind.codes == ("yes", "no") and kind.rule == "published-code"
    assert kind.accepts(None) and kind.accepts("no") and not kind.accepts("maybe")
    many = codes_from(("yes", "no"), "answers")
    assert many.accepts([]) and many.accepts(["no", "yes"]) and not many.accepts(["maybe"])
