"""Verifications of the live log made on the server (the dashboard's "verify now"), kept
so that the verification page can say when the log was last verified and what was found.

A row is what the server found then, for people to read; it proves nothing itself (the
table is the operators' to edit): an inspector who doubts it verifies again, or
verifies a bundle offline with `cmpp verify --bundle`."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from domain.side_tables import SideTables

TABLES = [
    "CREATE TABLE IF NOT EXISTS verification_runs ("
    " run_id TEXT PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT NOT NULL,"
    " requested_by TEXT NOT NULL, size BIGINT NOT NULL, root TEXT, verified BIGINT NOT NULL,"
    " problems BIGINT NOT NULL, report TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS verification_runs_finished ON verification_runs (finished_at)",
]


@dataclass(frozen=True)
class VerificationRun:
    started_at: str
    finished_at: str
    requested_by: str
    size: int
    root: str | None
    verified: bool
    problems: int
    report: dict[str, Any]  # ledger.report.Report.to_json()


class VerificationRuns:
    def __init__(self, datastore: Any) -> None:
        self.tables = SideTables(datastore, TABLES)

    def record(
        self, report: dict[str, Any], *, requested_by: str, started_at: str, finished_at: str
    ) -> None:
        self.tables.execute(
            "INSERT INTO verification_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                uuid.uuid4().hex,
                started_at,
                finished_at,
                requested_by,
                int(report["size"]),
                report["root"],
                int(bool(report["verified"])),
                int(report["problems"]),
                json.dumps(report),
            ),
        )

    def latest(self) -> VerificationRun | None:
        rows = self.tables.query(
            "SELECT * FROM verification_runs ORDER BY finished_at DESC LIMIT 1"
        )
        if not rows:
            return None
        row = rows[0]
        return VerificationRun(
            started_at=str(row["started_at"]),
            finished_at=str(row["finished_at"]),
            requested_by=str(row["requested_by"]),
            size=int(row["size"]),
            root=row["root"],
            verified=bool(row["verified"]),
            problems=int(row["problems"]),
            report=json.loads(row["report"]),
        )
