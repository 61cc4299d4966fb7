"""The live database as the verifier's source: every log row, and the checkpoints it issued.

It vouches for one more thing than its entries: the head it stores (size and Merkle
root), which writers extend and checkpoints are signed from; it checks that itself.
Checkpoints may lag the log, so entries past the latest are chain- and signature-checked
and said to be uncovered.
"""

from __future__ import annotations

from collections.abc import Iterator

from ledger.report import Check, Report
from ledger.store import LogStore, iter_leaves
from ledger.verify import Verified


class LiveSource:
    def __init__(self, store: LogStore) -> None:
        self.store = store
        self.head = store.head()
        issued = store.checkpoints()
        self.size_hint = self.head.size
        self.latest_checkpoint = issued[-1][1] if issued else None
        self.earlier_checkpoints = dict(issued[:-1])
        self._latest_size = issued[-1][0] if issued else None

    def lines(self) -> Iterator[bytes]:
        return (leaf for _seq, leaf in iter_leaves(self.store))

    def report_on(self, log: Verified, report: Report) -> None:
        report.skip(Check.MANIFEST, "live database: no manifest")
        if log.latest is not None and log.latest.size > log.size:
            report.add(
                Check.ROOT,
                None,
                f"the latest checkpoint covers {log.latest.size} entries but the "
                f"log holds only {log.size}: entries are missing",
            )
        if self.head.size != log.size:
            report.add(
                Check.ROOT,
                None,
                f"the database's stored head says {self.head.size} entries, "
                f"but it holds {log.size}",
            )
        elif self.head.frontier.root() != log.root:
            report.add(
                Check.ROOT, None, "the database's stored Merkle tree does not match its entries"
            )
        if self._latest_size is None:
            report.notes.append("no checkpoint has been issued yet: run `cmpp checkpoint`")
        elif self._latest_size < self.head.size:
            report.notes.append(
                f"entries {self._latest_size} to {self.head.size - 1} are not yet covered by a "
                "checkpoint (they are still chain- and signature-checked)"
            )
