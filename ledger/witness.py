"""A witness (C2SP tlog-witness): cosigns a log's checkpoint only if it is consistent
with the last one it cosigned, and keeps what it refused as evidence.

Its state is one directory, which anyone running a witness (the inspector general, say)
keeps apart from the ledger:

    witness.key                       its Ed25519 private key (mode 0600; the directory 0700)
    logs/<H(origin) hex>/log.vkey     the verifier key of a log it witnesses
    logs/<H(origin) hex>/checkpoint.txt   the latest checkpoint of that log it cosigned
    logs/<H(origin) hex>/evidence-not-kept  how many refusals the cap left unkept
    evidence/<time>-<kind>-<log>-<hash>/  held.txt, shown.txt, request.txt, why.txt

Evidence is kept only where it can mean something. A fork (two checkpoints of one size
with different roots, both signed by the log key) proves the log misbehaved: it is kept
once per pair of checkpoint texts, always. A smaller checkpoint (`rollback`) or one whose
proof does not verify (`inconsistent`) proves nothing by itself, since the protocol is
unauthenticated and anyone may send an old checkpoint or a junk proof: each checkpoint
text is kept once, and at most MAX_UNPROVEN_EVIDENCE such records per log (the others
are counted). A kept note has the log's signature line only, so that lines a client adds
neither defeat the deduplication nor fill the disk.

Every file is written aside, synced and renamed into place, so a crash leaves the old
state or the new, never half of one; and the checks and the update of a log's
checkpoint are made under a lock on the directory, so that two requests (in one server
or in two processes) cannot both advance it from the same state.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import merkle
from ledger.cosignature import COSIGNATURE_ALG, WitnessKey, cosignature_line, split_note
from ledger.durable import sync_directory, write_aside, write_atomic
from ledger.errors import UserError
from ledger.hashing import b64decode, b64encode, sha256
from ledger.note import SIG_PREFIX, Checkpoint, NoteError, VerifierKey, check_key_name

KEY_FILE = "witness.key"
LOGS = "logs"
EVIDENCE = "evidence"
LOCK_FILE = ".lock"
LOG_KEY_FILE = "log.vkey"
HELD_FILE = "checkpoint.txt"
NOT_KEPT_FILE = "evidence-not-kept"
SIZE_TYPE = "text/x.tlog.size"  # the body of a 409: the size the witness holds
MAX_PROOF_LINES = 63
MAX_SIZE = 2**63 - 1
MAX_BODY_BYTES = 64 * 1024  # 63 proof lines and a checkpoint with its signatures fit easily
# Rollback and inconsistent records kept per log: anyone can make the witness keep one.
MAX_UNPROVEN_EVIDENCE = 100
FORK = "fork"
UNPROVEN = ("rollback", "inconsistent")


class WitnessError(UserError):
    """A witness's state directory that cannot be used as asked."""

    rule = "witness"


class Answer(NamedTuple):
    """An add-checkpoint response: the HTTP status and its body."""

    status: int
    body: str

    @property
    def content_type(self) -> str:
        return SIZE_TYPE if self.status == 409 else "text/plain; charset=utf-8"


@dataclass(frozen=True)
class WitnessedLog:
    key: VerifierKey
    held: str | None  # the latest checkpoint note it cosigned
    checkpoint: Checkpoint | None
    not_kept: int = 0  # refusals the cap on evidence left unkept

    @property
    def tag(self) -> str:
        """How the names of its evidence directories name it."""
        return _log_tag(self.key.name)


class _RefusedError(UserError):
    """A request the witness refuses; add_checkpoint answers it with its status."""

    rule = "witness-request"

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.answer = Answer(status, message.rstrip("\n") + "\n")


def _signer_text(name: str, private: Ed25519PrivateKey) -> str:
    public = private.public_key().public_bytes_raw()
    seed = private.private_bytes_raw()
    return f"PRIVATE+KEY+{WitnessKey(name, public).short}+{b64encode(COSIGNATURE_ALG + seed)}\n"


def _read_signer(text: str) -> tuple[str, Ed25519PrivateKey]:
    parts = text.strip().split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise WitnessError(f"{KEY_FILE} is not a witness key (PRIVATE+KEY+<name>+<hash>+<key>)")
    name, hash_hex, key_b64 = parts[2:]
    try:
        raw = b64decode(key_b64)
    except ValueError:
        raw = b""
    if len(raw) != 33 or raw[:1] != COSIGNATURE_ALG:
        raise WitnessError(f"{KEY_FILE} does not hold an Ed25519 cosigner key")
    private = Ed25519PrivateKey.from_private_bytes(raw[1:])
    if WitnessKey(name, private.public_key().public_bytes_raw()).hash.hex() != hash_hex:
        raise WitnessError(f"{KEY_FILE}: the key hash does not match its name and key")
    return name, private


def _log_tag(origin: str) -> str:
    return sha256(origin.encode()).hex()[:16]


def _log_signed(note: str, key: VerifierKey) -> str:
    """A note that `Checkpoint.open` verified with `key`, with only that key's signature
    line: what other lines a client sent (cosignatures, or junk) are nobody's evidence."""
    text, lines = split_note(note)
    for line in lines:
        name, _, blob = line[len(SIG_PREFIX) :].partition(" ")
        if name == key.name and b64decode(blob)[:4] == key.hash:
            return f"{text}\n{line}\n"
    raise NoteError(f"no signature by the key {key.name}+{key.hash.hex()}")  # opened: never


def _read_count(path: Path) -> int:
    try:
        text = path.read_text("ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return 0
    return int(text) if _is_decimal(text) else 0


def _is_decimal(text: str) -> bool:
    """ASCII digits without a leading zero (but `0`), below 2^63."""
    return (
        0 < len(text) <= 19
        and text.isascii()
        and text.isdigit()
        and (text == "0" or not text.startswith("0"))
    )


def parse_request(body: str) -> tuple[int, list[bytes], str]:
    """An add-checkpoint body: `old <size>`, proof lines (base64), a blank line, a note."""
    # The old size and proof lines are never empty, so the first blank line ends them.
    head, blank, note = body.partition("\n\n")
    lines = head.split("\n")
    if not blank or not lines[0].startswith("old "):
        raise _RefusedError(400, "the body starts with `old <size>`, proof lines and a blank line")
    if not _is_decimal(lines[0][4:]):
        raise _RefusedError(400, "the old size is not a decimal without leading zeros")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise _RefusedError(400, f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof = []
    for line in lines[1:]:
        try:
            proof.append(b64decode(line))
        except ValueError:
            raise _RefusedError(400, "a consistency proof line is not base64") from None
        if len(proof[-1]) != 32:
            raise _RefusedError(400, "a consistency proof line is not a SHA-256 hash")
    if any(ch < " " and ch != "\n" for ch in note):
        raise _RefusedError(400, "a signed note holds no control characters but newlines")
    return int(lines[0][4:]), proof, note


class Witness:
    """A witness over its state directory (see the module's docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        path = directory / KEY_FILE
        try:
            text = path.read_text("utf-8")
        except FileNotFoundError:
            raise WitnessError(
                f"{directory} is not a witness's state directory (it has no {KEY_FILE}): "
                "make one with `cmpp witness init`"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise WitnessError(f"cannot read {path}: {reason}") from None
        self.name, self._private = _read_signer(text)
        self.key = WitnessKey(self.name, self._private.public_key().public_bytes_raw())

    @classmethod
    def create(cls, directory: Path, name: str) -> Witness:
        """A new witness named `name`, with a new key, in a new (or empty) directory."""
        try:
            check_key_name(name)
        except NoteError as exc:
            raise WitnessError(f"the witness's name: {exc}") from None
        if directory.exists() and not directory.is_dir():
            raise WitnessError(f"{directory} is not a directory")
        if directory.is_dir() and any(directory.iterdir()):
            raise WitnessError(f"{directory} is not empty: a witness needs a directory of its own")
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # mkdir's mode is cut by the umask, and a directory that was there kept its own.
        os.chmod(directory, 0o700)
        for part in (LOGS, EVIDENCE):
            (directory / part).mkdir(mode=0o700, exist_ok=True)
        key_text = _signer_text(name, Ed25519PrivateKey.generate()).encode()
        temporary = write_aside(directory / KEY_FILE, key_text)
        try:
            os.link(temporary, directory / KEY_FILE)  # never over a key made meanwhile
        except FileExistsError:
            raise WitnessError(f"{directory} already holds a witness key") from None
        finally:
            temporary.unlink(missing_ok=True)
        sync_directory(directory)
        return cls(directory)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        # flock: held by this open file, so it excludes other processes and, opened anew
        # for each request, other threads of a server too; released if the process dies.
        fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # -- the logs it witnesses -------------------------------------------------------------

    def _log_dir(self, origin: str) -> Path:
        return self.directory / LOGS / sha256(origin.encode()).hex()

    def _log(self, place: Path) -> WitnessedLog | None:
        try:
            key = VerifierKey.parse((place / LOG_KEY_FILE).read_text("utf-8"))
        except FileNotFoundError:
            return None
        held = (place / HELD_FILE).read_text("utf-8") if (place / HELD_FILE).exists() else None
        checkpoint = None if held is None else Checkpoint.open(held, key)
        return WitnessedLog(key, held, checkpoint, _read_count(place / NOT_KEPT_FILE))

    def add_log(self, key: VerifierKey) -> bool:
        """Trust `key` for the log it names; False if it was trusted already."""
        with self._locked():
            place = self._log_dir(key.name)
            known = self._log(place)
            if known is not None and known.key == key:
                return False
            if known is not None:
                raise WitnessError(
                    f"this witness already trusts another key for {key.name}: {known.key}"
                )
            place.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomic(place / LOG_KEY_FILE, f"{key}\n".encode())
            return True

    def logs(self) -> list[WitnessedLog]:
        root = self.directory / LOGS
        places = sorted(root.iterdir()) if root.is_dir() else []
        return [log for log in map(self._log, places) if log is not None]

    def evidence(self) -> list[Path]:
        root = self.directory / EVIDENCE
        if not root.is_dir():
            return []
        return sorted(p for p in root.iterdir() if not p.name.startswith("."))  # .partial

    def _evidence_of(self, tag: str) -> list[tuple[str, str]]:
        """(kind, hash) of each evidence directory kept for the log of `tag`."""
        found = []
        for place in self.evidence():
            parts = place.name.split("-")
            if len(parts) == 4 and parts[2] == tag:
                found.append((parts[1], parts[3]))
        return found

    def describe(self) -> dict[str, Any]:
        logs = []
        for log in self.logs():
            kept = self._evidence_of(log.tag)
            unproven = sum(kind in UNPROVEN for kind, _ in kept)
            logs.append(
                {
                    "origin": log.key.name,
                    "log_key": str(log.key),
                    "size": None if log.checkpoint is None else log.checkpoint.size,
                    "evidence": len(kept),
                    "evidence_cap_reached": unproven >= MAX_UNPROVEN_EVIDENCE,
                    "evidence_not_kept": log.not_kept,
                }
            )
        return {
            "name": self.name,
            "key": str(self.key),
            "logs": logs,
            "evidence": len(self.evidence()),
            "evidence_cap": MAX_UNPROVEN_EVIDENCE,
        }

    # -- add-checkpoint ------------------------------------------------------------------

    def add_checkpoint(self, body: str) -> Answer:
        """Answer an add-checkpoint request as c2sp.org/tlog-witness says: 200 and the
        cosignature line; 400 malformed; 403 not signed by the log's key; 404 a log it
        does not witness; 409 (body: the size it holds) another old size than the one it
        cosigned last, or another root at that size; 422 a proof that does not verify."""
        try:
            try:
                length = len(body.encode("utf-8"))
            except UnicodeEncodeError:  # a lone surrogate: no HTTP body decodes to one
                raise _RefusedError(400, "the request body is not UTF-8 text") from None
            if length > MAX_BODY_BYTES:
                raise _RefusedError(413, "the request body is too long")
            old, proof, note = parse_request(body)
            try:
                text, _lines = split_note(note)
                shown = Checkpoint.parse_text(text)
            except NoteError as exc:
                raise _RefusedError(400, f"not a checkpoint: {exc}") from None
            place = self._log_dir(shown.origin)
            if self._log(place) is None:
                raise _RefusedError(404, f"this witness does not witness the log {shown.origin}")
            with self._locked():
                return self._add(place, old, proof, note)
        except _RefusedError as refused:
            return refused.answer

    def _add(self, place: Path, old: int, proof: list[bytes], note: str) -> Answer:
        log = self._log(place)
        assert log is not None  # logs are only ever added
        try:
            shown = Checkpoint.open(note, log.key)
        except NoteError as exc:
            raise _RefusedError(403, f"not signed by the log's key {log.key}: {exc}") from None
        note = _log_signed(note, log.key)  # what else it carries is the client's, not the log's
        held, held_note = log.checkpoint, log.held
        held_size = 0 if held is None else held.size
        evidence = _Evidence(log, old, proof, note)
        # Evidence first, whatever else is wrong with the request: the log signed it.
        if held is not None and held_note is not None and shown.size <= held.size:
            if shown.size < held.size:
                self._keep(
                    evidence.of(
                        "rollback",
                        f"size {shown.size}, smaller than the checkpoint of size {held.size} "
                        "held. Not proof of a rollback by itself: the request is not "
                        "authenticated, and anyone may send an old checkpoint of the log; it "
                        "is one if the log showed it as its latest.",
                    )
                )
            elif shown.root != held.root:
                self._keep(evidence.of(FORK, f"another root at the size {held.size} held"))
                raise _RefusedError(409, str(held.size))
        if old > shown.size:
            raise _RefusedError(
                400, f"the old size {old} is larger than the checkpoint's {shown.size}"
            )
        if old != held_size:
            raise _RefusedError(409, str(held_size))
        if held is None or held_note is None:
            if proof:
                raise _RefusedError(400, "the proof from size 0 must be empty")
        elif shown.size == held.size:
            if proof:
                raise _RefusedError(422, "a proof between equal sizes is empty")
        else:
            try:
                merkle.verify_consistency(held.size, shown.size, held.root, shown.root, proof)
            except merkle.ProofError as exc:
                why = f"not consistent with the checkpoint of size {held.size} held: {exc}"
                self._keep(
                    evidence.of(
                        "inconsistent",
                        f"{why}. Not proof of an inconsistent log by itself: the request is "
                        "not authenticated, and anyone may send a checkpoint of the log with "
                        "a proof that does not verify; it is one if no proof joins the two "
                        "(ask the log for one).",
                    )
                )
                raise _RefusedError(422, why) from None
        write_atomic(place / HELD_FILE, note.encode())  # persisted before answering
        timestamp = int(time.time())
        return Answer(200, cosignature_line(shown.text(), self.name, self._private, timestamp))

    def _keep(self, record: _Record) -> None:
        """Keep a refusal's record once (see the module's docstring); a rollback or
        inconsistent one only while the log has fewer than MAX_UNPROVEN_EVIDENCE."""
        root = self.directory / EVIDENCE
        root.mkdir(mode=0o700, exist_ok=True)
        tag = record.log.tag
        kept = self._evidence_of(tag)
        if any(digest == record.digest for _kind, digest in kept):
            return
        unproven = sum(kind in UNPROVEN for kind, _ in kept)
        if record.kind != FORK and unproven >= MAX_UNPROVEN_EVIDENCE:
            place = self._log_dir(record.log.key.name)
            count = f"{min(record.log.not_kept + 1, MAX_SIZE)}\n"
            write_atomic(place / NOT_KEPT_FILE, count.encode())
            return
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        final = root / f"{stamp}-{record.kind}-{tag}-{record.digest}"
        partial = root / f".{final.name}.partial"
        partial.mkdir(mode=0o700)
        for name, content in record.files.items():
            write_atomic(partial / name, content.encode())
        os.rename(partial, final)
        sync_directory(root)


@dataclass(frozen=True)
class _Evidence:
    """What a refused request showed: the log's checkpoints and the proof, as kept."""

    log: WitnessedLog
    old: int
    proof: list[bytes]
    shown: str  # the note with the log's signature line only

    def of(self, kind: str, why: str) -> _Record:
        assert self.log.held is not None  # only what contradicts a held checkpoint is kept
        held = _log_signed(self.log.held, self.log.key)  # as stored before the lines were cut
        held_text, shown_text = split_note(held)[0], split_note(self.shown)[0]
        # A fork is kept once per pair of checkpoints, any other record once per checkpoint.
        key = f"{FORK}\n{held_text}\n{shown_text}" if kind == FORK else f"shown\n{shown_text}"
        request = f"old {self.old}\n" + "".join(f"{b64encode(p)}\n" for p in self.proof)
        files = {
            "held.txt": held,
            "shown.txt": self.shown,
            "request.txt": f"{request}\n{self.shown}",
            "why.txt": why + "\n",
        }
        return _Record(self.log, kind, sha256(key.encode()).hex()[:16], files)


@dataclass(frozen=True)
class _Record:
    log: WitnessedLog
    kind: str
    digest: str
    files: dict[str, str]
