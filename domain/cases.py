"""Cases: participants with their consents, services, referrals and screenings; complaints.

A participant is a random id, never derived from personal data. Personal data and
protected facts never enter these events: they carry salted commitments
(`pii_sha256`, `result_sha256`, `notes_sha256`) to records kept in the vault.
"""

from __future__ import annotations

from domain import catalogue as c
from domain.streams import Stream
from ledger.events import DeclaredCreated, DeclaredEvent


class Participant(Stream):
    TOPIC = "domain.Participant"
    KEY, PREFIX = "participant_id", "participant"

    class Created(DeclaredCreated):
        TOPIC = c.PARTICIPANT_ENROLLED

    class ConsentGiven(DeclaredEvent):
        TOPIC = c.CONSENT_GIVEN

    class ConsentWithdrawn(DeclaredEvent):
        TOPIC = c.CONSENT_WITHDRAWN

    class ServiceDelivered(DeclaredEvent):
        TOPIC = c.SERVICE_DELIVERED

    class ReferralMade(DeclaredEvent):
        TOPIC = c.REFERRAL_MADE

    class ScreeningCompleted(DeclaredEvent):
        TOPIC = c.SCREENING_COMPLETED

    class CaseClosed(DeclaredEvent):
        TOPIC = c.CASE_CLOSED

    class DataErased(DeclaredEvent):
        TOPIC = c.PARTICIPANT_DATA_ERASED


class Complaint(Stream):
    TOPIC = "domain.Complaint"
    KEY, PREFIX = "complaint_id", "complaint"

    class Created(DeclaredCreated):
        TOPIC = c.COMPLAINT_FILED

    class Resolved(DeclaredEvent):
        TOPIC = c.COMPLAINT_RESOLVED
