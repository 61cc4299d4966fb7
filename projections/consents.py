"""Consents as projections keep them: one table shape, and one answer to "in force on a day?".

Each projection keeps its own copy (so each can be dropped and rebuilt alone), written
by the same statements.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from projections.db import ProjectionDB


def create_table(db: ProjectionDB, table: str) -> None:
    db.execute(
        f"CREATE TABLE {table} (participant_id TEXT NOT NULL, consent_id TEXT NOT NULL,"
        " services TEXT NOT NULL, share_with TEXT NOT NULL, given_on TEXT NOT NULL,"
        " expires_on TEXT, seq BIGINT NOT NULL, withdrawn_on TEXT, withdrawn_seq BIGINT,"
        " PRIMARY KEY (participant_id, consent_id))"
    )


def record(db: ProjectionDB, table: str, seq: int, event: dict[str, Any]) -> None:
    """Apply case.ConsentGiven or case.ConsentWithdrawn; ignore anything else."""
    d = event["data"]
    if event["type"] == "case.ConsentGiven":
        db.execute(
            f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL)",  # noqa: S608
            (
                d["participant_id"],
                d["consent_id"],
                json.dumps(sorted(d["services"])),
                json.dumps(sorted(d["share_with"])),
                d["given_on"],
                d["expires_on"],
                seq,
            ),
        )
    elif event["type"] == "case.ConsentWithdrawn":
        db.execute(
            f"UPDATE {table} SET withdrawn_on = ?, withdrawn_seq = ?"  # noqa: S608
            " WHERE participant_id = ? AND consent_id = ?",
            (d["withdrawn_on"], seq, d["participant_id"], d["consent_id"]),
        )


def state(row: dict[str, Any], on: date, *, known_at: int | None = None) -> str:
    """'in force', 'not yet given', 'withdrawn' or 'expired' on day `on`, counting a
    withdrawal only if it was recorded by entry `known_at` (default: whenever)."""
    withdrawn = (
        row["withdrawn_on"]
        if (
            row["withdrawn_seq"] is not None
            and (known_at is None or row["withdrawn_seq"] <= known_at)
        )
        else None
    )
    if date.fromisoformat(row["given_on"]) > on:
        return "not yet given"
    if withdrawn is not None and on >= date.fromisoformat(withdrawn):
        return "withdrawn"
    if row["expires_on"] is not None and on > date.fromisoformat(row["expires_on"]):
        return "expired"
    return "in force"
