"""Cases, told through the application's commands: consent rules, the vault, erasure."""

from __future__ import annotations

import json

import pytest

from domain.errors import DomainError
from domain.vault import ErasedError
from domain.verification import verify_log
from ledger.live import LiveSource
from ledger.signing import Signer, SigningKey
from ledger.store import iter_leaves
from tests.helpers import RawDatabase
from tests.pilot import Pilot, open_pilot

PEOPLE = [
    {
        "name": "Ana María Quispe Huamán",
        "date_of_birth": "1987-03-14",
        "a_number": "A201456789",
        "phone": "+1 713 555 0142",
    },
    {
        "name": "Mahamat Abakar Djibrine",
        "date_of_birth": "1992-11-02",
        "a_number": "A208765431",
        "phone": "+1 202 555 0199",
    },
]


def enrol(
    pilot: Pilot, person: dict[str, str], on: str = "2023-01-09", signer: Signer | None = None
) -> str:
    return pilot.app.enrol_participant(
        signer or pilot.irc,
        enrolled_on=on,
        referral_source="ICE ERO",
        language="es",
        age_band="35-44",
        gender="female",
        nationality="PE",
        pii=person,
    )


def events(pilot: Pilot, kind: str) -> list[dict[str, object]]:
    found = [json.loads(leaf)["event"] for _, leaf in iter_leaves(pilot.app.store)]
    return [e for e in found if e["type"] == kind]


def test_services_and_referrals_need_a_consent_in_force(database_url: str) -> None:
    pilot = open_pilot(database_url)
    app = pilot.app
    who = enrol(pilot, PEOPLE[0])
    consent = app.give_consent(
        pilot.irc,
        participant_id=who,
        services=["case_management", "legal_orientation"],
        share_with=["legal_service_provider"],
        method="written",
        language="es",
        interpreter=True,
        form_version="2023-01",
        given_on="2023-01-10",
        expires_on="2023-12-31",
    )

    app.deliver_service(
        pilot.irc,
        participant_id=who,
        service_type="legal_orientation",
        delivered_on="2023-01-12",
        minutes=45,
        language="es",
        interpreter=True,
        notes="Explained the hearing notice.",
    )
    with pytest.raises(DomainError, match="no consent in force on 2023-01-09 covers"):
        app.deliver_service(
            pilot.irc,
            participant_id=who,
            service_type="case_management",
            delivered_on="2023-01-09",
            minutes=30,
            language="es",
            interpreter=False,
        )
    with pytest.raises(DomainError) as not_covered:
        app.deliver_service(
            pilot.irc,
            participant_id=who,
            service_type="mental_health",
            delivered_on="2023-01-12",
            minutes=50,
            language="es",
            interpreter=True,
        )
    assert not_covered.value.rule == "service-with-consent"

    app.make_referral(
        pilot.irc,
        participant_id=who,
        to_kind="legal_service_provider",
        consent_id=consent,
        made_on="2023-01-13",
    )
    with pytest.raises(DomainError) as no_release:
        app.make_referral(
            pilot.irc,
            participant_id=who,
            to_kind="housing",
            consent_id=consent,
            made_on="2023-01-13",
        )
    assert no_release.value.rule == "referral-with-release"

    with pytest.raises(DomainError) as not_theirs:
        app.deliver_service(
            pilot.baker,
            participant_id=who,
            service_type="case_management",
            delivered_on="2023-01-15",
            minutes=30,
            language="es",
            interpreter=False,
        )
    assert not_theirs.value.rule == "own-participant"

    app.withdraw_consent(
        pilot.irc, participant_id=who, consent_id=consent, withdrawn_on="2023-02-01"
    )
    with pytest.raises(DomainError, match="no consent in force on 2023-02-01"):
        app.deliver_service(
            pilot.irc,
            participant_id=who,
            service_type="case_management",
            delivered_on="2023-02-01",
            minutes=30,
            language="es",
            interpreter=False,
        )

    app.close_case(pilot.irc, participant_id=who, closed_on="2023-03-01", reason="completed")
    with pytest.raises(DomainError, match="case is closed"):
        app.give_consent(
            pilot.irc,
            participant_id=who,
            services=["case_management"],
            share_with=[],
            method="oral",
            language="es",
            interpreter=True,
            form_version="2023-01",
            given_on="2023-03-02",
        )
    pilot.log.checkpoint()
    assert verify_log(LiveSource(app.store)).ok


def test_personal_data_stays_out_of_the_log_and_is_proven_from_the_vault(database_url: str) -> None:
    pilot = open_pilot(database_url)
    app = pilot.app
    ids = [enrol(pilot, person) for person in PEOPLE]
    consent = app.give_consent(
        pilot.irc,
        participant_id=ids[0],
        services=["trafficking_screening"],
        share_with=[],
        method="written",
        language="es",
        interpreter=True,
        form_version="2023-01",
        given_on="2023-01-10",
    )
    assert consent
    app.complete_screening(
        pilot.irc,
        participant_id=ids[0],
        screening_type="trafficking",
        completed_on="2023-01-11",
        result={"indicators": ["debt bondage"]},
    )

    # Every byte of the event and log tables: no name, date of birth or A-Number.
    raw = RawDatabase(database_url)
    tables = ("{events}", "ledger_log", "ledger_head", "vault_records", "vault_keys")
    dump = b"".join(
        repr(row).encode() + b"".join(bytes(v) for v in row if isinstance(v, bytes | memoryview))
        for table in tables
        for row in raw.execute(f"SELECT * FROM {table}")
    )
    for person in PEOPLE:
        for secret in (
            person["name"],
            person["date_of_birth"],
            person["a_number"],
            person["a_number"][1:],
            "debt bondage",
        ):
            assert secret.encode() not in dump, secret

    # An entitled reader proves the vault record is the one the signed event committed to.
    enrolled = events(pilot, "case.ParticipantEnrolled")[0]
    committed = enrolled["data"]["pii_sha256"]  # type: ignore[index]
    opened = app.read_protected(committed)
    assert opened.value == PEOPLE[0] and opened.participant_id == ids[0]


def test_erasure_shreds_the_data_and_keeps_the_ledger_whole(database_url: str) -> None:
    pilot = open_pilot(database_url)
    app = pilot.app
    who = enrol(pilot, PEOPLE[1])
    app.give_consent(
        pilot.irc,
        participant_id=who,
        services=["case_management"],
        share_with=[],
        method="oral",
        language="ar",
        interpreter=True,
        form_version="2023-01",
        given_on="2023-01-10",
    )
    app.deliver_service(
        pilot.irc,
        participant_id=who,
        service_type="case_management",
        delivered_on="2023-01-11",
        minutes=30,
        language="ar",
        interpreter=True,
        notes="Discussed housing.",
    )
    committed = events(pilot, "case.ParticipantEnrolled")[0]["data"]["pii_sha256"]  # type: ignore[index]
    assert app.read_protected(committed).value == PEOPLE[1]
    counts_before = {
        kind: len(events(pilot, kind))
        for kind in ("case.ParticipantEnrolled", "case.ConsentGiven", "case.ServiceDelivered")
    }

    app.erase_participant(
        pilot.irc,
        participant_id=who,
        erased_on="2023-06-01",
        authority="participant request under the program's privacy policy",
    )
    with pytest.raises(ErasedError):
        app.read_protected(committed)
    with pytest.raises(DomainError, match="erased"):
        app.deliver_service(
            pilot.irc,
            participant_id=who,
            service_type="case_management",
            delivered_on="2023-06-02",
            minutes=30,
            language="ar",
            interpreter=True,
        )
    counts_after = {kind: len(events(pilot, kind)) for kind in counts_before}
    assert counts_after == counts_before
    pilot.log.checkpoint()
    assert verify_log(LiveSource(app.store)).ok


def test_complaints_are_filed_by_grantees_and_resolved_by_oversight(database_url: str) -> None:
    pilot = open_pilot(database_url)
    app = pilot.app
    app.register_organisation(pilot.board, org_id="org:crcl", name="DHS CRCL", kind="oversight")
    crcl = Signer("user:crcl-analyst", SigningKey.generate("org:crcl", ("oversight",)))
    app.register_key(pilot.board, crcl.key.public_key, "org:crcl", ["oversight"])
    who = enrol(pilot, PEOPLE[0])
    complaint = app.file_complaint(
        pilot.irc, participant_id=who, category="language_access", filed_on="2023-02-01"
    )
    with pytest.raises(DomainError) as not_resolver:
        app.resolve_complaint(
            pilot.baker, complaint_id=complaint, resolved_on="2023-02-10", outcome="substantiated"
        )
    assert not_resolver.value.rule in ("resolver", "permission")
    app.resolve_complaint(
        crcl, complaint_id=complaint, resolved_on="2023-02-10", outcome="substantiated"
    )
    with pytest.raises(DomainError, match="already resolved"):
        app.resolve_complaint(
            crcl, complaint_id=complaint, resolved_on="2023-02-11", outcome="again"
        )


def test_a_refused_event_leaves_nothing_in_the_vault(database_url: str) -> None:
    from ledger.appender import LogWriteError

    pilot = open_pilot(database_url)
    raw = RawDatabase(database_url)
    stranger = Signer("user:x", SigningKey.generate("org:irc", ("grantee",)))  # not registered
    with pytest.raises(LogWriteError):
        enrol(pilot, PEOPLE[0], signer=stranger)
    assert raw.count("vault_records") == 0
    enrol(pilot, PEOPLE[0])
    assert raw.count("vault_records") == 1


def test_text_with_a_control_character_is_refused(database_url: str) -> None:
    pilot = open_pilot(database_url)
    who = enrol(pilot, PEOPLE[0])
    size = pilot.app.store.head().size
    for bad in ("moved\x00away", "moved\x1baway"):
        with pytest.raises(DomainError) as refused:
            pilot.app.close_case(pilot.irc, participant_id=who, closed_on="2023-03-01", reason=bad)
        assert refused.value.rule == "plain-text"
    assert pilot.app.store.head().size == size  # nothing was written
    pilot.app.close_case(
        pilot.irc, participant_id=who, closed_on="2023-03-01", reason="moved away;\n\tno forwarding"
    )
    assert events(pilot, "case.CaseClosed")[0]["data"]["reason"] == "moved away;\n\tno forwarding"  # type: ignore[index]
