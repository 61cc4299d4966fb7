"""What the rest of the ledger needs from a storage backend, beyond eventsourcing's recorders."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol

from ledger.appender import Head
from ledger.entry import EntryError, seal
from ledger.merkle import Node
from ledger.trust import KeyRecord

PAGE = 5000  # entries read per query when streaming the log


class LogStore(Protocol):
    def head(self) -> Head: ...

    def read_rows(self, start: int, limit: int) -> list[tuple[int, str, bytes | None]]:
        """Up to `limit` rows (seq, prev, state or None if the event is missing) from `start`."""
        ...

    def read_tree_rows(self, start: int, limit: int) -> list[tuple[int, bytes, bytes]]:
        """(seq, stored leaf hash, stored Merkle nodes) of log rows from `start`."""
        ...

    def fetch_nodes(self, nodes: set[Node]) -> Mapping[Node, bytes]: ...

    def key_records(self) -> list[KeyRecord]: ...

    def checkpoints(self) -> list[tuple[int, str]]:
        """(size, note) of every checkpoint issued, by size."""
        ...

    def checkpoints_near(self, size: int) -> list[tuple[int, str]]:
        """Issued checkpoints near `size`: the nearest below, and the (up to) two from `size` up."""
        ...

    def add_checkpoint(self, size: int, note: str, issued_at: str) -> None: ...

    def add_cosignature(self, size: int, witness: str, line: str) -> None:
        """Keep the cosignature line of the checkpoint of `size` by `witness` (its key's
        name+hash), in place of any kept for them (which did not verify, or was as good)."""
        ...

    def cosignatures(self, size: int) -> list[tuple[str, str]]:
        """(witness, signature line) of each cosignature kept for `size`, as written: the
        witness is its key's name+hash (a bare name in rows of older ledgers). Untrusted:
        a reader verifies a line (ledger.witness_client.verifies) before using it."""
        ...

    def last_cosigned(self, witness: str) -> int | None:
        """The largest size a cosignature by `witness` (name+hash) is kept for, if any."""
        ...


def leaf_from_row(seq: int, prev: str, state: bytes | None) -> bytes:
    """The entry's bytes; what cannot be sealed is returned as is, for the verifier to flag."""
    if state is None:
        return b""
    try:
        return seal(state, seq, prev)
    except EntryError:
        return state


def iter_leaves(
    store: LogStore, start: int = 0, stop: int | None = None
) -> Iterator[tuple[int, bytes]]:
    """(seq, leaf) in seq order for seq in [start, stop); a missing row shows as a jump.

    With no `stop` it reads every row there is, even past the stored head, so that a
    row slipped in behind the writers' backs is seen.
    """
    position = start
    while stop is None or position < stop:
        rows = store.read_rows(position, PAGE)
        if not rows:
            return
        for seq, prev, state in rows:
            if stop is not None and seq >= stop:
                return
            yield seq, leaf_from_row(seq, prev, state)
        position = rows[-1][0] + 1
