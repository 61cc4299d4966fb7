"""Reading an audit bundle (LEDGER_FORMAT.md section 7) as a source for the verifier.

Standard library only (with ledger.verify): an auditor's copy needs nothing else.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


class BundleError(UserError, ValueError):
    """A directory that is not a bundle at all (a usage error, not a finding)."""

    rule = "bundle"


def read_manifest(bundle: Path) -> dict[str, Any]:
    path = bundle / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise BundleError(f"{bundle} has no manifest.json: is it a bundle?") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"manifest.json is not JSON: {exc}") from None
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
        self.size_hint = size if type(size) is int else 0
        self._digest = hashlib.sha256()
        self._complete = self._unterminated = False
        self.earlier_checkpoints: dict[int, str] = {}
        self._misnamed: list[str] = []
        if (bundle / CHECKPOINTS).is_dir():
            for path in sorted((bundle / CHECKPOINTS).iterdir()):
                stem = path.name.removesuffix(".txt")
                if not path.name.endswith(".txt") or not stem.isdigit():
                    self._misnamed.append(f"{CHECKPOINTS}/{path.name} is not named <size>.txt")
                    continue
                self.earlier_checkpoints[int(stem)] = _read_text(path)
        latest = bundle / CHECKPOINT
        self.latest_checkpoint = _read_text(latest) if latest.exists() else None

    def lines(self) -> Iterator[bytes]:
        path = self.bundle / ENTRIES
        if not path.exists():
            self._complete = True
            return
        with path.open("rb") as entries:
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
                f"manifest size {manifest.get('size')} is not the {log.size} entries present",
            )

    def _file_problems(self) -> list[str]:
        bundle, listed = self.bundle, self.listed
        problems = list(self._misnamed)
        present = {ENTRIES} if (bundle / ENTRIES).exists() else set()
        if (bundle / CHECKPOINT).exists():
            present.add(CHECKPOINT)
        if (bundle / CHECKPOINTS).is_dir():
            present |= {f"{CHECKPOINTS}/{p.name}" for p in (bundle / CHECKPOINTS).iterdir()}
        for name in sorted(set(listed) - present):
            problems.append(f"{name} is listed in the manifest but missing")
        for name in sorted(present - set(listed)):
            problems.append(f"{name} is in the bundle but not in the manifest")
        for name in sorted(set(listed) & present):
            if name == ENTRIES:
                actual = self._digest.hexdigest() if self._complete else None
            else:
                actual = hashlib.sha256((bundle / name).read_bytes()).hexdigest()
            if actual != listed[name]:
                problems.append(f"{name}: sha256 does not match the manifest")
        if self._unterminated:
            problems.append(f"{ENTRIES}: the last line does not end with a newline")
        return problems


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return ""  # unreadable: its checks will fail and say so
