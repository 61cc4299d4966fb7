"""A grantee's own case figures: its participants enrolled, their consents given,
withdrawn and in force, and its services by type, as of an entry. Counts only, and only
of the grantee's own participants (the oversight projection's rows, filtered by the
grantee that enrolled each participant)."""

from __future__ import annotations

from typing import Any

from projections.db import ProjectionDB


def own_figures(db: ProjectionDB, grantee: str, *, at_seq: int | None = None) -> dict[str, Any]:
    limit = (at_seq + 1) if at_seq is not None else 2**62
    enrolled = db.query(
        "SELECT COUNT(*) AS n FROM ov_participants WHERE grantee = ? AND seq < ?",
        (grantee, limit),
    )[0]["n"]
    consents = db.query(
        "SELECT COUNT(*) AS given,"
        " COALESCE(SUM(CASE WHEN withdrawn_seq < ? THEN 1 ELSE 0 END), 0) AS withdrawn"
        " FROM ov_consents WHERE seq < ? AND participant_id IN"
        " (SELECT participant_id FROM ov_participants WHERE grantee = ? AND seq < ?)",
        (limit, limit, grantee, limit),
    )[0]
    services = db.query(
        "SELECT service_type, COUNT(*) AS n FROM ov_services WHERE grantee = ? AND seq < ?"
        " GROUP BY service_type ORDER BY service_type",
        (grantee, limit),
    )
    return {
        "grantee": grantee,
        "as_of_seq": at_seq,
        "participants_enrolled": int(enrolled),
        "consents_given": int(consents["given"]),
        "consents_withdrawn": int(consents["withdrawn"]),
        "services_by_type": {r["service_type"]: int(r["n"]) for r in services},
    }
