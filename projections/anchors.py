"""Reports anchored to the signed log: the entry a report reflects, the checkpoint that
covers it, and a digest of what it says.

A figure that leaves the system should carry what ties it to the log: anyone holding
the checkpoint (size and root, signed by the log key) can ask for that prefix of the log,
recompute the report from it (`cmpp report --bundle`), and compare digests. The digest
is SHA-256 over JCS({"seq": the entry reflected, "report": the report}) without the
members that say how it was answered rather than what it says (`anchor`, `rests_on`,
`basis`, `as_of_seq`, `scope`, at any depth): the same figures as of the same entry give the same
digest from the live database, from a rebuild of the verified log, or from a bundle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import rfc8785

from ledger.hashing import b64encode
from ledger.note import Checkpoint

# How the answer was reached, not what it says: left out of the digest.
NOT_DIGESTED = frozenset({"anchor", "rests_on", "basis", "as_of_seq", "scope"})

# The smallest issued checkpoint covering an entry: (size, note), or None if none does yet.
Covering = Callable[[int], tuple[int, str] | None]


def digest(report: dict[str, Any], seq: int) -> str:
    body = rfc8785.dumps({"seq": seq, "report": _content(report)})
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _content(value: Any) -> Any:
    """What a report says, at every depth (a replay holds whole reports)."""
    if isinstance(value, dict):
        return {k: _content(v) for k, v in value.items() if k not in NOT_DIGESTED}
    if isinstance(value, list):
        return [_content(v) for v in value]
    return value


def anchored(report: dict[str, Any], seq: int, covering: Covering | None) -> dict[str, Any]:
    """`report` with its anchor: the seq, the checkpoint covering it, the digest."""
    found = covering(seq) if covering is not None else None
    checkpoint = None
    if found is not None:
        parsed = Checkpoint.parse_text(found[1].split("\n\n")[0] + "\n")
        checkpoint = {"size": parsed.size, "root": b64encode(parsed.root)}
    report["anchor"] = {"seq": seq, "checkpoint": checkpoint, "digest": digest(report, seq)}
    return report


def restamped(report: dict[str, Any]) -> dict[str, Any]:
    """A report cut down (a grantee's share of the balances) with the digest of what is
    left: the anchor's seq and checkpoint stay, the digest says what is shown."""
    anchor = report.get("anchor")
    if anchor is None:
        return report
    return {**report, "anchor": {**anchor, "digest": digest(report, anchor["seq"])}}


def covering_in(checkpoints_near: Callable[[int], list[tuple[int, str]]]) -> Covering:
    """Covering checkpoints looked up in a store (`LogStore.checkpoints_near`)."""

    def covering(seq: int) -> tuple[int, str] | None:
        return next(((s, n) for s, n in checkpoints_near(seq + 1) if s > seq), None)

    return covering


def covering_among(checkpoints: dict[int, str]) -> Covering:
    """Covering checkpoints among those given by size (a bundle's)."""
    sizes = sorted(checkpoints)

    def covering(seq: int) -> tuple[int, str] | None:
        size = next((s for s in sizes if s > seq), None)
        return None if size is None else (size, checkpoints[size])

    return covering
