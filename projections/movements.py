"""Money over time, read from the balances projection: an award's movements one by one
(each with the entry it came from), and the program's flows month by month.

The dashboard's award page and chart read these, and so can anyone else: each answer
is as of an entry, like every report (rows of later entries are not read).
"""

from __future__ import annotations

from typing import Any

from projections.db import ProjectionDB

PAGE_SIZE = 50


def _limit(at_seq: int | None) -> int:
    return (at_seq + 1) if at_seq is not None else 2**62


def award_movements(
    db: ProjectionDB, award_id: str, *, at_seq: int | None = None, page: int = 1
) -> dict[str, Any]:
    """One page (PAGE_SIZE rows, newest first) of an award's movements: each with its
    seq, its kind, the balance it moves and by how much, and when it was recorded."""
    limit = _limit(at_seq)
    total = db.query(
        "SELECT COUNT(*) AS n FROM bal_movements WHERE award_id = ? AND seq < ?",
        (award_id, limit),
    )[0]["n"]
    rows = db.query(
        "SELECT m.seq, m.kind, m.field, m.amount_cents, m.on_date, l.at FROM bal_movements m"
        " JOIN log_index l ON l.seq = m.seq WHERE m.award_id = ? AND m.seq < ?"
        " ORDER BY m.seq DESC LIMIT ? OFFSET ?",
        (award_id, limit, PAGE_SIZE, (max(page, 1) - 1) * PAGE_SIZE),
    )
    return {
        "award_id": award_id,
        "page": max(page, 1),
        "pages": max(1, -(-int(total) // PAGE_SIZE)),
        "movements": int(total),
        "rows": [
            {
                "seq": int(r["seq"]),
                "kind": r["kind"],
                "field": r["field"],
                "amount": int(r["amount_cents"]),
                "on": r["on_date"],
                "recorded_at": r["at"],
            }
            for r in rows
        ],
    }


def monthly_flows(
    db: ProjectionDB, *, at_seq: int | None = None, grantee: str | None = None
) -> dict[str, Any]:
    """Per grantee, per month the money moved (paid, spent, received): cents disbursed
    (net of reversals and refunds) and expended; `grantee` keeps to one. `months` runs
    from the first month anything moved to the last, months without a movement included."""
    where = "m.seq < ?"
    args: list[Any] = [_limit(at_seq)]
    if grantee is not None:
        where += " AND a.grantee = ?"
        args.append(grantee)
    rows = db.query(
        "SELECT a.grantee, SUBSTR(m.on_date, 1, 7) AS month, m.field,"  # noqa: S608
        " SUM(m.amount_cents) AS cents FROM bal_movements m"
        " JOIN bal_awards a ON a.award_id = m.award_id"
        f" WHERE {where} AND m.field IN ('disbursed', 'reversed', 'refunded', 'expended')"
        " GROUP BY a.grantee, SUBSTR(m.on_date, 1, 7), m.field ORDER BY month",
        tuple(args),
    )
    flows: dict[str, dict[str, dict[str, int]]] = {}
    for r in rows:
        month = flows.setdefault(r["grantee"], {}).setdefault(
            r["month"], {"disbursed": 0, "expended": 0}
        )
        cents = int(r["cents"])
        if r["field"] == "expended":
            month["expended"] += cents
        else:
            month["disbursed"] += cents if r["field"] == "disbursed" else -cents
    moved = sorted({m for per in flows.values() for m in per})
    # Every month from the first to the last, so that a chart's axis keeps time evenly.
    return {"months": _months_between(moved[0], moved[-1]) if moved else [], "grantees": flows}


def _months_between(first: str, last: str) -> list[str]:
    """'2023-11', '2024-02' -> ['2023-11', '2023-12', '2024-01', '2024-02']"""
    year, month = int(first[:4]), int(first[5:7])
    months = []
    while (found := f"{year:04d}-{month:02d}") <= last:
        months.append(found)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months
