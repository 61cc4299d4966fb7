"""Funds commands: the board's organisations, appropriations and awards, the fiscal agent's
payments, the grantee's expenditures on its own awards."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from api.auth import LedgerDep, PrincipalDep
from api.commands import IdempotencyKey, command
from projections.commands.funds import (
    AppropriationCreate,
    AppropriationRecorded,
    AwardAmended,
    AwardAmendmentCreate,
    AwardClosed,
    AwardClosureCreate,
    AwardCreate,
    AwardMade,
    DisbursementCreate,
    DisbursementRecorded,
    DisbursementReversalCreate,
    DisbursementReversed,
    ExpenditureCreate,
    ExpenditureReported,
    OrganisationCreate,
    OrganisationRegistered,
    RefundCreate,
    RefundReceived,
)
from projections.commands.models import Id

router = APIRouter(prefix="/v1", tags=["funds"])
AwardId = Annotated[Id, Path(description="The award's id, e.g. A-2022-007.")]
DisbursementId = Annotated[Id, Path(description="The disbursement's id.")]
Key = IdempotencyKey


@router.post("/organisations", status_code=201, response_model=OrganisationRegistered)
def register_organisation(
    body: OrganisationCreate, who: PrincipalDep, ledger: LedgerDep, key: Key
) -> JSONResponse:
    """Register an organisation (board)."""
    return command(ledger, who, "register_organisation", body, key)


@router.post("/appropriations", status_code=201, response_model=AppropriationRecorded)
def record_appropriation(
    body: AppropriationCreate, who: PrincipalDep, ledger: LedgerDep, key: Key
) -> JSONResponse:
    """Record an appropriation by Congress (board)."""
    return command(ledger, who, "record_appropriation", body, key)


@router.post("/awards", status_code=201, response_model=AwardMade)
def make_award(body: AwardCreate, who: PrincipalDep, ledger: LedgerDep, key: Key) -> JSONResponse:
    """Make an award to a grantee from an appropriation (board)."""
    return command(ledger, who, "make_award", body, key)


@router.post("/awards/{award_id}/amendments", status_code=201, response_model=AwardAmended)
def amend_award(
    award_id: AwardId, body: AwardAmendmentCreate, who: PrincipalDep, ledger: LedgerDep, key: Key
) -> JSONResponse:
    """Amend an award's amount (board)."""
    return command(ledger, who, "amend_award", body, key, award_id=award_id)


@router.post("/awards/{award_id}/closure", status_code=201, response_model=AwardClosed)
def close_award(
    award_id: AwardId, body: AwardClosureCreate, who: PrincipalDep, ledger: LedgerDep, key: Key
) -> JSONResponse:
    """Close an award (board): nothing more is recorded against it."""
    return command(ledger, who, "close_award", body, key, award_id=award_id)


@router.post(
    "/awards/{award_id}/disbursements", status_code=201, response_model=DisbursementRecorded
)
def record_disbursement(
    award_id: AwardId, body: DisbursementCreate, who: PrincipalDep, ledger: LedgerDep, key: Key
) -> JSONResponse:
    """Record a payment to the grantee (fiscal agent)."""
    return command(ledger, who, "record_disbursement", body, key, award_id=award_id)


@router.post(
    "/awards/{award_id}/disbursements/{disbursement_id}/reversal",
    status_code=201,
    response_model=DisbursementReversed,
)
def reverse_disbursement(
    *,
    award_id: AwardId,
    disbursement_id: DisbursementId,
    body: DisbursementReversalCreate,
    who: PrincipalDep,
    ledger: LedgerDep,
    key: Key,
) -> JSONResponse:
    """Reverse a disbursement (fiscal agent)."""
    ids = {"award_id": award_id, "disbursement_id": disbursement_id}
    return command(ledger, who, "reverse_disbursement", body, key, **ids)


@router.post("/awards/{award_id}/refunds", status_code=201, response_model=RefundReceived)
def record_refund(
    award_id: AwardId, body: RefundCreate, who: PrincipalDep, ledger: LedgerDep, key: Key
) -> JSONResponse:
    """Record a refund from the grantee (fiscal agent)."""
    return command(ledger, who, "record_refund", body, key, award_id=award_id)


@router.post("/awards/{award_id}/expenditures", status_code=201, response_model=ExpenditureReported)
def report_expenditure(
    award_id: AwardId, body: ExpenditureCreate, who: PrincipalDep, ledger: LedgerDep, key: Key
) -> JSONResponse:
    """Report an expenditure on the grantee's own award (grantee)."""
    return command(ledger, who, "report_expenditure", body, key, award_id=award_id)
