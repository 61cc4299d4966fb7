"""Keys and who may sign what, replayed in seq order (LEDGER_FORMAT.md section 4).

One `TrustState` serves both sides: the recorders admit each entry inside the
write lock and refuse one that breaks a rule, so no such entry can ever commit;
the verifier replays the same rules over a bundle and reports what breaks them.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import MutableMapping
from dataclasses import dataclass, replace
from typing import Any

from ledger.catalogue import (
    BOARD,
    KEY_REGISTERED,
    KEY_REVOKED,
    LEDGER_ONLY,
    LEDGER_OPENED,
    LEDGER_TYPES,
    LOG_ROLE,
    Catalogue,
)
from ledger.hashing import b64decode, key_id


class TrustError(ValueError):
    """An entry that the trust rules of LEDGER_FORMAT.md section 4 forbid."""


@dataclass(frozen=True)
class KeyRecord:
    key_id: str
    public_key: bytes
    holder: str
    roles: tuple[str, ...]
    registered_seq: int
    revoked_seq: int | None = None
    person: str | None = None  # the one person who holds it; None for an organisation's key

    @property
    def actor(self) -> str:
        """The `actor` of every event this key signs: its person, or its holder."""
        return self.person or self.holder


def _public_key(value: Any, claimed_id: Any) -> bytes:
    if not isinstance(value, str) or not isinstance(claimed_id, str):
        raise TrustError("key_id and public_key must be strings")
    try:
        raw = b64decode(value)
    except ValueError as exc:
        raise TrustError(f"public_key: {exc}") from None
    if len(raw) != 32:
        raise TrustError("public_key is not a raw 32-byte Ed25519 key")
    if key_id(raw) != claimed_id:
        raise TrustError(f"key_id {claimed_id} is not key_id(public_key)")
    return raw


class TrustState:
    """The keys known at some point of the log, and the rules for the next entry.

    `catalogue` says which roles may sign which event types, and which roles exist.
    """

    def __init__(
        self, keys: dict[str, KeyRecord] | None = None, catalogue: Catalogue = LEDGER_ONLY
    ) -> None:
        self.keys: MutableMapping[str, KeyRecord] = dict(keys or {})
        self.catalogue = catalogue
        self.changed: list[KeyRecord] = []  # records added or revoked since construction

    @classmethod
    def over(cls, base: TrustState) -> TrustState:
        """A state that reads `base`'s keys and writes its changes apart (a batch that
        may not commit), without copying them."""
        state = cls(catalogue=base.catalogue)
        state.keys = ChainMap({}, base.keys)
        return state

    def admit(self, seq: int, event: dict[str, Any]) -> KeyRecord:
        """Check that `event` may stand at `seq`; apply its key changes; return its key."""
        event_type, data = event["type"], event["data"]
        if event_type in LEDGER_TYPES:
            ledger_type = self.catalogue[event_type]
            if type(data) is not dict or data.keys() != ledger_type.members.keys():
                raise TrustError(
                    f"{event_type} data must have exactly {sorted(ledger_type.members)}"
                )
        if seq == 0:
            return self._open(event)
        if event_type == LEDGER_OPENED:
            raise TrustError(f"{LEDGER_OPENED} may only be entry 0")
        signer = self.keys.get(event["key"])
        if signer is None or signer.registered_seq >= seq:
            raise TrustError(f"key {event['key']} is not registered")
        if signer.revoked_seq is not None and signer.revoked_seq < seq:
            raise TrustError(f"key {signer.key_id} was revoked at seq {signer.revoked_seq}")
        if signer.holder != event["org"]:
            raise TrustError(f"key {signer.key_id} is held by {signer.holder}, not {event['org']}")
        if event["actor"] != signer.actor:
            raise TrustError(
                f"key {signer.key_id} is held by {signer.actor}, so an event it signs has "
                f"actor {signer.actor}, not {event['actor']}"
            )
        if not self.catalogue.may_sign(signer.roles, event_type):
            raise TrustError(
                f"key {signer.key_id} ({', '.join(signer.roles)}) may not sign {event_type}"
            )
        if event_type == KEY_REGISTERED:
            self._register(seq, data)
        elif event_type == KEY_REVOKED:
            self._revoke(seq, data)
        return signer

    def _open(self, event: dict[str, Any]) -> KeyRecord:
        if event["type"] != LEDGER_OPENED:
            raise TrustError(f"entry 0 must be {LEDGER_OPENED}, not {event['type']}")
        data = event["data"]
        root, log = data["root_key"], data["log_key"]
        if not isinstance(root, dict) or set(root) != {"key_id", "public_key", "holder"}:
            raise TrustError("root_key must have exactly key_id, public_key and holder")
        if not isinstance(log, dict) or set(log) != {"key_id", "public_key"}:
            raise TrustError("log_key must have exactly key_id and public_key")
        if not isinstance(data["origin"], str) or not data["origin"]:
            raise TrustError("origin must be a non-empty string")
        root_pub = _public_key(root["public_key"], root["key_id"])
        log_pub = _public_key(log["public_key"], log["key_id"])
        if root["key_id"] == log["key_id"]:
            raise TrustError("the root key and the log key must differ")
        if event["key"] != root["key_id"]:
            raise TrustError("entry 0 must be signed by the root key it names")
        if event["org"] != root["holder"]:
            raise TrustError(f"entry 0's org must be the root key's holder {root['holder']}")
        if event["actor"] != root["holder"]:
            raise TrustError(f"entry 0's actor must be the root key's holder {root['holder']}")
        # The root key signs entry 0 itself, so it counts as registered "before" it (-1).
        root_record = KeyRecord(root["key_id"], root_pub, root["holder"], (BOARD,), -1)
        self._add(KeyRecord(log["key_id"], log_pub, root["holder"], (LOG_ROLE,), 0))
        self._add(root_record)
        return root_record

    def _register(self, seq: int, data: dict[str, Any]) -> None:
        public = _public_key(data["public_key"], data["key_id"])
        if data["key_id"] in self.keys:
            raise TrustError(f"key {data['key_id']} is already registered")
        roles, known = data["roles"], self.catalogue.roles
        if not isinstance(roles, list) or not roles or not all(r in known for r in roles):
            raise TrustError(f"roles must be a non-empty list drawn from {', '.join(known)}")
        if len(set(roles)) != len(roles):
            raise TrustError("roles must not repeat")
        if not isinstance(data["holder"], str) or not data["holder"]:
            raise TrustError("holder must be an organisation id")
        person = data["person"]
        if person is not None and (not isinstance(person, str) or not person):
            raise TrustError("person must be a person id or null")
        holder = data["holder"]
        self._add(KeyRecord(data["key_id"], public, holder, tuple(roles), seq, None, person))

    def _revoke(self, seq: int, data: dict[str, Any]) -> None:
        record = self.keys.get(data["key_id"])
        if record is None or record.roles == (LOG_ROLE,):
            raise TrustError(f"key {data['key_id']} is not a registered signing key")
        if record.revoked_seq is not None:
            raise TrustError(f"key {record.key_id} is already revoked")
        self._add(replace(record, revoked_seq=seq))  # records are shared: never mutated

    def _add(self, record: KeyRecord) -> None:
        self.keys[record.key_id] = record
        self.changed.append(record)


def key_ids_named(event: dict[str, Any]) -> set[str]:
    """Every key id an event refers to: what a partial TrustState must hold to admit it."""
    ids = {event.get("key")}
    data = event.get("data")
    if isinstance(data, dict):
        ids.add(data.get("key_id"))
        for member in ("root_key", "log_key"):
            if isinstance(data.get(member), dict):
                ids.add(data[member].get("key_id"))
    return {i for i in ids if isinstance(i, str)}
