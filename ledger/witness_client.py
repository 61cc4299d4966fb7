"""The ledger's side of c2sp.org/tlog-witness: asking witnesses to cosign its latest
checkpoint, and keeping their cosignatures beside it (table ledger_cosignatures).

A witness is addressed by a URL (its submission prefix: requests go to
`<url>/add-checkpoint`; http or https, with a host and no credentials) or by the path of
its state directory, which is then called in this process (a witness on a shared mount,
and the tests). Configured as `<witness verifier key>=<url or directory>` entries
(CMPP_WITNESSES). No message shows a URL's user or password (`redact`).
"""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
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


URL_SCHEMES = ("http", "https")
# An address that starts with a scheme is a URL (a directory that would is written ./…).
SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


@dataclass(frozen=True)
class WitnessAddress:
    key: WitnessKey
    address: str  # an http(s) URL, or a witness's state directory

    @property
    def is_url(self) -> bool:
        return SCHEME.match(self.address) is not None


def redact(text: str) -> str:
    """`text` with whatever may be a URL's user and password (all before an `@`, after a
    scheme's `://` or in a run of characters) shown as `***`: messages never carry them."""
    text = re.sub(r"://[^\s]*@", "://***@", text)
    return re.sub(r"[^\s/=,]*@", "***@", text)


def url_problem(url: str) -> str | None:
    """Why `url` cannot address a witness (None if it can): an http or https URL with a
    host, and no credentials (user:password@), which messages and proxies would show."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "a witness URL that cannot be read"
    if parts.scheme.lower() not in URL_SCHEMES:
        return "a witness URL must be http:// or https://"
    if "@" in url:
        return "a witness URL may not carry credentials (user:password@) or any '@'"
    try:
        parts.port  # noqa: B018 (a port that is not a number raises)
    except ValueError:
        return "a witness URL's port must be a number (0 to 65535)"
    if not parts.hostname:
        return "a witness URL must name a host"
    return None


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
    it ends the key. An address that starts with a scheme is a URL (see url_problem);
    the messages name CMPP_WITNESSES, and never show what may be a password."""
    found: list[WitnessAddress] = []
    for number, entry in enumerate((e for e in re.split(r"[\s,]+", text) if e), 1):
        name, plus, rest = entry.partition("+")
        key_hash, plus2, rest = rest.partition("+")
        key_b64, equals, address = rest.partition("=")
        if not (plus and plus2 and equals and address):
            raise CosignError(
                f"CMPP_WITNESSES: {redact(entry)!r} (entry {number}) is not "
                "<witness key>=<url or directory>"
            )
        key = WitnessKey.parse(f"{name}+{key_hash}+{key_b64}")
        witness = WitnessAddress(key, address)
        if witness.is_url and (problem := url_problem(address)) is not None:
            raise CosignError(f"CMPP_WITNESSES: {problem} (the witness {key.name})")
        if any(w.key.name == key.name for w in found):
            raise CosignError(f"CMPP_WITNESSES: the witness {key.name} is named twice")
        found.append(witness)
    return found


def cosigned_note(store: LogStore, note: str, keys: Sequence[WitnessKey]) -> str:
    """`note` with, for each of the witness `keys` it carries no cosignature of yet, one
    kept cosignature by that key that verifies over this very note's text. The database's
    rows are not trusted: a line that does not verify, of another size's checkpoint or of
    a witness not among `keys` (another key under the same name) is left out. No keys:
    no line is added (nothing could tell a cosignature from junk)."""
    text, lines = split_note(note)
    if not keys:
        return note
    size = Checkpoint.parse_text(text).size
    kept = store.cosignatures(size)
    extra = []
    for key in keys:
        if any(verifies(text, line, key) for line in lines):
            continue
        # Its own rows (name+hash) first; a row of an older ledger (bare name) may verify too.
        rows = sorted(kept, key=lambda row: row[0] != key.short)
        found = next((line for _by, line in rows if verifies(text, line, key)), None)
        if found is not None and found not in extra:
            extra.append(found)
    return note + "".join(f"{line}\n" for line in extra)


def verifies(text: str, line: str, key: WitnessKey) -> bool:
    """Whether `line` is exactly one signature line, a cosignature by `key` of the
    checkpoint whose text (final newline included) is `text`."""
    try:
        found = cosignatures_by(f"{text}\n{line}\n", key)
    except NoteError:
        return False
    return [kept for kept, _time in found] == [f"{line}\n"]


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
    store, key = log.store, witness.key
    name, text = key.name, split_note(note)[0]
    # Rows are kept by name+hash (another key under the same name is another witness), and
    # trusted only once they verify: the database's operators could have written them.
    for kept_by, line in store.cosignatures(size):
        if kept_by == key.short and verifies(text, line, key):
            return line  # cosigned already: a witness is asked once per size
    # The size it last cosigned, as far as this database can show (a kept line of that
    # checkpoint that verifies; else 0); the witness corrects it (409) if the database
    # forgot (a restore), holds junk, or another copy of the log asked since.
    last = store.last_cosigned(key.short)
    old = last if last is not None and 0 < last <= size and _kept(log, last, key) else 0
    for _attempt in range(2):
        status, body = _post(witness, _request(log, old, size, note))
        if status == 200:
            line = _accept(note, body, key)
            store.add_cosignature(size, key.short, line)
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


def _kept(log: LogSigner, size: int, key: WitnessKey) -> bool:
    """Whether the database keeps a cosignature by `key` of the log's checkpoint of `size`
    that verifies (over that checkpoint as issued, signed by the log's key)."""
    note = next((n for s, n in log.store.checkpoints_near(size) if s == size), None)
    if note is None:
        return False
    try:
        if Checkpoint.open(note, log.verifier).size != size:
            return False
        text = split_note(note)[0]
    except NoteError:
        return False
    kept = log.store.cosignatures(size)
    return any(by == key.short and verifies(text, line, key) for by, line in kept)


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
    problem = url_problem(url)  # parse_witnesses refused it already; an address made here
    if problem is not None:
        raise CosignError(f"the witness {witness.key.name} at {redact(url)}: {problem}")
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
    except (urllib.error.URLError, OSError, ValueError) as exc:  # ValueError: http.client's
        reason = redact(str(getattr(exc, "reason", None) or exc))  # InvalidURL, an IDNA label
        message = f"cannot reach the witness {witness.key.name} at {redact(url)}: {reason}"
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
