"""Which services an expenditure paid for, kept beside the log, committed to by the entry.

An expenditure is public money: its entry is released whole, with its inclusion proof,
to anyone who asks (a FOIA release). The services it paid for are case records, so the
entry carries only `services_sha256` = H(salt ‖ JCS(service ids, sorted)), and the ids
and salt are written here in the same transaction. An inspector holding this row checks
it against the signed entry (`ExpenditureServices.opened`); without the salt the
commitment says nothing about which services, or how many.
"""

from __future__ import annotations

import json
import os
from base64 import b64decode, b64encode
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from domain.side_tables import SideTables
from domain.vault import commitment
from ledger import alongside

TABLES = [
    "CREATE TABLE IF NOT EXISTS expenditure_services ("
    " award_id TEXT NOT NULL, expenditure_id TEXT NOT NULL, salt TEXT NOT NULL,"
    " service_ids TEXT NOT NULL, services_sha256 TEXT NOT NULL,"
    " PRIMARY KEY (award_id, expenditure_id))",  # an expenditure id is unique per award
]


@dataclass(frozen=True)
class ServicesPaid:
    award_id: str
    expenditure_id: str
    service_ids: list[str]
    salt: str  # base64
    services_sha256: str

    def matches(self, committed: str | None) -> bool:
        """Whether these ids and salt are what an entry's `services_sha256` commits to."""
        value = commitment(b64decode(self.salt), self.service_ids)
        return committed is not None and value == committed == self.services_sha256


class ExpenditureServices:
    def __init__(self, datastore: Any) -> None:
        self.tables = SideTables(datastore, TABLES)

    @staticmethod
    @contextmanager
    def committed(
        expenditure_id: str, award_id: str, service_ids: list[str]
    ) -> Iterator[str | None]:
        """Yield the commitment for the expenditure recorded inside the block (None when it
        names no service); its row is written with that event, or not at all."""
        if not service_ids:
            yield None
            return
        ids = sorted(service_ids)  # as named, a repeated id included
        salt = os.urandom(16)
        digest = commitment(salt, ids)
        row = (award_id, expenditure_id, b64encode(salt).decode(), json.dumps(ids), digest)
        statement = ("INSERT INTO expenditure_services VALUES (?, ?, ?, ?, ?)", row)
        with alongside.staged([statement]):
            yield digest

    def opened(self, award_id: str, expenditure_id: str) -> ServicesPaid | None:
        rows = self.tables.query(
            "SELECT * FROM expenditure_services WHERE award_id = ? AND expenditure_id = ?",
            (award_id, expenditure_id),
        )
        return _paid(rows[0]) if rows else None

    def all(self) -> list[ServicesPaid]:
        rows = self.tables.query(
            "SELECT * FROM expenditure_services ORDER BY award_id, expenditure_id"
        )
        return [_paid(row) for row in rows]


def _paid(row: Any) -> ServicesPaid:
    return ServicesPaid(
        str(row["award_id"]),
        str(row["expenditure_id"]),
        list(json.loads(row["service_ids"])),
        str(row["salt"]),
        str(row["services_sha256"]),
    )
