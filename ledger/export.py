"""Writing out of a live ledger: an audit bundle (LEDGER_FORMAT.md section 7), or one
entry with its tlog-proof (section 8).

Either appears whole or not at all. The bundle is written into a hidden sibling
directory and renamed into place once whole; a failed or interrupted export removes
its sibling (one killed outright leaves it for the next export to the same place,
which removes it), and any directory it made on the way there.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ledger.bundle import CHECKPOINT, CHECKPOINTS, ENTRIES, FORMAT, MANIFEST
from ledger.cosignature import WitnessKey
from ledger.entry import format_instant
from ledger.errors import UserError
from ledger.store import LogStore, iter_leaves
from ledger.transparency import LogSigner, entry_proof
from ledger.witness_client import cosigned_note

PARTIAL = ".partial-"  # <out's parent>/.<out's name>.partial-<pid>: a bundle being written


class ExportError(UserError):
    """What cannot be written where the user asked (there already, a full disk…)."""

    rule = "export"


@contextmanager
def _writing(shown: Path) -> Iterator[None]:
    """An error of the operating system, as what could not be written (under the name
    the user gave, not the hidden sibling's) and why."""
    try:
        yield
    except OSError as exc:
        raise ExportError(f"cannot write {shown}: {exc.strerror or exc}") from None


def _write_text(path: Path, text: str, shown: Path) -> str:
    data = text.encode()
    with _writing(shown):
        path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _first_missing(path: Path) -> Path | None:
    """The outermost of `path` and its parents not there yet: what making it makes."""
    missing = None
    for ancestor in (path, *path.parents):
        if ancestor.exists():
            break
        missing = ancestor
    return missing


def _unmake(path: Path, made: Path | None) -> None:
    """Remove the directories making `path` made, innermost first, if still empty: one
    another process has put something in since is not ours to remove."""
    if made is None:
        return
    for directory in (path, *path.parents):
        try:
            directory.rmdir()
        except OSError:
            return
        if directory == made:
            return


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: asks whether the process exists, sends nothing
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists, but is not ours to signal
    return True


def _remove_abandoned(out: Path) -> None:
    """Remove what exports to `out` killed before they could clean up left behind."""
    if os.name != "posix" or not out.parent.is_dir():  # os.kill(pid, 0) is POSIX's probe
        return
    prefix = f".{out.name}{PARTIAL}"
    for sibling in out.parent.iterdir():
        pid = sibling.name.removeprefix(prefix)
        if sibling.name.startswith(prefix) and pid.isdecimal() and not _running(int(pid)):
            shutil.rmtree(sibling, ignore_errors=True)


def _write_entries(partial: Path, store: LogStore, size: int, shown: Path, progress: Any) -> str:
    digest = hashlib.sha256()
    with _writing(shown / ENTRIES), (partial / ENTRIES).open("wb") as entries:
        for seq, leaf in iter_leaves(store, 0, size):
            line = leaf + b"\n"
            entries.write(line)
            digest.update(line)
            if progress is not None and seq % 10_000 == 0:
                progress(seq)
        entries.flush()
        os.fsync(entries.fileno())
    return digest.hexdigest()


def export_bundle(
    store: LogStore,
    log: LogSigner,
    root_key_id: str,
    out: Path,
    progress: Callable[[int], None] | None = None,
    *,
    witness_keys: Sequence[WitnessKey] = (),
    before_handover: Callable[[dict[str, Any], str], None] | None = None,
) -> dict[str, Any]:
    """Write the whole log as a bundle at `out`; it appears complete or not at all. Its
    checkpoint carries the kept cosignatures that verify with `witness_keys` (the
    configured witnesses'); with none, no cosignature (the rows are not trusted).

    `before_handover(manifest, sha256 of manifest.json)` is called once every file is
    written and before the bundle appears at `out`: if it raises, nothing appears (the
    caller records the export there, and an export it could not record never leaves)."""
    shown, out = out, Path(os.path.abspath(out))  # abspath: "x/.." names its parent
    with _writing(shown):
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise ExportError(f"{shown} already exists and is not an empty directory")
        _remove_abandoned(out)
    size = store.head().size
    # With the witnesses' cosignatures kept for it: a verifier given a witness key needs them.
    note = cosigned_note(store, log.checkpoint(size), witness_keys)
    partial = out.with_name(f".{out.name}{PARTIAL}{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    made = _first_missing(out.parent)
    try:
        with _writing(shown):
            # Only its owner may read it until it is handed over (renamed into place).
            partial.mkdir(mode=0o700, parents=True)
            (partial / CHECKPOINTS).mkdir()
        files = {ENTRIES: _write_entries(partial, store, size, shown, progress)}
        files[CHECKPOINT] = _write_text(partial / CHECKPOINT, note, shown / CHECKPOINT)
        for earlier_size, earlier in store.checkpoints():
            if earlier_size < size:
                name = f"{CHECKPOINTS}/{earlier_size}.txt"
                files[name] = _write_text(partial / name, earlier, shown / name)
        manifest = {
            "format": FORMAT,
            "origin": log.origin,
            "size": size,
            "log_vkey": str(log.verifier),
            "root_key_id": root_key_id,
            "created_at": format_instant(datetime.now(UTC)),
            "files": files,
        }
        text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
        _write_text(partial / MANIFEST, text, shown / MANIFEST)
        if before_handover is not None:
            before_handover(manifest, hashlib.sha256(text.encode()).hexdigest())
        with _writing(shown):
            if out.exists():
                out.rmdir()
            partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        _unmake(out.parent, made)
        raise
    if progress is not None:
        progress(size)
    return manifest


def export_entry_proof(log: LogSigner, seq: int, out: Path, size: int | None = None) -> None:
    """Write entry `seq`'s line and its tlog-proof to `out`/<seq>.entry and <seq>.tlog-proof
    (`out` made if need be): both, or neither."""
    line, proof = entry_proof(log, seq, size)
    files = {f"{seq}.entry": line, f"{seq}.tlog-proof": proof.encode()}
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} is not a directory")
    made = _first_missing(Path(os.path.abspath(out)))
    written: list[Path] = []
    try:
        with _writing(out):
            out.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():  # each beside its place first, then both moved in
            written.append(out / f".{name}{PARTIAL}{os.getpid()}")
            with _writing(out / name):
                written[-1].write_bytes(data)
        for temporary, name in zip(written, files, strict=True):
            with _writing(out / name):
                temporary.replace(out / name)
    except BaseException:
        for temporary in written:
            with suppress(OSError):
                temporary.unlink(missing_ok=True)
        _unmake(Path(os.path.abspath(out)), made)
        raise
