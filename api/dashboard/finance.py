"""The money pages: the program at a glance, an award, a grantee's own.

Each page asks the same reports the API answers (api.routes.reports), cut down by the
same rule (a grantee sees its own money only), as of the page's `as of`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import LedgerDep
from api.dashboard import charts
from api.dashboard.viewer import (
    PREFIX,
    AsOf,
    AsOfDep,
    Paged,
    PageDep,
    PageNotFoundError,
    Viewing,
    bad_as_of,
    permit,
    render,
)
from api.routes.reports import FINANCE_READERS, as_seen_by, reflected_seq, reporting
from api.services import Services
from domain.catalogue import GRANTEE
from projections.balances import SF425_LINES
from projections.commands.spec import Actor

router = APIRouter(prefix=PREFIX, include_in_schema=False)

SF425_NAMES = {
    "10a": "Cash receipts",
    "10b": "Cash disbursements",
    "10c": "Cash on hand (a − b)",
    "10d": "Total federal funds authorised",
    "10e": "Federal share of expenditures",
    "10f": "Federal share of unliquidated obligations",
    "10g": "Total federal share (e + f)",
    "10h": "Unobligated balance of federal funds (d − g)",
}


def _cut(as_of: AsOf) -> dict[str, Any]:
    return {"as_of": as_of.as_of, "at_seq": as_of.at_seq}


def _balances(ledger: Services, actor: Actor, as_of: AsOf) -> tuple[int, dict[str, Any]]:
    with reporting(ledger) as reports:
        answer = reports.balances(**_cut(as_of))
        seq = reflected_seq(ledger, answer)
    return seq, as_seen_by(actor, answer)


def _flows(ledger: Services, as_of: AsOf, grantee: str | None) -> dict[str, Any]:
    with reporting(ledger) as reports:
        return reports.monthly_flows(grantee=grantee, **_cut(as_of))


@router.get("/program", response_class=HTMLResponse)
def program(
    request: Request, ledger: LedgerDep, viewer: Viewing, as_of: AsOfDep, page: PageDep = 1
) -> Response:
    actor, _ = viewer
    permit(actor, *(r for r in FINANCE_READERS if r != GRANTEE))
    if as_of.error:
        return bad_as_of(request, viewer, as_of)
    seq, answer = _balances(ledger, actor, as_of)
    chart = charts.flows_over_time(
        _flows(ledger, as_of, None), "Disbursed and expended to date, by grantee (dollars)"
    )
    return render(
        request,
        "program.html",
        viewer=viewer,
        title="The program at a glance",
        seq=seq,
        as_of=as_of,
        balances=answer,
        awards=Paged(answer["awards"], page),
        chart=chart,
    )


@router.get("/awards/{award_id}", response_class=HTMLResponse)
def award(
    *,
    request: Request,
    ledger: LedgerDep,
    viewer: Viewing,
    as_of: AsOfDep,
    award_id: Annotated[str, Path(max_length=64)],
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    actor, _ = viewer
    permit(actor, *FINANCE_READERS)
    if as_of.error:
        return bad_as_of(request, viewer, as_of)
    seq, answer = _balances(ledger, actor, as_of)
    found = next((a for a in answer["awards"] if a["award_id"] == award_id), None)
    if found is None:  # another grantee's award is as missing as one never made
        raise PageNotFoundError(f"award {award_id}")
    with reporting(ledger) as reports:
        movements = reports.award_movements(award_id, page=page, **_cut(as_of))
    return render(
        request,
        "award.html",
        viewer=viewer,
        title=f"Award {award_id}",
        seq=seq,
        as_of=as_of,
        award=found,
        lines=[(line, SF425_NAMES[line], found["sf425"][line]) for line in SF425_LINES],
        movements=movements,
    )


@router.get("/grantee", response_class=HTMLResponse)
def grantee(
    request: Request, ledger: LedgerDep, viewer: Viewing, as_of: AsOfDep, page: PageDep = 1
) -> Response:
    """A grantee's own page: its awards, its money over time, its participants' figures."""
    actor, _ = viewer
    permit(actor, GRANTEE)
    if as_of.error:
        return bad_as_of(request, viewer, as_of)
    seq, answer = _balances(ledger, actor, as_of)
    with reporting(ledger) as reports:
        figures = reports.grantee_figures(actor.org, **_cut(as_of))
    totals = next((g for g in answer["grantees"] if g["grantee"] == actor.org), None)
    chart = charts.flows_over_time(
        _flows(ledger, as_of, actor.org), "Drawn down and expended to date (dollars)"
    )
    services = charts.bars("Services by type", figures["services_by_type"])
    return render(
        request,
        "grantee.html",
        viewer=viewer,
        title=f"{actor.org}: awards and participants",
        seq=seq,
        as_of=as_of,
        balances=answer,
        awards=Paged(answer["awards"], page),
        totals=totals,
        figures=figures,
        chart=chart,
        services_chart=services,
    )
