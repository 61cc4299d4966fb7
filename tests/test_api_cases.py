"""Cases over HTTP: a grantee enrols a participant and records their case to its erasure,
CRCL resolves a complaint; personal data and protected facts reach the vault and nothing
else, each person signs as themselves, every POST is idempotent, and another grantee's
participant is as good as missing."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from domain import catalogue as c
from domain.vault import ErasedError
from ledger.entry import read_event
from ledger.store import iter_leaves
from tests.api_support import Program, program
from tests.helpers import RawDatabase

PROBLEM = "application/problem+json"
PII = {
    "name": "Ana María Quispe Huamán",
    "date_of_birth": "1987-03-14",
    "a_number": "A201456789",
    "phone": "+1 713 555 0142",
}
NOTES = "Explained the hearing notice at the kitchen table."
INDICATOR = "debt bondage to a recruiter"
ACCOUNT = "No interpreter was offered at the intake interview."
FINDINGS = "Intake staff retrained; a telephone interpreter line added."
CLOSING = "Moved in with her brother in Houston."
# What must never leave the vault: in the log, an answer, an idempotency record, an error.
SECRETS = (*PII.values(), PII["a_number"][1:], NOTES, INDICATOR, ACCOUNT, FINDINGS, CLOSING)

ENROLMENT = {
    "enrolled_on": "2023-01-09",
    "referral_source": "ice_ero",
    "language": "es",
    "age_band": "35-44",
    "gender": "female",
    "nationality": "PE",
    "pii": PII,
}
CONSENT = {
    "services": ["case_management", "legal_orientation"],
    "share_with": ["legal_service_provider"],
    "method": "written",
    "language": "es",
    "interpreter": True,
    "form_version": "CMPP-C-2022.2",
    "given_on": "2023-01-10",
    "expires_on": "2023-12-31",
}
SERVICE = {
    "service_type": "legal_orientation",
    "delivered_on": "2023-01-12",
    "minutes": 45,
    "language": "es",
    "interpreter": True,
    "notes": NOTES,
}
SCREENING = {
    "screening_type": "trafficking",
    "completed_on": "2023-01-11",
    "result": {"indicators": [INDICATOR], "positive": True},
}
COMPLAINT = {"category": "language_access", "filed_on": "2023-02-01"}
RESOLUTION = {"resolved_on": "2023-02-10", "outcome": "substantiated", "narrative": FINDINGS}
WITHDRAWAL = {"withdrawn_on": "2023-02-15"}
CLOSURE = {"closed_on": "2023-03-01", "reason": "consent_withdrawn", "narrative": CLOSING}
ERASURE = {"erased_on": "2023-06-01", "authority": "participant_request"}


@pytest.fixture
def pilot(database_url: str, tmp_path: Path) -> Iterator[Program]:
    with program(database_url, tmp_path / "data") as p:
        yield p


def _created(p: Program, who: str, path: str, body: Any, key: str | None = None) -> Any:
    answer = p.post(who, path, body, key)
    assert answer.status_code == 201, answer.text
    assert answer.headers["CMPP-As-Of-Seq"] == str(answer.json()["seq"])
    return answer.json()


def _event_at(p: Program, seq: int) -> dict[str, Any]:
    rows = p.system.app.store.read_rows(seq, 1)
    return read_event(rows[0][2])  # type: ignore[arg-type]


def _size(p: Program) -> int:
    return p.system.app.store.head().size


def _enrol(p: Program, who: str = "irc") -> str:
    participant_id: str = _created(p, who, "/v1/participants", ENROLMENT)["participant_id"]
    return participant_id


def _stored(url: str, p: Program) -> bytes:
    """Every byte of the log, its events and the idempotency records, as an attacker with
    the database would read them."""
    raw = RawDatabase(url)
    rows = [
        row
        for table in ("{events}", "ledger_log", "idempotent_requests")
        for row in raw.execute(f"SELECT * FROM {table}")
    ]
    cells = b"".join(
        bytes(v) if isinstance(v, bytes | memoryview) else repr(v).encode()
        for row in rows
        for v in row
    )
    return cells + b"".join(leaf for _, leaf in iter_leaves(p.system.app.store))


def _contains(place: bytes, secret: str) -> bool:
    # Stored JSON may escape non-ASCII characters: look for the text both ways.
    return secret.encode() in place or json.dumps(secret)[1:-1].encode() in place


def test_a_case_from_enrolment_to_erasure(
    pilot: Program, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    p = pilot
    caplog.set_level(logging.DEBUG)  # the server's own logs, access log included
    enrolment = p.post("irc", "/v1/participants", ENROLMENT)
    assert enrolment.status_code == 201, enrolment.text
    enrolled = enrolment.json()
    pid = enrolled["participant_id"]
    assert pid.startswith("P-") and enrolled["grantee"] == "org:irc"
    assert set(enrolled) == {"seq", "participant_id", "grantee", *ENROLMENT} - {"pii"}
    at = f"/v1/participants/{pid}"

    # No consent yet: the service is refused by the consent rule, and nothing is written.
    size = _size(p)
    too_soon = p.post("irc", f"{at}/services", SERVICE)
    assert too_soon.status_code == 422 and too_soon.headers["content-type"] == PROBLEM
    assert too_soon.json()["type"].endswith("/service-with-consent"), too_soon.json()
    assert _size(p) == size

    consent = _created(p, "irc", f"{at}/consents", CONSENT)
    cid = consent["consent_id"]
    service = _created(p, "irc", f"{at}/services", SERVICE)
    assert "notes" not in service and service["service_id"].startswith("S-")
    referral = _created(
        p,
        "irc",
        f"{at}/referrals",
        {"to_kind": "legal_service_provider", "consent_id": cid, "made_on": "2023-01-13"},
    )
    screening = _created(p, "irc", f"{at}/screenings", SCREENING)
    assert "result" not in screening
    complaint = _created(
        p, "irc", "/v1/complaints", {**COMPLAINT, "participant_id": pid, "narrative": ACCOUNT}
    )
    assert "narrative" not in complaint
    resolved = _created(
        p, "crcl", f"/v1/complaints/{complaint['complaint_id']}/resolution", RESOLUTION
    )
    withdrawn = _created(p, "irc", f"{at}/consents/{cid}/withdrawal", WITHDRAWAL)
    closed = _created(p, "irc", f"{at}/closure", CLOSURE)

    # The vault holds the personal data the enrolment event commits to, until erasure.
    committed = _event_at(p, enrolled["seq"])["data"]["pii_sha256"]
    assert p.system.app.read_protected(committed).value == PII
    erased = _created(p, "irc", f"{at}/erasure", ERASURE)
    with pytest.raises(ErasedError):
        p.system.app.read_protected(committed)

    # Each entry is the event asked for, signed by the one who acted, saying what the
    # answer said (the event has more: commitments).
    story = [
        ("irc", enrolled, c.PARTICIPANT_ENROLLED),
        ("irc", consent, c.CONSENT_GIVEN),
        ("irc", service, c.SERVICE_DELIVERED),
        ("irc", referral, c.REFERRAL_MADE),
        ("irc", screening, c.SCREENING_COMPLETED),
        ("irc", complaint, c.COMPLAINT_FILED),
        ("crcl", resolved, c.COMPLAINT_RESOLVED),
        ("irc", withdrawn, c.CONSENT_WITHDRAWN),
        ("irc", closed, c.CASE_CLOSED),
        ("irc", erased, c.PARTICIPANT_DATA_ERASED),
    ]
    for who, answer, kind in story:
        event = _event_at(p, answer["seq"])
        assert event["type"] == str(kind) and event["actor"] == p.people[who], event
        said = {k: v for k, v in answer.items() if k != "seq"}
        assert said.items() <= event["data"].items(), (said, event["data"])

    # Not a word of the personal data, notes, findings or narratives outside the vault.
    place = _stored(database_url, p) + enrolment.text.encode()
    place += b"".join(json.dumps(answer).encode() for _, answer, _ in story)
    assert _contains(place, pid) and _contains(place, committed)  # it is all there to search
    place += caplog.text.encode()
    for secret in SECRETS:
        assert not _contains(place, secret), secret
    assert p.system.verify().ok


def test_a_retry_returns_the_first_answer_and_writes_nothing(
    pilot: Program, database_url: str
) -> None:
    p, raw = pilot, RawDatabase(database_url)
    first = p.post("irc", "/v1/participants", ENROLMENT, key="enrol-1")
    assert first.status_code == 201, first.text
    size, sealed = _size(p), raw.count("vault_records")
    again = p.post("irc", "/v1/participants", ENROLMENT, key="enrol-1")
    assert again.status_code == 201 and again.json() == first.json()  # the same new id
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _size(p) == size and raw.count("vault_records") == sealed

    # The same key for another person's data is refused, without repeating any of it.
    other = {**ENROLMENT, "pii": {**PII, "name": "Mahamat Abakar Djibrine"}}
    reused = p.post("irc", "/v1/participants", other, key="enrol-1")
    assert reused.status_code == 422 and reused.headers["content-type"] == PROBLEM
    assert reused.json()["type"].endswith("/idempotency-key-reused")
    assert "Mahamat" not in reused.text and "Quispe" not in reused.text
    assert _size(p) == size and raw.count("vault_records") == sealed

    # An id the server made is made once: the retried service answers with the first one.
    pid = first.json()["participant_id"]
    _created(p, "irc", f"/v1/participants/{pid}/consents", CONSENT)
    served = _created(p, "irc", f"/v1/participants/{pid}/services", SERVICE, key="serve-1")
    size = _size(p)
    retried = _created(p, "irc", f"/v1/participants/{pid}/services", SERVICE, key="serve-1")
    assert retried == served and _size(p) == size


def _alike(theirs: Any, missing: Any, asked: str, absent: str) -> None:
    """Two 404 answers that differ only by the id each asked about."""
    assert theirs.status_code == missing.status_code == 404, (theirs.text, missing.text)
    assert theirs.headers["content-type"] == missing.headers["content-type"] == PROBLEM
    shown, hidden = theirs.json(), missing.json()
    assert shown.keys() == hidden.keys()
    assert shown["type"] == hidden["type"] and shown["title"] == hidden["title"]
    assert shown["detail"].replace(asked, "?") == hidden["detail"].replace(absent, "?")
    assert "org:irc" not in theirs.text and "org:bakerripley" not in theirs.text


def test_another_grantees_participant_is_as_missing_as_one_never_enrolled(
    pilot: Program, database_url: str
) -> None:
    p, raw = pilot, RawDatabase(database_url)
    enrolled = _created(p, "irc", "/v1/participants", ENROLMENT)
    pid, irc_pii = enrolled["participant_id"], _event_at(p, enrolled["seq"])["data"]["pii_sha256"]
    cid = _created(p, "irc", f"/v1/participants/{pid}/consents", CONSENT)["consent_id"]
    ours = _enrol(p, "baker")
    vault = ("vault_records", "vault_keys")
    size, sealed = _size(p), [raw.count(table) for table in vault]
    referral = {"to_kind": "legal_service_provider", "consent_id": cid, "made_on": "2023-01-13"}
    commands = {
        "consents": CONSENT,
        f"consents/{cid}/withdrawal": WITHDRAWAL,
        "services": SERVICE,
        "referrals": referral,
        "screenings": SCREENING,
        "closure": CLOSURE,
        "erasure": ERASURE,
    }
    for command, body in commands.items():
        theirs = p.post("baker", f"/v1/participants/{pid}/{command}", body)
        missing = p.post("baker", f"/v1/participants/P-none/{command}", body)
        _alike(theirs, missing, pid, "P-none")
        assert pid in theirs.json()["detail"], command

    # irc's consent, named under baker's own participant, is a consent never given.
    theirs = p.post("baker", f"/v1/participants/{ours}/consents/{cid}/withdrawal", WITHDRAWAL)
    missing = p.post("baker", f"/v1/participants/{ours}/consents/C-none/withdrawal", WITHDRAWAL)
    _alike(theirs, missing, cid, "C-none")

    # A complaint about irc's participant: the participant is named in the body.
    theirs = p.post("baker", "/v1/complaints", {**COMPLAINT, "participant_id": pid})
    missing = p.post("baker", "/v1/complaints", {**COMPLAINT, "participant_id": "P-none"})
    _alike(theirs, missing, pid, "P-none")
    assert theirs.json()["detail"] == missing.json()["detail"]

    # Nothing was written, nothing sealed, nothing erased: irc's case goes on.
    assert _size(p) == size and [raw.count(table) for table in vault] == sealed
    assert p.system.app.read_protected(irc_pii).value == PII
    _created(p, "irc", f"/v1/participants/{pid}/services", SERVICE)
    assert p.system.verify().ok


def test_each_case_command_is_for_its_role(pilot: Program) -> None:
    p = pilot
    pid = _enrol(p)
    complaint = _created(p, "irc", "/v1/complaints", {**COMPLAINT, "participant_id": pid})
    at = f"/v1/participants/{pid}"
    resolution = f"/v1/complaints/{complaint['complaint_id']}/resolution"
    size = _size(p)
    refused = [
        ("cws", "/v1/participants", ENROLMENT),
        ("crcl", "/v1/participants", ENROLMENT),
        ("board", f"{at}/consents", CONSENT),
        ("oig", f"{at}/services", SERVICE),
        ("crcl", f"{at}/screenings", SCREENING),
        ("public", f"{at}/closure", CLOSURE),
        ("oig", f"{at}/erasure", ERASURE),
        ("cws", "/v1/complaints", COMPLAINT),
        ("board", resolution, RESOLUTION),
    ]
    for who, path, body in refused:
        answer = p.post(who, path, body)
        assert answer.status_code == 403, (who, path, answer.text)
        assert answer.json()["type"].endswith("/permission")
    anonymous = p.client.post("/v1/participants", json=ENROLMENT, headers={"Idempotency-Key": "a"})
    assert anonymous.status_code == 401
    # A grantee resolves only complaints it filed: another's is as good as missing.
    theirs = p.post("baker", resolution, RESOLUTION)
    missing = p.post("baker", "/v1/complaints/X-NONE/resolution", RESOLUTION)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["type"] == missing.json()["type"]
    assert _size(p) == size


def test_a_request_that_does_not_fit_never_repeats_what_it_held(
    pilot: Program, caplog: pytest.LogCaptureFixture
) -> None:
    p = pilot
    caplog.set_level(logging.DEBUG)
    # A date of birth where an age band goes, a name where a code goes: both refused by
    # the schema, named by field, never repeated.
    careless = {
        **ENROLMENT,
        "age_band": PII["date_of_birth"],
        "referral_source": "Officer Smith, ICE Houston",
        "pii": {**PII, "a_number": "Ana María, A201456789"},
    }
    size = _size(p)
    refused = p.post("irc", "/v1/participants", careless)
    assert refused.status_code == 422 and refused.json()["type"].endswith("/validation")
    fields = {e["field"] for e in refused.json()["errors"]}
    assert fields == {"age_band", "referral_source", "pii.a_number"}
    for secret in (*PII.values(), "Officer Smith", "Ana María"):
        assert secret not in refused.text and secret not in caplog.text, secret
    assert _size(p) == size


def test_the_schema_lists_each_published_code_and_no_answer_holds_a_secret(
    pilot: Program,
) -> None:
    schemas = pilot.client.get("/openapi.json").json()["components"]["schemas"]

    def codes(model: str, member: str) -> list[str]:
        found = schemas[model]["properties"][member]
        enum: list[str] = found.get("items", found)["enum"]
        return enum

    assert codes("ConsentCreate", "services") == list(c.SERVICE_TYPES)
    assert codes("ConsentCreate", "share_with") == list(c.REFERRAL_RECIPIENTS)
    assert codes("ServiceCreate", "service_type") == list(c.SERVICE_TYPES)
    assert codes("ParticipantEnrolment", "referral_source") == list(c.REFERRAL_SOURCES)
    assert codes("ReferralCreate", "to_kind") == list(c.REFERRAL_RECIPIENTS)
    assert codes("ComplaintCreate", "category") == list(c.COMPLAINT_CATEGORIES)
    assert codes("ComplaintResolutionCreate", "outcome") == list(c.COMPLAINT_OUTCOMES)
    assert codes("CaseClosureCreate", "reason") == list(c.CLOSURE_REASONS)
    assert codes("ErasureCreate", "authority") == list(c.ERASURE_AUTHORITIES)
    answers = {
        "ParticipantEnrolled",
        "ConsentGiven",
        "ConsentWithdrawn",
        "ServiceDelivered",
        "ReferralMade",
        "ScreeningCompleted",
        "ComplaintFiled",
        "ComplaintResolved",
        "CaseClosed",
        "ParticipantDataErased",
    }
    for answer in answers:
        assert not {"pii", "notes", "result", "narrative"} & set(schemas[answer]["properties"])
