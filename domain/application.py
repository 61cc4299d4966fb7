"""The program's application: one method per command, each signed by the one who acts.

Every command checks its input, then saves; the ledger's recorders check the
signer's key (trust) and the program's rules (domain.funds_rules) under the writers'
lock, so a refused command raises a DomainError naming the rule and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from domain.errors import DomainError
from domain.funds import Appropriation, Award
from domain.organisations import KINDS, Organisation
from domain.rules import ProgramRules
from ledger.application import LedgerApplication
from ledger.permissions import may_sign
from ledger.signing import Signer

A = TypeVar("A", bound=Aggregate)
CONFLICT_RETRIES = 20  # another writer saved the same aggregate first: reload and try again


class NotPermittedError(DomainError):
    """The signer's key may not sign this kind of event."""


class CMPPApplication(LedgerApplication):
    name = "ledger"  # the same tables as the ledger it extends

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self.rules = ProgramRules()
        self.funds, self.cases = self.rules.funds, self.rules.cases
        self.recorder.set_guard(self.rules)  # type: ignore[attr-defined]

    # -- organisations ------------------------------------------------------------------

    def register_organisation(
        self, signer: Signer, *, org_id: str, name: str, kind: str, uei: str | None = None
    ) -> UUID:
        _check(
            org_id.startswith("org:") and len(org_id) > 4,
            "org-id",
            f"an organisation id looks like org:name, not {org_id!r}",
        )
        _check(kind in KINDS, "org-kind", f"kind must be one of {', '.join(KINDS)}")
        _check(bool(name.strip()), "org-name", "an organisation needs a name")
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
        _cents(amount_cents)
        _day(available_until, "available_until")
        _check(
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
        _cents(amount_cents)
        _day(period_start, "period_start")
        _day(period_end, "period_end")
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
        _cents(delta_cents, allow_negative=True)
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
        _cents(amount_cents)
        _day(paid_on, "paid_on")
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
        _cents(amount_cents)
        _day(incurred_on, "incurred_on")
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
        _cents(amount_cents)
        _day(received_on, "received_on")
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
        _day(closed_on, "closed_on")
        self._on_award(
            signer,
            "funds.AwardClosed",
            award_id,
            lambda a: a.close(award_id=award_id, closed_on=closed_on),
        )

    # -- how commands are carried out -------------------------------------------------------

    def _create(self, signer: Signer, event_type: str, build: Callable[[], A], what: str) -> UUID:
        _permitted(signer, event_type)
        aggregate = build()
        try:
            self.save(aggregate, signer=signer)
        except IntegrityError:
            raise DomainError("unique-id", f"{what} already exists") from None
        return aggregate.id

    def _on_award(
        self, signer: Signer, event_type: str, award_id: str, change: Callable[[Any], None]
    ) -> None:
        _permitted(signer, event_type)
        for _attempt in range(CONFLICT_RETRIES):
            try:
                award: Award = self.repository.get(Award.create_id(award_id))
            except AggregateNotFoundError:
                raise DomainError("known-award", f"award {award_id} does not exist") from None
            change(award)
            try:
                self.save(award, signer=signer)
                return
            except IntegrityError:
                continue  # someone else recorded against this award first: reload
        raise DomainError("busy", f"award {award_id} is being changed by others; try again")


def _permitted(signer: Signer, event_type: str) -> None:
    if not may_sign(signer.key.roles, event_type):
        raise NotPermittedError(
            "permission",
            f"a key of {signer.org} with roles {', '.join(signer.key.roles)} may not sign "
            f"{event_type}",
        )


def _check(ok: bool, rule: str, message: str) -> None:
    if not ok:
        raise DomainError(rule, message)


def _cents(value: Any, *, allow_negative: bool = False) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool)
    _check(ok, "integer-cents", f"amounts are integer cents, not {value!r}")
    _check(allow_negative or value > 0, "positive-amount", f"amount must be positive, not {value}")
    _check(value != 0, "positive-amount", "an amendment of zero changes nothing")


def _day(value: Any, name: str) -> None:
    try:
        ok = isinstance(value, str) and date.fromisoformat(value).isoformat() == value
    except ValueError:
        ok = False
    _check(ok, "well-formed", f"{name} must be a date YYYY-MM-DD, not {value!r}")
