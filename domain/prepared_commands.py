"""Commands prepared for people who sign them with keys of their own (ledger.prepared).

Between the two steps the prepared event waits here: its exact bytes, the rows to write
beside it, the answer the command will give, and until when it may be signed. A
prepared command is named by its person and idempotency key, so preparing again with
the same key gives the same event back (and another request with that key is refused).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.idempotency import KeyReusedError
from domain.side_tables import SideTables
from ledger import canonical
from ledger.entry import format_instant
from ledger.outcome import Statement
from ledger.prepared import PreparedEvent

# The writers refuse an instant 300 s away from their clock (LEDGER_FORMAT.md section 2):
# a prepared event must be signed and sent back well within that.
SIGNING_WINDOW = timedelta(seconds=240)
TABLES = [
    "CREATE TABLE IF NOT EXISTS prepared_commands ("
    " prepared_id TEXT PRIMARY KEY, person_id TEXT NOT NULL, request_sha256 TEXT NOT NULL,"
    " command TEXT NOT NULL, answer TEXT NOT NULL, event_bytes {blob} NOT NULL,"
    " statements TEXT NOT NULL, expires_at TEXT NOT NULL)",
]


@dataclass(frozen=True)
class PreparedCommand:
    prepared_id: str
    person_id: str
    command: str
    answer: dict[str, Any]
    event: PreparedEvent
    expires_at: str

    @property
    def expired(self) -> bool:
        return self.expires_at <= format_instant(datetime.now(UTC))


def prepared_id_for(person: str, key: str) -> str:
    return hashlib.sha256(f"{person}\n{key}".encode()).hexdigest()[:32]


def _encode(statements: list[Statement]) -> str:
    def value(v: Any) -> Any:
        return {"b64": base64.b64encode(v).decode()} if isinstance(v, bytes | bytearray) else v

    return json.dumps([[sql, [value(p) for p in params]] for sql, params in statements])


def _decode(text: str) -> list[Statement]:
    def value(v: Any) -> Any:
        return base64.b64decode(v["b64"]) if isinstance(v, dict) else v

    return [(sql, tuple(value(p) for p in params)) for sql, params in json.loads(text)]


class PreparedCommands:
    def __init__(self, datastore: Any) -> None:
        self.tables = SideTables(datastore, TABLES)

    def keep(
        self,
        person: str,
        key: str,
        *,
        digest: str,
        command: str,
        answer: dict[str, Any],
        event: PreparedEvent,
    ) -> PreparedCommand:
        prepared_id = prepared_id_for(person, key)
        expires = format_instant(datetime.now(UTC) + SIGNING_WINDOW)
        # Insert-if-absent: of two preparations racing with one key, one is kept.
        self.tables.execute(
            "INSERT INTO prepared_commands VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (prepared_id) DO NOTHING",
            (
                prepared_id,
                person,
                digest,
                command,
                json.dumps(answer),
                event.event_bytes,
                _encode(event.statements),
                expires,
            ),
        )
        kept = self.find(person, key, digest)
        assert kept is not None
        return kept

    def find(self, person: str, key: str, digest: str) -> PreparedCommand | None:
        """The command prepared under this key; another request with it is refused."""
        found = self.get(prepared_id_for(person, key), person)
        if found is not None and self._digest(found.prepared_id) != digest:
            raise KeyReusedError(
                "idempotency-key-reused",
                "this Idempotency-Key was used to prepare another request: use a new key",
            )
        return found

    def _digest(self, prepared_id: str) -> str:
        rows = self.tables.query(
            "SELECT request_sha256 FROM prepared_commands WHERE prepared_id = ?", (prepared_id,)
        )
        return str(rows[0]["request_sha256"])

    def get(self, prepared_id: str, person: str) -> PreparedCommand | None:
        """The prepared command `prepared_id`, if it is `person`'s (no one else's shows)."""
        rows = self.tables.query(
            "SELECT * FROM prepared_commands WHERE prepared_id = ? AND person_id = ?",
            (prepared_id, person),
        )
        if not rows:
            return None
        row = rows[0]
        event_bytes = bytes(row["event_bytes"])
        event = PreparedEvent(canonical.loads(event_bytes), event_bytes, _decode(row["statements"]))
        return PreparedCommand(
            row["prepared_id"],
            row["person_id"],
            row["command"],
            json.loads(row["answer"]),
            event,
            row["expires_at"],
        )
