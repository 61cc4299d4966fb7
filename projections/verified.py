"""Reports a decision rests on, answered from the verified log rather than the stored rows.

The stored projections are rows anyone with the database's password can edit; the log
is signed, chained and checkpointed. So a verified answer first verifies the log
(checks 1 to 9, as `cmpp verify`), then rebuilds every projection in a scratch database
from exactly the entries verified: entries 0 to size-1 are read again, hashed into a
Merkle tree as they are handed to the projections, and the rebuild is refused unless
that root equals the verified root. An entry written or edited between verifying and
rebuilding therefore cannot slip in: one appended is past the verified size and is not
read; one edited changes the root. The answer says which entries and root it rests on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from domain.verification import verify_log
from ledger.appender import Head
from ledger.hashing import b64encode
from ledger.live import LiveSource
from ledger.merkle import Frontier, leaf_hash
from ledger.note import Checkpoint
from ledger.report import Check, Report
from ledger.store import LogStore, leaf_from_row
from projections import anchors
from projections.db import ProjectionDB
from projections.reports import Progress, Reports, no_progress
from projections.runner import ProjectionError, Projector
from projections.scratch import every_projection, scratch_db

# How an answer from the stored projections is labelled: fast, and not checked.
UNVERIFIED: dict[str, Any] = {
    "verified": False,
    "source": "the stored projections",
    "statement": "UNVERIFIED: answered from the stored projections, not checked against"
    " the log (--verified rebuilds them from the verified log)",
}


class LogNotVerifiedError(Exception):
    """The log does not verify, so no figure is answered from it. Not a user's error:
    the command exits 1 and shows the findings, as `cmpp verify` does."""

    def __init__(self, report: Report) -> None:
        super().__init__(report.verdict())
        self.report = report


@dataclass(frozen=True)
class Verification:
    """What verifying established: the log's first `size` entries, their root, and the
    stored head and latest checkpoint that were checked against them."""

    report: Report
    head: Head
    checkpoint: Checkpoint

    @property
    def size(self) -> int:
        return self.report.size

    @property
    def root(self) -> bytes:
        assert self.report.root is not None  # a report that verified has its root
        return self.report.root


@dataclass(frozen=True)
class Basis:
    """What a verified answer rests on."""

    size: int
    root: bytes
    checkpoint_size: int

    def to_json(self) -> dict[str, Any]:
        return {
            "verified": True,
            "source": "a rebuild from the verified log",
            "first_seq": 0,
            "last_seq": self.size - 1,
            "entries": self.size,
            "root": b64encode(self.root),
            "checkpoint_size": self.checkpoint_size,
            "uncovered_entries": self.size - self.checkpoint_size,
            "statement": self.statement(),
        }

    def statement(self) -> str:
        text = (
            f"VERIFIED: answered from entries 0–{self.size - 1} ({self.size} entries) of a log"
            f" that verified, Merkle root {b64encode(self.root)}, rebuilt from exactly them"
        )
        if self.checkpoint_size < self.size:
            return text + (
                f"; the latest checkpoint covers entries 0–{self.checkpoint_size - 1}, entries"
                f" {self.checkpoint_size}–{self.size - 1} are chain- and signature-checked"
                " but not yet checkpointed (cmpp checkpoint)"
            )
        return text + "; the latest signed checkpoint covers them all"


def verify_for_figures(
    store: LogStore,
    progress: Progress = no_progress,
    *,
    jobs: int | None = None,
    held_checkpoints: Sequence[str] = (),
) -> Verification:
    """Verify the live log (checks 1 to 9, and 8 against `held_checkpoints`); raise
    LogNotVerifiedError if it does not."""
    source = LiveSource(store)
    with progress("verifying", source.size_hint or None) as advance:
        report = verify_log(source, jobs=jobs, progress=advance, held_checkpoints=held_checkpoints)
    if not report.ok or report.root is None or source.latest_checkpoint is None:
        raise LogNotVerifiedError(report)
    # It verified, so the latest checkpoint parses, is signed and matches the log.
    checkpoint = Checkpoint.parse_text(source.latest_checkpoint.split("\n\n")[0] + "\n")
    return Verification(report, source.head, checkpoint)


class VerifiedEntries:
    """The log's entries 0 to size-1 as a projector reads them, each hashed into a Merkle
    tree as it is handed over: afterwards, `frontier` is the tree of what was applied."""

    def __init__(self, store: LogStore, head: Head) -> None:
        self._store = store
        self._head = head  # the stored head that verified: its size is the verified size
        self.frontier = Frontier()

    def head(self) -> Head:
        return self._head

    def read_rows(self, start: int, limit: int) -> list[tuple[int, str, bytes | None]]:
        end = min(start + limit, self._head.size)
        if start >= end:
            return []
        if start != self.frontier.size:  # a row read twice could differ the second time
            raise ProjectionError(f"entry {start} was to be read once, in order")
        rows = [row for row in self._store.read_rows(start, end - start) if row[0] < end]
        for seq, prev, state in rows:
            self.frontier.append(leaf_hash(leaf_from_row(seq, prev, state)))
        return rows


def rebuild_verified(
    store: LogStore,
    verification: Verification,
    scratch: ProjectionDB,
    progress: Progress = no_progress,
) -> Projector:
    """Every projection, in `scratch`, from exactly the verified entries; refused (with
    the verifier's report and one more finding) if what was read is not what verified."""
    entries = VerifiedEntries(store, verification.head)
    projector = Projector(entries, scratch, every_projection())
    changed: str | None = None
    with progress("rebuilding from the verified log", verification.size) as advance:
        try:
            projector.catch_up(stop=verification.size, progress=advance)
        except ProjectionError as exc:  # an entry missing or not an entry (AlteredEntryError)
            # Every verified entry was there and was canonical JSON: it changed since.
            changed = f"an entry read to rebuild the projections is not as verified ({exc})"
    read = entries.frontier
    if changed is None and (read.size != verification.size or read.root() != verification.root):
        changed = (
            f"the {read.size} entries read to rebuild the projections are not the "
            f"{verification.size} entries verified (root {b64encode(read.root())}, not "
            f"{b64encode(verification.root)})"
        )
    if changed is not None:
        report = verification.report
        report.add(Check.ROOT, None, f"{changed}: the log changed between verifying and rebuilding")
        raise LogNotVerifiedError(report)
    return projector


@contextmanager
def verified_reports(
    store: LogStore,
    progress: Progress = no_progress,
    *,
    jobs: int | None = None,
    held_checkpoints: Sequence[str] = (),
) -> Iterator[tuple[Reports, Basis]]:
    """Reports answered from a scratch rebuild of the verified log, and what they rest on."""
    verification = verify_for_figures(store, progress, jobs=jobs, held_checkpoints=held_checkpoints)
    with scratch_db() as scratch:
        projector = rebuild_verified(store, verification, scratch, progress)
        basis = Basis(verification.size, verification.root, verification.checkpoint.size)
        covering = anchors.covering_in(store.checkpoints_near)
        yield Reports(projector, progress, covering), basis
