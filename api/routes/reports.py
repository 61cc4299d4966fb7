"""Reports over HTTP: balances, SF-425, case histories, the oversight view, reconciliation.

Every answer comes from the projections, caught up first (so an answer given after a
POST reflects it), one report at a time (`Services.reports`), and says in the header
`CMPP-As-Of-Seq` which entry it reflects: the last entry of an as-of answer, or else the
last entry every projection had reached when answering.

Who sees what. A grantee sees its own awards and its own figures only: another grantee's
award or organisation is not found, exactly like a missing one, and the program-wide
figures that would reveal other grantees' money (appropriations' totals and unobligated
balances, control totals) are withheld from it; the appropriations funding its awards
are shown as enacted. A case history is read with a stated purpose (a code), and the
read is recorded in the log (`audit.RecordsAccessed`) before anything is answered. The
oversight view leaves the oversight and inspector roles only suppressed, and never
reaches a grantee.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Path, Query, Request, Response, UploadFile
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message

from api.auth import LedgerDep, allow
from api.commands import IdempotencyKey
from api.problems import ProblemError, problem, status_of
from api.services import Services
from domain.catalogue import ACCESS_PURPOSES, FISCAL_AGENT, GRANTEE, INSPECTOR, OVERSIGHT
from ledger.catalogue import BOARD
from ledger.errors import NotFoundError, UserError
from ledger.transparency import MAX_TREE_SIZE
from projections import anchors
from projections.audit import record_access
from projections.commands.models import Id
from projections.commands.spec import Actor
from projections.reconcile import read_payment_file
from projections.reports import Reports
from projections.runner import ProjectionError

router = APIRouter(prefix="/v1", tags=["reports"])
AS_OF_HEADER = "CMPP-As-Of-Seq"
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # a payment file, with its multipart envelope
TOO_LARGE = f"an upload is at most {MAX_UPLOAD_BYTES} bytes (10 MiB)"
FINANCE_READERS = (BOARD, FISCAL_AGENT, OVERSIGHT, INSPECTOR, GRANTEE)
APPROPRIATION_AS_ENACTED = ("appropriation_id", "fiscal_year", "public_law", "amount")

Reader = Annotated[Actor, Depends(allow(*FINANCE_READERS))]
CaseReader = Annotated[Actor, Depends(allow(GRANTEE, OVERSIGHT, INSPECTOR))]
# Program-wide case figures: a grantee is not among their readers, since even suppressed,
# the view moves with another grantee's every enrolment, consent and complaint (and
# `at_seq` would let it be read one entry at a time). A grantee's own figures are its own.
OversightReader = Annotated[Actor, Depends(allow(BOARD, FISCAL_AGENT, OVERSIGHT, INSPECTOR))]
Reconciler = Annotated[Actor, Depends(allow(FISCAL_AGENT, INSPECTOR))]
AsOf = Annotated[
    str | None,
    Query(
        max_length=40,
        description="An instant (2024-03-31T23:59:59.999999Z), or a date for its end.",
    ),
]
AtSeq = Annotated[
    int | None,
    Query(ge=0, le=MAX_TREE_SIZE, description="The state once entry N had been applied."),
]
Purpose = Annotated[
    Literal[ACCESS_PURPOSES],  # type: ignore[valid-type]
    Query(
        description="Why the records are read: a code of the published list. Recorded in "
        "the log with the read, so it never holds personal data.",
    ),
]


# -- answers: typed at their top level; a report's own nested members pass as they are --


class CheckpointCovering(BaseModel):
    size: int
    root: str  # base64


class Anchor(BaseModel):
    """What ties a report to the signed log (projections.anchors)."""

    seq: int  # the entry the report reflects
    checkpoint: CheckpointCovering | None  # the first issued checkpoint covering it
    digest: str  # sha256:<hex> of JCS({"seq", "report"}), recomputable from a bundle


class Answer(BaseModel):
    model_config = ConfigDict(extra="allow")

    as_of_seq: int | None
    rests_on: dict[str, Any] | None
    anchor: Anchor | None = None


class AwardBalance(BaseModel):
    award_id: str
    appropriation_id: str
    grantee: str
    method: str
    period_start: str
    period_end: str
    closed: bool
    authorised: int
    disbursed: int
    reversed: int
    refunded: int
    expended: int
    cash_on_hand: int
    remaining: int
    sf425: dict[str, int]


class GranteeBalance(BaseModel):
    grantee: str
    awards: int
    authorised: int
    disbursed: int
    reversed: int
    refunded: int
    expended: int
    cash_on_hand: int
    remaining: int


class BalancesAnswer(Answer):
    scope: str  # "program", or the one grantee the answer is cut down to
    appropriations: list[dict[str, Any]]
    awards: list[AwardBalance]
    grantees: list[GranteeBalance]
    control_totals: dict[str, dict[str, int]] | None  # None: withheld from a grantee


class Sf425Answer(Answer):
    award_id: str
    grantee: str
    appropriation_id: str
    period_start: str
    period_end: str
    sf425: dict[str, int]


class GranteeBalancesAnswer(Answer):
    grantee: str
    totals: GranteeBalance
    awards: list[AwardBalance]


class CaseHistoryAnswer(Answer):
    participant_id: str
    grantee: str
    timeline: list[dict[str, Any]]
    access_seq: int  # the entry recording this read


class OversightAnswer(Answer):
    suppressed: bool
    participants: int | str
    consent: dict[str, Any]
    services_without_valid_consent: dict[str, Any]
    referrals_without_release: dict[str, Any]
    median_days: dict[str, Any]
    language_access: dict[str, Any]
    complaints: dict[str, Any]
    disparities: dict[str, list[dict[str, Any]]]
    protected_record_accesses: dict[str, int | str]


class ReconciliationAnswer(BaseModel):
    clean: bool
    totals: dict[str, dict[str, int]]
    matched: list[dict[str, Any]]
    missing_from_ledger: list[dict[str, Any]]
    missing_from_bank: list[dict[str, Any]]
    mismatched: list[dict[str, Any]]
    duplicates: list[dict[str, Any]]
    paid_after_reversal: list[dict[str, Any]]


# -- one report at a time, and the entry its answer reflects -----------------------------


@contextmanager
def reporting(ledger: Services) -> Iterator[Reports]:
    try:
        with ledger.reports() as reports:
            yield reports
    except ProjectionError as exc:
        # The reports name the command line's options; over HTTP they are query parameters.
        detail = str(exc).replace("--at-seq", "at_seq").replace("--as-of", "as_of")
        raise ProblemError(status_of(exc.rule), exc.rule, detail) from None


def reflected_seq(ledger: Services, answer: dict[str, Any]) -> int:
    """The entry an answer reflects; asked while the report lock is still held."""
    rests_on = answer.get("rests_on")
    return int(rests_on["last_seq"]) if rests_on else ledger.projected_seq()


def as_seen_by(who: Actor, answer: dict[str, Any]) -> dict[str, Any]:
    """The balances cut down to what `who` may see (a grantee: its own money only)."""
    if who.role != GRANTEE:
        return {**answer, "scope": "program"}
    awards = [a for a in answer["awards"] if a["grantee"] == who.org]
    funding = {a["appropriation_id"] for a in awards}
    # Its anchor's digest is of what the grantee is shown.
    return anchors.restamped(
        {
            **answer,
            "scope": who.org,
            "awards": awards,
            "grantees": [g for g in answer["grantees"] if g["grantee"] == who.org],
            "appropriations": [
                {k: p[k] for k in APPROPRIATION_AS_ENACTED}
                for p in answer["appropriations"]
                if p["appropriation_id"] in funding
            ],
            "control_totals": None,
        }
    )


def balances_as_seen(
    ledger: Services, who: Actor, response: Response, as_of: str | None, at_seq: int | None
) -> dict[str, Any]:
    with reporting(ledger) as reports:
        answer = reports.balances(as_of=as_of, at_seq=at_seq)
        response.headers[AS_OF_HEADER] = str(reflected_seq(ledger, answer))
    return as_seen_by(who, answer)


@router.get("/balances", response_model=BalancesAnswer)
def get_balances(
    *,
    request: Request,
    who: Reader,
    ledger: LedgerDep,
    response: Response,
    as_of: AsOf = None,
    at_seq: AtSeq = None,
) -> Any:
    """Balances per appropriation, award and grantee, with SF-425 lines 10a to 10h."""
    if as_of is not None or at_seq is not None:
        return balances_as_seen(ledger, who, response, as_of, at_seq)
    # Now: the most asked question, answered from what was last said while the log has
    # not grown (one read of its head), already checked against the model and encoded.
    scope = who.org if who.role == GRANTEE else "program"

    def make() -> tuple[int, bytes]:
        headers: Response = Response()
        answer = balances_as_seen(ledger, who, headers, None, None)
        body = BalancesAnswer.model_validate(answer).model_dump_json().encode()
        return int(headers.headers[AS_OF_HEADER]), body

    seq, body = ledger.current(("balances", scope), make, request.state.log_size)
    return Response(body, media_type="application/json", headers={AS_OF_HEADER: str(seq)})


@router.get("/awards/{award_id}/sf425", response_model=Sf425Answer)
def get_award_sf425(
    *,
    award_id: Annotated[Id, Path(description="The award's id, e.g. A-2022-007.")],
    who: Reader,
    ledger: LedgerDep,
    response: Response,
    as_of: AsOf = None,
    at_seq: AtSeq = None,
) -> dict[str, Any]:
    """An award's SF-425 (Federal Financial Report) lines 10a to 10h."""
    answer = balances_as_seen(ledger, who, response, as_of, at_seq)
    for award in answer["awards"]:
        if award["award_id"] == award_id:
            facts = ("award_id", "grantee", "appropriation_id", "period_start", "period_end")
            return {k: award[k] for k in (*facts, "sf425")} | {
                "as_of_seq": answer["as_of_seq"],
                "rests_on": answer["rests_on"],
            }
    # Another grantee's award is answered as a missing one, word for word.
    raise NotFoundError(f"award {award_id} does not exist")


@router.get("/grantees/{org_id}/balances", response_model=GranteeBalancesAnswer)
def get_grantee_balances(
    *,
    org_id: Annotated[Id, Path(description="The grantee's organisation, e.g. org:irc.")],
    who: Reader,
    ledger: LedgerDep,
    response: Response,
    as_of: AsOf = None,
    at_seq: AtSeq = None,
) -> dict[str, Any]:
    """A grantee's figures and its awards'. An organisation with no award is not found,
    except by itself (its figures are then zero)."""
    answer = balances_as_seen(ledger, who, response, as_of, at_seq)
    awards = [a for a in answer["awards"] if a["grantee"] == org_id]
    totals = next((g for g in answer["grantees"] if g["grantee"] == org_id), None)
    if totals is None:
        if org_id != who.org:
            raise NotFoundError(f"no grantee {org_id} with an award")
        totals = {f: 0 for f in GranteeBalance.model_fields} | {"grantee": org_id}
    return {
        "as_of_seq": answer["as_of_seq"],
        "rests_on": answer["rests_on"],
        "grantee": org_id,
        "totals": totals,
        "awards": awards,
    }


@router.get("/participants/{participant_id}/history", response_model=CaseHistoryAnswer)
def get_case_history(
    *,
    participant_id: Annotated[Id, Path(description="The participant's random id.")],
    purpose: Purpose,
    who: CaseReader,
    ledger: LedgerDep,
    response: Response,
    as_of: AsOf = None,
    at_seq: AtSeq = None,
) -> dict[str, Any]:
    """A participant's timeline, with the consents in force at each moment. The read is
    recorded in the log first; if it cannot be, nothing is answered."""
    grantee = who.org if who.role == GRANTEE else None  # another's participant: not found
    with reporting(ledger) as reports:
        answer = reports.case_history(participant_id, grantee=grantee, as_of=as_of, at_seq=at_seq)
        seq = reflected_seq(ledger, answer)
    disclosed = {"grantee", *(k for row in answer["timeline"] for k in row["detail"])}
    try:
        answer["access_seq"] = record_access(
            ledger.system,
            reader=who.person,
            purpose=purpose,
            participant_ids=[participant_id],
            fields=sorted(disclosed),
        )
    except UserError as exc:  # e.g. no system key, and none can be registered here
        raise ProblemError(
            503,
            "access-not-recorded",
            f"the read could not be recorded, so it is not answered: {exc}",
        ) from None
    response.headers[AS_OF_HEADER] = str(seq)
    return answer


@router.get("/oversight", response_model=OversightAnswer)
def get_oversight(
    who: OversightReader,
    ledger: LedgerDep,
    response: Response,
    as_of: AsOf = None,
    at_seq: AtSeq = None,
) -> dict[str, Any]:
    """The civil-rights oversight view; counts of 1 to 10 suppressed outside oversight
    and the inspector general."""
    with reporting(ledger) as reports:
        suppress = who.role not in (OVERSIGHT, INSPECTOR)
        answer = reports.oversight(as_of=as_of, at_seq=at_seq, suppress=suppress)
        response.headers[AS_OF_HEADER] = str(reflected_seq(ledger, answer))
    return answer


# -- reconciliation: an upload, refused above its size before it is read in full --------


class UploadTooLargeError(StarletteHTTPException):
    def __init__(self) -> None:
        super().__init__(413, TOO_LARGE)


class LimitedUploadRoute(APIRoute):
    """A route refusing a body over MAX_UPLOAD_BYTES with a 413 problem: before reading
    it if its Content-Length says so, else as soon as it has sent that much."""

    def get_route_handler(self) -> Any:
        handler = super().get_route_handler()

        async def limited(request: Request) -> Response:
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
                return _too_large(request)
            received = 0

            async def receive() -> Message:
                nonlocal received
                message = await request.receive()
                received += len(message.get("body", b""))
                if received > MAX_UPLOAD_BYTES:
                    raise UploadTooLargeError
                return message

            try:
                return await handler(Request(request.scope, receive))
            except UploadTooLargeError:  # an HTTP error, so the form parser lets it through
                return _too_large(request)

        return limited


def _too_large(request: Request) -> Response:
    return problem(413, "upload-too-large", TOO_LARGE, request.url.path)


def reconcile_payments(
    file: Annotated[UploadFile, File(description="CSV: payment_ref,paid_on,amount_cents,payee")],
    who: Reconciler,
    ledger: LedgerDep,
    key: IdempotencyKey,
    response: Response,
) -> dict[str, Any]:
    """Match a bank payment file against the ledger's disbursements (fiscal agent,
    inspector). Nothing is written: a retry with the same Idempotency-Key recomputes."""
    # `who` admits the roles; `key` is required as on every POST. The upload is parsed
    # before either is checked (FastAPI reads a form first), within its size limit.
    payments = read_payment_file(file.file.read(MAX_UPLOAD_BYTES + 1))
    with reporting(ledger) as reports:
        result = reports.reconcile(payments)
        response.headers[AS_OF_HEADER] = str(ledger.projected_seq())
    return result.to_json()


router.add_api_route(
    "/reconciliations",
    reconcile_payments,
    methods=["POST"],
    response_model=ReconciliationAnswer,
    route_class_override=LimitedUploadRoute,
)
