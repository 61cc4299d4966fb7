"""The inspector general's pages: verification status (the latest checkpoint, the last
verification made here and what each check found, and "verify now"), the entry browser,
and the bundle download. The public sees the verification status too: the checkpoint
and the log's size and root are theirs to check."""

from __future__ import annotations

from typing import Annotated

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from api.auth import LedgerDep
from api.dashboard.viewer import (
    PREFIX,
    AsOfDep,
    Viewing,
    bad_as_of,
    check_csrf,
    permit,
    render,
)
from api.routes.log import audit_bundle, latest_checkpoint
from api.routes.reports import reflected_seq, reporting
from api.services import Services
from domain.catalogue import CATALOGUE, INSPECTOR
from ledger.entry import EntryError, event_bytes_of, parse_signed_state
from ledger.replay import SignatureCheck
from ledger.store import leaf_from_row

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PUBLIC = "public"
EVENT_TYPES = sorted(str(t) for t in CATALOGUE)


@router.get("/verification", response_class=HTMLResponse)
def verification(request: Request, ledger: LedgerDep, viewer: Viewing) -> Response:
    actor, _ = viewer
    permit(actor, INSPECTOR, PUBLIC)
    headers = Response()
    checkpoint = latest_checkpoint(ledger, headers)
    return render(
        request,
        "verification.html",
        viewer=viewer,
        title="Verification status",
        seq=checkpoint.size - 1,
        as_of_control=False,  # of the latest checkpoint
        checkpoint=checkpoint,
        last=ledger.verification_runs.latest(),
        running=ledger.verifying(),
    )


@router.post("/verification")
def verify_now(
    ledger: LedgerDep,
    viewer: Viewing,
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    actor, session = viewer
    permit(actor, INSPECTOR)
    check_csrf(session, csrf)
    ledger.start_verification(actor.person)  # one at a time: a second ask joins the first
    return RedirectResponse(f"{PREFIX}/verification", status_code=303)


@router.get("/entries", response_class=HTMLResponse)
def entries(  # noqa: PLR0917 (a page's parameters are its query's)
    request: Request,
    ledger: LedgerDep,
    viewer: Viewing,
    as_of: AsOfDep,
    event_type: Annotated[str | None, Query(alias="type", max_length=64)] = None,
    org: Annotated[str | None, Query(max_length=64)] = None,
    before: Annotated[int | None, Query(ge=0, le=2**62)] = None,
) -> Response:
    actor, _ = viewer
    permit(actor, INSPECTOR)
    if as_of.error:
        return bad_as_of(request, viewer, as_of)
    event_type = event_type or None
    org = (org or "").strip() or None
    with reporting(ledger) as reports:
        found = reports.entries(
            event_type=event_type,
            org=org,
            before=before,
            as_of=as_of.as_of,
            at_seq=as_of.at_seq,
        )
        seq = reflected_seq(ledger, found)
    signatures = _signatures(ledger, [row["seq"] for row in found["rows"]])
    for row in found["rows"]:
        row["signature"] = signatures.get(row["seq"], "missing")
    return render(
        request,
        "entries.html",
        viewer=viewer,
        title="Entries",
        seq=seq,
        as_of=as_of,
        found=found,
        event_type=event_type or "",
        org=org or "",
        event_types=EVENT_TYPES,
    )


def _signatures(ledger: Services, seqs: list[int]) -> dict[int, str]:
    """Whether each entry's signature holds under the key the log put in force."""
    keys = {k.key_id: k for k in ledger.app.trusted_keys()}
    found: dict[int, str] = {}
    for seq in seqs:
        rows = ledger.app.store.read_rows(seq, 1)
        if not rows or rows[0][0] != seq:
            continue
        _, prev, state = rows[0]
        if state is None:
            continue
        try:
            event, sig = parse_signed_state(state)
            leaf = leaf_from_row(seq, prev, state)
            key = keys.get(event["key"])
            public = Ed25519PublicKey.from_public_bytes(key.public_key) if key else None
            holds = (
                public is not None
                and SignatureCheck(seq, public, sig, event_bytes_of(leaf)).holds()
            )
        except (EntryError, KeyError, ValueError):
            holds = False
        found[seq] = "holds" if holds else "fails"
    return found


@router.get("/bundle")
def bundle(ledger: LedgerDep, viewer: Viewing) -> StreamingResponse:
    """The audit bundle, as the API gives it (GET /v1/log/bundle)."""
    actor, _ = viewer
    permit(actor, INSPECTOR)
    return audit_bundle(ledger, actor)
