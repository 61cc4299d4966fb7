"""Funds: appropriations, and awards with everything recorded against them."""

from __future__ import annotations

from domain import catalogue as c
from domain.streams import Stream
from ledger.events import DeclaredCreated, DeclaredEvent


class Appropriation(Stream):
    TOPIC = "domain.Appropriation"
    KEY, PREFIX = "appropriation_id", "appropriation"

    class Created(DeclaredCreated):
        TOPIC = c.APPROPRIATION_RECORDED


class Award(Stream):
    TOPIC = "domain.Award"
    KEY, PREFIX = "award_id", "award"

    class Created(DeclaredCreated):
        TOPIC = c.AWARD_MADE

    class Amended(DeclaredEvent):
        TOPIC = c.AWARD_AMENDED

    class DisbursementRecorded(DeclaredEvent):
        TOPIC = c.DISBURSEMENT_RECORDED

    class DisbursementReversed(DeclaredEvent):
        TOPIC = c.DISBURSEMENT_REVERSED

    class ExpenditureReported(DeclaredEvent):
        TOPIC = c.EXPENDITURE_REPORTED

    class RefundReceived(DeclaredEvent):
        TOPIC = c.REFUND_RECEIVED

    class Closed(DeclaredEvent):
        TOPIC = c.AWARD_CLOSED
