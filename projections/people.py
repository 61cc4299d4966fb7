"""Adding and suspending people: the one place the CLI and the API both do it.

A person is added by a board member (or the board's root key, from the command line):
their key is made (server custody, kept sealed in the key store) or given (client
custody: the person made it and keeps it), and registered in the log under their
organisation with their person id; their name and contact, if given, are sealed in the
vault under that id; the directory row goes with the registration, in its transaction.
Suspending a person revokes every key of theirs in force, and every token they hold.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from domain.catalogue import PUBLIC
from domain.errors import DomainError
from domain.organisations import Organisation
from domain.people import CLIENT, SERVER, PeopleDirectory, new_person_id
from domain.tokens import Tokens
from ledger import alongside
from ledger.hashing import key_id
from ledger.signing import Signer, SigningKey
from projections.system import System


@dataclass(frozen=True)
class NewPerson:
    """A person about to be registered, with their id and key made in advance (so that
    an answer naming them can be written with their registration)."""

    person_id: str
    org: str
    role: str
    custody: str
    public_key: bytes
    key: SigningKey | None  # made here and kept by the server; None: the person keeps it

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)


def new_person(
    org: str, role: str, custody: str = SERVER, public_key: bytes | None = None
) -> NewPerson:
    if (custody == CLIENT) != (public_key is not None):
        raise DomainError(
            "custody", "a person with client custody brings their public key; no one else does"
        )
    if public_key is not None and len(public_key) != 32:
        raise DomainError("custody", "an Ed25519 public key is 32 bytes")
    person_id = new_person_id(org)
    if public_key is not None:
        return NewPerson(person_id, org, role, custody, public_key, None)
    key = SigningKey.generate(org, (role,), person_id)
    return NewPerson(person_id, org, role, custody, key.public_key, key)


@dataclass(frozen=True)
class PersonAdded:
    person_id: str
    org: str
    role: str
    custody: str
    key_id: str
    seq: int


def organisation_kind(system: System, org: str) -> str:
    try:
        created = next(iter(system.app.events.get(Organisation.create_id(org), lte=1)))
    except StopIteration:
        raise DomainError("known-org", f"organisation {org} is not registered") from None
    return str(vars(created)["kind"])


def add_person(
    system: System, board: Signer, person: NewPerson, profile: dict[str, Any] | None = None
) -> PersonAdded:
    """Register `person`, signed by `board`; `profile` (name, contact) goes to the vault,
    never the log. The key file (server custody) is kept only if the registration commits."""
    kind = organisation_kind(system, person.org)
    if person.role not in (kind, PUBLIC):
        raise DomainError(
            "role", f"a person of {person.org} (a {kind}) acts as {kind}, not {person.role}"
        )
    pid = person.person_id
    directory = PeopleDirectory(system.app.recorder.datastore)  # type: ignore[attr-defined]
    with ExitStack() as stack:
        statements = []
        commitment = None
        if profile:
            sealed, sealing = system.app.vault.seal(pid, "person", profile)
            statements += sealing
            commitment = sealed.commitment
        statements.append(directory.row(pid, person.org, person.role, person.custody, commitment))
        if person.key is not None:
            stack.enter_context(system.keys.staged(person.key, f"{pid} {person.role}"))
        stack.enter_context(alongside.staged(statements))
        system.app.register_key(board, person.public_key, person.org, [person.role], pid)
    seq = next(k.registered_seq for k in system.app.trusted_keys() if k.key_id == person.key_id)
    return PersonAdded(pid, person.org, person.role, person.custody, person.key_id, seq)


def suspend_person(system: System, board: Signer, person_id: str, reason: str) -> list[str]:
    """Revoke the person's keys in force and their tokens; the key ids revoked."""
    keys = [k for k in system.app.trusted_keys() if k.person == person_id and k.revoked_seq is None]
    if not keys:
        raise DomainError("known-person", f"{person_id} has no key in force")
    system.app.revoke_keys(board, [k.key_id for k in keys], reason)
    Tokens(system.app.recorder.datastore).revoke_all(person_id)  # type: ignore[attr-defined]
    return [k.key_id for k in keys]
