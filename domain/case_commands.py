"""The case commands: enrolment, consent, services, referrals, screenings, complaints, erasure.

Personal data and protected facts go to the vault, written in the same transaction as
the event, which carries only their commitment: if the event is refused, neither is
written. Reasons,
outcomes and authorities are codes of the catalogue's published lists; what a person
would write about them is an optional `narrative`, kept in the vault under the
participant's key (so an erasure shreds it too) and committed to by `narrative_sha256`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol
from uuid import UUID, uuid4

from eventsourcing.persistence import EventStore

from domain import catalogue as c
from domain.cases import Complaint
from domain.commands import check
from domain.errors import DomainError
from domain.vault import Opened, Vault
from ledger.catalogue import EventType
from ledger.signing import Signer


def new_id(prefix: str) -> str:
    """A random id: never derived from anything about the person."""
    return f"{prefix}-{uuid4().hex}"


class Recorder(Protocol):
    events: EventStore[UUID]

    @property
    def vault(self) -> Vault: ...

    def record(self, signer: Signer, event_type: EventType, **data: Any) -> UUID: ...


def sealed_narrative(
    recorder: Recorder, participant_id: str | None, kind: str, narrative: str | None
) -> AbstractContextManager[str | None]:
    """The narrative sealed in the vault, yielding its commitment; None yields None.

    It is kept under the participant's data key, so erasing the participant shreds it
    with the rest: a narrative about no participant has no key to be kept under.
    """
    if narrative is None:
        return nullcontext(None)
    check(
        type(narrative) is str and bool(narrative.strip()),
        "narrative",
        "a narrative is text (leave it out rather than empty)",
    )
    if participant_id is None:
        raise DomainError(
            "narrative",
            "a narrative is kept under its participant's key, and this names no participant: "
            "record it without one",
        )
    return recorder.vault.sealed(participant_id, kind, narrative)


def complaint_participant(recorder: Recorder, complaint_id: str) -> str | None:
    """The participant a filed complaint names (None if none): it never changes once filed."""
    filed = next(iter(recorder.events.get(Complaint.create_id(complaint_id), lte=1)), None)
    if filed is None:
        raise DomainError("known-complaint", f"complaint {complaint_id} was not filed")
    participant: str | None = getattr(filed, "participant_id", None)
    return participant


class CaseCommands:
    """Mixed into the application, which provides `record` and `vault`."""

    def enrol_participant(
        self: Recorder,
        signer: Signer,
        *,
        enrolled_on: str,
        referral_source: str,
        language: str,
        age_band: str,
        gender: str,
        nationality: str,
        pii: dict[str, Any],
        participant_id: str | None = None,
    ) -> str:
        """Enrol a participant of the signer's own organisation; return their id."""
        check(
            isinstance(pii, dict) and bool(pii),
            "pii",
            "pii holds the participant's "
            "direct identifiers (name, date of birth, A-Number, contact)",
        )
        participant_id = participant_id or new_id("P")
        with self.vault.sealed(participant_id, "pii", pii) as digest:
            self.record(
                signer,
                c.PARTICIPANT_ENROLLED,
                participant_id=participant_id,
                grantee=signer.org,
                enrolled_on=enrolled_on,
                referral_source=referral_source,
                language=language,
                age_band=age_band,
                gender=gender,
                nationality=nationality,
                pii_sha256=digest,
            )
        return participant_id

    def give_consent(
        self: Recorder,
        signer: Signer,
        *,
        participant_id: str,
        services: list[str],
        share_with: list[str],
        method: str,
        language: str,
        interpreter: bool,
        form_version: str,
        given_on: str,
        expires_on: str | None = None,
        consent_id: str | None = None,
    ) -> str:
        consent_id = consent_id or new_id("C")
        self.record(
            signer,
            c.CONSENT_GIVEN,
            participant_id=participant_id,
            consent_id=consent_id,
            services=list(services),
            share_with=list(share_with),
            method=method,
            language=language,
            interpreter=interpreter,
            form_version=form_version,
            given_on=given_on,
            expires_on=expires_on,
        )
        return consent_id

    def withdraw_consent(
        self: Recorder, signer: Signer, *, participant_id: str, consent_id: str, withdrawn_on: str
    ) -> None:
        self.record(
            signer,
            c.CONSENT_WITHDRAWN,
            participant_id=participant_id,
            consent_id=consent_id,
            withdrawn_on=withdrawn_on,
        )

    def deliver_service(
        self: Recorder,
        signer: Signer,
        *,
        participant_id: str,
        service_type: str,
        delivered_on: str,
        minutes: int,
        language: str,
        interpreter: bool,
        notes: str | None = None,
        service_id: str | None = None,
    ) -> str:
        service_id = service_id or new_id("S")
        notes_sealed: AbstractContextManager[str | None] = (
            nullcontext(None)
            if notes is None
            else self.vault.sealed(participant_id, "notes", notes)
        )
        with notes_sealed as notes_sha256:
            self.record(
                signer,
                c.SERVICE_DELIVERED,
                participant_id=participant_id,
                service_id=service_id,
                service_type=service_type,
                delivered_on=delivered_on,
                minutes=minutes,
                language=language,
                interpreter=interpreter,
                notes_sha256=notes_sha256,
            )
        return service_id

    def make_referral(
        self: Recorder,
        signer: Signer,
        *,
        participant_id: str,
        to_kind: str,
        consent_id: str,
        made_on: str,
        referral_id: str | None = None,
    ) -> str:
        referral_id = referral_id or new_id("R")
        self.record(
            signer,
            c.REFERRAL_MADE,
            participant_id=participant_id,
            referral_id=referral_id,
            to_kind=to_kind,
            consent_id=consent_id,
            made_on=made_on,
        )
        return referral_id

    def complete_screening(
        self: Recorder,
        signer: Signer,
        *,
        participant_id: str,
        screening_type: str,
        completed_on: str,
        result: Any,
        screening_id: str | None = None,
    ) -> str:
        screening_id = screening_id or new_id("SC")
        with self.vault.sealed(participant_id, "screening", result) as digest:
            self.record(
                signer,
                c.SCREENING_COMPLETED,
                participant_id=participant_id,
                screening_id=screening_id,
                screening_type=screening_type,
                completed_on=completed_on,
                result_sha256=digest,
            )
        return screening_id

    def file_complaint(
        self: Recorder,
        signer: Signer,
        *,
        participant_id: str | None,
        category: str,
        filed_on: str,
        narrative: str | None = None,
        complaint_id: str | None = None,
    ) -> str:
        """File a complaint (`category` from COMPLAINT_CATEGORIES); `narrative`, the
        complainant's account, only for a complaint naming a participant."""
        complaint_id = complaint_id or new_id("CP")
        with sealed_narrative(self, participant_id, "complaint", narrative) as narrative_sha256:
            self.record(
                signer,
                c.COMPLAINT_FILED,
                complaint_id=complaint_id,
                participant_id=participant_id,
                category=category,
                filed_on=filed_on,
                narrative_sha256=narrative_sha256,
            )
        return complaint_id

    def resolve_complaint(
        self: Recorder,
        signer: Signer,
        *,
        complaint_id: str,
        resolved_on: str,
        outcome: str,
        narrative: str | None = None,
    ) -> None:
        """Resolve a complaint (`outcome` from COMPLAINT_OUTCOMES); `narrative`, the
        findings, only for a complaint naming a participant."""
        participant_id = None if narrative is None else complaint_participant(self, complaint_id)
        with sealed_narrative(
            self, participant_id, "complaint_resolution", narrative
        ) as narrative_sha256:
            self.record(
                signer,
                c.COMPLAINT_RESOLVED,
                complaint_id=complaint_id,
                resolved_on=resolved_on,
                outcome=outcome,
                narrative_sha256=narrative_sha256,
            )

    def close_case(
        self: Recorder,
        signer: Signer,
        *,
        participant_id: str,
        closed_on: str,
        reason: str,
        narrative: str | None = None,
    ) -> None:
        """Close a case (`reason` from CLOSURE_REASONS), with the caseworker's `narrative`
        if there is more to say."""
        with sealed_narrative(self, participant_id, "closure", narrative) as narrative_sha256:
            self.record(
                signer,
                c.CASE_CLOSED,
                participant_id=participant_id,
                closed_on=closed_on,
                reason=reason,
                narrative_sha256=narrative_sha256,
            )

    def erase_participant(
        self: Recorder, signer: Signer, *, participant_id: str, erased_on: str, authority: str
    ) -> None:
        """Record the erasure (`authority` from ERASURE_AUTHORITIES), signed, and delete the
        participant's data key in the same transaction: the log never says a person was
        erased whose records can still be read. No narrative: it would be shredded with
        the key at once."""
        with self.vault.erasing(participant_id):
            self.record(
                signer,
                c.PARTICIPANT_DATA_ERASED,
                participant_id=participant_id,
                erased_on=erased_on,
                authority=authority,
            )

    def read_protected(self: Recorder, committed: str) -> Opened:
        """The vault record behind a commitment taken from a signed event, proven to be it:
        opening it recomputes H(salt ‖ JCS(value)) and requires it to equal `committed`."""
        opened = self.vault.open(self.vault.record_for(committed))
        if opened.commitment != committed:
            raise DomainError("commitment", "the vault record is not the one recorded")
        return opened
