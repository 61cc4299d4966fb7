"""Cases, told through the application's commands: consent rules, the vault, erasure."""

from __future__ import annotations

import pytest

from domain import catalogue as c
from domain.errors import DomainError
from domain.vault import ErasedError
from domain.verification import verify_log
from ledger.live import LiveSource
from ledger.signing import Signer, SigningKey
from tests.helpers import RawDatabase
from tests.pilot import open_pilot

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


def test_services_and_referrals_need_a_consent_in_force(database_url: str) -> None:
    pilot = open_pilot(database_url)
    app = pilot.app
    who = pilot.enrol(PEOPLE[0])
    consent = pilot.consent(
        who,
        ["case_management", "legal_orientation"],
        share_with=("legal_service_provider",),
        expires_on="2023-12-31",
    )

    pilot.serve(who, "legal_orientation", "2023-01-12", notes="Explained the hearing notice.")
    with pytest.raises(DomainError, match="no consent in force on 2023-01-09 covers"):
        pilot.serve(who, "case_management", "2023-01-09")
    with pytest.raises(DomainError) as not_covered:
        pilot.serve(who, "mental_health", "2023-01-12")
    assert not_covered.value.rule == "service-with-consent"

    def refer(to_kind: str) -> str:
        return app.make_referral(
            pilot.irc, participant_id=who, to_kind=to_kind, consent_id=consent, made_on="2023-01-13"
        )

    refer("legal_service_provider")
    with pytest.raises(DomainError) as no_release:
        refer("housing")
    assert no_release.value.rule == "referral-with-release"

    with pytest.raises(DomainError) as not_theirs:
        pilot.serve(who, "case_management", "2023-01-15", signer=pilot.baker)
    assert not_theirs.value.rule == "own-participant"

    app.withdraw_consent(
        pilot.irc, participant_id=who, consent_id=consent, withdrawn_on="2023-02-01"
    )
    with pytest.raises(DomainError, match="no consent in force on 2023-02-01"):
        pilot.serve(who, "case_management", "2023-02-01")

    app.close_case(pilot.irc, participant_id=who, closed_on="2023-03-01", reason="completed")
    with pytest.raises(DomainError, match="case is closed"):
        pilot.consent(who, ["case_management"], given_on="2023-03-02")
    pilot.log.checkpoint()
    assert verify_log(LiveSource(app.store)).ok


def test_personal_data_stays_out_of_the_log_and_is_proven_from_the_vault(database_url: str) -> None:
    pilot = open_pilot(database_url)
    app = pilot.app
    ids = [pilot.enrol(person) for person in PEOPLE]
    assert pilot.consent(ids[0], ["trafficking_screening"])
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
    committed = pilot.events(c.PARTICIPANT_ENROLLED)[0]["data"]["pii_sha256"]
    opened = app.read_protected(committed)
    assert opened.value == PEOPLE[0] and opened.participant_id == ids[0]


def test_erasure_shreds_the_data_and_keeps_the_ledger_whole(database_url: str) -> None:
    pilot = open_pilot(database_url)
    app = pilot.app
    who = pilot.enrol(PEOPLE[1])
    pilot.consent(who, ["case_management"])
    pilot.serve(who, "case_management", "2023-01-11", notes="Discussed housing.")
    committed = pilot.events(c.PARTICIPANT_ENROLLED)[0]["data"]["pii_sha256"]
    assert app.read_protected(committed).value == PEOPLE[1]
    counts_before = {
        kind: len(pilot.events(kind))
        for kind in (c.PARTICIPANT_ENROLLED, c.CONSENT_GIVEN, c.SERVICE_DELIVERED)
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
        pilot.serve(who, "case_management", "2023-06-02")
    counts_after = {kind: len(pilot.events(kind)) for kind in counts_before}
    assert counts_after == counts_before
    pilot.log.checkpoint()
    assert verify_log(LiveSource(app.store)).ok


def test_complaints_are_filed_by_grantees_and_resolved_by_oversight(database_url: str) -> None:
    pilot = open_pilot(database_url)
    app = pilot.app
    app.register_organisation(pilot.board, org_id="org:crcl", name="DHS CRCL", kind="oversight")
    crcl = Signer("user:crcl-analyst", SigningKey.generate("org:crcl", ("oversight",)))
    app.register_key(pilot.board, crcl.key.public_key, "org:crcl", ["oversight"])
    who = pilot.enrol(PEOPLE[0])
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
        pilot.enrol(PEOPLE[0], signer=stranger)
    assert raw.count("vault_records") == 0
    pilot.enrol(PEOPLE[0])
    assert raw.count("vault_records") == 1


def test_text_with_a_control_character_is_refused(database_url: str) -> None:
    pilot = open_pilot(database_url)
    who = pilot.enrol(PEOPLE[0])
    size = pilot.app.store.head().size
    for bad in ("moved\x00away", "moved\x1baway"):
        with pytest.raises(DomainError) as refused:
            pilot.app.close_case(pilot.irc, participant_id=who, closed_on="2023-03-01", reason=bad)
        assert refused.value.rule == "plain-text"
    assert pilot.app.store.head().size == size  # nothing was written
    pilot.app.close_case(
        pilot.irc, participant_id=who, closed_on="2023-03-01", reason="moved away;\n\tno forwarding"
    )
    assert pilot.events(c.CASE_CLOSED)[0]["data"]["reason"] == "moved away;\n\tno forwarding"
