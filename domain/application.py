"""The program's application: one method per command, each signed by the one who acts.

Every command records one event of the catalogue (`record`): the signer's roles must
be allowed to sign it and its data must be well formed; then the ledger's recorders
check the signer's key (trust) and the program's rules (domain.rules) under the
writers' lock, so a refused command raises a DomainError naming the rule and writes
nothing. The methods below only name the command's members.
"""

from __future__ import annotations

import functools
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from domain import catalogue as c
from domain.audit import Export, RecordsAccess
from domain.case_commands import CaseCommands
from domain.cases import Complaint, Participant
from domain.commands import permitted, well_formed
from domain.errors import DomainError
from domain.expenditure_services import ExpenditureServices
from domain.funds import Appropriation, Award
from domain.organisations import Organisation
from domain.rules import ProgramRules
from domain.streams import Stream, streams_by_type
from domain.vault import Vault, VaultError, refuse_another_key
from ledger import alongside
from ledger.application import LedgerApplication
from ledger.catalogue import EventType
from ledger.guard_snapshot import snapshot_key
from ledger.signing import Signer

CONFLICT_RETRIES = 20  # another writer saved the same stream first: reload and try again
STREAMS = streams_by_type(
    Organisation, Appropriation, Award, Participant, Complaint, RecordsAccess, Export
)


class CMPPApplication(CaseCommands, LedgerApplication):
    name = "ledger"  # the same tables as the ledger it extends

    def __init__(self, env: dict[str, str] | None = None, vault_key: bytes | None = None) -> None:
        super().__init__(env, catalogue=c.CATALOGUE)
        self._vault_key = vault_key
        self._vault: Vault | None = None
        self.rules = ProgramRules()
        self.funds, self.cases = self.rules.funds, self.rules.cases
        # The rules start from a snapshot only if it carries a MAC under a key derived
        # from the vault key, which the database's operators do not hold. A wrong vault
        # key is refused first: its writer would discard the snapshots as forged.
        if vault_key is not None:
            refuse_another_key(self.recorder.datastore, vault_key)  # type: ignore[attr-defined]
        key = None if vault_key is None else snapshot_key(vault_key)
        self.recorder.set_guard(self.rules, snapshot_key=key)  # type: ignore[attr-defined]

    @property
    def vault(self) -> Vault:
        if self._vault is None:
            if self._vault_key is None:
                raise VaultError("set CMPP_VAULT_KEY (32 bytes, base64): the vault needs it")
            self._vault = Vault(self.recorder.datastore, self._vault_key)  # type: ignore[attr-defined]
        return self._vault

    @functools.cached_property
    def expenditure_services(self) -> ExpenditureServices:
        """The services each expenditure paid for (made on first use)."""
        return ExpenditureServices(self.recorder.datastore)  # type: ignore[attr-defined]

    def record(self, signer: Signer, event_type: EventType, **data: Any) -> UUID:
        """Record one event of `event_type` with `data`, signed by `signer`; return its stream.

        An event that opens a stream (an award made, a participant enrolled) creates it;
        any other is added to the stream its data names, retrying if another writer
        added to that stream first. Vault records sealed for it (`Vault.sealed`) are
        written in the same transaction.
        """
        permitted(signer, event_type)
        well_formed(event_type, data)
        stream = STREAMS[event_type]
        if stream.opens(event_type):
            aggregate = stream.open(data)
            try:
                self.save(aggregate, signer=signer, alongside=alongside.statements())
            except IntegrityError:
                what = f"{stream.__name__.lower()} {data[stream.KEY or '']}"
                if self._exists(aggregate.id):
                    raise DomainError("unique-id", f"{what} already exists") from None
                # Something written with it collided (another command sealed the same
                # participant's first vault record at the same moment): nothing was written.
                raise DomainError(
                    "busy", f"{what} collided with another command; try again"
                ) from None
            return aggregate.id
        return self._add(signer, stream, event_type, data)

    def _exists(self, stream_id: UUID) -> bool:
        try:
            self.repository.get(stream_id)
        except AggregateNotFoundError:
            return False
        return True

    def _add(
        self, signer: Signer, stream: type[Stream], event_type: EventType, data: dict[str, Any]
    ) -> UUID:
        stream_id = stream.id_for(data)
        for _attempt in range(CONFLICT_RETRIES):
            try:
                aggregate: Stream = self.repository.get(stream_id)
            except AggregateNotFoundError:
                what = f"{stream.PREFIX} {data[stream.KEY or '']}"
                raise DomainError(f"known-{stream.PREFIX}", f"{what} does not exist") from None
            aggregate.record(event_type, data)
            try:
                self.save(aggregate, signer=signer, alongside=alongside.statements())
                return stream_id
            except IntegrityError:
                continue  # someone else recorded on this stream first: reload
        raise DomainError("busy", f"{stream.PREFIX} {data[stream.KEY or '']} is busy; try again")

    # -- organisations and funds ----------------------------------------------------------

    def register_organisation(
        self, signer: Signer, *, org_id: str, name: str, kind: str, uei: str | None = None
    ) -> UUID:
        return self.record(
            signer, c.ORGANISATION_REGISTERED, org_id=org_id, name=name, kind=kind, uei=uei
        )

    def record_appropriation(
        self,
        signer: Signer,
        *,
        appropriation_id: str,
        fiscal_year: int,
        public_law: str,
        amount_cents: int,
        available_until: str,
    ) -> UUID:
        return self.record(
            signer,
            c.APPROPRIATION_RECORDED,
            appropriation_id=appropriation_id,
            fiscal_year=fiscal_year,
            public_law=public_law,
            amount_cents=amount_cents,
            available_until=available_until,
        )

    def make_award(
        self,
        signer: Signer,
        *,
        award_id: str,
        appropriation_id: str,
        grantee: str,
        amount_cents: int,
        period_start: str,
        period_end: str,
        method: str,
    ) -> UUID:
        return self.record(
            signer,
            c.AWARD_MADE,
            award_id=award_id,
            appropriation_id=appropriation_id,
            grantee=grantee,
            amount_cents=amount_cents,
            period_start=period_start,
            period_end=period_end,
            method=method,
        )

    def amend_award(self, signer: Signer, *, award_id: str, delta_cents: int, reason: str) -> None:
        self.record(
            signer, c.AWARD_AMENDED, award_id=award_id, delta_cents=delta_cents, reason=reason
        )

    def record_disbursement(
        self,
        signer: Signer,
        *,
        award_id: str,
        disbursement_id: str,
        amount_cents: int,
        payment_ref: str,
        paid_on: str,
    ) -> None:
        self.record(
            signer,
            c.DISBURSEMENT_RECORDED,
            award_id=award_id,
            disbursement_id=disbursement_id,
            amount_cents=amount_cents,
            payment_ref=payment_ref,
            paid_on=paid_on,
        )

    def reverse_disbursement(
        self, signer: Signer, *, award_id: str, disbursement_id: str, reason: str
    ) -> None:
        self.record(
            signer,
            c.DISBURSEMENT_REVERSED,
            award_id=award_id,
            disbursement_id=disbursement_id,
            reason=reason,
        )

    def report_expenditure(
        self,
        signer: Signer,
        *,
        award_id: str,
        expenditure_id: str,
        category: str,
        amount_cents: int,
        incurred_on: str,
        service_ids: list[str] | None = None,
        document_sha256: str | None = None,
    ) -> None:
        """Report spending on an award; the services it paid for are kept beside the log,
        the entry carrying only a commitment to them (domain.expenditure_services)."""
        paid = list(service_ids or [])
        if paid:
            self.expenditure_services  # noqa: B018 (its table must exist for the row)
        with ExpenditureServices.committed(expenditure_id, award_id, paid) as services_sha256:
            self.record(
                signer,
                c.EXPENDITURE_REPORTED,
                award_id=award_id,
                expenditure_id=expenditure_id,
                category=category,
                amount_cents=amount_cents,
                incurred_on=incurred_on,
                services_sha256=services_sha256,
                document_sha256=document_sha256,
            )

    def record_refund(
        self,
        signer: Signer,
        *,
        award_id: str,
        refund_id: str,
        amount_cents: int,
        received_on: str,
        payment_ref: str,
    ) -> None:
        self.record(
            signer,
            c.REFUND_RECEIVED,
            award_id=award_id,
            refund_id=refund_id,
            amount_cents=amount_cents,
            received_on=received_on,
            payment_ref=payment_ref,
        )

    def close_award(self, signer: Signer, *, award_id: str, closed_on: str) -> None:
        self.record(signer, c.AWARD_CLOSED, award_id=award_id, closed_on=closed_on)

    # -- what the server records about itself ---------------------------------------------

    def record_export(
        self,
        signer: Signer,
        *,
        kind: str,
        recipient: str,
        purpose: str,
        parameters: dict[str, Any],
        sha256: str,
    ) -> UUID:
        """Record an export about to be handed over: what kind, to whom, why, made how,
        and the SHA-256 of what leaves."""
        return self.record(
            signer,
            c.EXPORT_GENERATED,
            kind=kind,
            recipient=recipient,
            purpose=purpose,
            parameters=parameters,
            sha256=sha256,
        )

    def record_access(
        self,
        signer: Signer,
        *,
        actor: str,
        purpose: str,
        participant_ids: list[str],
        fields: list[str],
    ) -> UUID:
        """Record a read of protected records (who, why, whose, which fields)."""
        return self.record(
            signer,
            c.RECORDS_ACCESSED,
            actor=actor,
            purpose=purpose,
            participant_ids=list(participant_ids),
            fields=list(fields),
        )
