"""The case commands: enrolment, consent, services, referrals, screenings, complaints, erasure.

Personal data and protected facts go to the vault first; the event carries only their
commitment. If the event is refused, the vault record is discarded with it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any
from uuid import UUID, uuid4

from domain.cases import SERVICE_TYPES, Complaint, Participant
from domain.commands import check, day
from domain.errors import DomainError
from domain.vault import Opened, Vault
from ledger.signing import Signer


def new_id(prefix: str) -> str:
    """A random id: never derived from anything about the person."""
    return f"{prefix}-{uuid4().hex}"


class CaseCommands:
    """Mixed into the application, which provides `_create`, `_on` and `vault`."""

    _create: Callable[..., UUID]
    _on: Callable[..., None]

    @property
    def vault(self) -> Vault:
        raise NotImplementedError  # the application opens it from configuration

    def enrol_participant(
        self,
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
        day(enrolled_on, "enrolled_on")
        check(
            isinstance(pii, dict) and bool(pii),
            "pii",
            "pii holds the participant's "
            "direct identifiers (name, date of birth, A-Number, contact)",
        )
        participant_id = participant_id or new_id("P")
        with self.vault.sealed(participant_id, "pii", pii) as digest:
            self._create(
                signer,
                "case.ParticipantEnrolled",
                lambda: Participant(
                    participant_id=participant_id,
                    grantee=signer.org,
                    enrolled_on=enrolled_on,
                    referral_source=referral_source,
                    language=language,
                    age_band=age_band,
                    gender=gender,
                    nationality=nationality,
                    pii_sha256=digest,
                ),
                f"participant {participant_id}",
            )
        return participant_id

    def give_consent(
        self,
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
        day(given_on, "given_on")
        if expires_on is not None:
            day(expires_on, "expires_on")
        consent_id = consent_id or new_id("C")
        self._participant(
            signer,
            "case.ConsentGiven",
            participant_id,
            lambda p: p.give_consent(
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
            ),
        )
        return consent_id

    def withdraw_consent(
        self, signer: Signer, *, participant_id: str, consent_id: str, withdrawn_on: str
    ) -> None:
        day(withdrawn_on, "withdrawn_on")
        self._participant(
            signer,
            "case.ConsentWithdrawn",
            participant_id,
            lambda p: p.withdraw_consent(
                participant_id=participant_id, consent_id=consent_id, withdrawn_on=withdrawn_on
            ),
        )

    def deliver_service(
        self,
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
        day(delivered_on, "delivered_on")
        check(
            service_type in SERVICE_TYPES,
            "service-types",
            f"service type must be one of {', '.join(SERVICE_TYPES)}",
        )
        service_id = service_id or new_id("S")
        notes_sealed: AbstractContextManager[str | None] = (
            nullcontext(None)
            if notes is None
            else self.vault.sealed(participant_id, "notes", notes)
        )
        with notes_sealed as notes_sha256:
            self._participant(
                signer,
                "case.ServiceDelivered",
                participant_id,
                lambda p: p.deliver_service(
                    participant_id=participant_id,
                    service_id=service_id,
                    service_type=service_type,
                    delivered_on=delivered_on,
                    minutes=minutes,
                    language=language,
                    interpreter=interpreter,
                    notes_sha256=notes_sha256,
                ),
            )
        return service_id

    def make_referral(
        self,
        signer: Signer,
        *,
        participant_id: str,
        to_kind: str,
        consent_id: str,
        made_on: str,
        referral_id: str | None = None,
    ) -> str:
        day(made_on, "made_on")
        referral_id = referral_id or new_id("R")
        self._participant(
            signer,
            "case.ReferralMade",
            participant_id,
            lambda p: p.refer(
                participant_id=participant_id,
                referral_id=referral_id,
                to_kind=to_kind,
                consent_id=consent_id,
                made_on=made_on,
            ),
        )
        return referral_id

    def complete_screening(
        self,
        signer: Signer,
        *,
        participant_id: str,
        screening_type: str,
        completed_on: str,
        result: Any,
        screening_id: str | None = None,
    ) -> str:
        day(completed_on, "completed_on")
        screening_id = screening_id or new_id("SC")
        with self.vault.sealed(participant_id, "screening", result) as digest:
            self._participant(
                signer,
                "case.ScreeningCompleted",
                participant_id,
                lambda p: p.complete_screening(
                    participant_id=participant_id,
                    screening_id=screening_id,
                    screening_type=screening_type,
                    completed_on=completed_on,
                    result_sha256=digest,
                ),
            )
        return screening_id

    def file_complaint(
        self,
        signer: Signer,
        *,
        participant_id: str | None,
        category: str,
        filed_on: str,
        complaint_id: str | None = None,
    ) -> str:
        day(filed_on, "filed_on")
        complaint_id = complaint_id or new_id("CP")
        self._create(
            signer,
            "case.ComplaintFiled",
            lambda: Complaint(
                complaint_id=complaint_id,
                participant_id=participant_id,
                category=category,
                filed_on=filed_on,
            ),
            f"complaint {complaint_id}",
        )
        return complaint_id

    def resolve_complaint(
        self, signer: Signer, *, complaint_id: str, resolved_on: str, outcome: str
    ) -> None:
        day(resolved_on, "resolved_on")
        self._on(
            signer,
            "case.ComplaintResolved",
            Complaint.create_id(complaint_id),
            f"complaint {complaint_id}",
            lambda c: c.resolve(
                complaint_id=complaint_id, resolved_on=resolved_on, outcome=outcome
            ),
        )

    def close_case(
        self, signer: Signer, *, participant_id: str, closed_on: str, reason: str
    ) -> None:
        day(closed_on, "closed_on")
        self._participant(
            signer,
            "case.CaseClosed",
            participant_id,
            lambda p: p.close(participant_id=participant_id, closed_on=closed_on, reason=reason),
        )

    def erase_participant(
        self, signer: Signer, *, participant_id: str, erased_on: str, authority: str
    ) -> None:
        """Record the erasure, signed; then delete the participant's data key."""
        day(erased_on, "erased_on")
        check(bool(authority.strip()), "authority", "an erasure states its legal authority")
        self._participant(
            signer,
            "case.ParticipantDataErased",
            participant_id,
            lambda p: p.erase(
                participant_id=participant_id, erased_on=erased_on, authority=authority
            ),
        )
        self.vault.erase(participant_id)

    def read_protected(self, committed: str) -> Opened:
        """The vault record behind a commitment taken from a signed event, proven to be it:
        opening it recomputes H(salt ‖ JCS(value)) and requires it to equal `committed`."""
        opened = self.vault.open(self.vault.record_for(committed))
        if opened.commitment != committed:
            raise DomainError("commitment", "the vault record is not the one recorded")
        return opened

    def _participant(
        self, signer: Signer, event_type: str, participant_id: str, change: Callable[[Any], None]
    ) -> None:
        self._on(
            signer,
            event_type,
            Participant.create_id(participant_id),
            f"participant {participant_id}",
            change,
        )
