"""Bearer tokens: shown once to the person they are for, kept only as a hash.

A token is `cmpp_` and 32 random bytes (base64url). The table keeps its SHA-256, a short
id for people to name it by (the first 12 hex digits of the hash), and when it was made,
expires and (if so) was revoked. Revocation and expiry take effect on the next request:
every request looks its token up.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.errors import DomainError
from domain.side_tables import SideTables
from ledger.entry import format_instant

PREFIX = "cmpp_"
MAX_LIFETIME = timedelta(days=366)
TABLES = [
    "CREATE TABLE IF NOT EXISTS access_tokens ("
    " token_sha256 TEXT PRIMARY KEY, token_id TEXT NOT NULL, person_id TEXT NOT NULL,"
    " created_at TEXT NOT NULL, expires_at TEXT NOT NULL, revoked_at TEXT)",
    "CREATE INDEX IF NOT EXISTS access_tokens_id ON access_tokens (token_id)",
]


@dataclass(frozen=True)
class Issued:
    token: str  # shown once, never stored
    token_id: str
    person_id: str
    expires_at: str


@dataclass(frozen=True)
class TokenRecord:
    token_id: str
    person_id: str
    created_at: str
    expires_at: str
    revoked_at: str | None


def token_digest(token: str) -> str:
    """What the table keeps of a token: its SHA-256."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


class Tokens:
    def __init__(self, datastore: Any) -> None:
        self.tables = SideTables(datastore, TABLES)

    def issue(self, person_id: str, lifetime: timedelta) -> Issued:
        if not timedelta(0) < lifetime <= MAX_LIFETIME:
            raise DomainError("token-lifetime", "a token lives between 1 second and 366 days")
        token = PREFIX + secrets.token_urlsafe(32)
        digest = token_digest(token)
        now = _now()
        expires = format_instant(now + lifetime)
        # A fresh random hash: repeating the insert after a dropped connection is harmless.
        self.tables.execute(
            "INSERT INTO access_tokens VALUES (?, ?, ?, ?, ?, NULL)"
            " ON CONFLICT (token_sha256) DO NOTHING",
            (digest, digest[:12], person_id, format_instant(now), expires),
        )
        return Issued(token, digest[:12], person_id, expires)

    def holder(self, token: str) -> str | None:
        """The person a token in force is for; None for any other token (unknown,
        expired, revoked, malformed), all alike."""
        if not token.startswith(PREFIX) or len(token) > 200:
            return None
        digest = token_digest(token)
        rows = self.tables.query(
            "SELECT token_sha256, person_id, expires_at, revoked_at FROM access_tokens"
            " WHERE token_sha256 = ?",
            (digest,),
        )
        if not rows or not hmac.compare_digest(rows[0]["token_sha256"], digest):
            return None
        row = rows[0]
        if row["revoked_at"] is not None or row["expires_at"] <= format_instant(_now()):
            return None
        return str(row["person_id"])

    def revoke(self, token_id: str) -> int:
        """Revoke the token(s) named `token_id`; how many were in force."""
        return self.tables.execute(
            "UPDATE access_tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL",
            (format_instant(_now()), token_id),
        )

    def revoke_all(self, person_id: str) -> int:
        return self.tables.execute(
            "UPDATE access_tokens SET revoked_at = ? WHERE person_id = ? AND revoked_at IS NULL",
            (format_instant(_now()), person_id),
        )

    def of(self, person_id: str) -> list[TokenRecord]:
        rows = self.tables.query(
            "SELECT token_id, person_id, created_at, expires_at, revoked_at FROM access_tokens"
            " WHERE person_id = ? ORDER BY created_at",
            (person_id,),
        )
        return [TokenRecord(**dict(row)) for row in rows]
