"""Turning a batch of stored events into log rows, inside the writer's lock.

Backend-neutral: a recorder reads the head (and the keys the batch names) under
its lock, calls `append_batch`, and writes what comes back in the same
transaction as the events. Nothing here touches a database.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from eventsourcing.persistence import StoredEvent

from ledger import alongside, canonical
from ledger.catalogue import LEDGER_ONLY, Catalogue
from ledger.entry import CLOCK_SKEW_SECONDS, EntryError, format_instant, parse_signed_state, seal
from ledger.errors import UserError
from ledger.guard import Guard, GuardedWrites, RowReader
from ledger.hashing import ZERO_PREV, b64encode
from ledger.merkle import Frontier, Node, leaf_hash
from ledger.replay import LogReplay
from ledger.trust import KeyRecord, TrustError, TrustState, key_ids_named


def node_home(node: Node) -> tuple[int, int]:
    """Where a stored Merkle node lives: (seq of its row, byte offset in that row's nodes).

    A perfect node is completed by appending its last leaf, so it is stored in that
    leaf's log row: level 0 is the row's leaf hash (offset -1), levels 1..k follow
    one another in the row's `nodes` column.
    """
    level, index = node
    return ((index + 1) << level) - 1, (level - 1) * 32


def nodes_from_rows(
    nodes: Iterable[Node], rows: Mapping[int, tuple[bytes, bytes]]
) -> dict[Node, bytes]:
    """Pick the wanted nodes out of rows {seq: (leaf_hash, nodes)}."""
    found: dict[Node, bytes] = {}
    missing = []
    for node in nodes:
        seq, offset = node_home(node)
        row = rows.get(seq)
        value = b"" if row is None else row[0] if offset < 0 else row[1][offset : offset + 32]
        if len(value) == 32:
            found[node] = value
        else:
            missing.append(node)
    if missing:
        raise LookupError(f"Merkle nodes missing from the store: {sorted(missing)[:3]}")
    return found


@dataclass(frozen=True)
class SignedStoredEvent(StoredEvent):
    """A stored event with the event dict its state was made from, so it isn't parsed again.

    Only the signing mapper makes these, from the same dict it encodes and signs.
    """

    event: dict[str, Any] = field(compare=False, repr=False)


class LogWriteError(UserError, ValueError):
    """A batch that cannot enter the log; the transaction writes nothing."""

    rule = "log-write"


@dataclass
class Head:
    """What a writer needs of the log's end: its size, last leaf and right edge."""

    size: int = 0
    last_leaf_hash: bytes | None = None
    frontier: Frontier = field(default_factory=Frontier)
    keys_version: int = 0  # bumped by every key change, so writers may cache key records

    @property
    def prev(self) -> str:
        return ZERO_PREV if self.last_leaf_hash is None else self.last_leaf_hash.hex()

    @classmethod
    def from_row(cls, row: Any) -> Head:
        """From a `ledger_head` row (any mapping by column name), or an empty log if None."""
        if row is None:
            return cls()
        last = None if row["last_leaf_hash"] is None else bytes(row["last_leaf_hash"])
        frontier = Frontier.from_bytes(row["size"], bytes(row["frontier"]))
        return cls(row["size"], last, frontier, row["keys_version"])


@dataclass
class Appended:
    # seq, originator_id, originator_version, prev, leaf hash, Merkle nodes the leaf completes
    log_rows: list[tuple[int, Any, int, str, bytes, bytes]]
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
    log_rows: list[tuple[int, Any, int, str, bytes, bytes]] = []
    last = head.last_leaf_hash
    within = InstantBounds.around_now()
    for stored, event in zip(prepared.stored, prepared.events, strict=True):
        if event is None:
            leaf = _unsigned_leaf(stored, seq, prev)
        else:
            within.check(seq, event)
            try:
                trust.admit(seq, event)
            except TrustError as exc:
                raise LogWriteError(f"entry {seq} ({event['type']}): {exc}") from None
            leaf = seal(stored.state, seq, prev)
        last = leaf_hash(leaf)
        completed = b"".join(value for _node, value in frontier.append(last)[1:])
        log_rows.append(
            (seq, stored.originator_id, stored.originator_version, prev, last, completed)
        )
        prev, seq = last.hex(), seq + 1
    keys_version = head.keys_version + (1 if trust.changed else 0)
    return Appended(log_rows, trust.changed, Head(seq, last, frontier, keys_version))


@dataclass(frozen=True)
class InstantBounds:
    """The instants a writer accepts at commit: within CLOCK_SKEW_SECONDS of its clock
    (LEDGER_FORMAT.md section 2), so no event can be backdated into an earlier report.

    Instants are written in one fixed-width form, so comparing the text compares the
    moments: the bounds are formatted once per batch, not each instant parsed."""

    low: str
    high: str

    @classmethod
    def around_now(cls) -> InstantBounds:
        now = datetime.now(UTC)
        skew = timedelta(seconds=CLOCK_SKEW_SECONDS)
        return cls(format_instant(now - skew), format_instant(now + skew))

    def check(self, seq: int, event: dict[str, Any]) -> None:
        at = event.get("at")
        if not (isinstance(at, str) and self.low <= at <= self.high):
            raise LogWriteError(
                f"entry {seq} ({event.get('type')}): its instant {at!r} is more than "
                f"{CLOCK_SKEW_SECONDS} s from this writer's clock; check the clocks"
            )


def _unsigned_leaf(stored: StoredEvent, seq: int, prev: str) -> bytes:
    # Only recorders built with require_signed=False get here: the eventsourcing
    # contract suites store opaque bytes. Such an entry is plainly not a ledger
    # entry, and a verifier rejects it.
    return canonical.dumps({"prev": prev, "seq": seq, "unsigned_state": b64encode(stored.state)})


class KeyCache:
    """Key records a writer has read, valid while the head's keys_version is unchanged.

    Used only under the write lock. Records written by a transaction are never
    cached (it might roll back); a key change bumps the version, which empties this.
    """

    def __init__(self) -> None:
        self._version: int | None = None
        self._keys: dict[str, KeyRecord] = {}

    def split(self, version: int, wanted: set[str]) -> tuple[dict[str, KeyRecord], set[str]]:
        """Copies of the cached records among `wanted`, and the ids still to read."""
        if version != self._version:
            self._version, self._keys = version, {}
        cached = {k: self._keys[k] for k in wanted if k in self._keys}  # frozen: shareable
        return cached, wanted - set(cached)

    def remember(self, version: int, records: dict[str, KeyRecord]) -> None:
        if version == self._version:
            self._keys.update(records)

    def resolve(
        self, version: int, wanted: set[str], read: Callable[[set[str]], dict[str, KeyRecord]]
    ) -> dict[str, KeyRecord]:
        """The records of `wanted`, reading (with `read`) only those not cached."""
        keys, unknown = self.split(version, wanted)
        if unknown:
            found = read(unknown)
            self.remember(version, found)
            keys.update(found)
        return keys


def key_record(row: Any) -> KeyRecord:
    """From a `ledger_keys` row (any mapping by column name)."""
    return KeyRecord(
        row["key_id"],
        bytes(row["public_key"]),
        row["holder"],
        tuple(json.loads(row["roles"])),
        row["registered_seq"],
        row["revoked_seq"],
        row["person"],
    )


class LogWriter:
    """What both backends' recorders share beyond the appender: a key cache, and a guard."""

    require_signed = True  # False only for eventsourcing's contract suites (opaque states)
    catalogue: Catalogue = LEDGER_ONLY  # which roles may sign which types; set by the application
    guarded: GuardedWrites | None = None

    def set_guard(self, guard: Guard, snapshot_key: bytes | None = None) -> None:
        """Have `guard` admit every event this recorder writes (see ledger.guard); with a
        `snapshot_key`, keep its snapshots in this database (see ledger.guard_snapshot).
        A guarded writer takes its keys from its replay of the log (ledger.replay), not
        from the `ledger_keys` table."""
        self.guarded = GuardedWrites(
            guard,
            self.read_rows,  # type: ignore[attr-defined]
            snapshots=self,  # type: ignore[arg-type]
            snapshot_key=snapshot_key,
            catalogue=self.catalogue,
        )
        self.guarded.on_ready = self.ready_checks

    @property
    def commit_hooks(self) -> list[Callable[[int], None]]:
        """Called with the log's size after each batch this writer committed (outside
        every lock), e.g. to issue checkpoints (ledger.coverage)."""
        hooks: list[Callable[[int], None]] | None = self.__dict__.get("_commit_hooks")
        if hooks is None:
            hooks = self.__dict__["_commit_hooks"] = []
        return hooks

    def _committed(self) -> None:
        if self.guarded is not None and self.commit_hooks:
            size = self.guarded.replay.size
            for hook in self.commit_hooks:
                hook(size)

    @property
    def ready_checks(self) -> list[Callable[[LogReplay], None]]:
        """Checks a guarded writer runs once it first reaches the committed log."""
        checks: list[Callable[[LogReplay], None]] | None = self.__dict__.get("_ready_checks")
        if checks is None:
            checks = self.__dict__["_ready_checks"] = []
        return checks

    def _append(
        self,
        read: RowReader,
        head: Head,
        prepared: Prepared,
        read_keys: Callable[[set[str]], dict[str, KeyRecord]],
    ) -> Appended:
        """Under the write lock: the batch's log rows, checked by the trust rules and the
        guard. Unguarded (eventsourcing's contract suites), keys come from the table."""
        if self.guarded is None:
            keys = self.key_cache.resolve(head.keys_version, prepared.key_ids, read_keys)
            appended = append_batch(head, TrustState(keys, self.catalogue), prepared)
        else:
            trust = self.guarded.catch_up_to(read, head)
            appended = append_batch(head, trust, prepared)
            events = [(head.size + i, e) for i, e in enumerate(prepared.events) if e is not None]
            self.guarded.admit_batch(events, appended)
        alongside.wrote(appended.head.size - 1)
        return appended

    @property
    def key_cache(self) -> KeyCache:
        cache: KeyCache | None = self.__dict__.get("_key_cache")
        if cache is None:
            cache = self.__dict__["_key_cache"] = KeyCache()
        return cache
