"""The program's event catalogue (DESIGN.md section 4), each type declared once.

Every event the program records is listed here with the members of its data, how
each is written, the roles whose keys may sign it, and the date it is about. The
aggregates take their events' fields from here, the rules judge the data against it,
the permission table is built from it, and projections and tests name types by it.
Adding a member or a type is a change to this file and to the code that uses it.

No case event carries free text (DESIGN.md section 4): the members a clerk might
once have typed into (a closure's `reason`, a complaint's `category` and `outcome`,
an erasure's `authority`, a `referral_source`, a referral's `to_kind` and a consent's
`share_with`) hold codes of the lists published below, and their kinds accept
nothing else. A narrative, where one helps, goes to the vault under the
participant's key; the event carries its commitment (`narrative_sha256`).

Standard library (and ledger.catalogue) only: an auditor who replays check 9 takes
this module with the rules.
"""

from __future__ import annotations

import re

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
    Kind,
    code_from,
    codes_from,
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

# -- The published code lists of case events ------------------------------------------
# Codes are added at the end of a list, never renamed or removed: the verifier judges
# the whole log by the lists of the catalogue it is given.

REFERRAL_SOURCES = (  # who referred the participant to the program
    "ice_ero",  # ICE Enforcement and Removal Operations
    "cbp",  # Customs and Border Protection, on release at the border
    "immigration_court",  # EOIR: an immigration judge or the court's staff
    "community_partner",  # a shelter, faith or community organisation
    "legal_service_provider",
    "self",  # the participant asked to join
    "other",
)
REFERRAL_RECIPIENTS = (  # whom a consent releases information to, and a referral goes to
    "legal_service_provider",
    "health_clinic",
    "mental_health_provider",
    "anti_trafficking_provider",
    "shelter",
    "housing",
    "food_assistance",
    "school",
    "employer",
    "social_services",
    "repatriation_assistance",  # reception and reintegration in the country of origin
)
COMPLAINT_CATEGORIES = (  # what a civil-rights complaint is about (CRCL's view groups by it)
    "language_access",
    "accessibility",  # disability access and accommodation
    "discrimination",
    "conduct",  # staff conduct
    "privacy",
    "consent",  # services or sharing without a valid consent
    "service_quality",
    "retaliation",
    "other",
)
COMPLAINT_OUTCOMES = (
    "substantiated",
    "partially_substantiated",
    "unsubstantiated",
    "resolved_informally",  # settled with the complainant, without a finding
    "referred",  # to another authority (DHS OIG, CRCL's own investigation, a court)
    "withdrawn",  # by the complainant
    "administratively_closed",  # outside the program's remit, or no response
)
CLOSURE_REASONS = (  # why a participant's case was closed
    "services_completed",  # the case plan's goals were met
    "immigration_case_concluded",  # relief granted, or a final order
    "case_transferred",  # to another grantee or program
    "relocated_out_of_area",
    "participant_withdrew",  # the program is voluntary
    "consent_withdrawn",  # no consent in force remains to serve under
    "lost_contact",
    "removed_from_program",  # by DHS's decision
    "detained",
    "departed_country",
    "deceased",
    "other",
)
ERASURE_AUTHORITIES = (  # the legal ground on which a participant's data is erased
    "participant_request",  # under the program's privacy policy
    "court_order",
    "retention_schedule",  # the records' retention period ended (2 CFR 200.334)
    "statutory_requirement",
    "recorded_in_error",  # personal data recorded for the wrong person or by mistake
)
# Money entries are released whole (FOIA), so they hold codes, never free text.
AMENDMENT_REASONS = (  # why an award's amount changed
    "additional_funds",  # more money for the work awarded
    "scope_change",  # work added or removed
    "period_change",  # the period of performance moved
    "correction",  # an error in the award corrected
    "deobligation",  # unspent money returned to the appropriation
)
REVERSAL_REASONS = (  # why a disbursement was reversed
    "duplicate_payment",
    "wrong_amount",
    "wrong_payee",
    "returned_by_bank",
    "paid_in_error",
)
# Who received an export: an organisation or person id, or a FOIA request's number;
# never a name (the log keeps no one's name).
RECIPIENT_PATTERN = re.compile(r"(org|user):[a-z0-9][a-z0-9:._-]{0,95}|FOIA-[0-9]{4}-[0-9]{1,8}")
RECIPIENT = Kind(
    "an organisation or person id (org:…, user:…), or a FOIA request number (FOIA-2026-0001)",
    lambda v: type(v) is str and RECIPIENT_PATTERN.fullmatch(v) is not None,
    rule="recipient-id",
)
EXPORT_KINDS = (  # what leaves the system (DESIGN.md section 7)
    "bundle",  # the audit bundle: every entry of the log
    "foia",  # a FOIA release
    "csv",  # every projection as CSV
    "vault",  # named participants' vault records
)
ACCESS_PURPOSES = (  # why protected records are read: recorded with every read
    "case_management",  # the participant's own grantee, serving them
    "service_delivery",
    "complaint_investigation",  # CRCL, or the grantee, looking into a complaint
    "civil_rights_review",  # CRCL's oversight of consent, timeliness, language access
    "audit",  # the inspector general's sampling and replay
    "investigation",  # an inspector general's investigation
    "legal_request",  # a subpoena, court order or records request
    "data_quality",  # correcting a record
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
    "funds.AwardAmended",
    signed_by=[BOARD],
    award_id=ID,
    delta_cents=CENTS,
    reason=code_from(AMENDMENT_REASONS, "amendment reasons"),
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
    reason=code_from(REVERSAL_REASONS, "reversal reasons"),
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
    # DESIGN.md lists `service_ids`: the services paid for are case records, and an
    # expenditure's entry is released whole (FOIA), so it carries only a salted commitment
    # to them (domain.expenditure_services keeps the ids and salt beside the log).
    services_sha256=SHA256.or_null(),
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
    referral_source=code_from(REFERRAL_SOURCES, "referral sources"),
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
    share_with=codes_from(REFERRAL_RECIPIENTS, "referral recipients"),
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
    to_kind=code_from(REFERRAL_RECIPIENTS, "referral recipients"),
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
    category=code_from(COMPLAINT_CATEGORIES, "complaint categories"),
    filed_on=DATE,
    narrative_sha256=SHA256.or_null(),  # the complainant's account, in the vault
)
COMPLAINT_RESOLVED = EventType(
    "case.ComplaintResolved",
    signed_by=[GRANTEE, OVERSIGHT],
    on="resolved_on",
    complaint_id=ID,
    resolved_on=DATE,
    outcome=code_from(COMPLAINT_OUTCOMES, "complaint outcomes"),
    narrative_sha256=SHA256.or_null(),  # the resolver's findings, in the vault
)
CASE_CLOSED = EventType(
    "case.CaseClosed",
    signed_by=[GRANTEE],
    on="closed_on",
    participant_id=ID,
    closed_on=DATE,
    reason=code_from(CLOSURE_REASONS, "closure reasons"),
    narrative_sha256=SHA256.or_null(),  # the caseworker's closing note, in the vault
)
PARTICIPANT_DATA_ERASED = EventType(
    "case.ParticipantDataErased",
    signed_by=[GRANTEE],
    on="erased_on",
    participant_id=ID,
    erased_on=DATE,
    # No narrative: it would be kept under the very key the erasure deletes.
    authority=code_from(ERASURE_AUTHORITIES, "erasure authorities"),
)

# -- Written by the server itself -----------------------------------------------------

RECORDS_ACCESSED = EventType(
    "audit.RecordsAccessed",
    signed_by=[SYSTEM],
    actor=ID,
    # A code of a published list, never free text: a purpose is logged for good, and
    # "asked by <a name>" would put a person in the log.
    purpose=code_from(ACCESS_PURPOSES, "access purposes"),
    participant_ids=IDS,
    fields=IDS,
)
EXPORT_GENERATED = EventType(
    "audit.ExportGenerated",
    signed_by=[SYSTEM],
    kind=code_from(EXPORT_KINDS, "export kinds"),
    recipient=RECIPIENT,
    purpose=code_from(ACCESS_PURPOSES, "access purposes"),  # a FOIA release: legal_request
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
