"""Funds: appropriations, and awards with everything recorded against them."""

from __future__ import annotations

from domain import catalogue as c
from domain.streams import Stream
from ledger.events import opening, recording


class Appropriation(Stream):
    TOPIC = "domain.Appropriation"
    KEY, PREFIX = "appropriation_id", "appropriation"
    Created = opening(c.APPROPRIATION_RECORDED)


class Award(Stream):
    TOPIC = "domain.Award"
    KEY, PREFIX = "award_id", "award"
    Created = opening(c.AWARD_MADE)
    Amended = recording(c.AWARD_AMENDED)
    DisbursementRecorded = recording(c.DISBURSEMENT_RECORDED)
    DisbursementReversed = recording(c.DISBURSEMENT_REVERSED)
    ExpenditureReported = recording(c.EXPENDITURE_REPORTED)
    RefundReceived = recording(c.REFUND_RECEIVED)
    Closed = recording(c.AWARD_CLOSED)
