"""People: registered by the board, each with a key of their own; and who is asking."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ledger.hashing import b64decode
from projections.commands.models import ED25519_PUBLIC_KEY, Id, Recorded, Request, Text
from projections.commands.spec import Actor, CommandSpec, Planned
from projections.people import add_person, new_person, suspend_person
from projections.system import System

PersonRole = Literal["board", "fiscal_agent", "grantee", "oversight", "inspector", "public"]


class PersonProfile(Request):
    """Personal data: sealed in the vault under the person's id, never in the log."""

    name: Text
    email: Text | None = None
    phone: Text | None = None


class PersonCreate(Request):
    org: Id
    role: PersonRole
    custody: Literal["server", "client"] = "server"
    public_key: str | None = Field(
        default=None,
        pattern=ED25519_PUBLIC_KEY,
        description="Client custody only: the person's Ed25519 public key (base64 of 32 bytes).",
    )
    profile: PersonProfile | None = None


class PersonRegistered(Recorded):
    person_id: str
    org: str
    role: str
    custody: str
    key_id: str


class PersonSuspensionCreate(Request):
    reason: Text


class PersonSuspended(Recorded):
    person_id: str
    revoked_key_ids: list[str]


def _register(system: System, _actor: Actor, _ids: dict[str, str], body: Any) -> Planned:
    public = None if body.public_key is None else b64decode(body.public_key)
    person = new_person(body.org, body.role, body.custody, public)
    profile = None if body.profile is None else body.profile.model_dump(exclude_none=True)
    answer = {
        "person_id": person.person_id,
        "org": person.org,
        "role": person.role,
        "custody": person.custody,
        "key_id": person.key_id,
    }
    return Planned(
        answer,
        lambda signer: add_person(system, signer, person, profile),
        keeps_key=person.key is not None,
    )


def _suspend(system: System, _actor: Actor, ids: dict[str, str], body: Any) -> Planned:
    person_id = ids["person_id"]
    keys = [
        k.key_id
        for k in system.app.trusted_keys()
        if k.person == person_id and k.revoked_seq is None
    ]
    answer = {"person_id": person_id, "revoked_key_ids": keys}
    return Planned(answer, lambda signer: suspend_person(system, signer, person_id, body.reason))


PEOPLE = (
    CommandSpec("register_person", PersonCreate, PersonRegistered, ("board",), _register),
    CommandSpec(
        "suspend_person",
        PersonSuspensionCreate,
        PersonSuspended,
        ("board",),
        _suspend,
        ("person_id",),
        hidden=frozenset({"known-person"}),
        hidden_as="person {person_id} does not exist",
    ),
)
