"""The log key's memory: every checkpoint it signed, kept outside the ledger's database.

LEDGER_FORMAT.md section 6: the log key never signs two checkpoints that are not
consistent. The database cannot be what remembers — restoring an old copy of it, or
truncating the log, would erase the memory too — so the signer keeps its own record
beside the log key: one JSON line per checkpoint signed, appended and flushed to disk
before the checkpoint is handed to anyone. Before signing, it reads the largest
checkpoint it has signed; the new one must be at least as large and consistent with
it (ledger.transparency checks the proof, and that the database holds no checkpoint
larger than the record knows).

The record is read whole, every line checked: sizes strictly increase line after line
(a checkpoint is appended only when larger than every one before), each line names
this log, and the last line is complete. A line that breaks that, or cannot be read,
means the record was altered, and nothing more is signed until it is mended. A process reads
only what was appended since it last read. Processes on one machine take an exclusive
lock on the file while they compare and sign.

What it cannot catch: a record restored from a backup together with the database
(the two then agree). Witnesses, and auditors holding checkpoints, catch that.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ledger.errors import UserError
from ledger.hashing import b64decode, b64encode


class SignerRecordError(UserError, RuntimeError):
    """The signer refuses: its record says it signed a larger or another checkpoint,
    or the record itself was lost or altered."""

    rule = "signer-record"


@dataclass(frozen=True)
class Signed:
    size: int
    root: bytes
    note: str


@dataclass
class _Scan:
    """How far this process has read the record, and what it found."""

    inode: int = -1
    offset: int = 0
    largest: Signed | None = None
    lines: int = 0


class SignerRecord:
    """An append-only file of the checkpoints one log key signed."""

    def __init__(self, path: Path, origin: str) -> None:
        self.path = path
        self.origin = origin
        self._scan = _Scan()
        self._lock = threading.Lock()  # the scan cache, between this process's threads

    @contextmanager
    def locked(self) -> Iterator[SignerRecordSession]:
        """The record, held exclusively while a checkpoint is compared and signed."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with self._lock:
                yield SignerRecordSession(self, fd, self._read(fd, locked=True))
        finally:
            os.close(fd)  # releases the lock

    def largest(self) -> Signed | None:
        """The largest checkpoint signed (None if none yet), for checks outside signing.

        Read without the file lock (a signer in this very process may hold it): a line
        being written is not yet complete, and a checkpoint is handed out only once it is.
        """
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            with self._lock:
                return self._read(fd, locked=False).largest
        finally:
            os.close(fd)

    def _read(self, fd: int, *, locked: bool) -> _Scan:
        """Read what was appended since this process last read (all of it, the first
        time, or if the file was replaced or cut), checking each line."""
        stat = os.fstat(fd)
        scan = self._scan
        if stat.st_ino != scan.inode or stat.st_size < scan.offset:
            scan = _Scan(inode=stat.st_ino)
        os.lseek(fd, scan.offset, os.SEEK_SET)
        data = b""
        while chunk := os.read(fd, 1 << 20):
            data += chunk
        complete = data.rfind(b"\n") + 1
        if locked and complete < len(data):
            # A signer stopped mid-line, or someone cut the record. Only a person can tell
            # which; cutting it here would forget a checkpoint that may have been handed out.
            raise self._damaged(
                "its last line is incomplete. If a signer was stopped while signing, that "
                "checkpoint was never handed out: remove the incomplete line and sign again; "
                "if not, restore the record from a copy"
            )
        # Without the lock, a line being written now is simply not read yet.
        for line in data[:complete].splitlines():
            scan.lines += 1
            signed = self._parse(line, scan.lines)
            if scan.largest is not None and signed.size <= scan.largest.size:
                raise self._damaged(
                    f"line {scan.lines} is for {signed.size} entries, after one for "
                    f"{scan.largest.size}: a record only grows"
                )
            scan.largest = signed
        scan.offset += complete
        self._scan = scan
        return scan

    def _parse(self, line: bytes, number: int) -> Signed:
        try:
            value = json.loads(line)
            size, root, note = value["size"], b64decode(value["root"]), value["note"]
            origin = value["origin"]
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            raise self._damaged(f"line {number} cannot be read ({exc})") from None
        if type(size) is not int or not 0 <= size < 2**63 or len(root) != 32:
            raise self._damaged(f"line {number} does not hold a tree size and a root")
        if not isinstance(note, str):
            raise self._damaged(f"line {number} does not hold a note")
        signed = Signed(size, root, note)
        if origin != self.origin:
            raise SignerRecordError(
                f"the signer's record {self.path.name} belongs to the log {origin!r}, "
                f"not {self.origin!r}; set CMPP_SIGNER_RECORD to this log's record"
            )
        return signed

    def _damaged(self, why: str) -> SignerRecordError:
        return SignerRecordError(
            f"the signer's record {self.path.name} was altered: {why}. The log key signs "
            "nothing until it is mended from a copy"
        )


class SignerRecordSession:
    def __init__(self, record: SignerRecord, fd: int, scan: _Scan) -> None:
        self.record = record
        self._fd = fd
        self._scan = scan

    @property
    def largest(self) -> Signed | None:
        return self._scan.largest

    def append(self, size: int, root: bytes, note: str, signed_at: str) -> None:
        """Add a signed checkpoint, on disk before anyone sees it."""
        if self.largest is not None and size <= self.largest.size:
            raise SignerRecordError(f"the record already holds a checkpoint of {size} or more")
        line = {
            "origin": self.record.origin,
            "size": size,
            "root": b64encode(root),
            "signed_at": signed_at,
            "note": note,
        }
        data = json.dumps(line, sort_keys=True).encode() + b"\n"
        os.write(self._fd, data)
        os.fsync(self._fd)
        self._scan.largest = Signed(size, root, note)
        self._scan.offset += len(data)
        self._scan.lines += 1
