"""A stand-in program for the ledger's own tests: one event type, a payment with an amount.

The ledger knows nothing of grants, so its tests bring their own catalogue, as a program
does. Roles are named like the real program's, so key registrations read the same.
"""

from __future__ import annotations

from uuid import uuid4

from eventsourcing.domain import Aggregate

from ledger.catalogue import CENTS, DATE, ID, Catalogue, EventType
from ledger.events import opening

SAMPLE_RECORDED = EventType(
    "test.SampleRecorded",
    signed_by=["grantee"],
    award_id=ID,
    disbursement_id=ID,
    amount_cents=CENTS,
    payment_ref=ID,
    paid_on=DATE,
)
SAMPLE_CATALOGUE = Catalogue([SAMPLE_RECORDED], roles=["grantee", "fiscal_agent"])


class SamplePayment(Aggregate):
    TOPIC = "test.SamplePayment"

    Created = opening(SAMPLE_RECORDED)

    def __init__(self, amount_cents: int) -> None:  # given the Created event's amount_cents
        self.amount_cents = amount_cents


def sample_payment(
    amount_cents: int = 120_000, payment_ref: str | None = None, award_id: str = "A-2022-007"
) -> SamplePayment:
    payment_ref = payment_ref or f"PAY-{uuid4().hex[:8]}"
    return SamplePayment._create(
        SamplePayment.Created,
        id=uuid4(),
        award_id=award_id,
        disbursement_id=f"D-{payment_ref}",
        amount_cents=amount_cents,
        payment_ref=payment_ref,
        paid_on="2022-10-01",
    )
