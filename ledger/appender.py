"""Turning a batch of stored events into log rows, inside the writer's lock.

Backend-neutral: a recorder reads the head (and the keys the batch names) under
its lock, calls `append_batch`, and writes what comes back in the same
transaction as the events. Nothing here touches a database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import StoredEvent

from ledger import canonical
from ledger.entry import EntryError, parse_signed_state, seal
from ledger.hashing import ZERO_PREV, b64encode
from ledger.merkle import Frontier, leaf_hash
from ledger.trust import KeyRecord, TrustError, TrustState, key_ids_named

NODE_LEVEL_SHIFT = 56  # a stored node's id is level << 56 | index


def node_id(level: int, index: int) -> int:
    return level << NODE_LEVEL_SHIFT | index


@dataclass(frozen=True)
class SignedStoredEvent(StoredEvent):
    """A stored event with the event dict its state was made from, so it isn't parsed again.

    Only the signing mapper makes these, from the same dict it encodes and signs.
    """

    event: dict[str, Any] = field(compare=False, repr=False)


class LogWriteError(ValueError):
    """A batch that cannot enter the log; the transaction writes nothing."""


@dataclass
class Head:
    """What a writer needs of the log's end: its size, last leaf and right edge."""

    size: int = 0
    last_leaf_hash: bytes | None = None
    frontier: Frontier = field(default_factory=Frontier)

    @property
    def prev(self) -> str:
        return ZERO_PREV if self.last_leaf_hash is None else self.last_leaf_hash.hex()


@dataclass
class Appended:
    log_rows: list[tuple[int, Any, int, str, bytes]]  # seq, originator_id, version, prev, leaf hash
    node_rows: list[tuple[int, bytes]]  # the Merkle nodes above the leaves
    keys: list[KeyRecord]
    head: Head


@dataclass
class Prepared:
    """Stored events parsed once: their events (None when unsigned) and the keys they name."""

    stored: Sequence[StoredEvent]
    events: list[dict[str, Any] | None]
    key_ids: set[str]


def prepare(stored_events: Sequence[StoredEvent], *, require_signed: bool) -> Prepared:
    events: list[dict[str, Any] | None] = []
    key_ids: set[str] = set()
    for stored in stored_events:
        if isinstance(stored, SignedStoredEvent):
            event = stored.event
            key_ids |= key_ids_named(event)
            events.append(event)
            continue
        try:
            event, _sig = parse_signed_state(stored.state)
        except EntryError as exc:
            if require_signed:
                raise LogWriteError(f"refusing an unsigned event: {exc}") from None
            events.append(None)
            continue
        _check_envelope(event, stored)
        key_ids |= key_ids_named(event)
        events.append(event)
    return Prepared(stored_events, events, key_ids)


def _check_envelope(event: dict[str, Any], stored: StoredEvent) -> None:
    if (
        event["type"] != stored.topic
        or event["stream"] != str(stored.originator_id)
        or event["version"] != stored.originator_version
    ):
        raise LogWriteError("the signed event does not match the stored event's id or topic")


def append_batch(head: Head, trust: TrustState, prepared: Prepared) -> Appended:
    frontier = head.frontier.copy()
    prev, seq = head.prev, head.size
    log_rows: list[tuple[int, Any, int, str, bytes]] = []
    node_rows: list[tuple[int, bytes]] = []
    last = head.last_leaf_hash
    for stored, event in zip(prepared.stored, prepared.events, strict=True):
        if event is None:
            leaf = _unsigned_leaf(stored, seq, prev)
        else:
            try:
                trust.admit(seq, event)
            except TrustError as exc:
                raise LogWriteError(f"entry {seq} ({event['type']}): {exc}") from None
            leaf = seal(stored.state, seq, prev)
        last = leaf_hash(leaf)
        log_rows.append((seq, stored.originator_id, stored.originator_version, prev, last))
        # The leaf's own hash lives in its log row; only the nodes above it go here.
        node_rows.extend((node_id(*node), value) for node, value in frontier.append(last)[1:])
        prev, seq = last.hex(), seq + 1
    return Appended(log_rows, node_rows, trust.changed, Head(seq, last, frontier))


def _unsigned_leaf(stored: StoredEvent, seq: int, prev: str) -> bytes:
    # Only recorders built with require_signed=False get here: the eventsourcing
    # contract suites store opaque bytes. Such an entry is plainly not a ledger
    # entry, and a verifier rejects it.
    return canonical.dumps({"prev": prev, "seq": seq, "unsigned_state": b64encode(stored.state)})
