"""The program's event catalogue (DESIGN.md section 4), each type declared once.

Every event the program records is listed here with the members of its data, how
each is written, the roles whose keys may sign it, and the date it is about. The
aggregates take their events' fields from here, the rules judge the data against it,
the permission table is built from it, and projections and tests name types by it.
Adding a member or a type is a change to this file and to the code that uses it.

Standard library (and ledger.catalogue) only: an auditor who replays check 9 takes
this module with the rules.
"""

from __future__ import annotations

from ledger.catalogue import (
    BOARD,
    CENTS,
    DATE,
    FLAG,
    ID,
    IDS,
    INTEGER,
    OBJECT,
    SHA256,
    TEXT,
    Catalogue,
    EventType,
)

FISCAL_AGENT, GRANTEE, OVERSIGHT, INSPECTOR, SYSTEM, PUBLIC = (
    "fiscal_agent",
    "grantee",
    "oversight",
    "inspector",
    "system",
    "public",
)
ROLES = (BOARD, FISCAL_AGENT, GRANTEE, OVERSIGHT, INSPECTOR, SYSTEM, PUBLIC)
ORGANISATION_KINDS = (BOARD, FISCAL_AGENT, GRANTEE, OVERSIGHT, INSPECTOR)
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

# -- Organisations --------------------------------------------------------------------

ORGANISATION_REGISTERED = EventType(
    "org.OrganisationRegistered",
    signed_by=[BOARD],
    org_id=ID,
    name=TEXT,
    kind=ID,
    uei=ID.or_null(),
)

# -- Funds (amounts in integer cents) -------------------------------------------------

APPROPRIATION_RECORDED = EventType(
    "funds.AppropriationRecorded",
    signed_by=[BOARD],
    appropriation_id=ID,
    fiscal_year=INTEGER,
    public_law=TEXT,
    amount_cents=CENTS,
    available_until=DATE,
)
AWARD_MADE = EventType(
    "funds.AwardMade",
    signed_by=[BOARD],
    on="period_start",
    award_id=ID,
    appropriation_id=ID,
    grantee=ID,
    amount_cents=CENTS,
    period_start=DATE,
    period_end=DATE,
    method=ID,
)
AWARD_AMENDED = EventType(
    "funds.AwardAmended", signed_by=[BOARD], award_id=ID, delta_cents=CENTS, reason=TEXT
)
DISBURSEMENT_RECORDED = EventType(
    "funds.DisbursementRecorded",
    signed_by=[FISCAL_AGENT],
    on="paid_on",
    award_id=ID,
    disbursement_id=ID,
    amount_cents=CENTS,
    payment_ref=ID,
    paid_on=DATE,
)
DISBURSEMENT_REVERSED = EventType(
    "funds.DisbursementReversed",
    signed_by=[FISCAL_AGENT],
    award_id=ID,
    disbursement_id=ID,
    reason=TEXT,
)
EXPENDITURE_REPORTED = EventType(
    "funds.ExpenditureReported",
    signed_by=[GRANTEE],
    on="incurred_on",
    award_id=ID,
    expenditure_id=ID,
    category=ID,
    amount_cents=CENTS,
    incurred_on=DATE,
    service_ids=IDS,
    document_sha256=SHA256.or_null(),
)
REFUND_RECEIVED = EventType(
    "funds.RefundReceived",
    signed_by=[FISCAL_AGENT],
    on="received_on",
    award_id=ID,
    refund_id=ID,
    amount_cents=CENTS,
    received_on=DATE,
    payment_ref=ID,
)
AWARD_CLOSED = EventType(
    "funds.AwardClosed", signed_by=[BOARD], on="closed_on", award_id=ID, closed_on=DATE
)

# -- Cases: no personal data, only ids, codes, dates and commitments ------------------

PARTICIPANT_ENROLLED = EventType(
    "case.ParticipantEnrolled",
    signed_by=[GRANTEE],
    on="enrolled_on",
    participant_id=ID,
    grantee=ID,
    enrolled_on=DATE,
    referral_source=ID,
    language=ID,
    age_band=ID,
    gender=ID,
    nationality=ID,
    pii_sha256=SHA256,
)
CONSENT_GIVEN = EventType(
    "case.ConsentGiven",
    signed_by=[GRANTEE],
    on="given_on",
    participant_id=ID,
    consent_id=ID,
    services=IDS,
    share_with=IDS,
    method=ID,
    language=ID,
    interpreter=FLAG,
    form_version=ID,
    given_on=DATE,
    expires_on=DATE.or_null(),
)
CONSENT_WITHDRAWN = EventType(
    "case.ConsentWithdrawn",
    signed_by=[GRANTEE],
    on="withdrawn_on",
    participant_id=ID,
    consent_id=ID,
    withdrawn_on=DATE,
)
SERVICE_DELIVERED = EventType(
    "case.ServiceDelivered",
    signed_by=[GRANTEE],
    on="delivered_on",
    participant_id=ID,
    service_id=ID,
    service_type=ID,
    delivered_on=DATE,
    minutes=INTEGER,
    language=ID,
    interpreter=FLAG,
    notes_sha256=SHA256.or_null(),
)
REFERRAL_MADE = EventType(
    "case.ReferralMade",
    signed_by=[GRANTEE],
    on="made_on",
    participant_id=ID,
    referral_id=ID,
    to_kind=ID,
    consent_id=ID,
    made_on=DATE,
)
SCREENING_COMPLETED = EventType(
    "case.ScreeningCompleted",
    signed_by=[GRANTEE],
    on="completed_on",
    participant_id=ID,
    screening_id=ID,
    screening_type=ID,
    completed_on=DATE,
    result_sha256=SHA256,
)
COMPLAINT_FILED = EventType(
    "case.ComplaintFiled",
    signed_by=[GRANTEE],
    on="filed_on",
    complaint_id=ID,
    participant_id=ID.or_null(),
    category=ID,
    filed_on=DATE,
)
COMPLAINT_RESOLVED = EventType(
    "case.ComplaintResolved",
    signed_by=[GRANTEE, OVERSIGHT],
    on="resolved_on",
    complaint_id=ID,
    resolved_on=DATE,
    outcome=ID,
)
CASE_CLOSED = EventType(
    "case.CaseClosed",
    signed_by=[GRANTEE],
    on="closed_on",
    participant_id=ID,
    closed_on=DATE,
    reason=TEXT,
)
PARTICIPANT_DATA_ERASED = EventType(
    "case.ParticipantDataErased",
    signed_by=[GRANTEE],
    on="erased_on",
    participant_id=ID,
    erased_on=DATE,
    authority=TEXT,
)

# -- Written by the server itself -----------------------------------------------------

RECORDS_ACCESSED = EventType(
    "audit.RecordsAccessed",
    signed_by=[SYSTEM],
    actor=ID,
    purpose=TEXT,
    participant_ids=IDS,
    fields=IDS,
)
EXPORT_GENERATED = EventType(
    "audit.ExportGenerated",
    signed_by=[SYSTEM],
    kind=ID,
    recipient=ID,
    purpose=TEXT,
    parameters=OBJECT,
    sha256=SHA256,
)

CATALOGUE = Catalogue(
    [
        ORGANISATION_REGISTERED,
        APPROPRIATION_RECORDED,
        AWARD_MADE,
        AWARD_AMENDED,
        DISBURSEMENT_RECORDED,
        DISBURSEMENT_REVERSED,
        EXPENDITURE_REPORTED,
        REFUND_RECEIVED,
        AWARD_CLOSED,
        PARTICIPANT_ENROLLED,
        CONSENT_GIVEN,
        CONSENT_WITHDRAWN,
        SERVICE_DELIVERED,
        REFERRAL_MADE,
        SCREENING_COMPLETED,
        COMPLAINT_FILED,
        COMPLAINT_RESOLVED,
        CASE_CLOSED,
        PARTICIPANT_DATA_ERASED,
        RECORDS_ACCESSED,
        EXPORT_GENERATED,
    ],
    roles=ROLES,
)
CASE_TYPES = frozenset(t for t in CATALOGUE if t.area == "case")
FUNDS_TYPES = frozenset(t for t in CATALOGUE if t.area == "funds")
