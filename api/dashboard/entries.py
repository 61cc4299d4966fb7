"""One entry of the log as a page: its event, whether its signature holds under the key
the log put in force, and its inclusion proof against the latest checkpoint, checked
here. The same entry, and the same entitlement, as GET /v1/log/entries/{seq}; a case
entry is read with a purpose (a form: the read is recorded in the log)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import LedgerDep
from api.dashboard.viewer import PREFIX, PageNotFoundError, Viewing, check_csrf, render
from api.problems import ProblemError
from api.routes.log import EntryOut, entry_with_proof
from api.services import Services
from domain.catalogue import ACCESS_PURPOSES
from ledger import merkle
from ledger.entry import event_bytes_of
from ledger.hashing import b64decode
from ledger.merkle import ProofError
from ledger.note import Checkpoint
from ledger.replay import SignatureCheck
from ledger.trust import KeyRecord

router = APIRouter(prefix=PREFIX, include_in_schema=False)
MAX_SEQ = 2**62


def _shown(
    request: Request, ledger: Services, viewer: Any, seq: int, purpose: str | None
) -> Response:
    actor, _ = viewer
    page = Response()
    try:
        found = entry_with_proof(seq, actor, ledger, page, purpose)
    except ProblemError as exc:
        if exc.rule == "purpose-required":
            return render(
                request,
                "purpose.html",
                viewer=viewer,
                title=f"Entry {seq}",
                explanation=f"Entry {seq} is part of a participant's case history. It is "
                "shown for a stated purpose, and the read is recorded in the log.",
                action=f"{PREFIX}/entries/{seq}",
                button="Read the entry",
                purposes=ACCESS_PURPOSES,
            )
        if exc.status == 404:
            raise PageNotFoundError(f"entry {seq} you may see") from None
        raise
    return render(
        request,
        "entry.html",
        viewer=viewer,
        title=f"Entry {seq}",
        seq=int(page.headers["CMPP-As-Of-Seq"]),
        entry=found,
        as_of_control=False,  # an entry is as of no moment: it is proved against the latest
        signature=_signature(ledger, found),
        inclusion=_inclusion(ledger, found),
    )


def _signature(ledger: Services, found: EntryOut) -> dict[str, Any]:
    event = found.entry["event"]
    keys: dict[str, KeyRecord] = {k.key_id: k for k in ledger.app.trusted_keys()}
    key = keys.get(event["key"])
    if key is None:
        return {"holds": False, "says": f"key {event['key']} is not one the log put in force"}
    leaf = b64decode(found.leaf)
    check = SignatureCheck(
        found.seq,
        Ed25519PublicKey.from_public_bytes(key.public_key),
        found.entry["sig"],
        event_bytes_of(leaf),
    )
    holds = check.holds()
    return {
        "holds": holds,
        "key": key,
        "says": f"signed by key {key.key_id} of {key.actor} ({', '.join(key.roles)})"
        if holds
        else f"the signature does not verify under key {key.key_id}",
    }


def _inclusion(ledger: Services, found: EntryOut) -> dict[str, Any]:
    proof = found.inclusion
    checkpoint = Checkpoint.open(proof.checkpoint, ledger.app.log_verifier_key)
    try:
        merkle.verify_inclusion(
            proof.index,
            proof.tree_size,
            b64decode(proof.leaf_hash),
            [b64decode(p) for p in proof.proof],
            checkpoint.root,
        )
        return {"holds": True, "says": f"included in the checkpoint of {proof.tree_size} entries"}
    except ProofError as exc:
        return {"holds": False, "says": f"the inclusion proof fails: {exc}"}


Seq = Annotated[int, Path(ge=0, le=MAX_SEQ)]


@router.get("/entries/{seq}", response_class=HTMLResponse)
def entry(request: Request, ledger: LedgerDep, viewer: Viewing, seq: Seq) -> Response:
    return _shown(request, ledger, viewer, seq, None)


@router.post("/entries/{seq}", response_class=HTMLResponse)
def entry_read_with_purpose(
    *,
    request: Request,
    ledger: LedgerDep,
    viewer: Viewing,
    seq: Seq,
    purpose: Annotated[Literal[ACCESS_PURPOSES], Form()],  # type: ignore[valid-type]
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    check_csrf(viewer[1], csrf)
    return _shown(request, ledger, viewer, seq, purpose)
