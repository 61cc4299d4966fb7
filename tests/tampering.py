"""What a malicious database administrator can do to a ledger, with SQL, a backup or one
stolen key, and without the log key: the attacks of the tamper suite (issue 10)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

from ledger import canonical
from ledger.entry import seal
from ledger.hashing import b64encode
from ledger.merkle import Frontier, leaf_hash
from ledger.signing import SigningKey
from tests.helpers import RawDatabase


class Backup:
    """A copy of the whole database, taken now, that can be restored over it later:
    an SQLite file copy, or PostgreSQL's pg_dump and pg_restore."""

    def __init__(self, url: str, folder: Path) -> None:
        self.url = url
        self.path = folder / ("backup.dump" if url.startswith("postgresql") else "backup.sqlite3")
        if url.startswith("postgresql"):
            subprocess.run(
                ["pg_dump", "--format=custom", f"--file={self.path}", url],
                check=True,
                capture_output=True,
            )
        else:
            with sqlite3.connect(self.url[len("sqlite:///") :]) as live:
                copy = sqlite3.connect(self.path)
                live.backup(copy)
                copy.close()

    def restore(self) -> None:
        if self.url.startswith("postgresql"):
            subprocess.run(
                [
                    "pg_restore",
                    "--clean",
                    "--if-exists",
                    "--single-transaction",
                    f"--dbname={self.url}",
                    str(self.path),
                ],
                check=True,
                capture_output=True,
            )
        else:
            with sqlite3.connect(self.path) as copy:
                live = sqlite3.connect(self.url[len("sqlite:///") :])
                copy.backup(live)
                live.close()


def _leaf_hashes(raw: RawDatabase, stop: int) -> list[bytes]:
    rows = raw.execute("SELECT leaf_hash FROM ledger_log WHERE seq < ? ORDER BY seq", (stop,))
    return [bytes(r[0]) for r in rows]


def _set_head(raw: RawDatabase, hashes: list[bytes]) -> None:
    """Make the stored head agree with a log whose leaf hashes are `hashes`."""
    frontier = Frontier()
    for h in hashes:
        frontier.append(h)
    raw.execute(
        "UPDATE ledger_head SET size = ?, last_leaf_hash = ?, frontier = ?",
        (len(hashes), hashes[-1], frontier.to_bytes()),
    )


def truncate(raw: RawDatabase, keep: int, *, with_checkpoints: bool) -> None:
    """Delete the entries from `keep` on (and the checkpoints above, if asked), and make
    the head agree: a log that looks whole."""
    size = int(raw.execute("SELECT size FROM ledger_head")[0][0])
    for seq in range(size - 1, keep - 1, -1):
        raw.delete_entry(seq)
    _set_head(raw, _leaf_hashes(raw, keep))
    if with_checkpoints:
        raw.execute("DELETE FROM ledger_checkpoints WHERE size > ?", (keep,))


def delete_latest_checkpoint(raw: RawDatabase) -> None:
    raw.execute(
        "DELETE FROM ledger_checkpoints WHERE size = (SELECT MAX(size) FROM ledger_checkpoints)"
    )


def rechain_last(raw: RawDatabase, stolen: SigningKey) -> None:
    """Rewrite the last entry (its instant) and sign it with a stolen key of its
    organisation, then recompute its leaf hash, its Merkle nodes and the head, and delete
    the checkpoints that covered it: every stored thing agrees, every signature verifies.
    Only checkpoints published before can tell."""
    size = int(raw.execute("SELECT size FROM ledger_head")[0][0])
    last = size - 1
    event = json.loads(raw.state(last))["event"]
    event["at"] = event["at"][:-2] + ("1Z" if event["at"][-2] != "1" else "2Z")
    event["key"] = stolen.key_id
    sig = b64encode(stolen.sign(canonical.dumps(event)))
    state = canonical.dumps({"event": event, "sig": sig})
    raw.set_state(last, state)
    prev = raw.execute("SELECT prev FROM ledger_log WHERE seq = ?", (last,))[0][0]
    hashes = _leaf_hashes(raw, last)
    new_leaf = leaf_hash(seal(state, last, prev))
    frontier = Frontier()
    for h in hashes:
        frontier.append(h)
    nodes = b"".join(v for _n, v in frontier.append(new_leaf)[1:])
    raw.execute(
        "UPDATE ledger_log SET leaf_hash = ?, nodes = ? WHERE seq = ?", (new_leaf, nodes, last)
    )
    _set_head(raw, [*hashes, new_leaf])
    raw.execute("DELETE FROM ledger_checkpoints WHERE size >= ?", (size,))


def rogue_key(raw: RawDatabase, key: SigningKey, holder: str, roles: list[str]) -> None:
    """A key record no entry registered, inserted into the keys table."""
    raw.execute(
        "INSERT INTO ledger_keys VALUES (?, ?, ?, ?, ?, ?, ?)",
        (key.key_id, key.public_key, holder, json.dumps(roles), 1, None, key.person),
    )
    raw.execute("UPDATE ledger_head SET keys_version = keys_version + 1")


def unrevoke(raw: RawDatabase, key_id: str) -> None:
    raw.execute("UPDATE ledger_keys SET revoked_seq = NULL WHERE key_id = ?", (key_id,))
    raw.execute("UPDATE ledger_head SET keys_version = keys_version + 1")


def corrupt_node(raw: RawDatabase, seq: int) -> None:
    """Flip a byte of the Merkle nodes stored in row `seq` (which must hold some)."""
    nodes = bytes(raw.execute("SELECT nodes FROM ledger_log WHERE seq = ?", (seq,))[0][0])
    assert nodes, f"row {seq} holds no Merkle nodes"
    raw.execute(
        "UPDATE ledger_log SET nodes = ? WHERE seq = ?", (bytes([nodes[0] ^ 1]) + nodes[1:], seq)
    )


def corrupt_leaf_hash(raw: RawDatabase, seq: int) -> None:
    raw.execute("UPDATE ledger_log SET leaf_hash = ? WHERE seq = ?", (b"\x07" * 32, seq))


def pg_tools_available() -> bool:
    return shutil.which("pg_dump") is not None and shutil.which("pg_restore") is not None
