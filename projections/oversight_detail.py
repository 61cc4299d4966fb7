"""What the oversight dashboard shows beside the oversight view: how long participants
waited for their first service, as a distribution, and the log of reads of protected
records (who, when, why, how many participants), page by page.

Both are as of an entry; the wait is to each participant's first recorded service. The
distribution follows the view's suppression: outside the oversight role, a bucket of 1
to 10 participants, and as many others as it takes, is shown as "suppressed"."""

from __future__ import annotations

import json
from typing import Any

from projections.db import ProjectionDB
from projections.oversight_suppression import HIDDEN, protect_lists
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
    counts: list[int | str] = [
        sum(k for d, k in waits.items() if d >= low and (high is None or d <= high))
        for _label, low, high in BUCKETS
    ]
    early: int | str = sum(k for d, k in waits.items() if d < 0)  # dated before enrolment
    served: int | str = sum(waits.values())
    if suppress:  # the buckets and the early ones add up to those served
        whole = [*counts, early]
        total_hidden, [hide] = protect_lists([[int(n) for n in whole]], int(served))
        whole = [HIDDEN if n in hide else v for n, v in enumerate(whole)]
        counts, early = whole[:-1], whole[-1]
        served = HIDDEN if total_hidden else served
    return {
        "as_of_seq": at_seq,
        "served": served,
        "before_enrolment": early,
        "buckets": [
            {"bucket": label, "participants": n}
            for (label, _low, _high), n in zip(BUCKETS, counts, strict=True)
        ],
    }


def accesses(db: ProjectionDB, *, at_seq: int | None = None, page: int = 1) -> dict[str, Any]:
    """Reads of protected records, newest first: the entry recording each, when, who
    read, why, how many participants and which fields."""
    found = _newest_first(db, "ov_accesses", "actor, purpose, participants, fields", at_seq, page)
    for row in found["rows"]:
        row["participants"] = int(row["participants"])
    return {"as_of_seq": at_seq, "accesses": found.pop("total"), **found}


def disclosures(db: ProjectionDB, *, at_seq: int | None = None, page: int = 1) -> dict[str, Any]:
    """The accounting of disclosures: every export recorded, newest first (the entry
    recording it, when, what kind, to whom, why, made how, the SHA-256 of what left)."""
    columns = "kind, recipient, purpose, parameters, sha256"
    found = _newest_first(db, "ov_exports", columns, at_seq, page)
    for row in found["rows"]:
        row["parameters"] = json.loads(row["parameters"])
    return {"as_of_seq": at_seq, "exports": found.pop("total"), **found}


def _newest_first(
    db: ProjectionDB, table: str, columns: str, at_seq: int | None, page: int
) -> dict[str, Any]:
    """One page of a table of audit records (keyed by seq), newest first, each with the
    instant of its entry; and how many there are, and pages."""
    limit, page = _limit(at_seq), max(page, 1)
    counted = db.query(f"SELECT COUNT(*) AS n FROM {table} WHERE seq < ?", (limit,))  # noqa: S608
    total = int(counted[0]["n"])
    rows = db.query(
        f"SELECT r.seq, l.at, {columns} FROM {table} r JOIN log_index l ON l.seq = r.seq"  # noqa: S608
        " WHERE r.seq < ? ORDER BY r.seq DESC LIMIT ? OFFSET ?",
        (limit, ACCESS_PAGE, (page - 1) * ACCESS_PAGE),
    )
    return {
        "total": total,
        "page": page,
        "pages": max(1, -(-total // ACCESS_PAGE)),
        "rows": [{**r, "seq": int(r["seq"])} for r in rows],
    }
