"""Cases: participants, their consents and services, referrals, screenings, complaints.

A participant is a random id, never derived from personal data. Personal data and
protected facts never enter these events: they carry salted commitments
(`pii_sha256`, `result_sha256`, `notes_sha256`) to records kept in the vault.
The aggregates only record; domain.case_rules decides under the writers' lock.
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

SERVICE_TYPES = (
    "case_management",
    "mental_health",
    "trafficking_screening",
    "legal_orientation",
    "cultural_orientation",
    "social_services",
    "departure_planning",
    "reintegration",
)


class Participant(Aggregate):
    TOPIC = "domain.Participant"

    class Created(Aggregate.Created):
        TOPIC = "case.ParticipantEnrolled"
        participant_id: str
        grantee: str
        enrolled_on: str
        referral_source: str
        language: str
        age_band: str
        gender: str
        nationality: str
        pii_sha256: str

    class ConsentGiven(Aggregate.Event):
        TOPIC = "case.ConsentGiven"
        participant_id: str
        consent_id: str
        services: list[str]
        share_with: list[str]
        method: str
        language: str
        interpreter: bool
        form_version: str
        given_on: str
        expires_on: str | None

    class ConsentWithdrawn(Aggregate.Event):
        TOPIC = "case.ConsentWithdrawn"
        participant_id: str
        consent_id: str
        withdrawn_on: str

    class ServiceDelivered(Aggregate.Event):
        TOPIC = "case.ServiceDelivered"
        participant_id: str
        service_id: str
        service_type: str
        delivered_on: str
        minutes: int
        language: str
        interpreter: bool
        notes_sha256: str | None

    class ReferralMade(Aggregate.Event):
        TOPIC = "case.ReferralMade"
        participant_id: str
        referral_id: str
        to_kind: str
        consent_id: str
        made_on: str

    class ScreeningCompleted(Aggregate.Event):
        TOPIC = "case.ScreeningCompleted"
        participant_id: str
        screening_id: str
        screening_type: str
        completed_on: str
        result_sha256: str

    class CaseClosed(Aggregate.Event):
        TOPIC = "case.CaseClosed"
        participant_id: str
        closed_on: str
        reason: str

    class DataErased(Aggregate.Event):
        TOPIC = "case.ParticipantDataErased"
        participant_id: str
        erased_on: str
        authority: str

    @staticmethod
    def create_id(participant_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"cmpp:participant/{participant_id}")

    @event(Created)
    def __init__(
        self,
        *,
        participant_id: str,
        grantee: str,
        enrolled_on: str,
        referral_source: str,
        language: str,
        age_band: str,
        gender: str,
        nationality: str,
        pii_sha256: str,
    ) -> None:
        self.participant_id = participant_id
        self.grantee = grantee

    @event(ConsentGiven)
    def give_consent(
        self,
        *,
        participant_id: str,
        consent_id: str,
        services: list[str],
        share_with: list[str],
        method: str,
        language: str,
        interpreter: bool,
        form_version: str,
        given_on: str,
        expires_on: str | None,
    ) -> None:
        pass

    @event(ConsentWithdrawn)
    def withdraw_consent(self, *, participant_id: str, consent_id: str, withdrawn_on: str) -> None:
        pass

    @event(ServiceDelivered)
    def deliver_service(
        self,
        *,
        participant_id: str,
        service_id: str,
        service_type: str,
        delivered_on: str,
        minutes: int,
        language: str,
        interpreter: bool,
        notes_sha256: str | None,
    ) -> None:
        pass

    @event(ReferralMade)
    def refer(
        self,
        *,
        participant_id: str,
        referral_id: str,
        to_kind: str,
        consent_id: str,
        made_on: str,
    ) -> None:
        pass

    @event(ScreeningCompleted)
    def complete_screening(
        self,
        *,
        participant_id: str,
        screening_id: str,
        screening_type: str,
        completed_on: str,
        result_sha256: str,
    ) -> None:
        pass

    @event(CaseClosed)
    def close(self, *, participant_id: str, closed_on: str, reason: str) -> None:
        pass

    @event(DataErased)
    def erase(self, *, participant_id: str, erased_on: str, authority: str) -> None:
        pass


class Complaint(Aggregate):
    TOPIC = "domain.Complaint"

    class Created(Aggregate.Created):
        TOPIC = "case.ComplaintFiled"
        complaint_id: str
        participant_id: str | None
        category: str
        filed_on: str

    class Resolved(Aggregate.Event):
        TOPIC = "case.ComplaintResolved"
        complaint_id: str
        resolved_on: str
        outcome: str

    @staticmethod
    def create_id(complaint_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"cmpp:complaint/{complaint_id}")

    @event(Created)
    def __init__(
        self, *, complaint_id: str, participant_id: str | None, category: str, filed_on: str
    ) -> None:
        self.complaint_id = complaint_id

    @event(Resolved)
    def resolve(self, *, complaint_id: str, resolved_on: str, outcome: str) -> None:
        pass
