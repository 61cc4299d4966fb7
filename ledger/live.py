"""The live database as the verifier's source: every log row, and the checkpoints it issued.

It vouches for more than its entries: the head it stores (size and Merkle root), which
writers extend and checkpoints are signed from, and each row's stored leaf hash and
Merkle nodes, which proofs are made from. It recomputes them all from the entries.
Checkpoints may lag the log, so entries past the latest are chain- and signature-checked
and said to be uncovered.
"""

from __future__ import annotations

from collections.abc import Iterator

from ledger.merkle import Frontier, leaf_hash
from ledger.report import Check, Report
from ledger.store import PAGE, LogStore, iter_leaves
from ledger.verify import Verified

MAX_NAMED = 20  # stored-tree differences named one by one; the rest are counted


class LiveSource:
    def __init__(self, store: LogStore) -> None:
        self.store = store
        self.head = store.head()
        issued = store.checkpoints()
        self.size_hint = self.head.size
        self.latest_checkpoint = issued[-1][1] if issued else None
        self.earlier_checkpoints = dict(issued[:-1])
        self._latest_size = issued[-1][0] if issued else None

        self.tree_differs: list[int] = []  # seqs whose stored leaf hash or nodes are wrong

    def lines(self) -> Iterator[bytes]:
        stored = self._stored_tree()
        frontier = Frontier()
        for seq, leaf in iter_leaves(self.store):
            if seq == frontier.size:  # after a missing row, the chain check says enough
                computed = leaf_hash(leaf)
                completed = b"".join(value for _node, value in frontier.append(computed)[1:])
                row = next(stored, None)
                if row != (seq, computed, completed):
                    self.tree_differs.append(seq)
            yield leaf

    def _stored_tree(self) -> Iterator[tuple[int, bytes, bytes]]:
        position = 0
        while rows := self.store.read_tree_rows(position, PAGE):
            yield from rows
            position = rows[-1][0] + 1

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
        for seq in self.tree_differs[:MAX_NAMED]:
            report.add(
                Check.ROOT,
                seq,
                "the stored leaf hash or Merkle nodes of this entry are not those the entries "
                "make: proofs made from them would not verify",
            )
        if len(self.tree_differs) > MAX_NAMED:
            report.add(
                Check.ROOT, None, f"and {len(self.tree_differs) - MAX_NAMED} more such entries"
            )
        if self._latest_size is None:
            report.notes.append("no checkpoint has been issued yet: run `cmpp checkpoint`")
        elif self._latest_size < self.head.size:
            report.notes.append(
                f"entries {self._latest_size} to {self.head.size - 1} are not yet covered by a "
                "checkpoint (they are still chain- and signature-checked)"
            )
