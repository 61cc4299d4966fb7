"""Consents as projections keep them: one table shape, and one answer to "in force on a day?".

Each projection keeps its own copy (so each can be dropped and rebuilt alone), written
by the same statements.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
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
        db.insert(
            table,
            (
                d["participant_id"],
                d["consent_id"],
                _json_list(tuple(d["services"])),
                _json_list(tuple(d["share_with"])),
                d["given_on"],
                d["expires_on"],
                seq,
                None,  # withdrawn_on
                None,  # withdrawn_seq
            ),
        )
    elif event["type"] == "case.ConsentWithdrawn":
        db.execute(
            f"UPDATE {table} SET withdrawn_on = ?, withdrawn_seq = ?"  # noqa: S608
            " WHERE participant_id = ? AND consent_id = ?",
            (d["withdrawn_on"], seq, d["participant_id"], d["consent_id"]),
        )


@dataclass(slots=True)
class Consent:
    """One consent with its dates parsed, for the checks made against many services."""

    consent_id: str
    services: frozenset[str]
    share_with: frozenset[str]
    given_on: date
    expires_on: date | None
    seq: int
    withdrawn_on: date | None = None
    withdrawn_seq: int | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Consent:
        return cls(
            row["consent_id"],
            frozenset(json.loads(row["services"])),
            frozenset(json.loads(row["share_with"])),
            date.fromisoformat(row["given_on"]),
            _day(row["expires_on"]),
            row["seq"],
            _day(row["withdrawn_on"]),
            row["withdrawn_seq"],
        )

    @classmethod
    def from_given(cls, seq: int, d: dict[str, Any]) -> Consent:
        """From a case.ConsentGiven event's data."""
        return cls(
            d["consent_id"],
            frozenset(d["services"]),
            frozenset(d["share_with"]),
            date.fromisoformat(d["given_on"]),
            _day(d["expires_on"]),
            seq,
        )

    def withdraw(self, seq: int, withdrawn_on: str) -> None:
        self.withdrawn_on, self.withdrawn_seq = date.fromisoformat(withdrawn_on), seq

    def state(self, on: date, *, known_at: int | None = None) -> str:
        """'in force', 'not yet given', 'withdrawn' or 'expired' on day `on`, counting a
        withdrawal only if it was recorded by entry `known_at` (default: whenever)."""
        if self.given_on > on:
            return "not yet given"
        if (
            self.withdrawn_on is not None
            and self.withdrawn_seq is not None
            and (known_at is None or self.withdrawn_seq <= known_at)
            and on >= self.withdrawn_on
        ):
            return "withdrawn"
        if self.expires_on is not None and on > self.expires_on:
            return "expired"
        return "in force"


@functools.lru_cache(maxsize=1024)
def _json_list(values: tuple[str, ...]) -> str:
    # Consents name services and partners from short fixed lists, so the same few
    # combinations come again and again: encode each once.
    return json.dumps(sorted(values))


def _day(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)
