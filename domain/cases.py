"""Cases: participants with their consents, services, referrals and screenings; complaints.

A participant is a random id, never derived from personal data. Personal data and
protected facts never enter these events: they carry salted commitments
(`pii_sha256`, `result_sha256`, `notes_sha256`, `narrative_sha256`) to records kept
in the vault, and codes of the catalogue's published lists where a person would
write a sentence (a closure's reason, a complaint's outcome).
"""

from __future__ import annotations

from domain import catalogue as c
from domain.streams import Stream
from ledger.events import opening, recording


class Participant(Stream):
    TOPIC = "domain.Participant"
    KEY, PREFIX = "participant_id", "participant"
    Created = opening(c.PARTICIPANT_ENROLLED)
    ConsentGiven = recording(c.CONSENT_GIVEN)
    ConsentWithdrawn = recording(c.CONSENT_WITHDRAWN)
    ServiceDelivered = recording(c.SERVICE_DELIVERED)
    ReferralMade = recording(c.REFERRAL_MADE)
    ScreeningCompleted = recording(c.SCREENING_COMPLETED)
    CaseClosed = recording(c.CASE_CLOSED)
    DataErased = recording(c.PARTICIPANT_DATA_ERASED)


class Complaint(Stream):
    TOPIC = "domain.Complaint"
    KEY, PREFIX = "complaint_id", "complaint"
    Created = opening(c.COMPLAINT_FILED)
    Resolved = recording(c.COMPLAINT_RESOLVED)
