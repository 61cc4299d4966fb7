"""The aggregate both sides of the append benchmark save: one event with an amount."""

from __future__ import annotations

import itertools

from eventsourcing.domain import Aggregate, event

_refs = itertools.count()


class BenchPayment(Aggregate):
    TOPIC = "bench.Payment"

    class Created(Aggregate.Created):
        TOPIC = "case.SampleRecorded"
        award_id: str
        disbursement_id: str
        amount_cents: int
        payment_ref: str
        paid_on: str

    @event(Created)
    def __init__(
        self,
        award_id: str,
        disbursement_id: str,
        amount_cents: int,
        payment_ref: str,
        paid_on: str,
    ) -> None:
        self.amount_cents = amount_cents


def payment() -> BenchPayment:
    n = next(_refs)
    return BenchPayment(
        award_id="A-2022-007",
        disbursement_id=f"D-{n}",
        amount_cents=120_000 + n,
        payment_ref=f"PAY-{n}",
        paid_on="2022-10-01",
    )
