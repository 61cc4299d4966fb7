"""The case commands: enrolment, consent, services, referrals, screenings, complaints, erasure.

Personal data and protected facts go to the vault first; the event carries only their
commitment. If the event is refused, the vault record is discarded with it.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol
from uuid import UUID, uuid4

from domain import catalogue as c
from domain.commands import check
from domain.errors import DomainError
from domain.vault import Opened, Vault
from ledger.catalogue import EventType
from ledger.signing import Signer


def new_id(prefix: str) -> str:
    """A random id: never derived from anything about the person."""
    return f"{prefix}-{uuid4().hex}"


class Recorder(Protocol):
    @property
    def vault(self) -> Vault: ...

    def record(self, signer: Signer, event_type: EventType, **data: Any) -> UUID: ...


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
        complaint_id: str | None = None,
    ) -> str:
        complaint_id = complaint_id or new_id("CP")
        self.record(
            signer,
            c.COMPLAINT_FILED,
            complaint_id=complaint_id,
            participant_id=participant_id,
            category=category,
            filed_on=filed_on,
        )
        return complaint_id

    def resolve_complaint(
        self: Recorder, signer: Signer, *, complaint_id: str, resolved_on: str, outcome: str
    ) -> None:
        self.record(
            signer,
            c.COMPLAINT_RESOLVED,
            complaint_id=complaint_id,
            resolved_on=resolved_on,
            outcome=outcome,
        )

    def close_case(
        self: Recorder, signer: Signer, *, participant_id: str, closed_on: str, reason: str
    ) -> None:
        self.record(
            signer, c.CASE_CLOSED, participant_id=participant_id, closed_on=closed_on, reason=reason
        )

    def erase_participant(
        self: Recorder, signer: Signer, *, participant_id: str, erased_on: str, authority: str
    ) -> None:
        """Record the erasure, signed; then delete the participant's data key."""
        self.record(
            signer,
            c.PARTICIPANT_DATA_ERASED,
            participant_id=participant_id,
            erased_on=erased_on,
            authority=authority,
        )
        self.vault.erase(participant_id)

    def read_protected(self: Recorder, committed: str) -> Opened:
        """The vault record behind a commitment taken from a signed event, proven to be it:
        opening it recomputes H(salt ‖ JCS(value)) and requires it to equal `committed`."""
        opened = self.vault.open(self.vault.record_for(committed))
        if opened.commitment != committed:
            raise DomainError("commitment", "the vault record is not the one recorded")
        return opened
