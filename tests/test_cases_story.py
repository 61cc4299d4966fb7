"""Cases, told through the application's commands: consent rules, the vault, erasure."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from domain import catalogue as c
from domain.errors import DomainError
from domain.vault import ErasedError
from domain.verification import verify_log
from ledger.export import export_bundle
from ledger.live import LiveSource
from ledger.signing import Signer, SigningKey
from ledger.store import iter_leaves
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

    app.close_case(
        pilot.irc, participant_id=who, closed_on="2023-03-01", reason="services_completed"
    )
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
        authority="participant_request",
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
    crcl = Signer(SigningKey.generate("org:crcl", ("oversight",)))
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
            crcl, complaint_id=complaint, resolved_on="2023-02-11", outcome="unsubstantiated"
        )


def test_a_refused_event_leaves_nothing_in_the_vault(database_url: str) -> None:
    from ledger.appender import LogWriteError

    pilot = open_pilot(database_url)
    raw = RawDatabase(database_url)
    stranger = Signer(SigningKey.generate("org:irc", ("grantee",)))  # not registered
    with pytest.raises(LogWriteError):
        pilot.enrol(PEOPLE[0], signer=stranger)
    assert raw.count("vault_records") == 0
    pilot.enrol(PEOPLE[0])
    assert raw.count("vault_records") == 1


def test_text_with_a_control_character_is_refused(database_url: str) -> None:
    # Case events hold no text any more (codes and commitments): an organisation's name does.
    pilot = open_pilot(database_url)
    size = pilot.app.store.head().size
    for bad in ("Casa\x00Marianella", "Casa\x1bMarianella"):
        with pytest.raises(DomainError) as refused:
            pilot.app.register_organisation(
                pilot.board, org_id="org:casa", name=bad, kind="grantee", uei=None
            )
        assert refused.value.rule == "plain-text"
    assert pilot.app.store.head().size == size  # nothing was written
    pilot.app.register_organisation(
        pilot.board, org_id="org:casa", name="Casa Marianella;\n\tAustin", kind="grantee"
    )
    named = pilot.events(c.ORGANISATION_REGISTERED)[-1]["data"]["name"]
    assert named == "Casa Marianella;\n\tAustin"


# -- no free text in case events: codes of published lists, narratives in the vault ----------

TYPED_IN = "John Doe A123456789"  # what a clerk once typed into a closure's reason


def test_free_text_in_a_case_event_is_refused_naming_its_list(database_url: str) -> None:
    pilot = open_pilot(database_url)
    app, raw = pilot.app, RawDatabase(database_url)
    who = pilot.enrol(PEOPLE[0])
    consent = pilot.consent(who, ["case_management"], share_with=("shelter",))
    complaint = app.file_complaint(
        pilot.irc, participant_id=who, category="privacy", filed_on="2023-02-01"
    )
    size, sealed = app.store.head().size, raw.count("vault_records")

    def refused(
        command: Callable[..., object], member: str, listed: tuple[str, ...], **data: object
    ) -> None:
        with pytest.raises(DomainError) as error:
            command(pilot.irc, **data)
        assert error.value.rule == "published-code", error.value
        message = str(error.value)
        assert message.startswith(f"{member} must be a code") and ", ".join(listed) in message
        assert "John" not in message and "123456789" not in message  # never repeated

    refused(
        app.close_case,
        "reason",
        c.CLOSURE_REASONS,
        participant_id=who,
        closed_on="2023-03-01",
        reason=TYPED_IN,
        narrative="Moved in with his brother.",  # sealed, then discarded with the event
    )
    refused(
        app.resolve_complaint,
        "outcome",
        c.COMPLAINT_OUTCOMES,
        complaint_id=complaint,
        resolved_on="2023-02-10",
        outcome=TYPED_IN,
    )
    refused(
        app.file_complaint,
        "category",
        c.COMPLAINT_CATEGORIES,
        participant_id=who,
        category=TYPED_IN,
        filed_on="2023-02-01",
    )
    refused(
        app.make_referral,
        "to_kind",
        c.REFERRAL_RECIPIENTS,
        participant_id=who,
        to_kind=TYPED_IN,
        consent_id=consent,
        made_on="2023-01-12",
    )
    refused(
        app.erase_participant,
        "authority",
        c.ERASURE_AUTHORITIES,
        participant_id=who,
        erased_on="2023-06-01",
        authority=TYPED_IN,
    )
    with pytest.raises(DomainError, match="referral_source must be a code") as enrolment:
        pilot.app.enrol_participant(
            pilot.irc,
            enrolled_on="2023-01-09",
            referral_source="Officer Smith, ICE Houston",
            language="es",
            age_band="35-44",
            gender="female",
            nationality="PE",
            pii=PEOPLE[1],
        )
    assert enrolment.value.rule == "published-code"
    with pytest.raises(DomainError, match="share_with must be a list of codes"):
        pilot.consent(who, ["case_management"], share_with=("shelter", TYPED_IN))

    assert app.store.head().size == size  # nothing was written
    assert raw.count("vault_records") == sealed  # the refused records were discarded
    committed = pilot.events(c.PARTICIPANT_ENROLLED)[0]["data"]["pii_sha256"]
    assert app.read_protected(committed).value == PEOPLE[0]  # the refused erasure erased nothing


def test_a_narrative_is_kept_in_the_vault_and_shredded_by_erasure(
    database_url: str, tmp_path: Path
) -> None:
    pilot = open_pilot(database_url)
    app = pilot.app
    who = pilot.enrol(PEOPLE[0])
    pilot.consent(who, ["case_management"])
    narrative = f"{TYPED_IN} moved in with his brother in Houston."
    app.close_case(
        pilot.irc, participant_id=who, closed_on="2023-03-01", reason="other", narrative=narrative
    )
    closed = pilot.events(c.CASE_CLOSED)[0]["data"]
    assert closed["reason"] == "other"
    assert app.read_protected(closed["narrative_sha256"]).value == narrative

    # Not in the log, a bundle of it, or the case history as `case-history --json` gives it.
    log = b"".join(leaf for _, leaf in iter_leaves(app.store))
    export_bundle(app.store, pilot.log, app.opening["data"]["root_key"]["key_id"], tmp_path / "b")
    bundle = b"".join(f.read_bytes() for f in (tmp_path / "b").rglob("*") if f.is_file())
    shown = pilot.system.reports.case_history(who, grantee="org:irc")
    as_json = json.dumps(shown).encode()
    assert shown["timeline"][-1]["detail"]["narrative_sha256"] == closed["narrative_sha256"]
    for place in (log, bundle, as_json):
        for secret in ("John Doe", "123456789", "brother"):
            assert secret.encode() not in place, secret

    app.erase_participant(
        pilot.irc, participant_id=who, erased_on="2023-06-01", authority="participant_request"
    )
    with pytest.raises(ErasedError):
        app.read_protected(closed["narrative_sha256"])
    pilot.log.checkpoint()
    assert verify_log(LiveSource(app.store)).ok


def test_complaint_narratives_are_kept_under_the_participants_key(database_url: str) -> None:
    pilot = open_pilot(database_url)
    app = pilot.app
    who = pilot.enrol(PEOPLE[1])
    account = "The interpreter was not offered at the intake interview."
    complaint = app.file_complaint(
        pilot.irc,
        participant_id=who,
        category="language_access",
        filed_on="2023-02-01",
        narrative=account,
    )
    app.resolve_complaint(
        pilot.irc,
        complaint_id=complaint,
        resolved_on="2023-02-20",
        outcome="substantiated",
        narrative="Intake staff retrained; a telephone interpreter line added.",
    )
    filed, resolved = pilot.events(c.COMPLAINT_FILED)[0], pilot.events(c.COMPLAINT_RESOLVED)[0]
    opened = app.read_protected(filed["data"]["narrative_sha256"])
    assert opened.value == account and opened.participant_id == who
    assert app.read_protected(resolved["data"]["narrative_sha256"]).participant_id == who

    # A complaint about no participant: codes only, as there is no participant's key.
    size = app.store.head().size
    with pytest.raises(DomainError) as no_key:
        app.file_complaint(
            pilot.irc,
            participant_id=None,
            category="conduct",
            filed_on="2023-02-02",
            narrative="About a caseworker.",
        )
    assert no_key.value.rule == "narrative"
    general = app.file_complaint(
        pilot.irc, participant_id=None, category="conduct", filed_on="2023-02-02"
    )
    with pytest.raises(DomainError) as still_no_key:
        app.resolve_complaint(
            pilot.irc,
            complaint_id=general,
            resolved_on="2023-02-03",
            outcome="withdrawn",
            narrative="Withdrawn by phone.",
        )
    assert still_no_key.value.rule == "narrative"
    with pytest.raises(DomainError) as unknown:
        app.resolve_complaint(
            pilot.irc,
            complaint_id="CP-none",
            resolved_on="2023-02-03",
            outcome="withdrawn",
            narrative="?",
        )
    assert unknown.value.rule == "known-complaint"
    assert app.store.head().size == size + 1
    app.resolve_complaint(
        pilot.irc, complaint_id=general, resolved_on="2023-02-03", outcome="withdrawn"
    )
