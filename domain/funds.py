"""Funds: appropriations and awards, and everything recorded against an award.

The aggregates only record; the rules (domain.funds_rules) decide, under the
writers' lock, whether each event may enter the log.
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


class Appropriation(Aggregate):
    TOPIC = "domain.Appropriation"

    class Created(Aggregate.Created):
        TOPIC = "funds.AppropriationRecorded"
        appropriation_id: str
        fiscal_year: int
        public_law: str
        amount_cents: int
        available_until: str

    @staticmethod
    def create_id(appropriation_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"cmpp:appropriation/{appropriation_id}")

    @event(Created)
    def __init__(
        self,
        *,
        appropriation_id: str,
        fiscal_year: int,
        public_law: str,
        amount_cents: int,
        available_until: str,
    ) -> None:
        self.appropriation_id = appropriation_id
        self.amount_cents = amount_cents


class Award(Aggregate):
    TOPIC = "domain.Award"

    class Created(Aggregate.Created):
        TOPIC = "funds.AwardMade"
        award_id: str
        appropriation_id: str
        grantee: str
        amount_cents: int
        period_start: str
        period_end: str
        method: str

    class Amended(Aggregate.Event):
        TOPIC = "funds.AwardAmended"
        award_id: str
        delta_cents: int
        reason: str

    class DisbursementRecorded(Aggregate.Event):
        TOPIC = "funds.DisbursementRecorded"
        award_id: str
        disbursement_id: str
        amount_cents: int
        payment_ref: str
        paid_on: str

    class DisbursementReversed(Aggregate.Event):
        TOPIC = "funds.DisbursementReversed"
        award_id: str
        disbursement_id: str
        reason: str

    class ExpenditureReported(Aggregate.Event):
        TOPIC = "funds.ExpenditureReported"
        award_id: str
        expenditure_id: str
        category: str
        amount_cents: int
        incurred_on: str
        service_ids: list[str]
        document_sha256: str | None

    class RefundReceived(Aggregate.Event):
        TOPIC = "funds.RefundReceived"
        award_id: str
        refund_id: str
        amount_cents: int
        received_on: str
        payment_ref: str

    class Closed(Aggregate.Event):
        TOPIC = "funds.AwardClosed"
        award_id: str
        closed_on: str

    @staticmethod
    def create_id(award_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"cmpp:award/{award_id}")

    @event(Created)
    def __init__(
        self,
        *,
        award_id: str,
        appropriation_id: str,
        grantee: str,
        amount_cents: int,
        period_start: str,
        period_end: str,
        method: str,
    ) -> None:
        self.award_id = award_id
        self.grantee = grantee
        self.authorised = amount_cents
        self.closed = False

    @event(Amended)
    def amend(self, *, award_id: str, delta_cents: int, reason: str) -> None:
        self.authorised += delta_cents

    @event(DisbursementRecorded)
    def record_disbursement(
        self,
        *,
        award_id: str,
        disbursement_id: str,
        amount_cents: int,
        payment_ref: str,
        paid_on: str,
    ) -> None:
        pass

    @event(DisbursementReversed)
    def reverse_disbursement(self, *, award_id: str, disbursement_id: str, reason: str) -> None:
        pass

    @event(ExpenditureReported)
    def report_expenditure(
        self,
        *,
        award_id: str,
        expenditure_id: str,
        category: str,
        amount_cents: int,
        incurred_on: str,
        service_ids: list[str],
        document_sha256: str | None,
    ) -> None:
        pass

    @event(RefundReceived)
    def receive_refund(
        self,
        *,
        award_id: str,
        refund_id: str,
        amount_cents: int,
        received_on: str,
        payment_ref: str,
    ) -> None:
        pass

    @event(Closed)
    def close(self, *, award_id: str, closed_on: str) -> None:
        self.closed = True
