"""People: each registered under an organisation, with a key of their own, signing as themselves.

What the log says of a person (DESIGN.md section 6) is their key: `ledger.KeyRegistered`
names the person's stable id (`user:irc:4f7a…`, never a name), their organisation and
role, board-signed. Their name and contact details are personal data: sealed in the
vault under the person's id, the directory keeping only the commitment. The directory
row (custody, commitment) is written in the key registration's own transaction.

Who a person is at any moment, and whether they may act, is always read from the keys
as the log's entries make them: a person whose key was revoked (suspended) is no one.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from domain.errors import DomainError
from domain.side_tables import SideTables
from ledger.alongside import LAST_SEQ
from ledger.outcome import Statement
from ledger.trust import KeyRecord

SERVER, CLIENT = "server", "client"
CUSTODY = (SERVER, CLIENT)  # who keeps the person's private key
PERSON_ROLES = ("board", "fiscal_agent", "grantee", "oversight", "inspector", "public")

TABLES = [
    "CREATE TABLE IF NOT EXISTS people ("
    " person_id TEXT PRIMARY KEY, org TEXT NOT NULL, role TEXT NOT NULL,"
    " custody TEXT NOT NULL, profile_sha256 TEXT, registered_seq BIGINT NOT NULL)",
]


@dataclass(frozen=True)
class Person:
    """A person as the log's keys make them, with how their key is kept."""

    person_id: str
    org: str
    role: str
    custody: str
    key: KeyRecord | None  # their key in force; None once suspended

    @property
    def active(self) -> bool:
        return self.key is not None


def new_person_id(org: str) -> str:
    """A stable, random id under the organisation's name: never derived from the person."""
    return f"user:{org.removeprefix('org:')}:{secrets.token_hex(4)}"


class PeopleDirectory:
    def __init__(self, datastore: Any) -> None:
        self.tables = SideTables(datastore, TABLES)

    def row(
        self, person_id: str, org: str, role: str, custody: str, profile_sha256: str | None
    ) -> Statement:
        """The directory row, to be written with the key registration (ledger.alongside)."""
        if custody not in CUSTODY:
            raise DomainError("custody", f"custody is {' or '.join(CUSTODY)}, not {custody!r}")
        if role not in PERSON_ROLES:
            raise DomainError("role", f"a person's role is one of {', '.join(PERSON_ROLES)}")
        return (
            f"INSERT INTO people VALUES (?, ?, ?, ?, ?, {LAST_SEQ})",  # noqa: S608 (a constant)
            (person_id, org, role, custody, profile_sha256),
        )

    def find(self, person_id: str, keys: list[KeyRecord]) -> Person | None:
        """The person `person_id` with their key in force (from `keys`, the log's own)."""
        rows = self.tables.query("SELECT * FROM people WHERE person_id = ?", (person_id,))
        if not rows:
            return None
        return _person(rows[0], keys)

    def everyone(self, keys: list[KeyRecord], org: str | None = None) -> list[Person]:
        if org is None:
            rows = self.tables.query("SELECT * FROM people ORDER BY person_id")
        else:
            rows = self.tables.query(
                "SELECT * FROM people WHERE org = ? ORDER BY person_id", (org,)
            )
        return [_person(row, keys) for row in rows]

    def profile_commitment(self, person_id: str) -> str | None:
        rows = self.tables.query(
            "SELECT profile_sha256 FROM people WHERE person_id = ?", (person_id,)
        )
        return None if not rows else rows[0]["profile_sha256"]


def _person(row: Any, keys: list[KeyRecord]) -> Person:
    """The person as their key in force makes them: its holder is their organisation and
    its role theirs. The row's own copies are an index, which whoever runs the database
    could edit; only custody (how the key is kept) is the row's to say."""
    pid = row["person_id"]
    in_force = [k for k in keys if k.person == pid and k.revoked_seq is None]
    key = max(in_force, key=lambda k: k.registered_seq, default=None)
    if key is None:
        return Person(pid, row["org"], row["role"], row["custody"], None)
    return Person(pid, key.holder, key.roles[0], row["custody"], key)
