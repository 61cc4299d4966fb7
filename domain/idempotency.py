"""Idempotent commands: a retried request gets the first answer, and nothing is written twice.

The answer to a command is written in the same transaction as the command's event
(ledger.alongside), keyed by the person and their Idempotency-Key: it exists exactly when
the event does, across restarts and dropped connections. Two requests racing with one
key both try to write it; the database lets one commit, the other's whole transaction
(its event included) is refused, and it then reads and returns the winner's answer.
The same key with another request is refused (the key names one request, forever).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from domain.errors import DomainError
from domain.side_tables import SideTables
from ledger import canonical
from ledger.alongside import LAST_SEQ
from ledger.entry import format_instant
from ledger.outcome import Statement

MAX_KEY_LENGTH = 255
TABLES = [
    "CREATE TABLE IF NOT EXISTS idempotent_requests ("
    " person_id TEXT NOT NULL, idem_key TEXT NOT NULL, request_sha256 TEXT NOT NULL,"
    " status INTEGER NOT NULL, response TEXT NOT NULL, seq BIGINT NOT NULL,"
    " recorded_at TEXT NOT NULL, PRIMARY KEY (person_id, idem_key))",
]


class KeyReusedError(DomainError):
    """An Idempotency-Key already used for another request."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]  # with the `seq` of the entry the command wrote

    @property
    def seq(self) -> int:
        return int(self.body["seq"])


def digest_key(secret: bytes) -> bytes:
    """The key of request digests, derived from a secret the servers hold (the vault
    key) and the database's operators do not."""
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"cmpp request digest v1").derive(secret)


def request_digest(key: bytes, command: str, body: Any) -> str:
    """What identifies a request: the command and its body, canonical (member order and
    spacing do not make another request), under a MAC key: a body may hold personal
    data (an enrolment's), and a bare hash of it would let whoever reads the table
    confirm a guessed name and date of birth."""
    message = canonical.dumps({"command": command, "body": body})
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def check_key(key: str) -> str:
    if not (0 < len(key) <= MAX_KEY_LENGTH) or not all(" " <= ch <= "~" for ch in key):
        raise DomainError(
            "idempotency-key",
            f"an Idempotency-Key is 1 to {MAX_KEY_LENGTH} printable ASCII characters",
        )
    return key


class Idempotency:
    def __init__(self, datastore: Any) -> None:
        self.tables = SideTables(datastore, TABLES)

    def row(
        self, person: str, key: str, digest: str, status: int, body: dict[str, Any]
    ) -> Statement:
        """The answer, to be written with the command's event; its seq is the entry's."""
        return (
            f"INSERT INTO idempotent_requests VALUES (?, ?, ?, ?, ?, {LAST_SEQ}, ?)",  # noqa: S608
            (person, key, digest, status, json.dumps(body), format_instant(datetime.now(UTC))),
        )

    def answer(self, person: str, key: str, digest: str) -> Answer | None:
        """The first answer to this request, or None if it was never recorded. The same
        key with another request is refused."""
        rows = self.tables.query(
            "SELECT request_sha256, status, response, seq FROM idempotent_requests"
            " WHERE person_id = ? AND idem_key = ?",
            (person, key),
        )
        if not rows:
            return None
        row = rows[0]
        if row["request_sha256"] != digest:
            raise KeyReusedError(
                "idempotency-key-reused",
                "this Idempotency-Key was used for another request: use a new key for a "
                "new request",
            )
        return Answer(int(row["status"]), {**json.loads(row["response"]), "seq": int(row["seq"])})
