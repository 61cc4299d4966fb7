"""Dashboard sessions: a browser signed in with a person's token.

Signing in trades the token for a session: a random id held in an HttpOnly cookie, of
which the table keeps only the SHA-256 (whoever reads the table cannot sign in). A
session lasts SESSION_LIFETIME, or until its token expires or is revoked, or until
sign-out deletes it: each request looks the session up together with its token. Each
session has its own CSRF token, which every form that changes anything carries.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.side_tables import SideTables
from domain.tokens import Tokens, token_digest
from ledger.entry import format_instant

SESSION_LIFETIME = timedelta(hours=8)
TABLES = [
    "CREATE TABLE IF NOT EXISTS dashboard_sessions ("
    " session_sha256 TEXT PRIMARY KEY, token_sha256 TEXT NOT NULL, person_id TEXT NOT NULL,"
    " csrf TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT NOT NULL)",
]


@dataclass(frozen=True)
class Session:
    person_id: str
    csrf: str
    expires_at: str


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


def _now() -> str:
    return format_instant(datetime.now(UTC))


class Sessions:
    def __init__(self, datastore: Any, tokens: Tokens) -> None:
        self.tables = SideTables(datastore, TABLES)
        self.tokens = tokens

    def open(self, token: str) -> tuple[str, Session] | None:
        """A new session for the holder of `token` (None if it is not in force): the
        session id for the cookie, shown here once, and the session."""
        person_id = self.tokens.holder(token)
        if person_id is None:
            return None
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        expires = format_instant(now + SESSION_LIFETIME)
        row = (_digest(session_id), token_digest(token), person_id, csrf, format_instant(now))
        self.tables.execute(
            "INSERT INTO dashboard_sessions VALUES (?, ?, ?, ?, ?, ?)", (*row, expires)
        )
        return session_id, Session(person_id, csrf, expires)

    def find(self, session_id: str) -> Session | None:
        """The session, if it and its token are both in force; None for any other."""
        if not session_id or len(session_id) > 100:
            return None
        digest = _digest(session_id)
        rows = self.tables.query(
            "SELECT s.session_sha256, s.person_id, s.csrf, s.expires_at"
            " FROM dashboard_sessions s JOIN access_tokens t"
            " ON t.token_sha256 = s.token_sha256"
            " WHERE s.session_sha256 = ? AND s.expires_at > ? AND t.expires_at > ?"
            " AND t.revoked_at IS NULL",
            (digest, now := _now(), now),
        )
        if not rows or not hmac.compare_digest(rows[0]["session_sha256"], digest):
            return None
        row = rows[0]
        return Session(str(row["person_id"]), str(row["csrf"]), str(row["expires_at"]))

    def close(self, session_id: str) -> None:
        self.tables.execute(
            "DELETE FROM dashboard_sessions WHERE session_sha256 = ?", (_digest(session_id),)
        )

    def forget_expired(self) -> int:
        return self.tables.execute(
            "DELETE FROM dashboard_sessions WHERE expires_at <= ?", (_now(),)
        )


def same_csrf(session: Session, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(session.csrf.encode(), given.encode())
