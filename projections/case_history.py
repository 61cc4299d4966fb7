"""Case histories: a participant's timeline, with the consents in force at each moment.

Scoped to the participant's own grantee: asked by anyone else, a participant does not
exist (the API turns that into a 404). Personal data is never here: only what the
signed events carry.
"""

from __future__ import annotations

import json
from typing import Any

from domain import catalogue as c
from domain.catalogue import CASE_TYPES
from domain.consents import IN_FORCE
from ledger.errors import NotFoundError
from projections import consents
from projections.db import ProjectionDB


class CaseHistoryNotFoundError(NotFoundError, LookupError):
    """No such participant for this grantee (or none at all)."""


class CaseHistory:
    name = "case_history"
    version = 2
    types = CASE_TYPES
    tables: tuple[str, ...] = (
        "case_participants",
        "case_consents",
        "case_timeline",
        "case_complaints",
    )

    def create(self, db: ProjectionDB) -> None:
        db.execute(
            "CREATE TABLE case_participants (participant_id TEXT PRIMARY KEY,"
            " grantee TEXT NOT NULL, enrolled_on TEXT NOT NULL, language TEXT NOT NULL,"
            " seq BIGINT NOT NULL)"
        )
        consents.create_table(db, "case_consents")
        db.execute(
            f"CREATE TABLE case_timeline (seq {db.seq_key},"
            " participant_id TEXT NOT NULL, type TEXT NOT NULL, on_date TEXT,"
            " detail TEXT NOT NULL)"
        )
        db.execute("CREATE INDEX case_timeline_participant ON case_timeline (participant_id, seq)")
        db.execute(
            "CREATE TABLE case_complaints (complaint_id TEXT PRIMARY KEY,"
            " participant_id TEXT NOT NULL)"
        )

    def apply(self, db: ProjectionDB, seq: int, event: dict[str, Any]) -> None:
        kind, d = event["type"], event["data"]
        if d.get("participant_id") is None:
            if kind == c.COMPLAINT_RESOLVED:
                self._complaint_resolution(db, seq, d)
            return
        pid = d["participant_id"]
        if kind == c.PARTICIPANT_ENROLLED:
            db.insert(
                "case_participants",
                (pid, d["grantee"], d["enrolled_on"], d["language"], seq),
            )
        elif kind in (c.CONSENT_GIVEN, c.CONSENT_WITHDRAWN):
            consents.record(db, "case_consents", seq, event)
        elif kind == c.COMPLAINT_FILED:
            db.insert("case_complaints", (d["complaint_id"], pid))
        # The data came from canonical (JCS) bytes, so its keys are already in a fixed
        # order: plain json.dumps is deterministic, and much faster than sort_keys.
        db.insert(
            "case_timeline",
            (seq, pid, kind, _day(kind, d), json.dumps(d)),
        )

    @staticmethod
    def _complaint_resolution(db: ProjectionDB, seq: int, d: dict[str, Any]) -> None:
        # A resolution names the complaint, not the participant: find whose it was.
        rows = db.query(
            "SELECT participant_id FROM case_complaints WHERE complaint_id = ?",
            (d["complaint_id"],),
        )
        if rows:
            db.insert(
                "case_timeline",
                (
                    seq,
                    rows[0]["participant_id"],
                    str(c.COMPLAINT_RESOLVED),
                    d["resolved_on"],
                    json.dumps(d),
                ),
            )

    def digest_queries(self) -> list[str]:
        return [
            "SELECT * FROM case_participants ORDER BY participant_id",
            "SELECT * FROM case_consents ORDER BY participant_id, consent_id",
            "SELECT * FROM case_timeline ORDER BY seq",
            "SELECT * FROM case_complaints ORDER BY complaint_id",
        ]


def _day(kind: str, d: dict[str, Any]) -> str | None:
    """The date the event is about, as the catalogue names it."""
    member = c.CATALOGUE[kind].on
    return None if member is None else str(d[member])


def history(
    db: ProjectionDB, participant_id: str, *, grantee: str | None, at_seq: int | None = None
) -> dict[str, Any]:
    """The timeline as known once entry `at_seq` was applied; `grantee` None means oversight."""
    limit = (at_seq + 1) if at_seq is not None else 2**62
    rows = db.query(
        "SELECT * FROM case_participants WHERE participant_id = ? AND seq < ?",
        (participant_id, limit),
    )
    if not rows or (grantee is not None and rows[0]["grantee"] != grantee):
        raise CaseHistoryNotFoundError(f"no participant {participant_id}")
    given = [
        consents.Consent.from_row(row)
        for row in db.query(
            "SELECT * FROM case_consents WHERE participant_id = ? AND seq < ? ORDER BY seq",
            (participant_id, limit),
        )
    ]
    timeline = []
    for row in db.query(
        "SELECT * FROM case_timeline WHERE participant_id = ? AND seq < ? ORDER BY seq",
        (participant_id, limit),
    ):
        on = row["on_date"]
        # Every consent recorded by this entry, and its state on the entry's own date.
        states = {
            c.consent_id: c.state(on, known_at=row["seq"])
            for c in given
            if c.seq <= row["seq"] and on is not None
        }
        in_force = [
            {
                "consent_id": c.consent_id,
                "services": sorted(c.services),
                "share_with": sorted(c.share_with),
            }
            for c in given
            if states.get(c.consent_id) == IN_FORCE
        ]
        timeline.append(
            {
                "seq": row["seq"],
                "type": row["type"],
                "on": on,
                "detail": {
                    k: v for k, v in json.loads(row["detail"]).items() if k != "participant_id"
                },
                "consent_states": states,
                "consents_in_force": in_force,
            }
        )
    return {
        "participant_id": participant_id,
        "grantee": rows[0]["grantee"],
        "as_of_seq": at_seq,
        "timeline": timeline,
    }
