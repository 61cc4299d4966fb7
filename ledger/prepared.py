"""Events signed by people who keep their own keys (client custody).

The server cannot sign for such a person, so a command of theirs runs twice:

1. Prepared: the command runs as for anyone, up to the moment its event is signed;
   there it stops (`prepare`), keeping the event's exact bytes (JCS of the event, the
   bytes LEDGER_FORMAT.md section 2 signs) and the rows it would write beside it.
   Nothing is written. The person signs those bytes with their own key, elsewhere.
2. Written: the signed bytes are checked against the person's public key, then written
   as they are (`write_prepared`), through the same recorders and under the same rules
   as any event: the trust rules check the key, the domain rules the event, now.

An event prepared for one stream version and instant is written only as prepared: if
its stream moved on in between, the write conflicts and the person prepares again; if
its instant is too far from the writer's clock (LEDGER_FORMAT.md: 300 s), it is refused.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger import alongside, canonical
from ledger.appender import SignedStoredEvent
from ledger.entry import signed_state
from ledger.errors import UserError
from ledger.hashing import b64encode, key_id
from ledger.outcome import Statement


class PreparedEventError(UserError):
    """A prepared event that cannot be written as it was prepared."""

    rule = "prepared-event"


class SignatureInvalidError(UserError):
    """A signature that is missing, malformed, or not the person's over the prepared bytes."""

    rule = "signature-invalid"


@dataclass(frozen=True)
class PreparedEvent:
    event: dict[str, Any]
    event_bytes: bytes  # what the person signs
    statements: list[Statement]  # rows written beside it (a vault record, say)


class _Captured(Exception):  # noqa: N818 (a signal, not an error: the event is ready)
    def __init__(self, prepared: PreparedEvent) -> None:
        super().__init__("prepared")
        self.prepared = prepared


@dataclass(frozen=True)
class PreparingKey:
    """Stands in for a person's key while their command is prepared: asked to sign, it
    stops the save and hands back what was to be signed."""

    public_key: bytes
    holder: str
    roles: tuple[str, ...]
    person: str | None

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def sign_many(self, messages: Sequence[bytes]) -> list[bytes]:
        if len(messages) != 1:
            raise PreparedEventError("only a command that records one event can be prepared")
        event = canonical.loads(messages[0])
        raise _Captured(PreparedEvent(event, messages[0], alongside.statements()))


def prepare(run: Callable[[], object]) -> PreparedEvent:
    """Run a command whose signer holds a PreparingKey; what it would have written."""
    try:
        run()
    except _Captured as captured:
        return captured.prepared
    raise PreparedEventError("the command signed nothing, so there is nothing to prepare")


def check_signature(public_key: bytes, event_bytes: bytes, signature_b64: str) -> bytes:
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, event_bytes)
    except (ValueError, InvalidSignature):
        raise SignatureInvalidError(
            "the signature is not the person's Ed25519 signature of the prepared event's "
            "bytes (base64 of 64 bytes); nothing was written"
        ) from None
    return signature


def write_prepared(
    recorder: Any, prepared: PreparedEvent, signature: bytes, beside: Sequence[Statement] = ()
) -> None:
    """Write the prepared event with its signature, and its rows, in one transaction."""
    event = prepared.event
    stored = SignedStoredEvent(
        originator_id=UUID(event["stream"]),
        originator_version=event["version"],
        topic=event["type"],
        state=signed_state(prepared.event_bytes, b64encode(signature)),
        event=event,
    )
    recorder.insert_events([stored], alongside=[*prepared.statements, *beside])
