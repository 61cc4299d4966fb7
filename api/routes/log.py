"""The log itself over HTTP: its signed checkpoint, proofs against it, one entry at a time
with its proof, and the inspector general's audit bundle (LEDGER_FORMAT.md sections 6 to 8).

Proofs are given only against checkpoints already issued (or the latest, which this process
issues if the log grew and it holds the log key): the API never signs a tree size a caller
picked. Every answer names, in `CMPP-As-Of-Seq`, the last seq it covers.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from api.auth import LedgerDep, PrincipalDep, allow, principal
from api.problems import ProblemError
from api.routes import archives
from api.routes.archives import EXPORT_SEQ, sent_as_archive
from api.services import Services
from domain.catalogue import ACCESS_PURPOSES
from ledger import merkle, transparency
from ledger.entry import EntryError, read_event
from ledger.errors import UserError
from ledger.export import ExportError
from ledger.hashing import b64decode, b64encode
from ledger.note import Checkpoint, VerifierKey
from ledger.store import LogStore, leaf_from_row
from ledger.tlog_proof import format_tlog_proof
from ledger.transparency import MAX_TREE_SIZE, LogSigner, ProofRequestError, StoredTreeError
from ledger.witness_client import cosigned_note, parse_witnesses
from projections.audit import record_access
from projections.commands.spec import Actor
from projections.releases import export_audit_bundle

router = APIRouter(prefix="/v1", tags=["log"])

AS_OF = "CMPP-As-Of-Seq"
AS_OF_HEADER = {
    AS_OF: {"description": "The last seq this answer covers.", "schema": {"type": "integer"}}
}
SignedIn = [Depends(principal)]
# Seqs and sizes are bounded by what a store holds (MAX_TREE_SIZE): a larger number would
# overflow its queries rather than be refused.


class CheckpointOut(BaseModel):
    """The latest signed checkpoint, and the key it verifies with."""

    size: int = Field(description="Entries the checkpoint covers (seq 0 to size - 1).")
    root: str = Field(description="The RFC 9162 root hash, base64, as in the note.")
    note: str = Field(description="The signed note, exactly; witnesses' cosignatures kept.")
    verifier_key: str = Field(description="The log's verifier key, <origin>+<hash>+<key>.")


class InclusionProof(BaseModel):
    """An RFC 9162 audit path, as `cmpp prove inclusion` writes it."""

    index: int
    tree_size: int
    leaf_hash: str = Field(description="H(0x00 ‖ leaf), base64.")
    proof: list[str] = Field(description="The audit path, leaf's sibling first, base64.")
    checkpoint: str = Field(description="The signed checkpoint of tree_size entries.")


class ConsistencyProof(BaseModel):
    """An RFC 9162 consistency proof, as `cmpp prove consistency` writes it."""

    old_size: int
    new_size: int
    proof: list[str] = Field(description="The consistency path, base64.")
    old_checkpoint: str
    new_checkpoint: str


class EntryOut(BaseModel):
    """One entry, with its inclusion proof against the latest checkpoint."""

    seq: int
    leaf: str = Field(
        description="The entry's exact canonical bytes, base64: its leaf hash is "
        "H(0x00 ‖ leaf). Check these, not `entry`."
    )
    entry: dict[str, Any] = Field(description="`leaf` parsed, for reading.")
    inclusion: InclusionProof
    tlog_proof: str = Field(
        description="The same proof as a C2SP tlog-proof: with `leaf` and a newline as the "
        "entry file, `cmpp verify-entry` checks it."
    )
    access_seq: int | None = Field(
        default=None, description="For a case entry: the seq of the record of this read."
    )


class IssuedCheckpoints(LogSigner):
    """The log's checkpoints as a reader sees them: those already issued, each checked
    against the log's verifier key. It signs none, so proofs made through it (by
    ledger.transparency, as the CLI's are) are only ever against published tree sizes."""

    def __init__(self, store: LogStore, verifier: VerifierKey) -> None:
        # LogSigner's own __init__ takes the private key, which a reader does without:
        # only checkpoint() below is used, and it signs nothing.
        self.store, self.origin, self.verifier, self.record = store, verifier.name, verifier, None

    def checkpoint(self, size: int | None = None) -> str:
        """The issued checkpoint of `size` entries (default: the largest issued)."""
        issued = self.store.checkpoints_near(MAX_TREE_SIZE if size is None else size)
        if size is None and issued:
            return self._stored(*issued[-1])
        for issued_size, note in issued:
            if issued_size == size:
                return self._stored(issued_size, note)
        if size is None:
            raise StoredTreeError("no checkpoint of this log was ever issued; run cmpp verify")
        raise ProofRequestError(
            f"no checkpoint of {size} entries was issued: ask for the size of one that was "
            "(GET /v1/checkpoint gives the latest)"
        )


def _signer(ledger: Services) -> LogSigner:
    """The log key's signer if this process holds the key, else the issued checkpoints."""
    system = ledger.system
    # System's own test of holding the log key: it reads the key store once, not per request.
    if system.holds_log_key():
        return system.log
    return _issued(ledger)


def _issued(ledger: Services) -> IssuedCheckpoints:
    return IssuedCheckpoints(ledger.app.store, ledger.app.log_verifier_key)


def _latest(ledger: Services) -> tuple[Checkpoint, str]:
    """The latest checkpoint and its note. A process holding the log key issues one first
    if the log grew, as `cmpp checkpoint` does; any other hands out the latest issued."""
    note = _signer(ledger).checkpoint()
    return Checkpoint.open(note, ledger.app.log_verifier_key), note


@router.get(
    "/checkpoint",
    response_model=CheckpointOut,
    dependencies=SignedIn,
    responses={200: {"headers": AS_OF_HEADER}},
)
def latest_checkpoint(ledger: LedgerDep, response: Response) -> CheckpointOut:
    """The log's latest signed checkpoint (any role, the public's included)."""
    checkpoint, note = _latest(ledger)
    # Kept cosignatures only of the configured witnesses, and only if they verify.
    witnesses = [w.key for w in parse_witnesses(ledger.settings.witnesses or "")]
    response.headers[AS_OF] = str(checkpoint.size - 1)
    return CheckpointOut(
        size=checkpoint.size,
        root=b64encode(checkpoint.root),
        note=cosigned_note(ledger.app.store, note, witnesses),
        verifier_key=str(ledger.app.log_verifier_key),
    )


@router.get(
    "/proofs/inclusion",
    response_model=InclusionProof,
    dependencies=SignedIn,
    responses={200: {"headers": AS_OF_HEADER}},
)
def prove_inclusion(
    ledger: LedgerDep,
    response: Response,
    seq: Annotated[int, Query(ge=0, le=MAX_TREE_SIZE, description="The entry's seq.")],
    size: Annotated[
        int | None,
        Query(ge=0, le=MAX_TREE_SIZE, description="A checkpoint's size (default: the latest)."),
    ] = None,
) -> dict[str, Any]:
    """The audit path of entry `seq` in the checkpoint of `size` entries (any role)."""
    tree_size = _latest(ledger)[0].size if size is None else size
    proof = transparency.inclusion(_issued(ledger), seq, tree_size)
    response.headers[AS_OF] = str(proof["tree_size"] - 1)
    return proof


@router.get(
    "/proofs/consistency",
    response_model=ConsistencyProof,
    dependencies=SignedIn,
    responses={200: {"headers": AS_OF_HEADER}},
)
def prove_consistency(
    ledger: LedgerDep,
    response: Response,
    first: Annotated[
        int, Query(ge=0, le=MAX_TREE_SIZE, description="The older checkpoint's size.")
    ],
    second: Annotated[
        int | None,
        Query(ge=0, le=MAX_TREE_SIZE, description="The newer one's (default: the latest)."),
    ] = None,
) -> dict[str, Any]:
    """That the checkpoint of `first` entries is a prefix of that of `second` (any role)."""
    new_size = _latest(ledger)[0].size if second is None else second
    proof = transparency.consistency(_issued(ledger), first, new_size)
    response.headers[AS_OF] = str(proof["new_size"] - 1)
    return proof


# -- one entry ------------------------------------------------------------------------


def _record_case_read(
    ledger: Services, who: Actor, event: dict[str, Any], purpose: str | None
) -> int:
    if purpose is None:
        raise ProblemError(422, "purpose-required", "a case entry is read with a purpose")
    participant = event["data"].get("participant_id")
    try:
        return record_access(
            ledger.system,
            reader=who.person,
            purpose=purpose,
            participant_ids=[participant] if isinstance(participant, str) else [],
            fields=sorted(event["data"]),
        )
    except UserError as exc:
        raise ProblemError(
            503,
            "access-not-recorded",
            f"the read could not be recorded, so it is not answered: {exc}",
        ) from None


def may_see(who: Actor, event: dict[str, Any]) -> bool:
    """Whether `who` is entitled to the entry holding `event`: the inspector general and
    oversight to all; a grantee to its own organisation's; the board and the fiscal agent
    to all but case data and the server's audit records; the public to money and keys."""
    area = str(event["type"]).partition(".")[0]
    if who.role in ("inspector", "oversight"):
        return True
    if who.role == "grantee":
        return bool(event["org"] == who.org)
    if who.role in ("board", "fiscal_agent"):
        return area not in ("case", "audit")
    if who.role == "public":
        return area in ("funds", "ledger")
    return False


@router.get(
    "/entries/{seq}",
    response_model=EntryOut,
    responses={200: {"headers": AS_OF_HEADER}},
)
def entry_with_proof(
    seq: Annotated[int, PathParam(ge=0, le=MAX_TREE_SIZE)],
    who: PrincipalDep,
    ledger: LedgerDep,
    response: Response,
    purpose: Annotated[
        Literal[ACCESS_PURPOSES] | None,  # type: ignore[valid-type]
        Query(description="Why a case entry is read (required for one): recorded with it."),
    ] = None,
) -> EntryOut:
    """Entry `seq` and its inclusion proof against the latest checkpoint, for those entitled
    to it. One they are not, or one not yet in a checkpoint, is as missing as one past the
    log's end: 404, the same answer. A case entry is a piece of someone's case history:
    it is read with a purpose, and the read is recorded in the log before it is answered."""
    latest, _note = _latest(ledger)
    hidden = ProblemError(404, "not-found", f"there is no entry {seq} you may see")
    if seq >= latest.size:
        raise hidden
    rows = ledger.app.store.read_rows(seq, 1)  # the row from `seq` on: another if it is gone
    found, prev, state = rows[0] if rows else (None, "", None)
    if found != seq or state is None:
        raise StoredTreeError(f"entry {seq} is missing from the log; run cmpp verify")
    try:
        event = read_event(state)
    except EntryError as exc:
        raise StoredTreeError(
            f"entry {seq} is not a well-formed entry ({exc}); run cmpp verify"
        ) from None
    if not may_see(who, event):
        raise hidden
    access_seq = None
    if str(event["type"]).startswith("case."):
        access_seq = _record_case_read(ledger, who, event, purpose)
    proof = transparency.inclusion(_issued(ledger), seq, latest.size)
    leaf = leaf_from_row(seq, prev, state)
    # Read apart from the entry the proof was checked against: the same bytes, or no answer.
    if b64encode(merkle.leaf_hash(leaf)) != proof["leaf_hash"]:
        raise StoredTreeError(f"entry {seq} changed while it was proved; run cmpp verify")
    response.headers[AS_OF] = str(latest.size - 1)
    path = [b64decode(p) for p in proof["proof"]]
    return EntryOut(
        seq=seq,
        leaf=b64encode(leaf),
        entry=json.loads(leaf),
        inclusion=InclusionProof(**proof),
        tlog_proof=format_tlog_proof(seq, path, proof["checkpoint"]),
        access_seq=access_seq,
    )


# -- the audit bundle -----------------------------------------------------------------


@router.get(
    "/bundle",
    response_class=StreamingResponse,
    dependencies=[Depends(allow("inspector"))],
    responses={
        200: {
            "description": "The audit bundle (LEDGER_FORMAT.md section 7) as a gzipped tar "
            "of one directory, cmpp-bundle-<size>/: unpack it and run "
            "`cmpp verify --bundle DIR --trusted-key KEY`.",
            **archives.DOCUMENTED,
            "headers": AS_OF_HEADER,
        }
    },
)
def audit_bundle(
    ledger: LedgerDep,
    actor: PrincipalDep,
    purpose: Annotated[
        Literal[ACCESS_PURPOSES],  # type: ignore[valid-type]
        Query(description="Why it is taken (recorded with the export)."),
    ] = "audit",
) -> StreamingResponse:
    """The whole log as an audit bundle, for offline verification (inspector only). It is
    recorded as exported to the person asking (`audit.ExportGenerated`, entry
    `CMPP-Export-Seq`) before it is sent."""
    with tempfile.TemporaryDirectory(prefix="cmpp-bundle-") as temporary:
        work = Path(temporary)
        try:
            manifest = export_audit_bundle(
                ledger.system,
                work / "bundle",
                recipient=actor.person,
                purpose=purpose,
                requested_by=actor.person,
                log=_signer(ledger),
            )
            name = f"cmpp-bundle-{manifest['size']}"
            seqs = {
                AS_OF: str(manifest["size"] - 1),
                EXPORT_SEQ: str(manifest["export_seq"]),
            }
            return sent_as_archive(work / "bundle", name, seqs)
        except ProofRequestError:  # only without the log key: the log grew past its checkpoint
            raise ProblemError(
                503,
                "checkpoint-not-issued",
                "the log has grown past its latest checkpoint, and this server does not hold "
                "the log key to issue one: ask again once `cmpp checkpoint` has run",
            ) from None
        except (ExportError, OSError):  # the server's disk, not the request: no path shown
            raise ProblemError(
                503, "bundle-not-written", "the server could not write the bundle: retry later"
            ) from None
