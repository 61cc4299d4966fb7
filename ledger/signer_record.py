"""The log key's memory: every checkpoint it signed, kept outside the ledger's database.

LEDGER_FORMAT.md section 6: the log key never signs two checkpoints that are not
consistent. The database cannot be what remembers — restoring an old copy of it, or
truncating the log, would erase the memory too — so the signer keeps its own record
beside the log key: one JSON line per checkpoint signed, appended and flushed to disk
before the checkpoint is handed to anyone. Before signing, it reads the largest
checkpoint it has signed; the new one must be at least as large and consistent with
it (ledger.transparency checks the proof).

Processes on one machine sharing the record take an exclusive lock on it while they
compare and sign, so the record's last line is always the largest signed.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ledger.errors import UserError
from ledger.hashing import b64decode, b64encode

_TAIL_BYTES = 64 * 1024  # a line holds one note of a few hundred bytes


class SignerRecordError(UserError, RuntimeError):
    """The signer refuses: its record says it signed a larger or another checkpoint."""

    rule = "signer-record"


@dataclass(frozen=True)
class Signed:
    size: int
    root: bytes
    note: str


class SignerRecord:
    """An append-only file of the checkpoints one log key signed."""

    def __init__(self, path: Path, origin: str) -> None:
        self.path = path
        self.origin = origin

    @contextmanager
    def locked(self) -> Iterator[SignerRecordSession]:
        """The record, held exclusively while a checkpoint is compared and signed."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield SignerRecordSession(self, fd)
        finally:
            os.close(fd)  # releases the lock

    def largest(self) -> Signed | None:
        """The largest checkpoint signed (None if none yet), for checks outside signing.

        Read without the lock (a signer in this very process may hold it): a line being
        written is not yet complete, and a checkpoint is handed out only once it is.
        """
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            return _last_signed(self, fd, mend=False)
        finally:
            os.close(fd)


class SignerRecordSession:
    def __init__(self, record: SignerRecord, fd: int) -> None:
        self.record = record
        self._fd = fd
        self.largest = self._read_last()

    def _read_last(self) -> Signed | None:
        return _last_signed(self.record, self._fd, mend=True)

    def append(self, size: int, root: bytes, note: str, signed_at: str) -> None:
        """Add a signed checkpoint, on disk before anyone sees it."""
        line = {
            "origin": self.record.origin,
            "size": size,
            "root": b64encode(root),
            "signed_at": signed_at,
            "note": note,
        }
        os.write(self._fd, json.dumps(line, sort_keys=True).encode() + b"\n")
        os.fsync(self._fd)
        self.largest = Signed(size, root, note)


def _last_signed(record: SignerRecord, fd: int, *, mend: bool) -> Signed | None:
    """The record's last complete line; with `mend` (holding the lock), cut a torn one."""
    end = os.lseek(fd, 0, os.SEEK_END)
    start = max(0, end - _TAIL_BYTES)
    os.lseek(fd, start, os.SEEK_SET)
    tail = os.read(fd, end - start)
    if tail and not tail.endswith(b"\n"):
        # A signer stopped mid-line (or is writing it now): that checkpoint was never
        # stored nor handed out, since the line is written first. Holding the lock, cut
        # it, so that the next line starts clean.
        cut = tail.rfind(b"\n") + 1
        if mend:
            os.ftruncate(fd, start + cut)
        tail = tail[:cut]
    lines = tail.splitlines()
    if not lines:
        if end > _TAIL_BYTES:
            raise _damaged(record, "its last line is longer than any checkpoint")
        return None
    try:
        value = json.loads(lines[-1])
        signed = Signed(int(value["size"]), b64decode(value["root"]), str(value["note"]))
        origin = value["origin"]
    except (ValueError, KeyError, TypeError) as exc:
        raise _damaged(record, f"its last line cannot be read ({exc})") from None
    if origin != record.origin:
        raise SignerRecordError(
            f"the signer's record {record.path.name} belongs to the log {origin!r}, "
            f"not {record.origin!r}; set CMPP_SIGNER_RECORD to this log's record"
        )
    return signed


def _damaged(record: SignerRecord, why: str) -> SignerRecordError:
    return SignerRecordError(
        f"the signer's record {record.path.name} is damaged: {why}; "
        "the log key signs nothing until it is mended from a copy"
    )
