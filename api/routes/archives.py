"""A directory sent as one gzipped tar: the audit bundle, a FOIA release."""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from fastapi.responses import StreamingResponse

MEDIA_TYPE = "application/gzip"
CHUNK = 1 << 20  # bytes of an archive sent at a time
EXPORT_SEQ = "CMPP-Export-Seq"  # the entry recording the export (audit.ExportGenerated)
DOCUMENTED = {"content": {MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}}


def _owned_by_no_one(info: tarfile.TarInfo) -> tarfile.TarInfo:
    # The server's user and group names are no business of the download's.
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _chunks(archive: BinaryIO) -> Iterator[bytes]:
    with archive:
        while chunk := archive.read(CHUNK):
            yield chunk


def sent_as_archive(directory: Path, name: str, headers: dict[str, Any]) -> StreamingResponse:
    """`directory` as `name`.tar.gz (one directory, `name`/, inside). Call it inside the
    temporary directory's block: the open file keeps the archive until it is sent (or
    the response is dropped), so nothing is left behind however the download ends."""
    archive_path = directory.parent / f"{name}.tar.gz"
    with tarfile.open(archive_path, "w:gz") as tar:
        tar.add(directory, arcname=name, filter=_owned_by_no_one)
    archive = archive_path.open("rb")
    headers = {
        "Content-Disposition": f'attachment; filename="{name}.tar.gz"',
        "Content-Length": str(os.fstat(archive.fileno()).st_size),
        **headers,
    }
    return StreamingResponse(_chunks(archive), media_type=MEDIA_TYPE, headers=headers)
