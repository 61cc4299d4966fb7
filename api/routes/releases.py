"""A FOIA release over HTTP: the public's download of what `cmpp export foia` writes."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from api.auth import LedgerDep, PrincipalDep
from api.problems import ProblemError, status_of
from api.routes import archives
from api.routes.archives import EXPORT_SEQ, sent_as_archive
from api.routes.reports import AS_OF_HEADER, AsOf, AtSeq
from ledger.export import ExportError
from ledger.transparency import ProofRequestError
from projections.foia import export_foia
from projections.runner import ProjectionError

router = APIRouter(prefix="/v1", tags=["releases"])
RequestNumber = Annotated[
    str,
    Query(
        pattern=r"^FOIA-[0-9]{4}-[0-9]{1,8}$",
        description="The FOIA request's number (FOIA-2026-0001): the release's recipient.",
    ),
]


@router.get(
    "/foia-release",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "A FOIA release (public money in full with inclusion proofs, "
            "case statistics suppressed, the withholding index) as a gzipped tar of one "
            "directory: check it with `cmpp verify-foia DIR --trusted-key KEY`.",
            **archives.DOCUMENTED,
        }
    },
)
def foia_release(
    ledger: LedgerDep,
    who: PrincipalDep,
    request: RequestNumber,
    as_of: AsOf = None,
    at_seq: AtSeq = None,
) -> StreamingResponse:
    """A FOIA release as of an entry or instant (now by default), for any signed-in role,
    the public's included: it holds nothing withheld. It is recorded as a disclosure to
    the request (`CMPP-Export-Seq`) before it is sent."""
    with tempfile.TemporaryDirectory(prefix="cmpp-foia-") as temporary:
        work = Path(temporary) / "release"
        try:
            manifest = export_foia(
                ledger.system,
                work,
                request=request,
                as_of=as_of,
                at_seq=at_seq,
                requested_by=who.person,
            )
            seqs = {
                AS_OF_HEADER: str(manifest["as_of_seq"]),
                EXPORT_SEQ: str(manifest["export_seq"]),
            }
            return sent_as_archive(work, f"cmpp-foia-{request}", seqs)
        except ProjectionError as exc:
            detail = str(exc).replace("--at-seq", "at_seq").replace("--as-of", "as_of")
            raise ProblemError(status_of(exc.rule), exc.rule, detail) from None
        except ProofRequestError:
            raise ProblemError(
                503,
                "checkpoint-not-issued",
                "this server does not hold the log key to sign the release's checkpoint: "
                "ask for the release from one that does",
            ) from None
        except (ExportError, OSError):  # the server's disk, not the request: no path shown
            raise ProblemError(
                503, "release-not-written", "the server could not write the release: retry later"
            ) from None
