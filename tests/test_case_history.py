"""Case histories: the timeline, consents in force at each moment, scoped to the grantee."""

from __future__ import annotations

import pytest

from projections.balances import Balances, LogIndex
from projections.case_history import CaseHistory, CaseHistoryNotFoundError, history
from projections.db import ProjectionDB
from projections.runner import Projector
from tests.pilot import open_pilot


def test_a_timeline_shows_the_consents_in_force_at_each_moment(database_url: str) -> None:
    pilot = open_pilot(database_url)
    app = pilot.app
    who = app.enrol_participant(
        pilot.irc,
        enrolled_on="2023-01-09",
        referral_source="self",
        language="ht",
        age_band="25-34",
        gender="female",
        nationality="HT",
        pii={"name": "Rose Joseph"},
    )
    consent = app.give_consent(
        pilot.irc,
        participant_id=who,
        services=["case_management"],
        share_with=["shelter"],
        method="oral",
        language="ht",
        interpreter=True,
        form_version="1",
        given_on="2023-01-10",
    )
    app.deliver_service(
        pilot.irc,
        participant_id=who,
        service_type="case_management",
        delivered_on="2023-01-12",
        minutes=30,
        language="ht",
        interpreter=True,
    )
    service_seq = app.store.head().size - 1
    app.withdraw_consent(
        pilot.irc, participant_id=who, consent_id=consent, withdrawn_on="2023-02-01"
    )
    complaint = app.file_complaint(
        pilot.irc, participant_id=who, category="privacy", filed_on="2023-02-03"
    )
    app.resolve_complaint(
        pilot.irc, complaint_id=complaint, resolved_on="2023-02-20", outcome="resolved informally"
    )
    app.close_case(pilot.irc, participant_id=who, closed_on="2023-03-01", reason="goals met")

    projector = Projector(
        app.store, ProjectionDB(database_url), [Balances(), LogIndex(), CaseHistory()]
    )
    projector.catch_up()
    result = history(projector.db, who, grantee="org:irc")
    kinds = [row["type"] for row in result["timeline"]]
    assert kinds == [
        "case.ParticipantEnrolled",
        "case.ConsentGiven",
        "case.ServiceDelivered",
        "case.ConsentWithdrawn",
        "case.ComplaintFiled",
        "case.ComplaintResolved",
        "case.CaseClosed",
    ]
    in_force = {
        row["type"]: [c["consent_id"] for c in row["consents_in_force"]]
        for row in result["timeline"]
    }
    assert in_force["case.ServiceDelivered"] == [consent]
    assert in_force["case.ConsentWithdrawn"] == []  # withdrawn from that day on
    assert in_force["case.CaseClosed"] == []
    states = {row["type"]: row["consent_states"] for row in result["timeline"]}
    assert states["case.ParticipantEnrolled"] == {}  # none given yet
    assert states["case.ServiceDelivered"] == {consent: "in force"}
    assert states["case.ComplaintFiled"] == {consent: "withdrawn"}
    assert "Rose" not in repr(result)  # personal data is not in projections

    earlier = history(projector.db, who, grantee="org:irc", at_seq=service_seq)
    assert [row["type"] for row in earlier["timeline"]][-1] == "case.ServiceDelivered"
    assert history(projector.db, who, grantee=None)["grantee"] == "org:irc"  # oversight
    with pytest.raises(CaseHistoryNotFoundError):
        history(projector.db, who, grantee="org:bakerripley")
    with pytest.raises(CaseHistoryNotFoundError):
        history(projector.db, "P-nobody", grantee="org:irc")
