"""The accounting of disclosures: every export that left the system, for oversight and
the inspector general (DESIGN.md section 7)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from api.auth import LedgerDep, allow
from api.routes.reports import AS_OF_HEADER, AsOf, AtSeq, reflected_seq, reporting
from domain.catalogue import INSPECTOR, OVERSIGHT
from projections.commands.spec import Actor

router = APIRouter(prefix="/v1", tags=["reports"])
DisclosureReader = Annotated[Actor, Depends(allow(OVERSIGHT, INSPECTOR))]


class Disclosure(BaseModel):
    seq: int  # the entry recording the export (audit.ExportGenerated)
    at: str
    kind: str
    recipient: str
    purpose: str
    parameters: dict[str, Any]
    sha256: str  # of what left: a release's manifest.json, which names every file's SHA-256


class DisclosuresAnswer(BaseModel):
    as_of_seq: int | None
    rests_on: dict[str, Any] | None
    exports: int
    page: int
    pages: int
    rows: list[Disclosure]


@router.get("/disclosures", response_model=DisclosuresAnswer)
def get_disclosures(
    _who: DisclosureReader,
    ledger: LedgerDep,
    response: Response,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    as_of: AsOf = None,
    at_seq: AtSeq = None,
) -> dict[str, Any]:
    """Every export recorded, newest first, 50 a page."""
    with reporting(ledger) as reports:
        answer = reports.disclosures(page=page, as_of=as_of, at_seq=at_seq)
        response.headers[AS_OF_HEADER] = str(reflected_seq(ledger, answer))
    return answer
