"""Case commands: a grantee enrols its participants and records their consents, services,
referrals, screenings, complaints, closure and erasure; CRCL resolves complaints.

A grantee naming another grantee's participant (or a consent of one) is answered 404, as
for one that does not exist (projections.commands.cases).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from api.auth import LedgerDep, PrincipalDep
from api.commands import IdempotencyKey, command
from projections.commands.cases import (
    CaseClosed,
    CaseClosureCreate,
    ComplaintCreate,
    ComplaintFiled,
    ComplaintResolutionCreate,
    ComplaintResolved,
    ConsentCreate,
    ConsentGiven,
    ConsentWithdrawalCreate,
    ConsentWithdrawn,
    ErasureCreate,
    ParticipantDataErased,
    ParticipantEnrolled,
    ParticipantEnrolment,
    ReferralCreate,
    ReferralMade,
    ScreeningCompleted,
    ScreeningCreate,
    ServiceCreate,
    ServiceDelivered,
)
from projections.commands.models import Id

router = APIRouter(prefix="/v1", tags=["cases"])
ParticipantId = Annotated[Id, Path(description="The participant's id, as enrolment gave it.")]
ConsentId = Annotated[Id, Path(description="The consent's id, as it was given.")]
ComplaintId = Annotated[Id, Path(description="The complaint's id, as filing gave it.")]
Key = IdempotencyKey
PARTICIPANT = "/participants/{participant_id}"


@router.post("/participants", status_code=201, response_model=ParticipantEnrolled)
def enrol_participant(
    body: ParticipantEnrolment, who: PrincipalDep, ledger: LedgerDep, key: Key
) -> JSONResponse:
    """Enrol a participant (grantee): their personal data goes to the vault, and the answer
    gives their new id, never that data."""
    return command(ledger, who, "enrol_participant", body, key)


@router.post(f"{PARTICIPANT}/consents", status_code=201, response_model=ConsentGiven)
def give_consent(
    participant_id: ParticipantId,
    body: ConsentCreate,
    who: PrincipalDep,
    ledger: LedgerDep,
    key: Key,
) -> JSONResponse:
    """Record the participant's consent to services and to sharing (grantee)."""
    return command(ledger, who, "give_consent", body, key, participant_id=participant_id)


@router.post(
    f"{PARTICIPANT}/consents/{{consent_id}}/withdrawal",
    status_code=201,
    response_model=ConsentWithdrawn,
)
def withdraw_consent(
    *,
    participant_id: ParticipantId,
    consent_id: ConsentId,
    body: ConsentWithdrawalCreate,
    who: PrincipalDep,
    ledger: LedgerDep,
    key: Key,
) -> JSONResponse:
    """Record the withdrawal of a consent (grantee)."""
    ids = {"participant_id": participant_id, "consent_id": consent_id}
    return command(ledger, who, "withdraw_consent", body, key, **ids)


@router.post(f"{PARTICIPANT}/services", status_code=201, response_model=ServiceDelivered)
def deliver_service(
    participant_id: ParticipantId,
    body: ServiceCreate,
    who: PrincipalDep,
    ledger: LedgerDep,
    key: Key,
) -> JSONResponse:
    """Record a service delivered under a consent in force (grantee); notes go to the vault."""
    return command(ledger, who, "deliver_service", body, key, participant_id=participant_id)


@router.post(f"{PARTICIPANT}/referrals", status_code=201, response_model=ReferralMade)
def make_referral(
    participant_id: ParticipantId,
    body: ReferralCreate,
    who: PrincipalDep,
    ledger: LedgerDep,
    key: Key,
) -> JSONResponse:
    """Record a referral under a consent that releases the data to its recipient (grantee)."""
    return command(ledger, who, "make_referral", body, key, participant_id=participant_id)


@router.post(f"{PARTICIPANT}/screenings", status_code=201, response_model=ScreeningCompleted)
def complete_screening(
    participant_id: ParticipantId,
    body: ScreeningCreate,
    who: PrincipalDep,
    ledger: LedgerDep,
    key: Key,
) -> JSONResponse:
    """Record a screening (grantee): its result goes to the vault."""
    return command(ledger, who, "complete_screening", body, key, participant_id=participant_id)


@router.post(f"{PARTICIPANT}/closure", status_code=201, response_model=CaseClosed)
def close_case(
    participant_id: ParticipantId,
    body: CaseClosureCreate,
    who: PrincipalDep,
    ledger: LedgerDep,
    key: Key,
) -> JSONResponse:
    """Close the participant's case (grantee)."""
    return command(ledger, who, "close_case", body, key, participant_id=participant_id)


@router.post(f"{PARTICIPANT}/erasure", status_code=201, response_model=ParticipantDataErased)
def erase_participant(
    participant_id: ParticipantId,
    body: ErasureCreate,
    who: PrincipalDep,
    ledger: LedgerDep,
    key: Key,
) -> JSONResponse:
    """Erase the participant's data (grantee): their data key is deleted, the log stays whole."""
    return command(ledger, who, "erase_participant", body, key, participant_id=participant_id)


@router.post("/complaints", status_code=201, response_model=ComplaintFiled)
def file_complaint(
    body: ComplaintCreate, who: PrincipalDep, ledger: LedgerDep, key: Key
) -> JSONResponse:
    """File a civil-rights complaint, about one of the grantee's participants or none
    (grantee)."""
    return command(ledger, who, "file_complaint", body, key)


@router.post(
    "/complaints/{complaint_id}/resolution", status_code=201, response_model=ComplaintResolved
)
def resolve_complaint(
    complaint_id: ComplaintId,
    body: ComplaintResolutionCreate,
    who: PrincipalDep,
    ledger: LedgerDep,
    key: Key,
) -> JSONResponse:
    """Resolve a complaint (oversight)."""
    return command(ledger, who, "resolve_complaint", body, key, complaint_id=complaint_id)
