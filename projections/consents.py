"""Consents as projections keep them: one table shape; "in force on a day?" is domain.consents.

Each projection keeps its own copy (so each can be dropped and rebuilt alone), written
by the same statements.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from domain import catalogue as c
from domain.consents import consent_state
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
    if event["type"] == c.CONSENT_GIVEN:
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
    elif event["type"] == c.CONSENT_WITHDRAWN:
        db.execute(
            f"UPDATE {table} SET withdrawn_on = ?, withdrawn_seq = ?"  # noqa: S608
            " WHERE participant_id = ? AND consent_id = ?",
            (d["withdrawn_on"], seq, d["participant_id"], d["consent_id"]),
        )


@dataclass(slots=True)
class Consent:
    """One consent as a projection knows it, for the checks made against many services.
    Dates are ISO strings, as the events hold them (they order as the days do)."""

    consent_id: str
    services: frozenset[str]
    share_with: frozenset[str]
    given_on: str
    expires_on: str | None
    seq: int
    withdrawn_on: str | None = None
    withdrawn_seq: int | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Consent:
        return cls(
            row["consent_id"],
            frozenset(json.loads(row["services"])),
            frozenset(json.loads(row["share_with"])),
            row["given_on"],
            row["expires_on"],
            row["seq"],
            row["withdrawn_on"],
            row["withdrawn_seq"],
        )

    @classmethod
    def from_given(cls, seq: int, d: dict[str, Any]) -> Consent:
        """From a case.ConsentGiven event's data."""
        return cls(
            d["consent_id"],
            frozenset(d["services"]),
            frozenset(d["share_with"]),
            d["given_on"],
            d["expires_on"],
            seq,
        )

    def withdraw(self, seq: int, withdrawn_on: str) -> None:
        self.withdrawn_on, self.withdrawn_seq = withdrawn_on, seq

    def state(self, on: str, *, known_at: int | None = None) -> str:
        """Its state on day `on` (domain.consents), counting a withdrawal only if it was
        recorded by entry `known_at` (default: whenever)."""
        known = self.withdrawn_seq is not None and (
            known_at is None or self.withdrawn_seq <= known_at
        )
        return consent_state(
            on, self.given_on, self.expires_on, self.withdrawn_on if known else None
        )


@functools.lru_cache(maxsize=1024)
def _json_list(values: tuple[str, ...]) -> str:
    # Consents name services and partners from short fixed lists, so the same few
    # combinations come again and again: encode each once.
    return json.dumps(sorted(values))
