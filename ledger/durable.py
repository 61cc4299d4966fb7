"""Files written so that a crash leaves the old content or the new, never half of either.

The key store and a witness's state keep secrets and promises in files: each is written
beside its place under a name of its own (mode 0600), flushed to disk, renamed over the
old one, and the directory synced so that the rename itself survives a power cut.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def sync_directory(directory: Path) -> None:
    """Make a rename or a new name in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_aside(path: Path, data: bytes) -> Path:
    """`data` in a new file beside `path` (mode 0600, synced); returns its path."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with open(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` whole (written aside, synced, renamed; mode 0600)."""
    temporary = write_aside(path, data)
    try:
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    sync_directory(path.parent)
