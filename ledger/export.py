"""Writing an audit bundle (LEDGER_FORMAT.md section 7) from a live ledger."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ledger.bundle import CHECKPOINT, CHECKPOINTS, ENTRIES, FORMAT, MANIFEST, BundleError
from ledger.entry import format_instant
from ledger.store import LogStore, iter_leaves
from ledger.transparency import LogSigner


def _write_text(path: Path, text: str) -> str:
    data = text.encode()
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def export_bundle(
    store: LogStore,
    log: LogSigner,
    root_key_id: str,
    out: Path,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Write the whole log as a bundle at `out`; it appears complete or not at all."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BundleError(f"{out} already exists and is not an empty directory")
    size = store.head().size
    note = log.checkpoint(size)
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / CHECKPOINTS).mkdir(parents=True)
    try:
        files: dict[str, str] = {}
        digest = hashlib.sha256()
        with (partial / ENTRIES).open("wb") as entries:
            for seq, leaf in iter_leaves(store, 0, size):
                line = leaf + b"\n"
                entries.write(line)
                digest.update(line)
                if progress is not None and seq % 10_000 == 0:
                    progress(seq)
            entries.flush()
            os.fsync(entries.fileno())
        files[ENTRIES] = digest.hexdigest()
        files[CHECKPOINT] = _write_text(partial / CHECKPOINT, note)
        for earlier_size, earlier in store.checkpoints():
            if earlier_size < size:
                name = f"{CHECKPOINTS}/{earlier_size}.txt"
                files[name] = _write_text(partial / name, earlier)
        manifest = {
            "format": FORMAT,
            "origin": log.origin,
            "size": size,
            "log_vkey": str(log.verifier),
            "root_key_id": root_key_id,
            "created_at": format_instant(datetime.now(UTC)),
            "files": files,
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        if out.exists():
            out.rmdir()
        partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if progress is not None:
        progress(size)
    return manifest
