"""A participant's case history as a page. The page first asks why (the purpose is
recorded with the read, in the log, before anything is shown), so opening it shows a
form; the form (with its CSRF token) reads the history through the API's own route
function. Another grantee's participant is not found, as one that does not exist."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import LedgerDep
from api.dashboard.viewer import (
    PREFIX,
    AsOfDep,
    PageNotFoundError,
    Viewing,
    bad_as_of,
    check_csrf,
    permit,
    render,
)
from api.routes.reports import get_case_history
from api.services import Services
from domain.catalogue import ACCESS_PURPOSES, GRANTEE, INSPECTOR, OVERSIGHT
from projections.commands.scope import participant_grantee
from projections.commands.spec import Actor

router = APIRouter(prefix=PREFIX, include_in_schema=False)
CASE_READERS = (GRANTEE, OVERSIGHT, INSPECTOR)
ParticipantId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9:_.-]+$")]


def _visible(ledger: Services, actor: Actor, participant_id: str) -> None:
    """404 unless the participant exists and (for a grantee) is its own."""
    owner = participant_grantee(ledger.system, {"participant_id": participant_id}, None)
    if owner is None or (actor.role == GRANTEE and owner != actor.org):
        raise PageNotFoundError(f"participant {participant_id}")


@router.get("/participants/{participant_id}", response_class=HTMLResponse)
def participant(
    request: Request,
    ledger: LedgerDep,
    viewer: Viewing,
    as_of: AsOfDep,
    participant_id: ParticipantId,
) -> Response:
    actor, _ = viewer
    permit(actor, *CASE_READERS)
    _visible(ledger, actor, participant_id)
    if as_of.error:
        return bad_as_of(request, viewer, as_of)
    return render(
        request,
        "purpose.html",
        viewer=viewer,
        title=f"Participant {participant_id}",
        as_of=as_of,  # carried to the read
        explanation="A participant's case history is protected. It is shown for a stated "
        "purpose, and the read (who, when, why, which fields) is recorded in the log "
        "before anything is shown.",
        action=f"{PREFIX}/participants/{participant_id}{as_of.query()}",
        button="Read the case history",
        participant_id=participant_id,
        purposes=ACCESS_PURPOSES,
    )


@router.post("/participants/{participant_id}", response_class=HTMLResponse)
def participant_history(
    *,
    request: Request,
    ledger: LedgerDep,
    viewer: Viewing,
    as_of: AsOfDep,
    participant_id: ParticipantId,
    purpose: Annotated[Literal[ACCESS_PURPOSES], Form()],  # type: ignore[valid-type]
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    actor, session = viewer
    permit(actor, *CASE_READERS)
    check_csrf(session, csrf)
    _visible(ledger, actor, participant_id)
    if as_of.error:  # refused before the read is recorded
        return bad_as_of(request, viewer, as_of)
    page = Response()
    history = get_case_history(
        participant_id=participant_id,
        purpose=purpose,
        who=actor,
        ledger=ledger,
        response=page,
        as_of=as_of.as_of,
        at_seq=as_of.at_seq,
    )
    return render(
        request,
        "participant.html",
        viewer=viewer,
        title=f"Participant {participant_id}",
        seq=int(page.headers["CMPP-As-Of-Seq"]),
        as_of=as_of,
        history=history,
        purpose=purpose,
    )
