"""Reading an audit bundle (LEDGER_FORMAT.md section 7) as material for the verifier.

Standard library only (with ledger.verify): an auditor's copy needs nothing else.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ledger.errors import UserError
from ledger.verify import Material

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


def bundle_material(bundle: Path) -> Material:
    """The bundle's entries (streamed), checkpoints and a deferred check of its files."""
    manifest = read_manifest(bundle)
    listed = manifest.get("files")
    if not isinstance(listed, dict):
        raise BundleError("manifest.json has no files object")
    entries_digest = hashlib.sha256()
    state = {"complete": False, "unterminated": False}

    def lines() -> Iterator[bytes]:
        path = bundle / ENTRIES
        if not path.exists():
            state["complete"] = True
            return
        with path.open("rb") as entries:
            for raw in entries:
                entries_digest.update(raw)
                if raw.endswith(b"\n"):
                    yield raw[:-1]
                else:
                    state["unterminated"] = True
                    yield raw
        state["complete"] = True

    def file_findings() -> list[str]:
        problems = []
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
                actual = entries_digest.hexdigest() if state["complete"] else None
            else:
                actual = hashlib.sha256((bundle / name).read_bytes()).hexdigest()
            if actual != listed[name]:
                problems.append(f"{name}: sha256 does not match the manifest")
        if state["unterminated"]:
            problems.append(f"{ENTRIES}: the last line does not end with a newline")
        return problems

    earlier: dict[int, str] = {}
    bad_names: list[str] = []
    if (bundle / CHECKPOINTS).is_dir():
        for path in sorted((bundle / CHECKPOINTS).iterdir()):
            stem = path.name.removesuffix(".txt")
            if not path.name.endswith(".txt") or not stem.isdigit():
                bad_names.append(f"{CHECKPOINTS}/{path.name} is not named <size>.txt")
                continue
            earlier[int(stem)] = _read_text(path)
    latest = _read_text(bundle / CHECKPOINT) if (bundle / CHECKPOINT).exists() else None
    size = manifest.get("size")
    return Material(
        lines=lines(),
        latest_checkpoint=latest,
        earlier_checkpoints=earlier,
        size_hint=size if isinstance(size, int) else 0,
        file_findings=lambda: bad_names + file_findings(),
        manifest=manifest,
    )


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return ""  # unreadable: its checks will fail and say so
