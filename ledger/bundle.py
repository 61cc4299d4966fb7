"""Reading an audit bundle (LEDGER_FORMAT.md section 7) as a source for the verifier.

Standard library only (with ledger.verify): an auditor's copy needs nothing else.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from ledger.errors import UserError
from ledger.hashing import b64decode
from ledger.note import VerifierKey
from ledger.report import Check, Report
from ledger.verify import Verified

FORMAT = "cmpp-ledger-bundle/1"
ENTRIES = "entries.jsonl"
CHECKPOINT = "checkpoint.txt"
CHECKPOINTS = "checkpoints"
MANIFEST = "manifest.json"
MAX_SIZE = 2**63 - 1  # no log is larger: its size is a signed 64-bit integer in every store


class BundleError(UserError, ValueError):
    """A directory that is not a bundle at all (a usage error, not a finding)."""

    rule = "bundle"


@contextmanager
def _opened(path: Path) -> Iterator[BinaryIO | None]:
    """A bundle's file opened for reading, or None if it is not a regular file: a FIFO
    would block the verifier forever, a device might never end. It is opened without
    blocking, then looked at. What the operating system refuses is a usage error."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise  # what a missing file means, its caller says
    except OSError as exc:
        raise BundleError(f"cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # before open(), which refuses a directory
        os.close(fd)
        yield None
        return
    with open(fd, "rb") as file:
        try:
            yield file
        except OSError as exc:
            raise BundleError(f"cannot read {path}: {exc.strerror}") from None


def _read_bytes(path: Path) -> bytes | None:
    """A bundle's file, whole; None if it is not a regular file."""
    with _opened(path) as file:
        return None if file is None else file.read()


def read_manifest(bundle: Path) -> dict[str, Any]:
    try:
        data = _read_bytes(bundle / MANIFEST)
    except FileNotFoundError:
        raise BundleError(f"{bundle} has no manifest.json: is it a bundle?") from None
    if data is None:
        raise BundleError(f"{bundle / MANIFEST} is not a regular file: is it a bundle?")
    try:
        manifest = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise BundleError("manifest.json is not JSON: it is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise BundleError(f"manifest.json is not JSON: {exc}") from None
    except RecursionError:
        raise BundleError("manifest.json is not a manifest: it is nested too deep") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"manifest.json does not declare the format {FORMAT}")
    return manifest


class BundleSource:
    """A bundle directory as the verifier's source: its entries, streamed; its
    checkpoints; and its manifest, which it checks itself (step 1) once the entries
    were read, with the manifest's claims about the log (origin, keys, size)."""

    def __init__(self, bundle: Path) -> None:
        self.bundle = bundle
        self.manifest = read_manifest(bundle)
        listed = self.manifest.get("files")
        if not isinstance(listed, dict):
            raise BundleError("manifest.json has no files object")
        self.listed: dict[str, Any] = listed
        size = self.manifest.get("size")
        self.size_hint = size if type(size) is int and 0 <= size <= MAX_SIZE else 0
        self._digest = hashlib.sha256()
        self._complete = self._unterminated = False
        self.earlier_checkpoints: dict[int, str] = {}
        self._problems: list[str] = []  # found while reading the entries or naming files
        self._read: dict[str, bytes | None] = {}  # each file read so far, by its name
        if (bundle / CHECKPOINTS).is_dir():
            for path in sorted((bundle / CHECKPOINTS).iterdir()):
                name, stem = f"{CHECKPOINTS}/{path.name}", path.name.removesuffix(".txt")
                # ASCII digits, and few enough for int(): str.isdigit() would take '²'.
                if not path.name.endswith(".txt") or not _is_size(stem):
                    self._problems.append(f"{name} is not named <size>.txt")
                    continue
                self.earlier_checkpoints[int(stem)] = self._text(name)
        latest = bundle / CHECKPOINT
        self.latest_checkpoint = self._text(CHECKPOINT) if latest.exists() else None

    def _bytes(self, name: str) -> bytes | None:
        """A file of the bundle, read once; None if it is not a regular file."""
        if name not in self._read:
            try:
                self._read[name] = _read_bytes(self.bundle / name)
            except FileNotFoundError:  # a dangling link
                self._read[name] = None
        return self._read[name]

    def _text(self, name: str) -> str:
        try:
            return (self._bytes(name) or b"").decode("utf-8")
        except UnicodeDecodeError:
            return ""  # unreadable: its checks will fail and say so

    def lines(self) -> Iterator[bytes]:
        path = self.bundle / ENTRIES
        if not path.exists():
            self._complete = True
            return
        with _opened(path) as entries:
            if entries is None:
                self._problems.append(f"{ENTRIES} is not a regular file")
                self._complete = True
                return
            for raw in entries:
                self._digest.update(raw)
                if raw.endswith(b"\n"):
                    yield raw[:-1]
                else:
                    self._unterminated = True
                    yield raw
        self._complete = True

    def report_on(self, log: Verified, report: Report) -> None:
        for problem in self._file_problems():
            report.add(Check.MANIFEST, None, problem)
        report.checked[Check.MANIFEST] = f"{len(self.listed)} files"
        manifest = self.manifest
        if log.opening is not None:
            log_key = VerifierKey(
                log.opening["origin"], b64decode(log.opening["log_key"]["public_key"])
            )
            for member, expected in (
                ("origin", log.opening["origin"]),
                ("log_vkey", str(log_key)),
                ("root_key_id", log.opening["root_key"]["key_id"]),
            ):
                if manifest.get(member) != expected:
                    report.add(Check.OPENING, None, f"manifest {member} does not match entry 0")
        if log.latest is not None and log.latest.size != log.size:
            report.add(
                Check.ROOT,
                None,
                f"the checkpoint is for {log.latest.size} entries, the bundle holds {log.size}",
            )
        if manifest.get("size") != log.size:
            report.add(
                Check.ROOT,
                None,
                f"manifest size {manifest.get('size')!r} is not the {log.size} entries present",
            )

    def _file_problems(self) -> list[str]:
        bundle, listed = self.bundle, self.listed
        problems = list(self._problems)
        present = {ENTRIES} if (bundle / ENTRIES).exists() else set()
        if (bundle / CHECKPOINT).exists():
            present.add(CHECKPOINT)
        if (bundle / CHECKPOINTS).is_dir():
            present |= {f"{CHECKPOINTS}/{p.name}" for p in (bundle / CHECKPOINTS).iterdir()}
        for name in sorted(present - {ENTRIES}):
            if self._bytes(name) is None:
                problems.append(f"{name} is not a regular file")
        for name in sorted(set(listed) - present):
            problems.append(f"{name} is listed in the manifest but missing")
        for name in sorted(present - set(listed)):
            problems.append(f"{name} is in the bundle but not in the manifest")
        for name in sorted(set(listed) & present):
            if name == ENTRIES:
                actual = self._digest.hexdigest() if self._complete else None
            else:
                data = self._bytes(name)
                actual = None if data is None else hashlib.sha256(data).hexdigest()
            if actual != listed[name]:
                problems.append(f"{name}: sha256 does not match the manifest")
        if self._unterminated:
            problems.append(f"{ENTRIES}: the last line does not end with a newline")
        return problems


def _is_size(text: str) -> bool:
    return 0 < len(text) <= 19 and text.isascii() and text.isdigit()
