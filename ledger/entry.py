"""The signed event and the log entry, byte for byte (LEDGER_FORMAT.md sections 2 and 3).

What the events table stores for one event is JCS({"event": E, "sig": S}). The
log entry adds `prev` and `seq`; because JCS orders members
`event` < `prev` < `seq` < `sig`, the entry's bytes are the stored bytes with
those two members spliced in before `sig`: no re-encoding on the write path.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from ledger import canonical

EVENT_MEMBERS = frozenset({"type", "stream", "version", "at", "actor", "org", "key", "data"})
ENTRY_MEMBERS = frozenset({"event", "prev", "seq", "sig"})
_SIG_MEMBER = b',"sig":"'


class EntryError(ValueError):
    """Bytes that are not a well-formed signed event or log entry."""


def format_instant(moment: datetime) -> str:
    """UTC with microseconds: 2026-11-27T20:18:14.123456Z."""
    if moment.tzinfo is None:
        raise EntryError("instants must be timezone-aware")
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    # isoformat is several times faster than strftime, and this runs on every append.
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


# How far an event's instant may be from the writer's clock at commit, and how far
# an entry's instant may fall behind the previous entry's (LEDGER_FORMAT.md section 2).
CLOCK_SKEW_SECONDS = 300

_INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def parse_instant(text: str) -> datetime:
    # A pattern and fromisoformat: several times faster than strptime, on every entry.
    if not _INSTANT.fullmatch(text):
        raise EntryError(f"instant {text!r} is not YYYY-MM-DDTHH:MM:SS.ffffffZ")
    try:
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    except ValueError:
        raise EntryError(f"instant {text!r} is not a real moment") from None


def signed_state(event_bytes: bytes, sig_b64: str) -> bytes:
    """JCS({"event": E, "sig": S}) from JCS(E) and the signature."""
    return b'{"event":' + event_bytes + _SIG_MEMBER + sig_b64.encode("ascii") + b'"}'


def seal(state: bytes, seq: int, prev: str) -> bytes:
    """leaf(seq): the entry's JCS bytes, made from a signed state by splicing."""
    cut = state.rfind(_SIG_MEMBER)
    if cut < 0 or not state.startswith(b'{"event":{'):
        raise EntryError("stored state is not a signed event")
    return b"".join(
        (
            state[:cut],
            b',"prev":"',
            prev.encode("ascii"),
            b'","seq":',
            str(seq).encode(),
            state[cut:],
        )
    )


def event_bytes_of(leaf: bytes) -> bytes:
    """JCS(event) inside a canonical leaf: the bytes the signature covers."""
    cut = leaf.rfind(b',"prev":"')
    if cut < 0 or not leaf.startswith(b'{"event":'):
        raise EntryError("entry has no event member")
    return leaf[len(b'{"event":') : cut]


def parse_signed_state(state: bytes) -> tuple[dict[str, Any], str]:
    """The event and signature of a stored state, checking its shape."""
    try:
        value = canonical.loads(state)  # raises nothing else, whatever the bytes
    except canonical.CanonicalError as exc:
        raise EntryError(f"stored event: {exc}") from None
    if not isinstance(value, dict) or set(value) != {"event", "sig"}:
        raise EntryError("stored event must have exactly the members event and sig")
    event, sig = value["event"], value["sig"]
    if not isinstance(event, dict) or set(event) != EVENT_MEMBERS:
        raise EntryError(f"event members must be exactly {sorted(EVENT_MEMBERS)}")
    if not isinstance(sig, str):
        raise EntryError("sig must be a string")
    return event, sig


_TEXT_MEMBERS = ("type", "stream", "at", "actor", "org", "key")


def read_event(state: bytes) -> dict[str, Any]:
    """The event of a stored state, for a reader that trusts the log's writers and its
    verifier for the rest (projections, aggregates): parsed fast, with no canonical or
    signature check, but with its shape checked, so that bytes an operator wrote into
    the database raise EntryError rather than whatever they would trip on."""
    if not isinstance(state, bytes):  # SQLite hands back text or a number written there
        raise EntryError(f"stored event is {type(state).__name__}, not bytes")
    try:
        value = json.loads(state.decode("utf-8"))
    except RecursionError:
        raise EntryError("stored event: nested too deep") from None
    except ValueError as exc:  # not UTF-8, not JSON, an integer of thousands of digits
        raise EntryError(f"stored event: not JSON: {exc}") from None
    event = value.get("event") if type(value) is dict else None
    if type(event) is not dict or event.keys() != EVENT_MEMBERS:
        raise EntryError(f"stored event: no event object with exactly {sorted(EVENT_MEMBERS)}")
    # Mapped in C rather than looped over: every entry projected pays for this line.
    kinds = set(map(type, map(event.__getitem__, _TEXT_MEMBERS)))
    if kinds != {str} or type(event["data"]) is not dict or type(event["version"]) is not int:
        raise EntryError("stored event: a member is not of its type (text, integer, object)")
    return event
