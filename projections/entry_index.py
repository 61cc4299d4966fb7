"""The inspector's entry browser: entries found by type and organisation, newest first,
a page at a time (keyset: the page after `before` starts below that seq, so a deep page
of a million entries costs what the first does)."""

from __future__ import annotations

from typing import Any

from projections.db import ProjectionDB

PAGE = 50


def find_entries(
    db: ProjectionDB,
    *,
    event_type: str | None = None,
    org: str | None = None,
    before: int | None = None,
    at_seq: int | None = None,
) -> dict[str, Any]:
    """Up to PAGE entries below `before` (and at or below `at_seq`), newest first."""
    upper = min(
        before if before is not None else 2**62, (at_seq + 1) if at_seq is not None else 2**62
    )
    where: list[str] = ["seq < ?"]
    args: list[Any] = [upper]
    if event_type:
        where.append("type = ?")
        args.append(event_type)
    if org:
        where.append("org = ?")
        args.append(org)
    rows = db.query(
        "SELECT seq, at, type, org FROM log_index WHERE "  # noqa: S608 (fixed column names)
        + " AND ".join(where)
        + " ORDER BY seq DESC LIMIT ?",
        (*args, PAGE + 1),
    )
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    return {
        "as_of_seq": at_seq,
        "rows": [
            {"seq": int(r["seq"]), "at": r["at"], "type": r["type"], "org": r["org"]} for r in rows
        ],
        "next_before": int(rows[-1]["seq"]) if more and rows else None,
    }
