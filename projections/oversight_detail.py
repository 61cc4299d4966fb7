"""What the oversight dashboard shows beside the oversight view: how long participants
waited for their first service, as a distribution, and the log of reads of protected
records (who, when, why, how many participants), page by page.

Both are as of an entry; the wait is to each participant's first recorded service. The
distribution follows the view's suppression rule: outside the oversight role, a bucket
of 1 to 10 participants is shown as "<11"."""

from __future__ import annotations

import json
from typing import Any

from projections.db import ProjectionDB
from projections.oversight import SMALL_CELL
from projections.oversight_tally import tally_at

# Days from enrolment to first service: (label, first day, last day or None).
BUCKETS = (
    ("0–7 days", 0, 7),
    ("8–14 days", 8, 14),
    ("15–30 days", 15, 30),
    ("31–60 days", 31, 60),
    ("61–90 days", 61, 90),
    ("over 90 days", 91, None),
)
ACCESS_PAGE = 50


def _limit(at_seq: int | None) -> int:
    return (at_seq + 1) if at_seq is not None else 2**62


def days_to_first_service(
    db: ProjectionDB, *, at_seq: int | None = None, suppress: bool = False
) -> dict[str, Any]:
    waits = tally_at(db, _limit(at_seq)).waits["service"]
    counts = []
    for label, low, high in BUCKETS:
        n = sum(k for d, k in waits.items() if d >= low and (high is None or d <= high))
        counts.append({"bucket": label, "participants": _cell(n, suppress)})
    early = sum(k for d, k in waits.items() if d < 0)  # a service dated before enrolment
    return {
        "as_of_seq": at_seq,
        "served": _cell(sum(waits.values()), suppress),
        "before_enrolment": _cell(early, suppress),
        "buckets": counts,
    }


def _cell(n: int, suppress: bool) -> int | str:
    return "<11" if suppress and 0 < n < SMALL_CELL else n


def accesses(db: ProjectionDB, *, at_seq: int | None = None, page: int = 1) -> dict[str, Any]:
    """Reads of protected records, newest first: the entry recording each, when, who
    read, why, how many participants and which fields."""
    limit = _limit(at_seq)
    total = int(db.query("SELECT COUNT(*) AS n FROM ov_accesses WHERE seq < ?", (limit,))[0]["n"])
    page = max(page, 1)
    rows = db.query(
        "SELECT a.seq, l.at, a.actor, a.purpose, a.participants, a.fields FROM ov_accesses a"
        " JOIN log_index l ON l.seq = a.seq WHERE a.seq < ? ORDER BY a.seq DESC"
        " LIMIT ? OFFSET ?",
        (limit, ACCESS_PAGE, (page - 1) * ACCESS_PAGE),
    )
    return {
        "as_of_seq": at_seq,
        "accesses": total,
        "page": page,
        "pages": max(1, -(-total // ACCESS_PAGE)),
        "rows": [
            {
                "seq": int(r["seq"]),
                "at": r["at"],
                "actor": r["actor"],
                "purpose": r["purpose"],
                "participants": int(r["participants"]),
                "fields": r["fields"],
            }
            for r in rows
        ],
    }


def disclosures(db: ProjectionDB, *, at_seq: int | None = None, page: int = 1) -> dict[str, Any]:
    """The accounting of disclosures: every export recorded, newest first (the entry
    recording it, when, what kind, to whom, why, made how, the SHA-256 of what left)."""
    limit = _limit(at_seq)
    total = int(db.query("SELECT COUNT(*) AS n FROM ov_exports WHERE seq < ?", (limit,))[0]["n"])
    page = max(page, 1)
    rows = db.query(
        "SELECT e.seq, l.at, e.kind, e.recipient, e.purpose, e.parameters, e.sha256"
        " FROM ov_exports e JOIN log_index l ON l.seq = e.seq WHERE e.seq < ?"
        " ORDER BY e.seq DESC LIMIT ? OFFSET ?",
        (limit, ACCESS_PAGE, (page - 1) * ACCESS_PAGE),
    )
    return {
        "as_of_seq": at_seq,
        "exports": total,
        "page": page,
        "pages": max(1, -(-total // ACCESS_PAGE)),
        "rows": [
            {
                "seq": int(r["seq"]),
                "at": r["at"],
                "kind": r["kind"],
                "recipient": r["recipient"],
                "purpose": r["purpose"],
                "parameters": json.loads(r["parameters"]),
                "sha256": r["sha256"],
            }
            for r in rows
        ],
    }
