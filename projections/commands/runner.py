"""Running a command for a person: idempotently, and signed with their own key.

1. The request (the command's name, its ids and body) is hashed. An answer already
   recorded under the person's idempotency key is returned as it was; the same key with
   another request is refused (domain.idempotency).
2. The person's role must be one the command allows.
3. The person's key signs: the server opens it from the key store (server custody); a
   person with client custody signs the prepared event themselves.
4. The answer is written with the command's event, in its transaction, and read back
   with the seq of the entry.
5. If the command is refused, a racing twin with the same key may have won: its answer
   is returned if there is one; a refusal by a rule the command hides (another
   organisation's thing) is answered as not found; otherwise the refusal.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from eventsourcing.persistence import IntegrityError

from domain.catalogue import GRANTEE
from domain.errors import DomainError
from domain.idempotency import Answer, Idempotency, check_key, digest_key, request_digest
from domain.people import SERVER, PeopleDirectory
from domain.prepared_commands import PreparedCommand, PreparedCommands
from domain.vault import VaultError
from ledger import alongside
from ledger.errors import NotFoundError, UserError
from ledger.outcome import Statement
from ledger.prepared import (
    PreparedEventError,
    PreparingKey,
    check_signature,
    prepare,
    write_prepared,
)
from ledger.signing import Signer
from ledger.trust import KeyRecord
from projections.commands.spec import Actor, CommandSpec
from projections.system import System

ERASURE = "erase_participant"


class ClientSignatureRequiredError(UserError):
    """The person keeps their own key: the server cannot sign for them."""

    rule = "client-signature-required"


@dataclass(frozen=True)
class Outcome:
    answer: Answer
    replayed: bool  # the first answer, given again: nothing was written now


class CommandRunner:
    def __init__(self, system: System) -> None:
        self.system = system

    @cached_property
    def idempotency(self) -> Idempotency:
        return Idempotency(self.system.app.recorder.datastore)  # type: ignore[attr-defined]

    @cached_property
    def digest_key(self) -> bytes:
        secret = self.system.settings.vault_key_bytes
        if secret is None:
            raise VaultError("set CMPP_VAULT_KEY (32 bytes, base64): requests are keyed by it")
        return digest_key(secret)

    def _digest(self, command: str, payload: dict[str, Any]) -> str:
        return request_digest(self.digest_key, command, payload)

    @cached_property
    def prepared(self) -> PreparedCommands:
        mac_key = hmac.new(self.digest_key, b"prepared commands", hashlib.sha256).digest()
        return PreparedCommands(self.system.app.recorder.datastore, mac_key)  # type: ignore[attr-defined]

    @cached_property
    def people(self) -> PeopleDirectory:
        return PeopleDirectory(self.system.app.recorder.datastore)  # type: ignore[attr-defined]

    def actor(self, person_id: str) -> Actor | None:
        """The person as their key in force makes them; None if unknown or suspended."""
        person = self.people.find(person_id, self.system.app.trusted_keys())
        if person is None or person.key is None:
            return None
        return Actor(person.person_id, person.org, person.role, person.key.key_id, person.custody)

    def signer(self, actor: Actor) -> Signer:
        if actor.custody != SERVER:
            raise ClientSignatureRequiredError(
                f"{actor.person} keeps their own key: prepare the event, sign it, and "
                "submit the signature"
            )
        return Signer(self.system.keys.load(actor.key_id))

    def _permitted(self, actor: Actor, spec: CommandSpec) -> None:
        if actor.role not in spec.roles:
            raise DomainError(
                "permission", f"the role {actor.role} may not {spec.name.replace('_', ' ')}"
            )

    def _in_scope(self, actor: Actor, spec: CommandSpec, ids: dict[str, str], body: Any) -> None:
        """A grantee's command on another's thing is refused as if the thing were missing."""
        if actor.role != GRANTEE or spec.owner is None:
            return
        owner = spec.owner(self.system, ids, body)
        if owner not in ("", actor.org):
            raise NotFoundError(spec.hidden_as.format(**ids))

    def _erasing(self, command: str, named: dict[str, Any]) -> list[Statement]:
        """With an erasure, the prepared commands about the participant go too: a prepared
        enrolment holds their sealed data and its wrapped key."""
        if command != ERASURE:
            return []
        return [self.prepared.erased(str(named["participant_id"]))]

    def _key_in_force(self, actor: Actor) -> KeyRecord:
        for record in self.system.app.trusted_keys():
            if record.key_id == actor.key_id and record.revoked_seq is None:
                return record
        raise DomainError("permission", f"{actor.person}'s key is no longer in force")

    def prepare(
        self, actor: Actor, spec: CommandSpec, ids: dict[str, str], request: Any, *, key: str
    ) -> PreparedCommand:
        """Prepare a command for a person who signs it with their own key: the exact
        bytes they sign, kept for SIGNING_WINDOW; nothing is written to the log."""
        check_key(key)
        digest = self._digest(spec.name, {"ids": ids, "body": request.model_dump(mode="json")})
        earlier = self.prepared.find(actor.person, key, digest)
        if earlier is not None:
            return earlier
        self._permitted(actor, spec)
        self._in_scope(actor, spec, ids, request)
        record = self._key_in_force(actor)
        stand_in = PreparingKey(record.public_key, record.holder, record.roles, record.person)
        planned = spec.plan(self.system, actor, ids, request)
        if planned.keeps_key:
            raise DomainError(
                "prepare-unsupported",
                "a person whose key the server keeps is registered by a board member whose "
                "key the server keeps too, not by a prepared command",
            )
        signer = Signer(stand_in, at=datetime.now(UTC))
        event = prepare(lambda: planned.act(signer))
        return self.prepared.keep(
            actor.person, key, digest=digest, command=spec.name, answer=planned.answer, event=event
        )

    def submit(self, actor: Actor, prepared_id: str, signature: str, *, key: str) -> Outcome:
        """Write a prepared command with the person's signature, once per key."""
        check_key(key)
        # Named by the prepared command alone: submitted again under this key (with its
        # signature, made again: Ed25519 signs the same bytes the same way), it is answered
        # as the first time, even once the prepared command itself is forgotten.
        digest = self._digest("submit", {"prepared_id": prepared_id})
        earlier = self.idempotency.answer(actor.person, key, digest)
        if earlier is not None:
            return Outcome(earlier, replayed=True)
        command = self.prepared.get(prepared_id, actor.person)
        if command is None:
            # Written (and so forgotten) by a submission under this key that committed
            # since the first look: its answer is there now.
            raced = self.idempotency.answer(actor.person, key, digest)
            if raced is not None:
                return Outcome(raced, replayed=True)
            raise NotFoundError(f"no prepared command {prepared_id}")
        if command.expired:
            raise PreparedEventError(
                f"prepared command {prepared_id} was not signed in time: prepare it again"
            )
        record = self._key_in_force(actor)
        raw = check_signature(record.public_key, command.event.event_bytes, signature)
        row = self.idempotency.row(actor.person, key, digest, 201, command.answer)
        try:
            beside = [
                row,
                self.prepared.written(prepared_id),
                *self._erasing(command.command, command.event.event["data"]),
            ]
            write_prepared(self.system.app.recorder, command.event, raw, beside=beside)
        except (UserError, IntegrityError) as exc:
            raced = self.idempotency.answer(actor.person, key, digest)
            if raced is not None:
                return Outcome(raced, replayed=True)
            if isinstance(exc, IntegrityError):
                raise PreparedEventError(
                    "the prepared event can no longer be written as prepared (its record "
                    "changed, or it was written already): prepare it again"
                ) from None
            raise
        recorded = self.idempotency.answer(actor.person, key, digest)
        if recorded is None:
            raise RuntimeError("a command's answer was not recorded with it")
        return Outcome(recorded, replayed=False)

    def run(
        self,
        actor: Actor,
        spec: CommandSpec,
        ids: dict[str, str],
        request: Any,
        *,
        key: str,
        signer: Signer | None = None,
    ) -> Outcome:
        check_key(key)
        digest = self._digest(spec.name, {"ids": ids, "body": request.model_dump(mode="json")})
        earlier = self.idempotency.answer(actor.person, key, digest)
        if earlier is not None:
            return Outcome(earlier, replayed=True)
        self._permitted(actor, spec)
        self._in_scope(actor, spec, ids, request)
        planned = spec.plan(self.system, actor, ids, request)
        signer = signer or self.signer(actor)
        row = self.idempotency.row(actor.person, key, digest, 201, planned.answer)
        try:
            with alongside.staged([row, *self._erasing(spec.name, ids)]):
                planned.act(signer)
        except (UserError, IntegrityError) as exc:
            raced = self.idempotency.answer(actor.person, key, digest)
            if raced is not None:  # the same request, recorded by a twin that won the race
                return Outcome(raced, replayed=True)
            if getattr(exc, "rule", None) in spec.hidden:
                raise NotFoundError(spec.hidden_as.format(**ids)) from None
            if isinstance(exc, IntegrityError):
                raise DomainError("busy", "another command wrote the same thing first") from None
            raise
        # The answer row committed with the entry (its seq read by LAST_SEQ): the same
        # answer, made here rather than read back.
        seq = alongside.written_seq()
        if seq is None:  # the write returned, so a batch was appended
            raise RuntimeError("a command returned without writing its entry")
        return Outcome(Answer(201, {**planned.answer, "seq": seq}), replayed=False)
