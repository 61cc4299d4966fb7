"""The server's own `system` key, the record of every read of protected case data, and of
every export (the accounting of disclosures).

A read of protected records is recorded in the log (`audit.RecordsAccessed`) before its
answer leaves the server: who read (the person), why (a purpose code), whose records
and which fields. The event is signed by the server's `system` key, an organisation key
of the board (person None), so its `actor` is the board's organisation and the reader
is named in its data. If the record cannot be written, the caller must answer nothing.
"""

from __future__ import annotations

import threading
from typing import Any
from uuid import UUID

from domain.catalogue import SYSTEM
from ledger.entry import read_event
from ledger.signing import Signer, SigningKey
from projections.system import System

SCAN_BATCH = 64  # entries read at a time when looking for the one just written
_making_key = threading.Lock()  # one system key per process, not one per racing request


def board_org(system: System) -> str:
    """The board's organisation: the holder of entry 0's root key."""
    return str(system.app.opening["data"]["root_key"]["holder"])


def system_signer(system: System) -> Signer:
    """A `system` key in force of the board's organisation (person None), from the key
    store; made, and registered by the board's key-managing key, if there is none."""
    with _making_key:
        found = _stored_system_key(system)
        if found is not None:
            return found
        holder = board_org(system)
        board = system.root_signer()  # opened first: if it cannot be, nothing is written
        key = SigningKey.generate(holder, (SYSTEM,))
        # The key file is kept only if its registration commits.
        with system.keys.staged(key, "system key (audit records)"):
            system.app.register_key(board, key.public_key, holder, [SYSTEM])
        return Signer(key)


def _stored_system_key(system: System) -> Signer | None:
    holder = board_org(system)
    in_force = {
        k.key_id
        for k in system.app.trusted_keys()
        if k.revoked_seq is None and k.holder == holder and k.person is None and SYSTEM in k.roles
    }
    for record in system.keys.list():
        if record["key_id"] in in_force:
            return Signer(system.keys.load(str(record["key_id"])))
    return None


def record_access(
    system: System,
    *,
    reader: str,
    purpose: str,
    participant_ids: list[str],
    fields: list[str],
) -> int:
    """Record that `reader` (a person id) read `fields` of `participant_ids` for `purpose`
    (a code, never personal data); return the seq of the entry. Raises if it could not
    be recorded: the read must then not be answered."""
    signer = system_signer(system)
    # The entry is appended after every entry committed now, so it is found from here on.
    start = system.app.store.head().size
    stream = system.app.record_access(
        signer,
        actor=reader,
        purpose=purpose,
        participant_ids=list(participant_ids),
        fields=sorted(fields),
    )
    return _seq_of(system, stream, start)


def record_export(
    system: System,
    *,
    kind: str,
    recipient: str,
    purpose: str,
    parameters: dict[str, Any],
    sha256: str,
) -> int:
    """Record an export (the accounting of disclosures) before it is handed over; return
    the seq of the entry. Raises if it could not be recorded: nothing may leave then."""
    signer = system_signer(system)
    start = system.app.store.head().size
    stream = system.app.record_export(
        signer,
        kind=kind,
        recipient=recipient,
        purpose=purpose,
        parameters=parameters,
        sha256=sha256,
    )
    return _seq_of(system, stream, start)


def _seq_of(system: System, stream: UUID, start: int) -> int:
    """The seq of the (one-event) stream's entry, at `start` or after it."""
    while True:
        rows = system.app.store.read_rows(start, SCAN_BATCH)
        if not rows:
            raise RuntimeError("an audit record was written but is not in the log")
        for seq, _prev, state in rows:
            if state is not None and read_event(state).get("stream") == str(stream):
                return seq
        start = rows[-1][0] + 1
