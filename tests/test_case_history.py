"""Case histories: the timeline, consents in force at each moment, scoped to the grantee."""

from __future__ import annotations

import pytest

from domain import catalogue as c
from projections.balances import Balances, LogIndex
from projections.case_history import CaseHistory, CaseHistoryNotFoundError, history
from projections.db import ProjectionDB
from projections.runner import Projector
from tests.pilot import open_pilot


def test_a_timeline_shows_the_consents_in_force_at_each_moment(database_url: str) -> None:
    pilot = open_pilot(database_url)
    app = pilot.app
    who = pilot.enrol({"name": "Rose Joseph"}, language="ht")
    consent = pilot.consent(who, ["case_management"], share_with=("shelter",))
    pilot.serve(who, "case_management", "2023-01-12")
    service_seq = app.store.head().size - 1
    app.withdraw_consent(
        pilot.irc, participant_id=who, consent_id=consent, withdrawn_on="2023-02-01"
    )
    complaint = app.file_complaint(
        pilot.irc, participant_id=who, category="privacy", filed_on="2023-02-03"
    )
    app.resolve_complaint(
        pilot.irc, complaint_id=complaint, resolved_on="2023-02-20", outcome="resolved_informally"
    )
    app.close_case(
        pilot.irc,
        participant_id=who,
        closed_on="2023-03-01",
        reason="services_completed",
        narrative="Rose found work in Miami and thanked the team.",
    )

    projector = Projector(
        app.store, ProjectionDB(database_url), [Balances(), LogIndex(), CaseHistory()]
    )
    projector.catch_up()
    result = history(projector.db, who, grantee="org:irc")
    kinds = [row["type"] for row in result["timeline"]]
    assert kinds == [
        c.PARTICIPANT_ENROLLED,
        c.CONSENT_GIVEN,
        c.SERVICE_DELIVERED,
        c.CONSENT_WITHDRAWN,
        c.COMPLAINT_FILED,
        c.COMPLAINT_RESOLVED,
        c.CASE_CLOSED,
    ]
    in_force = {
        row["type"]: [c["consent_id"] for c in row["consents_in_force"]]
        for row in result["timeline"]
    }
    assert in_force[c.SERVICE_DELIVERED] == [consent]
    assert in_force[c.CONSENT_WITHDRAWN] == []  # withdrawn from that day on
    assert in_force[c.CASE_CLOSED] == []
    states = {row["type"]: row["consent_states"] for row in result["timeline"]}
    assert states[c.PARTICIPANT_ENROLLED] == {}  # none given yet
    assert states[c.SERVICE_DELIVERED] == {consent: "in force"}
    assert states[c.COMPLAINT_FILED] == {consent: "withdrawn"}
    assert "Rose" not in repr(result)  # personal data is not in projections
    closure = result["timeline"][-1]["detail"]
    assert closure["reason"] == "services_completed"  # a code, and the narrative's commitment
    assert app.read_protected(closure["narrative_sha256"]).value.startswith("Rose found work")

    earlier = history(projector.db, who, grantee="org:irc", at_seq=service_seq)
    assert [row["type"] for row in earlier["timeline"]][-1] == c.SERVICE_DELIVERED
    assert history(projector.db, who, grantee=None)["grantee"] == "org:irc"  # oversight
    with pytest.raises(CaseHistoryNotFoundError):
        history(projector.db, who, grantee="org:bakerripley")
    with pytest.raises(CaseHistoryNotFoundError):
        history(projector.db, "P-nobody", grantee="org:irc")
