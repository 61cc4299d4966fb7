"""Keys: the board registers an organisation's service key, rotates and revokes keys.

A person's key is registered with the person (projections.commands.people); these are
the other keys: an organisation's own (`person` null), whose private half its holder
keeps, and any key's rotation (its successor, same holder, person and roles, registered
as it is revoked) or revocation.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ledger.hashing import b64decode, key_id
from projections.commands.models import ED25519_PUBLIC_KEY, Id, Recorded, Request, Text
from projections.commands.spec import Actor, CommandSpec, Planned
from projections.system import System

PublicKey = Field(
    pattern=ED25519_PUBLIC_KEY, description="An Ed25519 public key: base64 of 32 bytes."
)


class KeyCreate(Request):
    holder: Id
    roles: list[Id] = Field(min_length=1, max_length=8)
    public_key: str = PublicKey


class KeyRegistered(Recorded, KeyCreate):
    key_id: str


class KeyRotationCreate(Request):
    public_key: str = PublicKey
    reason: Text


class KeyRotated(Recorded):
    key_id: str = Field(description="The successor's key id.")
    replaces: str


class KeyRevocationCreate(Request):
    reason: Text


class KeyRevoked(Recorded):
    key_id: str


def _register(system: System, _actor: Actor, _ids: dict[str, str], body: Any) -> Planned:
    public = b64decode(body.public_key)
    answer = {**body.model_dump(mode="json"), "key_id": key_id(public)}
    return Planned(
        answer, lambda s: system.app.register_key(s, public, body.holder, list(body.roles))
    )


def _rotate(system: System, _actor: Actor, ids: dict[str, str], body: Any) -> Planned:
    public = b64decode(body.public_key)
    old = ids["key_id"]
    answer = {"key_id": key_id(public), "replaces": old}
    return Planned(answer, lambda s: system.app.rotate_key(s, old, public, body.reason))


def _revoke(system: System, _actor: Actor, ids: dict[str, str], body: Any) -> Planned:
    old = ids["key_id"]
    return Planned({"key_id": old}, lambda s: system.app.revoke_key(s, old, body.reason))


KEY_IDS = ("key_id",)
KEYS = (
    CommandSpec("register_key", KeyCreate, KeyRegistered, ("board",), _register),
    CommandSpec("rotate_key", KeyRotationCreate, KeyRotated, ("board",), _rotate, KEY_IDS),
    CommandSpec("revoke_key", KeyRevocationCreate, KeyRevoked, ("board",), _revoke, KEY_IDS),
)
