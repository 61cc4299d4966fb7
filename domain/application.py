"""The program's application: one method per command, each signed by the one who acts.

Every command checks its input, then saves; the ledger's recorders check the
signer's key (trust) and the program's rules (domain.funds_rules) under the writers'
lock, so a refused command raises a DomainError naming the rule and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from domain.case_commands import CaseCommands
from domain.commands import cents, check, day, permitted
from domain.errors import DomainError
from domain.funds import Appropriation, Award
from domain.organisations import KINDS, Organisation
from domain.rules import ProgramRules
from domain.vault import Vault, VaultError
from ledger.application import LedgerApplication
from ledger.signing import Signer

A = TypeVar("A", bound=Aggregate)
CONFLICT_RETRIES = 20  # another writer saved the same aggregate first: reload and try again


class CMPPApplication(CaseCommands, LedgerApplication):
    name = "ledger"  # the same tables as the ledger it extends

    def __init__(self, env: dict[str, str] | None = None, vault_key: bytes | None = None) -> None:
        super().__init__(env)
        self._vault_key = vault_key
        self._vault: Vault | None = None
        self.rules = ProgramRules()
        self.funds, self.cases = self.rules.funds, self.rules.cases
        self.recorder.set_guard(self.rules)  # type: ignore[attr-defined]

    @property
    def vault(self) -> Vault:
        if self._vault is None:
            if self._vault_key is None:
                raise VaultError("set CMPP_VAULT_KEY (32 bytes, base64): the vault needs it")
            self._vault = Vault(self.recorder.datastore, self._vault_key)  # type: ignore[attr-defined]
        return self._vault

    # -- organisations ------------------------------------------------------------------

    def register_organisation(
        self, signer: Signer, *, org_id: str, name: str, kind: str, uei: str | None = None
    ) -> UUID:
        check(
            org_id.startswith("org:") and len(org_id) > 4,
            "org-id",
            f"an organisation id looks like org:name, not {org_id!r}",
        )
        check(kind in KINDS, "org-kind", f"kind must be one of {', '.join(KINDS)}")
        check(bool(name.strip()), "org-name", "an organisation needs a name")
        return self._create(
            signer,
            "org.OrganisationRegistered",
            lambda: Organisation(org_id=org_id, name=name, kind=kind, uei=uei),
            f"organisation {org_id}",
        )

    # -- funds ----------------------------------------------------------------------------

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
        cents(amount_cents)
        day(available_until, "available_until")
        check(
            isinstance(fiscal_year, int) and not isinstance(fiscal_year, bool),
            "well-formed",
            "fiscal_year is a year number",
        )
        return self._create(
            signer,
            "funds.AppropriationRecorded",
            lambda: Appropriation(
                appropriation_id=appropriation_id,
                fiscal_year=fiscal_year,
                public_law=public_law,
                amount_cents=amount_cents,
                available_until=available_until,
            ),
            f"appropriation {appropriation_id}",
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
        cents(amount_cents)
        day(period_start, "period_start")
        day(period_end, "period_end")
        return self._create(
            signer,
            "funds.AwardMade",
            lambda: Award(
                award_id=award_id,
                appropriation_id=appropriation_id,
                grantee=grantee,
                amount_cents=amount_cents,
                period_start=period_start,
                period_end=period_end,
                method=method,
            ),
            f"award {award_id}",
        )

    def amend_award(self, signer: Signer, *, award_id: str, delta_cents: int, reason: str) -> None:
        cents(delta_cents, allow_negative=True)
        self._on_award(
            signer,
            "funds.AwardAmended",
            award_id,
            lambda a: a.amend(award_id=award_id, delta_cents=delta_cents, reason=reason),
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
        cents(amount_cents)
        day(paid_on, "paid_on")
        self._on_award(
            signer,
            "funds.DisbursementRecorded",
            award_id,
            lambda a: a.record_disbursement(
                award_id=award_id,
                disbursement_id=disbursement_id,
                amount_cents=amount_cents,
                payment_ref=payment_ref,
                paid_on=paid_on,
            ),
        )

    def reverse_disbursement(
        self, signer: Signer, *, award_id: str, disbursement_id: str, reason: str
    ) -> None:
        self._on_award(
            signer,
            "funds.DisbursementReversed",
            award_id,
            lambda a: a.reverse_disbursement(
                award_id=award_id, disbursement_id=disbursement_id, reason=reason
            ),
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
        cents(amount_cents)
        day(incurred_on, "incurred_on")
        self._on_award(
            signer,
            "funds.ExpenditureReported",
            award_id,
            lambda a: a.report_expenditure(
                award_id=award_id,
                expenditure_id=expenditure_id,
                category=category,
                amount_cents=amount_cents,
                incurred_on=incurred_on,
                service_ids=list(service_ids or []),
                document_sha256=document_sha256,
            ),
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
        cents(amount_cents)
        day(received_on, "received_on")
        self._on_award(
            signer,
            "funds.RefundReceived",
            award_id,
            lambda a: a.receive_refund(
                award_id=award_id,
                refund_id=refund_id,
                amount_cents=amount_cents,
                received_on=received_on,
                payment_ref=payment_ref,
            ),
        )

    def close_award(self, signer: Signer, *, award_id: str, closed_on: str) -> None:
        day(closed_on, "closed_on")
        self._on_award(
            signer,
            "funds.AwardClosed",
            award_id,
            lambda a: a.close(award_id=award_id, closed_on=closed_on),
        )

    # -- how commands are carried out -------------------------------------------------------

    def _create(self, signer: Signer, event_type: str, build: Callable[[], A], what: str) -> UUID:
        permitted(signer, event_type)
        aggregate = build()
        try:
            self.save(aggregate, signer=signer)
        except IntegrityError:
            raise DomainError("unique-id", f"{what} already exists") from None
        return aggregate.id

    def _on_award(
        self, signer: Signer, event_type: str, award_id: str, change: Callable[[Any], None]
    ) -> None:
        self._on(signer, event_type, Award.create_id(award_id), f"award {award_id}", change)

    def _on(
        self,
        signer: Signer,
        event_type: str,
        aggregate_id: UUID,
        what: str,
        change: Callable[[Any], None],
    ) -> None:
        """Load, change and save an aggregate; reload and retry if another writer won."""
        permitted(signer, event_type)
        for _attempt in range(CONFLICT_RETRIES):
            try:
                aggregate: Aggregate = self.repository.get(aggregate_id)
            except AggregateNotFoundError:
                rule = "known-" + what.split(maxsplit=1)[0]
                raise DomainError(rule, f"{what} does not exist") from None
            change(aggregate)
            try:
                self.save(aggregate, signer=signer)
                return
            except IntegrityError:
                continue  # someone else recorded against it first: reload
        raise DomainError("busy", f"{what} is being changed by others; try again")
