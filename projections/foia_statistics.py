"""Case statistics in a FOIA release: only aggregates, by grantee and quarter.

Counted from the case-history projection as of the release's entry: participants
enrolled, consents given and withdrawn, services of each type that is not protected,
referrals, complaints and closures, each in a table of grantees by calendar quarter
with its totals. Dates go no finer than the quarter; no participant id, free text or
staff identity is in any cell. Services that are protected (mental health, trafficking
screening), screenings, and complaints that name no participant are given only as
program-wide totals. Every table is suppressed (projections.suppression): counts from 1
to 10 and their complements are shown as "suppressed".
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from domain import catalogue as c
from projections.db import ProjectionDB
from projections.suppression import TOTAL, Table, protect

HIDDEN = "suppressed"  # what a hidden cell shows
PROGRAM = "program"  # the one row of a program-wide total
PROTECTED_SERVICES = ("mental_health", "trafficking_screening")
PUBLIC_SERVICES = tuple(s for s in c.SERVICE_TYPES if s not in PROTECTED_SERVICES)
COUNTED = (
    c.PARTICIPANT_ENROLLED,
    c.CONSENT_GIVEN,
    c.CONSENT_WITHDRAWN,
    c.SERVICE_DELIVERED,
    c.REFERRAL_MADE,
    c.COMPLAINT_FILED,
    c.CASE_CLOSED,
    c.SCREENING_COMPLETED,
)


@dataclass
class Statistics:
    tables: list[Table]  # by grantee and quarter, suppressed
    program: list[Table]  # program-wide totals, each a table of one cell, suppressed

    @property
    def hidden_cells(self) -> int:
        """Cells shown as suppressed (a program total counts once)."""
        return sum(len(t.hidden) for t in self.tables) + sum(1 for t in self.program if t.hidden)

    def program_rows(self) -> list[list[str]]:
        rows = [["measure", "count"]]
        for t in self.program:
            value = t.shown()[(PROGRAM, "count")]
            rows.append([t.name, HIDDEN if value is None else str(value)])
        return rows


def quarter(day: str) -> str:
    """'2023-05-17' -> '2023-Q2'"""
    return f"{day[:4]}-Q{(int(day[5:7]) - 1) // 3 + 1}"


def statistics(db: ProjectionDB, as_of_seq: int) -> Statistics:
    counts: dict[str, Counter[tuple[str, str]]] = {}
    program: Counter[str] = Counter()
    marks = ", ".join("?" * len(COUNTED))
    sql = (  # the only text put in is the marks
        "SELECT t.type, t.on_date, t.detail, p.grantee FROM case_timeline t"  # noqa: S608
        " JOIN case_participants p ON p.participant_id = t.participant_id"
        f" WHERE t.seq <= ? AND t.type IN ({marks})"
    )
    rows = db.query(sql, (as_of_seq, *COUNTED))
    for r in rows:
        measure = _measure(r)
        if measure is None:
            continue
        if measure.startswith("program:"):
            program[measure.removeprefix("program:")] += 1
        else:
            counts.setdefault(measure, Counter())[(r["grantee"], quarter(r["on_date"]))] += 1
    unnamed = db.query(
        "SELECT COUNT(*) AS n FROM ov_complaints WHERE participant_id IS NULL AND seq <= ?",
        (as_of_seq,),
    )
    program["complaints naming no participant"] += int(unnamed[0]["n"])
    grantees = sorted({g for cells in counts.values() for g, _q in cells})
    quarters = _quarters({q for cells in counts.values() for _g, q in cells})
    tables = [
        protect(Table(name, grantees, quarters, dict(counts.get(name, Counter()))))
        for name in _measures()
    ]
    measures = [*(f"services: {s}" for s in PROTECTED_SERVICES), "screenings completed"]
    measures.append("complaints naming no participant")
    totals = [
        protect(Table(m, [PROGRAM], ["count"], {(PROGRAM, "count"): program[m]})) for m in measures
    ]
    return Statistics(tables, totals)


def _measures() -> list[str]:
    return [
        "participants enrolled",
        "consents given",
        "consents withdrawn",
        *(f"services: {s}" for s in PUBLIC_SERVICES),
        "referrals made",
        "complaints filed",
        "cases closed",
    ]


def _measure(row: dict[str, Any]) -> str | None:
    kind = row["type"]
    if kind == c.SERVICE_DELIVERED:
        service = json.loads(row["detail"])["service_type"]
        return f"{'program:' if service in PROTECTED_SERVICES else ''}services: {service}"
    return {
        c.PARTICIPANT_ENROLLED: "participants enrolled",
        c.CONSENT_GIVEN: "consents given",
        c.CONSENT_WITHDRAWN: "consents withdrawn",
        c.REFERRAL_MADE: "referrals made",
        c.COMPLAINT_FILED: "complaints filed",
        c.CASE_CLOSED: "cases closed",
        c.SCREENING_COMPLETED: "program:screenings completed",
    }.get(kind)


def _quarters(seen: set[str]) -> list[str]:
    """Every quarter from the first to the last seen, none skipped."""
    if not seen:
        return []
    year, number = int(min(seen)[:4]), int(min(seen)[-1])
    found = []
    while (q := f"{year}-Q{number}") <= max(seen):
        found.append(q)
        year, number = (year + 1, 1) if number == 4 else (year, number + 1)
    return found


def table_rows(table: Table) -> list[list[str]]:
    """A table as CSV rows: a header of its columns and total, a row per row label and
    the total row; a hidden cell shows "suppressed"."""
    shown = table.shown()
    found = [["grantee", *table.columns, TOTAL]]
    for r in [*table.rows, TOTAL]:
        cells = [shown[(r, col)] for col in [*table.columns, TOTAL]]
        found.append([r, *[HIDDEN if v is None else str(v) for v in cells]])
    return found


def file_name(table: Table) -> str:
    return table.name.replace(": ", "_").replace(" ", "_") + ".csv"
