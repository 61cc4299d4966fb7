"""People: the board registers and suspends them; anyone signed in can ask who they are."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.auth import LedgerDep, PrincipalDep
from api.commands import IdempotencyKey, command
from projections.commands.models import Id
from projections.commands.people import (
    PersonCreate,
    PersonRegistered,
    PersonSuspended,
    PersonSuspensionCreate,
)

router = APIRouter(prefix="/v1", tags=["people"])


class PrincipalPublic(BaseModel):
    """Who the token of this request belongs to."""

    person_id: str
    org: str
    role: str
    key_id: str
    custody: str


@router.get("/me", response_model=PrincipalPublic)
def who_am_i(who: PrincipalDep) -> PrincipalPublic:
    return PrincipalPublic(
        person_id=who.person, org=who.org, role=who.role, key_id=who.key_id, custody=who.custody
    )


@router.post("/people", status_code=201, response_model=PersonRegistered)
def register_person(
    body: PersonCreate, who: PrincipalDep, ledger: LedgerDep, key: IdempotencyKey
) -> JSONResponse:
    """Register a person under their organisation, with a key of their own (board)."""
    return command(ledger, who, "register_person", body, key)


@router.post("/people/{person_id}/suspension", status_code=201, response_model=PersonSuspended)
def suspend_person(
    person_id: Annotated[Id, Path()],
    body: PersonSuspensionCreate,
    who: PrincipalDep,
    ledger: LedgerDep,
    key: IdempotencyKey,
) -> JSONResponse:
    """Suspend a person: their keys are revoked, their tokens stop working (board)."""
    return command(ledger, who, "suspend_person", body, key, person_id=person_id)
