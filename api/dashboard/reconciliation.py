"""Reconciliation as a page (fiscal agent, inspector): upload a bank's payment file and
see each category with its rows. The file is read and matched by the API's own functions
(`read_payment_file`, then `Reports.reconcile` under `reporting`), as of now, exactly as
POST /v1/reconciliations does; nothing is written to the ledger."""

from __future__ import annotations

from typing import Annotated, Any, NamedTuple

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from api.auth import LedgerDep
from api.dashboard.viewer import PREFIX, Viewing, check_csrf, permit, render
from api.routes.reports import MAX_UPLOAD_BYTES, TOO_LARGE, reporting
from domain.catalogue import FISCAL_AGENT, INSPECTOR
from projections.reconcile import PaymentFileError, read_payment_file

router = APIRouter(prefix=PREFIX, include_in_schema=False)
RECONCILERS = (FISCAL_AGENT, INSPECTOR)  # as the API's `Reconciler`
TITLE = "Reconcile a payment file"
# A page of a few hundred thousand rows helps no one: each table shows this many, and
# says how many it holds (the summary's counts and totals are of every row).
SHOWN_ROWS = 1000


class Category(NamedTuple):
    name: str  # as the API names it
    heading: str
    means: str
    sides: tuple[str, ...]  # whose amounts its rows carry: the ledger's, the bank's
    columns: tuple[str, ...]  # besides the payment reference


BOTH = (
    "line",
    "award_id",
    "disbursement_id",
    "grantee",
    "payee",
    "ledger_paid_on",
    "bank_paid_on",
    "ledger_amount_cents",
    "bank_amount_cents",
)
# The problems first, the matched last.
CATEGORIES = (
    Category(
        "mismatched",
        "Amount or date differs",
        "In the bank file and in the ledger under the same reference, with another amount "
        "or another date.",
        ("ledger", "bank"),
        BOTH,
    ),
    Category(
        "missing_from_ledger",
        "Missing from the ledger",
        "Paid by the bank, with no disbursement of that reference in the ledger.",
        ("bank",),
        ("line", "payee", "bank_paid_on", "bank_amount_cents"),
    ),
    Category(
        "missing_from_bank",
        "Missing from the bank file",
        "Disbursed in the ledger (and not reversed), but not in the bank file.",
        ("ledger",),
        ("award_id", "disbursement_id", "grantee", "ledger_paid_on", "ledger_amount_cents"),
    ),
    Category(
        "duplicates",
        "Duplicates in the file",
        "A reference the file holds again after its first line; only the first is matched.",
        ("bank",),
        ("line", "first_line", "payee", "bank_paid_on", "bank_amount_cents"),
    ),
    Category(
        "paid_after_reversal",
        "Paid after a reversal",
        "Paid by the bank although the ledger reversed the disbursement.",
        ("ledger", "bank"),
        BOTH,
    ),
    Category(
        "matched",
        "Matched",
        "In the bank file and in the ledger, with the same amount and the same date.",
        ("ledger", "bank"),
        (
            "line",
            "award_id",
            "disbursement_id",
            "grantee",
            "payee",
            "ledger_paid_on",
            "ledger_amount_cents",
        ),
    ),
)
HEADINGS = {
    "line": "Line in the file",
    "first_line": "First on line",
    "award_id": "Award",
    "disbursement_id": "Disbursement",
    "grantee": "Grantee",
    "payee": "Payee (bank)",
    "ledger_paid_on": "Paid on (ledger)",
    "bank_paid_on": "Paid on (bank)",
    "ledger_amount_cents": "Amount (ledger)",
    "bank_amount_cents": "Amount (bank)",
}


def _page(request: Request, viewer: Any, **context: Any) -> Response:
    return render(
        request,
        "reconciliation.html",
        viewer=viewer,
        title=TITLE,
        as_of_control=False,  # a reconciliation is of now
        max_mib=MAX_UPLOAD_BYTES >> 20,
        **context,
    )


def _form(request: Request, viewer: Any, error: str | None = None, status: int = 200) -> Response:
    return _page(request, viewer, status=status, error=error, result=None)


def _drawn(answer: dict[str, Any], category: Category) -> dict[str, Any]:
    """A category as the page draws it: its rows (the first SHOWN_ROWS), and its count
    and totals; the total of a side its rows have no amount on is none, not $0.00."""
    totals = answer["totals"][category.name]
    return {
        "name": category.name,
        "heading": category.heading,
        "means": category.means,
        "columns": [(key, HEADINGS[key], key.endswith("_cents")) for key in category.columns],
        "rows": answer[category.name][:SHOWN_ROWS],
        "count": totals["count"],
        **{
            f"{side}_cents": totals[f"{side}_cents"] if side in category.sides else None
            for side in ("ledger", "bank")
        },
    }


@router.get("/reconciliation", response_class=HTMLResponse)
def reconciliation_form(request: Request, viewer: Viewing) -> Response:
    actor, _ = viewer
    permit(actor, *RECONCILERS)
    return _form(request, viewer)


@router.post("/reconciliation", response_class=HTMLResponse)
def reconciliation(
    *,
    request: Request,
    ledger: LedgerDep,
    viewer: Viewing,
    file: Annotated[UploadFile | None, File()] = None,
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    actor, session = viewer
    check_csrf(session, csrf)
    permit(actor, *RECONCILERS)
    if file is None:
        return _form(request, viewer, "Choose a payment file to upload.", 422)
    data = file.file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        return render(
            request,
            "error.html",
            viewer=viewer,
            title="Too large",
            status=413,
            as_of_control=False,
            message=f"That file is too large: {TOO_LARGE}.",
        )
    try:
        payments = read_payment_file(data)
    except PaymentFileError as exc:
        return _form(request, viewer, f"That file cannot be read: {exc}", 422)
    with reporting(ledger) as reports:
        answer = reports.reconcile(payments).to_json()
        seq = ledger.projected_seq()
    categories = [_drawn(answer, category) for category in CATEGORIES]
    return _page(
        request,
        viewer,
        seq=seq,
        error=None,
        result={"clean": answer["clean"], "categories": categories},
        filename=file.filename or "the file",
        payments=len(payments),
    )
