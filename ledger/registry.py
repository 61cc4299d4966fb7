"""The ledger's own aggregate: the opening entry and the signing keys.

Its events are entry 0 (`ledger.LedgerOpened`), `ledger.KeyRegistered` and
`ledger.KeyRevoked`. The recorders check the same rules again under the write
lock (ledger.trust); the aggregate gives clear errors before anything is signed.

One rule is the writers' alone, as LEDGER_FORMAT.md does not make it: the ledger
never revokes its last key able to manage keys (the board's), unless a successor is
registered in the same save (a rotation). A log that did would be valid, and could
never register or revoke a key again. Every key change saves this one aggregate, so
of two writers racing to revoke the last two such keys, the loser conflicts on its
version and re-checks the rule against the keys as they then stand (or, if its own
key was the one revoked, the trust rules refuse it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from ledger.catalogue import (
    BOARD,
    KEY_REGISTERED,
    KEY_REVOKED,
    LEDGER_OPENED,
    LOG_ROLE,
    EventType,
)
from ledger.errors import UserError
from ledger.events import DeclaredCreated, DeclaredEvent
from ledger.hashing import b64encode, key_id


class KeyRuleError(UserError, ValueError):
    """A key registration or revocation that the ledger's rules refuse."""

    rule = "key-rule"


class Ledger(Aggregate):
    TOPIC = "ledger.Ledger"

    class Created(DeclaredCreated):
        # Entry 0. eventsourcing names an aggregate's creation event `Created`.
        TOPIC = LEDGER_OPENED

    class KeyRegistered(DeclaredEvent):
        TOPIC = KEY_REGISTERED

        def apply(self, aggregate: Ledger) -> None:
            data = vars(self)
            aggregate.keys[data["key_id"]] = {
                "holder": data["holder"],
                "person": data["person"],
                "roles": list(data["roles"]),
                "revoked": False,
            }

    class KeyRevoked(DeclaredEvent):
        TOPIC = KEY_REVOKED

        def apply(self, aggregate: Ledger) -> None:
            aggregate.keys[vars(self)["key_id"]]["revoked"] = True

    def __init__(self, origin: str, root_key: dict[str, Any], log_key: dict[str, Any]) -> None:
        self.origin = origin
        # key_id -> {"holder", "roles", "revoked"}
        self.keys: dict[str, dict[str, Any]] = {
            root_key["key_id"]: {
                "holder": root_key["holder"],
                "person": None,
                "roles": [BOARD],
                "revoked": False,
            },
            log_key["key_id"]: {
                "holder": root_key["holder"],
                "person": None,
                "roles": [LOG_ROLE],
                "revoked": False,
            },
        }

    @classmethod
    def open(
        cls, ledger_id: UUID, origin: str, root_public: bytes, board_org: str, log_public: bytes
    ) -> Ledger:
        return cls._create(
            cls.Created,
            id=ledger_id,
            origin=origin,
            root_key={
                "key_id": key_id(root_public),
                "public_key": b64encode(root_public),
                "holder": board_org,
            },
            log_key={"key_id": key_id(log_public), "public_key": b64encode(log_public)},
        )

    def register_key(
        self,
        public_key: bytes,
        holder: str,
        roles: list[str],
        known_roles: Iterable[str],
        person: str | None = None,
    ) -> str:
        new_id = key_id(public_key)
        if len(public_key) != 32:
            raise KeyRuleError("an Ed25519 public key is 32 bytes")
        if new_id in self.keys:
            raise KeyRuleError(f"key {new_id} is already registered")
        known = tuple(known_roles)
        unknown = sorted(set(roles) - set(known))
        if not roles or unknown or len(set(roles)) != len(roles):
            raise KeyRuleError(f"roles must be distinct names from {', '.join(known)}")
        if not (isinstance(holder, str) and holder.startswith("org:")):
            raise KeyRuleError(f"holder {holder!r} is not an organisation id (org:…)")
        if person is not None and not (isinstance(person, str) and person.startswith("user:")):
            raise KeyRuleError(f"person {person!r} is not a person id (user:…)")
        data = {
            "key_id": new_id,
            "public_key": b64encode(public_key),
            "holder": holder,
            "person": person,
            "roles": list(roles),
        }
        _well_formed(KEY_REGISTERED, data)
        self.trigger_event(self.KeyRegistered, **data)
        return new_id

    def revoke_key(self, key_id: str, reason: str) -> None:
        self._revocable(key_id)
        if self.key_managers() == [key_id]:
            raise KeyRuleError(
                f"refusing to revoke the last board key {key_id}: no key could register or "
                "revoke keys again; rotate it instead (its successor is registered as it goes)"
            )
        _well_formed(KEY_REVOKED, {"key_id": key_id, "reason": reason})
        self.trigger_event(self.KeyRevoked, key_id=key_id, reason=reason)

    def rotate_key(
        self, key_id: str, new_public_key: bytes, reason: str, known_roles: Iterable[str]
    ) -> str:
        """Register `key_id`'s successor (same holder, person and roles), then revoke it: one
        save, so the holder is never without a key, nor the board without its own."""
        record = self._revocable(key_id)
        new_id = self.register_key(
            new_public_key, record["holder"], list(record["roles"]), known_roles, record["person"]
        )
        self.revoke_key(key_id, reason)
        return new_id

    def _revocable(self, key_id: str) -> dict[str, Any]:
        record = self.keys.get(key_id)
        if record is None or record["roles"] == [LOG_ROLE]:
            raise KeyRuleError(f"key {key_id} is not a registered signing key")
        if record["revoked"]:
            raise KeyRuleError(f"key {key_id} is already revoked")
        return record

    def key_managers(self) -> list[str]:
        """The keys in force that may both register and revoke keys (the board's)."""
        return [k for k, r in self.keys.items() if not r["revoked"] and manages_keys(r["roles"])]


def _well_formed(event_type: EventType, data: dict[str, Any]) -> None:
    """Refuse, before signing, data the verifier's check 9 would flag (a lone surrogate
    in a reason, say, which could not even be encoded)."""
    problems = event_type.problems(data)
    if problems:
        raise KeyRuleError(problems[0][1])


def manages_keys(roles: Iterable[str]) -> bool:
    """May a key holding `roles` register and revoke keys? (The ledger's own types say
    who signs them, and no catalogue can change that: today, `board`.)"""
    held = set(roles)
    return not (KEY_REGISTERED.signed_by.isdisjoint(held) or KEY_REVOKED.signed_by.isdisjoint(held))
