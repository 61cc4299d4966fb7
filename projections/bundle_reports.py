"""Reports recomputed from an audit bundle alone: no live database, no stored rows.

An inspector general holding a bundle verifies it (checks 1 to 9), rebuilds every
projection in a scratch database from exactly the entries that verified (the rebuild
is refused unless the Merkle root of what it read equals the verified root), and asks
for a report as of any entry. Its anchor names the bundle's checkpoint covering that
entry, and its digest equals the live report's for the same entry
(projections.anchors), so a published figure can be checked without the database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from domain.verification import verify_log
from ledger.appender import Head
from ledger.bundle import ENTRIES, BundleError, BundleSource
from ledger.entry import EntryError, event_bytes_of, signed_state
from ledger.note import Checkpoint, VerifierKey
from projections import anchors
from projections.reports import Progress, Reports, no_progress
from projections.runner import ProjectionError
from projections.scratch import scratch_db
from projections.verified import Basis, LogNotVerifiedError, Verification, rebuild_verified


class BundleEntries:
    """A bundle's `entries.jsonl` read as a projector reads a log: in order, once, as the
    rows a store holds (seq, prev, signed state)."""

    def __init__(self, entries: BinaryIO, size: int) -> None:
        self._entries = entries
        self._head = Head(size=size)
        self._next = 0

    def head(self) -> Head:
        return self._head

    def read_rows(self, start: int, limit: int) -> list[tuple[int, str, bytes | None]]:
        if start != self._next:
            raise ProjectionError(f"entry {start} was to be read once, in order")
        rows: list[tuple[int, str, bytes | None]] = []
        while len(rows) < limit and self._next < self._head.size:
            leaf = self._entries.readline().removesuffix(b"\n")
            try:
                entry: dict[str, Any] = json.loads(leaf)
                state = signed_state(event_bytes_of(leaf), entry["sig"])
                rows.append((int(entry["seq"]), str(entry["prev"]), state))
            except (ValueError, KeyError, TypeError, EntryError) as exc:
                raise ProjectionError(f"entry {self._next} is not as verified ({exc})") from None
            self._next += 1
        return rows


@contextmanager
def bundle_reports(
    bundle: Path,
    progress: Progress = no_progress,
    *,
    trusted_key: VerifierKey | None = None,
    trusted_root_key: str | None = None,
    held_checkpoints: Sequence[str] = (),
) -> Iterator[tuple[Reports, Basis]]:
    """Reports from a rebuild of the verified bundle, and what they rest on; raises
    LogNotVerifiedError (with the verifier's findings) if the bundle does not verify."""
    if not bundle.is_dir():
        raise BundleError(f"{bundle} is not a directory")
    source = BundleSource(bundle)
    with progress("verifying", source.size_hint or None) as advance:
        report = verify_log(
            source,
            trusted_log_key=trusted_key,
            trusted_root_key_id=trusted_root_key,
            held_checkpoints=held_checkpoints,
            progress=advance,
        )
    if not report.ok or report.root is None or source.latest_checkpoint is None:
        raise LogNotVerifiedError(report)
    checkpoint = Checkpoint.parse_text(source.latest_checkpoint.split("\n\n")[0] + "\n")
    verification = Verification(report, Head(size=report.size), checkpoint)
    checkpoints = {**source.earlier_checkpoints, checkpoint.size: source.latest_checkpoint}
    with (bundle / ENTRIES).open("rb") as entries, scratch_db() as scratch:
        store = BundleEntries(entries, report.size)
        projector = rebuild_verified(store, verification, scratch, progress)  # type: ignore[arg-type]
        basis = Basis(verification.size, verification.root, checkpoint.size)
        yield Reports(projector, progress, anchors.covering_among(checkpoints)), basis
