"""Removing vault records that no event commits to, each proven orphaned first.

Since records are written in their event's transaction, none can be left behind any
more; earlier versions wrote them apart, and a crash between the two left records
that nothing in the log points to. A record is an orphan when no entry of the log
carries its commitment: the sweep reads the records first and the log after, so any
record it sees whose event exists has that event in the log it reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from domain.vault import Sealed, Vault
from ledger.entry import EntryError, read_event
from ledger.replay import altered
from ledger.store import LogStore

READ_BATCH = 2000


@dataclass(frozen=True)
class SweepReport:
    records: int  # vault records examined
    entries: int  # log entries read: the proof covers entries 0 .. entries-1
    orphans: list[Sealed]
    removed: bool


def _strings(value: Any) -> Iterator[str]:
    # Without recursion: an entry's data may be nested as deep as the parser allows.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _commitments_in_log(
    store: LogStore, wanted: set[str], progress: Callable[[int], None]
) -> tuple[set[str], int]:
    found: set[str] = set()
    start = 0
    while True:
        rows = store.read_rows(start, READ_BATCH)
        if not rows:
            return found, start
        for seq, _prev, state in rows:
            if state is not None:
                try:
                    data = read_event(state)["data"]
                except EntryError as exc:
                    # Whether it commits to a record cannot be told: sweep nothing.
                    raise altered(f"entry {seq} is not a signed event ({exc})") from None
                found.update(s for s in _strings(data) if s in wanted)
        start = rows[-1][0] + 1
        progress(start)


def sweep(
    vault: Vault,
    store: LogStore,
    *,
    remove: bool,
    progress: Callable[[int], None] = lambda _done: None,
) -> SweepReport:
    """Find (and, with `remove`, delete) the vault records no log entry commits to."""
    records = vault.records()  # before the log: see the module's docstring
    wanted = {r.commitment for r in records}
    found, entries = _commitments_in_log(store, wanted, progress)
    orphans = [r for r in records if r.commitment not in found]
    if remove and orphans:
        vault.remove([r.record_id for r in orphans])
    return SweepReport(len(records), entries, orphans, remove and bool(orphans))
