"""Funds: the board's appropriations and awards, the fiscal agent's payments, the grantee's
expenditures. Requests are `…Create`, answers are named by what was recorded."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from domain import catalogue as c
from projections.commands.models import (
    Cents,
    Day,
    Id,
    Recorded,
    Request,
    Sha256,
    SignedCents,
    Whole,
    one_of,
)
from projections.commands.scope import award_grantee
from projections.commands.spec import Actor, CommandSpec, Plan, Planned, data_of
from projections.system import System


class OrganisationCreate(Request):
    org_id: Id
    name: Id
    kind: Literal["board", "fiscal_agent", "grantee", "oversight", "inspector"]
    uei: Id | None = None


class OrganisationRegistered(Recorded, OrganisationCreate):
    pass


class AppropriationCreate(Request):
    appropriation_id: Id
    # Bounded: an integer past 2^53 is one the ledger cannot hold, and would be refused
    # only when the request is hashed (a 500), not as an invalid field.
    fiscal_year: Whole = Field(ge=1789, le=9999, description="The federal fiscal year, e.g. 2022.")
    public_law: Id
    amount_cents: Cents
    available_until: Day


class AppropriationRecorded(Recorded, AppropriationCreate):
    pass


class AwardCreate(Request):
    award_id: Id
    appropriation_id: Id
    grantee: Id
    amount_cents: Cents
    period_start: Day
    period_end: Day
    method: Literal["advance", "reimbursement"]


class AwardMade(Recorded, AwardCreate):
    pass


AmendmentReason = Annotated[str, one_of(c.AMENDMENT_REASONS, "amendment reasons")]
ReversalReason = Annotated[str, one_of(c.REVERSAL_REASONS, "reversal reasons")]


class AwardAmendmentCreate(Request):
    delta_cents: SignedCents
    reason: AmendmentReason


class AwardAmended(Recorded, AwardAmendmentCreate):
    award_id: Id


class AwardClosureCreate(Request):
    closed_on: Day


class AwardClosed(Recorded, AwardClosureCreate):
    award_id: Id


class DisbursementCreate(Request):
    disbursement_id: Id
    amount_cents: Cents
    payment_ref: Id
    paid_on: Day


class DisbursementRecorded(Recorded, DisbursementCreate):
    award_id: Id


class DisbursementReversalCreate(Request):
    reason: ReversalReason


class DisbursementReversed(Recorded, DisbursementReversalCreate):
    award_id: Id
    disbursement_id: Id


class RefundCreate(Request):
    refund_id: Id
    amount_cents: Cents
    received_on: Day
    payment_ref: Id


class RefundReceived(Recorded, RefundCreate):
    award_id: Id


MAX_SERVICE_IDS = 1000


class ExpenditureCreate(Request):
    expenditure_id: Id
    category: Id
    amount_cents: Cents
    incurred_on: Day
    # Bounded: an expenditure names the services it paid for, not a log's worth of ids.
    service_ids: list[Id] = Field(default_factory=list, max_length=MAX_SERVICE_IDS)
    document_sha256: Sha256 | None = None


class ExpenditureReported(Recorded, ExpenditureCreate):
    award_id: Id


def _calling(method: str) -> Plan:
    """A plan that calls the application's `method` with the command's members, and
    answers with them."""

    def plan(system: System, _actor: Actor, ids: dict[str, str], request: Any) -> Planned:
        data = data_of(request, ids)
        call = getattr(system.app, method)
        return Planned(data, lambda signer: call(signer, **data))

    return plan


AWARD_IDS = ("award_id",)

FUNDS = (
    CommandSpec(
        "register_organisation",
        OrganisationCreate,
        OrganisationRegistered,
        ("board",),
        _calling("register_organisation"),
    ),
    CommandSpec(
        "record_appropriation",
        AppropriationCreate,
        AppropriationRecorded,
        ("board",),
        _calling("record_appropriation"),
    ),
    CommandSpec("make_award", AwardCreate, AwardMade, ("board",), _calling("make_award")),
    CommandSpec(
        "amend_award",
        AwardAmendmentCreate,
        AwardAmended,
        ("board",),
        _calling("amend_award"),
        AWARD_IDS,
    ),
    CommandSpec(
        "close_award",
        AwardClosureCreate,
        AwardClosed,
        ("board",),
        _calling("close_award"),
        AWARD_IDS,
    ),
    CommandSpec(
        "record_disbursement",
        DisbursementCreate,
        DisbursementRecorded,
        ("fiscal_agent",),
        _calling("record_disbursement"),
        AWARD_IDS,
    ),
    CommandSpec(
        "reverse_disbursement",
        DisbursementReversalCreate,
        DisbursementReversed,
        ("fiscal_agent",),
        _calling("reverse_disbursement"),
        ("award_id", "disbursement_id"),
    ),
    CommandSpec(
        "record_refund",
        RefundCreate,
        RefundReceived,
        ("fiscal_agent",),
        _calling("record_refund"),
        AWARD_IDS,
    ),
    CommandSpec(
        "report_expenditure",
        ExpenditureCreate,
        ExpenditureReported,
        ("grantee",),
        _calling("report_expenditure"),
        AWARD_IDS,
        hidden=frozenset({"known-award", "own-award"}),
        hidden_as="award {award_id} does not exist",
        owner=award_grantee,
    ),
)
