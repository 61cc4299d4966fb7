"""The ledger's side of c2sp.org/tlog-witness: asking witnesses to cosign its latest
checkpoint, and keeping their cosignatures beside it (table ledger_cosignatures).

A witness is addressed by a URL (its submission prefix: requests go to
`<url>/add-checkpoint`) or by the path of its state directory, which is then called in
this process (a witness on a shared mount, and the tests). Configured as
`<witness verifier key>=<url or directory>` entries (CMPP_WITNESSES).
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ledger import transparency
from ledger.cosignature import WitnessKey, cosignatures_by, split_note
from ledger.errors import UserError
from ledger.note import SIG_PREFIX, Checkpoint, NoteError
from ledger.store import LogStore
from ledger.transparency import LogSigner
from ledger.witness import Witness

HTTP_TIMEOUT_SECONDS = 10
MAX_RESPONSE_BYTES = 64 * 1024  # a few cosignature lines; more is not a witness talking


class CosignError(UserError):
    """A witness that did not cosign; the message says what it answered."""

    rule = "cosign"


@dataclass(frozen=True)
class WitnessAddress:
    key: WitnessKey
    address: str  # an http(s) URL, or a witness's state directory

    @property
    def is_url(self) -> bool:
        return self.address.startswith(("http://", "https://"))


@dataclass(frozen=True)
class Cosigned:
    """What one witness did with the checkpoint of `size`: its line, or why not."""

    witness: str  # name+hash
    size: int
    line: str | None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.line is not None


def parse_witnesses(text: str) -> list[WitnessAddress]:
    """`<key>=<address>` entries, separated by commas or white space (so a directory's
    path holds neither). A key's base64 part (33 bytes) has no `=`: the first `=` after
    it ends the key."""
    found: list[WitnessAddress] = []
    for entry in (e for e in re.split(r"[\s,]+", text) if e):
        name, plus, rest = entry.partition("+")
        key_hash, plus2, rest = rest.partition("+")
        key_b64, equals, address = rest.partition("=")
        if not (plus and plus2 and equals and address):
            raise CosignError(f"{entry!r} is not <witness key>=<url or directory>")
        key = WitnessKey.parse(f"{name}+{key_hash}+{key_b64}")
        if any(w.key.name == key.name for w in found):
            raise CosignError(f"the witness {key.name} is named twice")
        found.append(WitnessAddress(key, address))
    return found


def cosigned_note(store: LogStore, note: str) -> str:
    """`note` with every cosignature kept for its size appended (each once)."""
    text, lines = split_note(note)
    size = Checkpoint.parse_text(text).size
    have = set(lines)
    extra = [line for _name, line in store.cosignatures(size) if line not in have]
    return note + "".join(f"{line}\n" for line in extra)


def cosign(log: LogSigner, witnesses: Sequence[WitnessAddress]) -> list[Cosigned]:
    """Ask each witness to cosign the log's latest checkpoint; keep what they sign."""
    if not witnesses:
        return []
    note = log.checkpoint()
    checkpoint = Checkpoint.open(note, log.verifier)
    results = []
    for witness in witnesses:
        try:
            line = _cosign_one(log, note, checkpoint.size, witness)
        except UserError as exc:
            results.append(Cosigned(witness.key.short, checkpoint.size, None, str(exc)))
            continue
        results.append(Cosigned(witness.key.short, checkpoint.size, line))
    return results


def _cosign_one(log: LogSigner, note: str, size: int, witness: WitnessAddress) -> str:
    store, name = log.store, witness.key.name
    for kept_by, line in store.cosignatures(size):
        if kept_by == name:
            return line  # cosigned already: a witness is asked once per size
    # The size it last cosigned, as far as this database knows; the witness corrects it
    # (409) if the database forgot (a restore) or another copy of the log asked since.
    last = store.last_cosigned(name)
    old = last if last is not None and 0 < last <= size else 0
    for _attempt in range(2):
        status, body = _post(witness, _request(log, old, size, note))
        if status == 200:
            line = _accept(note, body, witness.key)
            store.add_cosignature(size, name, line)
            return line
        if status == 422:
            raise CosignError(
                f"the witness {name} refuses: this log is not consistent with the "
                f"checkpoint it cosigned ({_first_line(body)})"
            )
        if status != 409:
            raise CosignError(f"the witness {name} answered {status}: {_first_line(body)}")
        held = _held_size(body, name)
        if held > size:
            raise CosignError(
                f"rollback: the witness {name} cosigned a checkpoint of {held} entries, "
                f"and this log holds {size}"
            )
        if held == old:
            raise CosignError(
                f"fork: the witness {name} holds another checkpoint of size {held} than this log's"
            )
        old = held
    raise CosignError(f"the witness {name} moved on meanwhile; ask again")


def _request(log: LogSigner, old: int, size: int, note: str) -> str:
    """The add-checkpoint body; the proof is checked against the log's own checkpoints
    before it is sent (transparency.consistency refuses one that does not verify)."""
    proof: list[str] = []
    if 0 < old < size:
        proof = transparency.consistency(log, old, size)["proof"]
    return f"old {old}\n" + "".join(f"{p}\n" for p in proof) + "\n" + note


def _post(witness: WitnessAddress, body: str) -> tuple[int, str]:
    if not witness.is_url:
        answer = Witness(Path(witness.address)).add_checkpoint(body)
        return answer.status, answer.body
    url = witness.address.rstrip("/") + "/add-checkpoint"
    request = urllib.request.Request(  # noqa: S310 (the scheme is http or https, checked above)
        url,
        data=body.encode(),
        method="POST",
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310
            return response.status, _text(response.read(MAX_RESPONSE_BYTES + 1))
    except urllib.error.HTTPError as exc:
        return exc.code, _text(exc.read(MAX_RESPONSE_BYTES + 1))
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        message = f"cannot reach the witness {witness.key.name} at {url}: {reason}"
        raise CosignError(message) from None


def _text(data: bytes) -> str:
    if len(data) > MAX_RESPONSE_BYTES:
        raise CosignError(f"a witness's answer is longer than {MAX_RESPONSE_BYTES} bytes")
    return data.decode("utf-8", errors="replace")


def _first_line(body: str) -> str:
    return (body.strip().splitlines() or ["(no body)"])[0][:200]


def _held_size(body: str, name: str) -> int:
    text = body.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 19):
        raise CosignError(f"the witness {name} answered 409 without a size")
    return int(text)


def _accept(note: str, body: str, key: WitnessKey) -> str:
    """The witness's cosignature line among those it answered, checked on this note."""
    lines = [line for line in body.split("\n") if line]
    if not lines or not all(line.startswith(SIG_PREFIX) for line in lines):
        raise CosignError(f"the witness {key.name} answered 200 without signature lines")
    try:
        found = cosignatures_by(note + "".join(f"{line}\n" for line in lines), key)
    except NoteError as exc:
        raise CosignError(f"the witness {key.name}'s answer: {exc}") from None
    return found[0][0].rstrip("\n")
