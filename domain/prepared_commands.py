"""Commands prepared for people who sign them with keys of their own (ledger.prepared).

Between the two steps the prepared event waits here: its exact bytes, the rows to write
beside it, the answer the command will give, and until when it may be signed. A
prepared command is named by its person and idempotency key, so preparing again with
the same key gives the same event back (and another request with that key is refused).

Whoever runs the database could edit a row here, and the rows to write beside an event
are run as they are found: each row carries a MAC under a key the servers hold and the
database's operators do not (derived from the vault key), and a row whose MAC does not
verify is refused. A row lives only until it is written or expires, and the rows of a
participant go when they are erased: a prepared enrolment holds their sealed data and
its wrapped key, which must not outlive the erasure.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.idempotency import KeyReusedError
from domain.side_tables import SideTables
from ledger import canonical
from ledger.entry import format_instant
from ledger.outcome import Statement
from ledger.prepared import PreparedEvent, PreparedEventError

# The writers refuse an instant 300 s away from their clock (LEDGER_FORMAT.md section 2):
# a prepared event must be signed and sent back well within that.
SIGNING_WINDOW = timedelta(seconds=240)
TABLES = [
    "CREATE TABLE IF NOT EXISTS prepared_commands ("
    " prepared_id TEXT PRIMARY KEY, person_id TEXT NOT NULL, request_sha256 TEXT NOT NULL,"
    " command TEXT NOT NULL, answer TEXT NOT NULL, event_bytes {blob} NOT NULL,"
    " statements TEXT NOT NULL, expires_at TEXT NOT NULL, subject TEXT, mac TEXT NOT NULL)",
]
COLUMNS = (
    "prepared_id",
    "person_id",
    "request_sha256",
    "command",
    "answer",
    "event_bytes",
    "statements",
    "expires_at",
    "subject",
)


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
        return self.expires_at <= _now()


def _now() -> str:
    return format_instant(datetime.now(UTC))


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
    def __init__(self, datastore: Any, mac_key: bytes) -> None:
        self.tables = SideTables(datastore, TABLES)
        self._mac_key = mac_key

    def _mac(self, values: tuple[Any, ...]) -> str:
        fields = {
            name: base64.b64encode(v).decode() if isinstance(v, bytes | bytearray) else v
            for name, v in zip(COLUMNS, values, strict=True)
        }
        return hmac.new(self._mac_key, canonical.dumps(fields), hashlib.sha256).hexdigest()

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
        self.sweep()
        subject = event.event["data"].get("participant_id")
        values = (
            prepared_id_for(person, key),
            person,
            digest,
            command,
            json.dumps(answer),
            event.event_bytes,
            _encode(event.statements),
            format_instant(datetime.now(UTC) + SIGNING_WINDOW),
            subject if isinstance(subject, str) else None,
        )
        # Insert-if-absent: of two preparations racing with one key, one is kept.
        self.tables.execute(
            "INSERT INTO prepared_commands VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (prepared_id) DO NOTHING",
            (*values, self._mac(values)),
        )
        kept = self.find(person, key, digest)
        assert kept is not None
        return kept

    def find(self, person: str, key: str, digest: str) -> PreparedCommand | None:
        """The command prepared under this key; another request with it is refused."""
        row = self._row(prepared_id_for(person, key), person)
        if row is not None and row["request_sha256"] != digest:
            raise KeyReusedError(
                "idempotency-key-reused",
                "this Idempotency-Key was used to prepare another request: use a new key",
            )
        return None if row is None else self._command(row)

    def get(self, prepared_id: str, person: str) -> PreparedCommand | None:
        """The prepared command `prepared_id`, if it is `person`'s (no one else's shows)."""
        row = self._row(prepared_id, person)
        return None if row is None else self._command(row)

    def _row(self, prepared_id: str, person: str) -> Any:
        rows = self.tables.query(
            "SELECT * FROM prepared_commands WHERE prepared_id = ? AND person_id = ?",
            (prepared_id, person),
        )
        if not rows:
            return None
        row = rows[0]
        values = tuple(bytes(row[c]) if c == "event_bytes" else row[c] for c in COLUMNS)
        if not hmac.compare_digest(str(row["mac"]), self._mac(values)):
            raise PreparedEventError(
                f"prepared command {prepared_id} was altered where it was kept: nothing was "
                "written; prepare it again"
            )
        return row

    @staticmethod
    def _command(row: Any) -> PreparedCommand:
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

    def written(self, prepared_id: str) -> Statement:
        """Forget a prepared command, in the transaction that writes its event."""
        return ("DELETE FROM prepared_commands WHERE prepared_id = ?", (prepared_id,))

    def erased(self, participant_id: str) -> Statement:
        """Forget every prepared command about a participant, with their erasure."""
        return ("DELETE FROM prepared_commands WHERE subject = ?", (participant_id,))

    def sweep(self) -> None:
        """Forget prepared commands no one signed in time."""
        self.tables.execute("DELETE FROM prepared_commands WHERE expires_at < ?", (_now(),))
