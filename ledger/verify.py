"""The verifier: LEDGER_FORMAT.md section 7, checks 1 to 9, written as its steps.

  1. manifest hashes ........................ the source itself (BundleSource.report_on)
  2. canonical lines, seq = line number ..... check_lines (in workers), _Run.take
  3. the prev chain, instants in order ...... _Run.take, _Run._check_instant
  4. entry 0 and the trusted keys ........... _Run._check_trust, _Run._check_opening
  5. signatures, keys and permissions ....... check_lines (signatures), _Run._check_trust
  6. Merkle root = checkpoint root .......... _Run._check_latest, and the source's claims
  7. the checkpoint's signature (log key) ... _Run._check_latest, and its cosignatures
  8. earlier checkpoints .................... _Run._check_earlier
  9. domain invariants ...................... _Run.take, replaying the rules given

What it reads is a `Source`: a bundle (ledger.bundle) or the live database
(ledger.live). Depends only on `ledger/`, the standard library, `cryptography` and
`rfc8785`, so an auditor can lift it out alone with the bundle reader. It reads the
entries as a stream: memory stays flat however long the log. Signature checks, the
costly part, run in worker processes on batches of lines; the ordered checks run in
this process on what the workers return.
"""

from __future__ import annotations

import hashlib
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from sys import intern
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger import canonical
from ledger.catalogue import KEY_REGISTERED, LEDGER_ONLY, LEDGER_OPENED, Catalogue
from ledger.cosignature import WitnessKey, cosignatures_by
from ledger.entry import (
    CLOCK_SKEW_SECONDS,
    ENTRY_MEMBERS,
    EVENT_MEMBERS,
    EntryError,
    event_bytes_of,
    parse_instant,
)
from ledger.guard import Guard
from ledger.hashing import ZERO_PREV, b64decode, key_id
from ledger.merkle import EMPTY_ROOT, Frontier
from ledger.note import Checkpoint, NoteError, VerifierKey
from ledger.report import Check, Report
from ledger.trust import TrustError, TrustState

__all__ = ["Check", "Report", "Source", "Verified", "check_lines", "verify"]


class Source(Protocol):
    """What the verifier reads: a log's entry lines in order, the checkpoints that claim
    them, and whatever else the source itself vouches for (a bundle's manifest, a live
    database's stored head), which it checks itself once every line was read."""

    size_hint: int  # the number of entries it expects to hold (0 if unknown)
    latest_checkpoint: str | None
    earlier_checkpoints: dict[int, str]  # claimed size -> note

    def lines(self) -> Iterable[bytes]: ...

    def report_on(self, log: Verified, report: Report) -> None:
        """Add this source's own findings, given what the ordered checks established."""
        ...


@dataclass(frozen=True)
class Verified:
    """What the ordered checks established about the log a source holds."""

    size: int
    root: bytes
    opening: dict[str, Any] | None  # entry 0's data, if entry 0 was admitted
    latest: Checkpoint | None  # the latest checkpoint's text, if it parses


# -- Per-entry work, done in worker processes -----------------------------------------

BATCH = 2000  # lines per task sent to a worker process
_VERIFIERS: dict[bytes, Ed25519PublicKey] = {}

Checked = tuple[bytes, int | None, str | None, dict[str, Any] | None, bool | None, list[str]]


def check_lines(
    lines: list[bytes] | bytes,
    public_keys: dict[str, bytes],
    needs_data: tuple[str, ...] = ("ledger.",),
) -> list[Checked]:
    """For each line: leaf hash, seq, prev, event, signature verdict, shape problems.

    `lines` may come as one block joined by newlines (cheaper to send to a worker).
    Events go back to the ordered checks with their `data` only if their type starts
    with one of `needs_data`, and with their strings interned, so that pickling the
    results back costs little next to parsing them.
    """
    if isinstance(lines, bytes):
        lines = lines.split(b"\n")
    out: list[Checked] = []
    for line in lines:
        leaf_hash = hashlib.sha256(b"\x00" + line).digest()
        try:
            entry = canonical.loads(line)
        except canonical.CanonicalError as exc:
            out.append((leaf_hash, None, None, None, None, [f"not a canonical entry: {exc}"]))
            continue
        problems = _shape_problems(entry)
        if problems:
            out.append((leaf_hash, None, None, None, None, problems))
            continue
        event = entry["event"]
        public = public_keys.get(event["key"])
        verdict: bool | None = None
        if public is not None:
            verifier = _VERIFIERS.get(public)
            if verifier is None:
                verifier = _VERIFIERS[public] = Ed25519PublicKey.from_public_bytes(public)
            try:
                verifier.verify(b64decode(entry["sig"]), event_bytes_of(line))
                verdict = True
            except (InvalidSignature, ValueError, EntryError):
                verdict = False
        if not event["type"].startswith(needs_data):
            event = {
                "type": intern(event["type"]),
                "actor": intern(event["actor"]),  # for step 5: the key's person or holder
                "org": intern(event["org"]),
                "key": intern(event["key"]),
                "at": event["at"],  # for step 3
                "data": None,
            }
        out.append((leaf_hash, entry["seq"], entry["prev"], event, verdict, []))
    return out


def _shape_problems(entry: Any) -> list[str]:
    if type(entry) is not dict or entry.keys() != ENTRY_MEMBERS:
        return [f"an entry has exactly the members {sorted(ENTRY_MEMBERS)}"]
    event = entry["event"]
    if type(event) is not dict or event.keys() != EVENT_MEMBERS:
        return [f"an event has exactly the members {sorted(EVENT_MEMBERS)}"]
    problems = []
    if type(entry["seq"]) is not int:
        problems.append("seq is not an integer")
    prev = entry["prev"]
    if type(prev) is not str or len(prev) != 64 or prev.strip("0123456789abcdef"):
        problems.append("prev is not 64 lowercase hex digits")
    if type(entry["sig"]) is not str:
        problems.append("sig is not a string")
    for member in ("type", "stream", "actor", "org", "key", "at"):
        if type(event[member]) is not str:
            problems.append(f"event.{member} is not a string")
    version = event["version"]
    if type(version) is not int or version < 1:
        problems.append("event.version is not a positive integer")
    if type(event["data"]) is not dict:
        problems.append("event.data is not an object")
    if type(event["at"]) is str:
        try:
            parse_instant(event["at"])
        except EntryError as exc:
            problems.append(str(exc))
    return problems


_ANNOUNCING = tuple(f'"{t}"'.encode() for t in (KEY_REGISTERED, LEDGER_OPENED))


def _keys_announced(line: bytes, into: dict[str, bytes]) -> None:
    """Public keys a line registers, so workers can check signatures made with them.

    A key id is the hash of its public key, so learning a key here grants nothing:
    whether it was registered, in time, by whom, is for the ordered trust check.
    """
    if not any(marker in line for marker in _ANNOUNCING):
        return
    try:
        data = canonical.loads(line)["event"]["data"]
        candidates = [data, data.get("root_key")] if isinstance(data, dict) else []
    except (canonical.CanonicalError, KeyError, TypeError, AttributeError):
        return
    for candidate in candidates:
        if not isinstance(candidate, dict):
            continue
        try:
            public = b64decode(candidate["public_key"])
        except (KeyError, TypeError, ValueError):
            continue
        if key_id(public) == candidate.get("key_id") and len(public) == 32:
            into[candidate["key_id"]] = public


# -- The ordered checks ----------------------------------------------------------------


class _Run:
    def __init__(
        self,
        source: Source,
        trusted_log_key: VerifierKey | None,
        trusted_root_key_id: str | None,
        invariants: list[Guard],
        catalogue: Catalogue,
        *,
        held: Sequence[str] = (),
        witness_keys: Sequence[WitnessKey] = (),
    ) -> None:
        self.source = source
        self.witness_keys = list(witness_keys)
        self.held: list[tuple[int, str, Checkpoint | None]] = []  # checkpoints the auditor holds
        self.trusted_log_key = trusted_log_key
        self.trusted_root_key_id = trusted_root_key_id
        self.invariants = invariants
        self.report = Report()
        self.frontier = Frontier()
        self.trust = TrustState(catalogue=catalogue)
        self.prev = ZERO_PREV
        self.previous_at: str | None = None
        self.opening: dict[str, Any] | None = None
        self.prefix_roots: dict[int, bytes] = {}
        self.wanted_sizes = set(source.earlier_checkpoints)
        self.latest: Checkpoint | None = None
        if source.latest_checkpoint is not None:
            try:
                self.latest = Checkpoint.parse_text(
                    source.latest_checkpoint.split("\n\n")[0] + "\n"
                )
                self.wanted_sizes.add(self.latest.size)
            except NoteError as exc:
                self.report.add(Check.CHECKPOINT, None, f"checkpoint.txt: {exc}")
        for number, note in enumerate(held, start=1):
            try:
                checkpoint = Checkpoint.parse_text(note.split("\n\n")[0] + "\n")
            except NoteError:
                checkpoint = None  # reported, with its signature, in step 8
            self.held.append((number, note, checkpoint))
            if checkpoint is not None:
                self.wanted_sizes.add(checkpoint.size)
        if 0 in self.wanted_sizes:
            self.prefix_roots[0] = EMPTY_ROOT

    def take(self, results: list[Checked]) -> None:
        """Steps 2, 3, 5 and 9 for each entry, in order; the tree grows for 6 and 8."""
        report = self.report
        for leaf_hash, seq, prev, event, sig_ok, problems in results:
            n = self.frontier.size
            for problem in problems:
                report.add(Check.CANONICAL, n, problem)
            if seq is not None and seq != n:
                report.add(Check.CANONICAL, n, f"the entry says seq {seq}, but it is line {n}")
            if prev is not None and prev != self.prev:
                what = "64 zeros" if n == 0 else f"the leaf hash of entry {n - 1}"
                report.add(Check.CHAIN, n, f"prev is not {what}")
            if event is not None:
                self._check_instant(n, event.get("at"))
            if event is None:
                if n == 0:
                    report.add(
                        Check.OPENING, 0, "entry 0 cannot be read, so there is no trust anchor"
                    )
            else:
                self._check_trust(n, event, sig_ok)
                for rules in self.invariants:
                    for message in rules.admit(n, event, strict=False):
                        report.add(Check.INVARIANTS, n, message)
            self.frontier.append(leaf_hash)
            self.prev = leaf_hash.hex()
            if self.frontier.size in self.wanted_sizes:
                self.prefix_roots[self.frontier.size] = self.frontier.root()

    def _check_instant(self, n: int, at: Any) -> None:
        """Step 3: no entry's instant more than CLOCK_SKEW_SECONDS before the previous's.
        Instants are fixed-width text: only one that sorts earlier is parsed."""
        if not isinstance(at, str):
            return  # a shape problem, reported with step 2
        before, self.previous_at = self.previous_at, at
        if before is None or at >= before:
            return
        try:
            behind = (parse_instant(before) - parse_instant(at)).total_seconds()
        except EntryError:
            return  # reported with step 2
        if behind > CLOCK_SKEW_SECONDS:
            self.report.add(
                Check.CHAIN,
                n,
                f"its instant {at} is {behind:.0f} s before entry {n - 1}'s "
                f"(at most {CLOCK_SKEW_SECONDS} s): backdated",
            )

    def _check_trust(self, n: int, event: dict[str, Any], sig_ok: bool | None) -> None:
        check = Check.OPENING if n == 0 else Check.SIGNATURES
        if sig_ok is False:
            self.report.add(check, n, f"the signature does not verify with key {event['key']}")
            return
        try:
            self.trust.admit(n, event)
        except TrustError as exc:
            self.report.add(check, n, str(exc))
            return
        if sig_ok is None:  # cannot happen for an admitted entry; kept as a guard
            self.report.add(check, n, f"no public key to check the signature of {event['key']}")
        if n == 0:
            self.opening = event

    def finish(self) -> Report:
        report = self.report
        report.size = self.frontier.size
        report.root = self.frontier.root()
        covered = f"{report.size} entries"
        for check in (Check.CANONICAL, Check.CHAIN, Check.SIGNATURES):
            report.checked[check] = covered
        log_key = self._check_opening()  # step 4
        self._check_latest(log_key)  # steps 6 and 7
        self._check_earlier(log_key)  # step 8
        self._check_held(log_key)  # step 8, against what the auditor holds
        if self.invariants:
            names = ", ".join(type(rules).__name__ for rules in self.invariants)
            report.checked[Check.INVARIANTS] = f"{names} over {report.size} entries"
        else:
            report.skip(Check.INVARIANTS, "no domain rules are defined for this ledger yet")
        # Step 1, and whatever else the source vouches for, checked by the source itself.
        opening = None if self.opening is None else self.opening["data"]
        self.source.report_on(Verified(report.size, report.root, opening, self.latest), report)
        return report

    def _check_opening(self) -> VerifierKey | None:
        report, opening = self.report, self.opening
        if opening is None:
            if report.size == 0:
                report.add(Check.OPENING, None, "the log is empty")
            return self.trusted_log_key
        data = opening["data"]
        log_key = VerifierKey(data["origin"], b64decode(data["log_key"]["public_key"]))
        if self.trusted_root_key_id and data["root_key"]["key_id"] != self.trusted_root_key_id:
            report.add(
                Check.OPENING,
                0,
                f"the root key is {data['root_key']['key_id']}, not the trusted "
                f"{self.trusted_root_key_id}",
            )
        if self.trusted_log_key is not None and self.trusted_log_key != log_key:
            report.add(
                Check.OPENING,
                0,
                f"entry 0 names the log key {log_key}, not the trusted {self.trusted_log_key}",
            )
        if self.trusted_log_key is None:
            report.checked[Check.OPENING] = (
                "log key taken from entry 0 (pass --trusted-key to pin it)"
            )
        else:
            report.checked[Check.OPENING] = "entry 0 matches the trusted log key"
        return self.trusted_log_key or log_key

    def _check_latest(self, log_key: VerifierKey | None) -> None:
        report, note = self.report, self.source.latest_checkpoint
        if note is None:
            report.add(Check.CHECKPOINT, None, "there is no checkpoint to verify against")
            report.add(Check.ROOT, None, "there is no checkpoint root to compare")
            return
        if log_key is not None:
            try:
                Checkpoint.open(note, log_key)
                report.checked[Check.CHECKPOINT] = f"signed by {log_key.name}+{log_key.hash.hex()}"
            except NoteError as exc:
                report.add(Check.CHECKPOINT, None, f"checkpoint: {exc}")
        self._check_cosignatures(note)
        latest = self.latest
        if latest is None:
            return
        report.checked[Check.ROOT] = f"checkpoint of {latest.size} entries"
        root = self.prefix_roots.get(latest.size)
        if root is not None and root != latest.root:
            report.add(
                Check.ROOT,
                None,
                f"the root over the first {latest.size} entries is not the checkpoint's root",
            )

    def _check_cosignatures(self, note: str) -> None:
        """Step 7, with witness keys: each witness cosigned the latest checkpoint."""
        report, cosigned = self.report, []
        for key in self.witness_keys:
            try:
                cosignatures_by(note, key)
                cosigned.append(key.short)
            except NoteError as exc:
                report.add(Check.CHECKPOINT, None, f"witness {key.short}: {exc}")
        if cosigned and Check.CHECKPOINT in report.checked:
            report.checked[Check.CHECKPOINT] += f", cosigned by {', '.join(cosigned)}"

    def _check_earlier(self, log_key: VerifierKey | None) -> None:
        report, latest = self.report, self.latest
        earlier = self.source.earlier_checkpoints
        report.checked[Check.EARLIER_CHECKPOINTS] = f"{len(earlier)} checkpoints"
        for claimed, note in sorted(earlier.items()):
            try:
                checkpoint = (
                    Checkpoint.open(note, log_key)
                    if log_key is not None
                    else Checkpoint.parse_text(note.split("\n\n")[0] + "\n")
                )
            except NoteError as exc:
                report.add(Check.EARLIER_CHECKPOINTS, None, f"checkpoint {claimed}: {exc}")
                continue
            if checkpoint.size != claimed:
                report.add(
                    Check.EARLIER_CHECKPOINTS,
                    None,
                    f"checkpoints/{claimed}.txt is for size {checkpoint.size}",
                )
            if latest is not None and checkpoint.size > latest.size:
                report.add(
                    Check.EARLIER_CHECKPOINTS,
                    None,
                    f"checkpoint {claimed} is larger than the latest",
                )
                continue
            root = self.prefix_roots.get(checkpoint.size)
            if root is None:
                report.add(
                    Check.EARLIER_CHECKPOINTS,
                    None,
                    f"checkpoint {claimed}: the log is shorter than it",
                )
            elif root != checkpoint.root:
                # Both roots come from the same leaves, so a match is consistency
                # with the latest; a mismatch means a forked or rewritten history.
                report.add(
                    Check.EARLIER_CHECKPOINTS,
                    None,
                    f"checkpoint {claimed} is not consistent with the log "
                    f"(its root is not the root of the first {claimed} entries)",
                )

    def _check_held(self, log_key: VerifierKey | None) -> None:
        """A checkpoint the auditor holds (fetched earlier, or from a witness) must be a
        prefix of this log: a shorter log is a rollback, another root at its size a fork."""
        report = self.report
        if self.held:
            done = report.checked.get(Check.EARLIER_CHECKPOINTS, "")
            report.checked[Check.EARLIER_CHECKPOINTS] = f"{done}, {len(self.held)} held"
        for number, note, parsed in self.held:
            name = f"held checkpoint {number}"
            try:
                checkpoint = Checkpoint.open(note, log_key) if log_key is not None else parsed
            except NoteError as exc:
                report.add(Check.EARLIER_CHECKPOINTS, None, f"{name}: {exc}")
                continue
            if checkpoint is None:
                report.add(Check.EARLIER_CHECKPOINTS, None, f"{name} is not a checkpoint")
            elif checkpoint.size > self.frontier.size:
                report.add(
                    Check.EARLIER_CHECKPOINTS,
                    None,
                    f"rollback: the log holds {self.frontier.size} entries, fewer than the "
                    f"{checkpoint.size} of {name}",
                )
            elif self.prefix_roots.get(checkpoint.size) != checkpoint.root:
                report.add(
                    Check.EARLIER_CHECKPOINTS,
                    None,
                    f"fork: the first {checkpoint.size} entries have another root than "
                    f"{name} (signed for the same size)",
                )


def verify(
    source: Source,
    *,
    trusted_log_key: VerifierKey | None = None,
    trusted_root_key_id: str | None = None,
    invariants: list[Guard] | None = None,
    catalogue: Catalogue = LEDGER_ONLY,
    jobs: int | None = None,
    progress: Callable[[int], None] | None = None,
    held_checkpoints: Sequence[str] = (),
    witness_keys: Sequence[WitnessKey] = (),
) -> Report:
    """Run checks 1 to 9 over `source` and return every finding.

    Check 5 asks `catalogue` which roles may sign which event types (the ledger's own
    types only, unless the program's catalogue is given). Check 9 replays `invariants`:
    rule sets in the ledger.guard.Guard form (fresh ones: they keep state), each with a
    `types` attribute naming the event types whose data it reads. Without them, check 9
    is reported as skipped. Each of `witness_keys` must have cosigned the latest
    checkpoint (step 7).
    """
    run = _Run(
        source,
        trusted_log_key,
        trusted_root_key_id,
        list(invariants or []),
        catalogue,
        held=held_checkpoints,
        witness_keys=witness_keys,
    )
    jobs = jobs or os.cpu_count() or 1
    public_keys: dict[str, bytes] = {}
    # Invariants say which event types they read (an attribute `types`); by default, all.
    needs_data = ("ledger.", *(t for i in run.invariants for t in getattr(i, "types", ("",))))
    batches = _batches(source.lines(), public_keys)
    if jobs == 1 or source.size_hint < 4 * BATCH:
        for lines in batches:
            run.take(check_lines(lines, public_keys, needs_data))
            if progress is not None:
                progress(run.frontier.size)
        return run.finish()
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        pending: deque[Future[list[Checked]]] = deque()
        for lines in batches:
            pending.append(pool.submit(check_lines, lines, dict(public_keys), needs_data))
            if len(pending) >= 2 * jobs:
                run.take(pending.popleft().result())
                if progress is not None:
                    progress(run.frontier.size)
        while pending:
            run.take(pending.popleft().result())
            if progress is not None:
                progress(run.frontier.size)
    return run.finish()


def _batches(
    lines: Iterable[bytes], public_keys: dict[str, bytes]
) -> Iterator[list[bytes] | bytes]:
    batch: list[bytes] = []
    for line in lines:
        batch.append(line)
        if len(batch) == BATCH:
            yield _pack(batch, public_keys)
            batch = []
    if batch:
        yield _pack(batch, public_keys)


def _pack(batch: list[bytes], public_keys: dict[str, bytes]) -> list[bytes] | bytes:
    """One block for a worker, after learning the keys its lines announce."""
    block = b"\n".join(batch)
    if b'"ledger.' in block:  # rare: look line by line for key registrations
        for line in batch:
            _keys_announced(line, public_keys)
    if block.count(b"\n") != len(batch) - 1:  # a (corrupt) line holds a newline itself
        return batch
    return block
