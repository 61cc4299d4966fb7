"""CRCL oversight's pages: the oversight view with its charts, and the log of reads of
protected records. The view is the API's (GET /v1/oversight), suppressed in the same
way for every role but oversight and the inspector general."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import LedgerDep
from api.dashboard import charts
from api.dashboard.viewer import (
    PREFIX,
    AsOfDep,
    Paged,
    PageDep,
    Viewing,
    bad_as_of,
    permit,
    render,
)
from api.routes.reports import reflected_seq, reporting
from domain.catalogue import FISCAL_AGENT, INSPECTOR, OVERSIGHT
from ledger.catalogue import BOARD

router = APIRouter(prefix=PREFIX, include_in_schema=False)
VIEWERS = (BOARD, FISCAL_AGENT, OVERSIGHT, INSPECTOR)  # the API's OversightReader
UNSUPPRESSED = (OVERSIGHT, INSPECTOR)


def _counts(values: dict[str, Any]) -> dict[str, int]:
    """What can be drawn: every count, or nothing when any is suppressed (a chart
    missing its bar would mislead; the table says it)."""
    if not all(isinstance(v, int) for v in values.values()):
        return {}
    return values


@router.get("/oversight", response_class=HTMLResponse)
def oversight_view(
    request: Request, ledger: LedgerDep, viewer: Viewing, as_of: AsOfDep, page: PageDep = 1
) -> Response:
    actor, _ = viewer
    permit(actor, *VIEWERS)
    if as_of.error:
        return bad_as_of(request, viewer, as_of)
    suppress = actor.role not in UNSUPPRESSED
    with reporting(ledger) as reports:
        view = reports.oversight(as_of=as_of.as_of, at_seq=as_of.at_seq, suppress=suppress)
        seq = reflected_seq(ledger, view)
        waits = reports.days_to_first_service(
            suppress=suppress, as_of=as_of.as_of, at_seq=as_of.at_seq
        )
    listed = view["services_without_valid_consent"]["listed"]
    language = view["language_access"]
    complaints = view["complaints"]
    return render(
        request,
        "oversight.html",
        viewer=viewer,
        title="Civil-rights oversight",
        seq=seq,
        as_of=as_of,
        view=view,
        invalid_page=None if isinstance(listed, str) else Paged(listed, page),
        waits=waits,
        waits_chart=charts.bars(
            "Participants by days from enrolment to first service",
            _counts({b["bucket"]: b["participants"] for b in waits["buckets"]}),
        ),
        language_chart=charts.bars(
            "Services: in the participant's language, with an interpreter",
            _counts(
                {
                    "all services": language["services"],
                    "in the participant's language": language["in_participants_language"],
                    "with an interpreter": language["with_interpreter"],
                }
            ),
        ),
        complaints_chart=charts.bars(
            "Complaints filed by category",
            _counts({category: c["filed"] for category, c in complaints.items()}),
        ),
    )


@router.get("/accesses", response_class=HTMLResponse)
def accesses(
    request: Request,
    ledger: LedgerDep,
    viewer: Viewing,
    as_of: AsOfDep,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    """Who read protected records, when, why, and how many participants' (oversight and
    the inspector general)."""
    actor, _ = viewer
    permit(actor, *UNSUPPRESSED)
    if as_of.error:
        return bad_as_of(request, viewer, as_of)
    with reporting(ledger) as reports:
        found = reports.accesses(page=page, as_of=as_of.as_of, at_seq=as_of.at_seq)
        seq = reflected_seq(ledger, found)
    return render(
        request,
        "accesses.html",
        viewer=viewer,
        title="Reads of protected records",
        seq=seq,
        as_of=as_of,
        found=found,
    )


@router.get("/disclosures", response_class=HTMLResponse)
def disclosures(
    request: Request,
    ledger: LedgerDep,
    viewer: Viewing,
    as_of: AsOfDep,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    """The accounting of disclosures: every export, to whom, why, and the SHA-256 of what
    left (oversight and the inspector general)."""
    actor, _ = viewer
    permit(actor, *UNSUPPRESSED)
    if as_of.error:
        return bad_as_of(request, viewer, as_of)
    with reporting(ledger) as reports:
        found = reports.disclosures(page=page, as_of=as_of.as_of, at_seq=as_of.at_seq)
        seq = reflected_seq(ledger, found)
    return render(
        request,
        "disclosures.html",
        viewer=viewer,
        title="Disclosures: every export",
        seq=seq,
        as_of=as_of,
        found=found,
    )
