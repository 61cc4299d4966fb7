"""`prove` never hands out a proof that does not verify: the stored leaf hashes and Merkle
nodes it is made from are checked against the entries and the signed checkpoint
(issue 10; an operator can edit those columns without touching an entry)."""

from __future__ import annotations

import pytest

from ledger import transparency
from ledger.transparency import StoredTreeError
from tests.helpers import RawDatabase, open_ledger


def ledger_of(database_url: str, entries: int):  # type: ignore[no-untyped-def]
    ledger = open_ledger(database_url)
    for _ in range(entries):
        ledger.pay()
    ledger.log.checkpoint()
    return ledger


def test_a_corrupted_leaf_hash_is_refused(database_url: str) -> None:
    ledger = ledger_of(database_url, 6)
    size = ledger.app.store.head().size
    transparency.inclusion(ledger.log, 3, size)  # sound: given
    RawDatabase(database_url).execute(
        "UPDATE ledger_log SET leaf_hash = ? WHERE seq = 3", (b"\x01" * 32,)
    )
    with pytest.raises(StoredTreeError, match="leaf hash of entry 3"):
        transparency.inclusion(ledger.log, 3, size)


def test_a_corrupted_node_is_refused_for_inclusion_and_consistency(database_url: str) -> None:
    ledger = ledger_of(database_url, 6)
    size = ledger.app.store.head().size
    old = 3
    ledger.log.checkpoint(old)
    transparency.consistency(ledger.log, old, size)  # sound: given
    transparency.inclusion(ledger.log, size - 1, size)
    # A perfect node lives in the row of the last leaf it covers: [0, 2) at level 1 in
    # row 1 (bytes 0..32), [0, 4) at level 2 in row 3 (bytes 32..64).
    raw = RawDatabase(database_url)
    for seq, level in ((1, 1), (3, 2)):
        nodes = bytearray(raw.execute("SELECT nodes FROM ledger_log WHERE seq = ?", (seq,))[0][0])
        nodes[(level - 1) * 32 : level * 32] = b"\x02" * 32
        raw.execute("UPDATE ledger_log SET nodes = ? WHERE seq = ?", (bytes(nodes), seq))
    with pytest.raises(StoredTreeError, match="does not verify"):
        transparency.inclusion(ledger.log, size - 1, size)
    with pytest.raises(StoredTreeError, match="does not verify"):
        transparency.consistency(ledger.log, old, size)
