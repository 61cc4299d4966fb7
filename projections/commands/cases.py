"""Cases: a grantee's participants, from enrolment to erasure, and CRCL's resolution of
complaints. Requests are `…Create` (enrolment: `ParticipantEnrolment`), answers are named
by what was recorded.

What a request holds that the log may not (a participant's personal data, service notes,
a screening's result, narratives) goes to the vault through the application's methods;
answers carry only what the event does, never those, since an answer is stored with the
idempotency key and shown to whoever retries. Ids of new things are made here, before the
command runs, so that the answer (written with the event) can name them.

A grantee acts on its own participants only: another grantee's participant, or a consent
of one, is answered exactly as one that does not exist (`hidden`), so a grantee cannot
learn whom another serves.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator

from domain import catalogue as c
from domain.case_commands import new_id
from projections.commands.models import (
    MAX_CENTS,
    Code,
    Day,
    Id,
    Recorded,
    Request,
    Text,
    Whole,
    one_of,
)
from projections.commands.scope import (
    complaint_filer,
    named_participant_grantee,
    participant_grantee,
)
from projections.commands.spec import Actor, CommandSpec, Plan, Planned, data_of
from projections.system import System

ServiceType = Annotated[str, one_of(c.SERVICE_TYPES, "service types")]
ReferralSource = Annotated[str, one_of(c.REFERRAL_SOURCES, "referral sources")]
ReferralRecipient = Annotated[str, one_of(c.REFERRAL_RECIPIENTS, "referral recipients")]
ComplaintCategory = Annotated[str, one_of(c.COMPLAINT_CATEGORIES, "complaint categories")]
ComplaintOutcome = Annotated[str, one_of(c.COMPLAINT_OUTCOMES, "complaint outcomes")]
ClosureReason = Annotated[str, one_of(c.CLOSURE_REASONS, "closure reasons")]
ErasureAuthority = Annotated[str, one_of(c.ERASURE_AUTHORITIES, "erasure authorities")]

# The catalogue has no published lists of these, but they are written to the log in the
# clear: their shapes keep a name or a date of birth out of them.
Language = Annotated[
    str,
    Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", description="A BCP 47 tag, e.g. es."),
]
AgeBand = Annotated[
    str,
    Field(
        pattern=r"^[0-9]{1,3}(-[0-9]{1,3}|\+)$",
        description="An age band such as 25-34 or 65+ (never a date of birth).",
    ),
]
Nationality = Annotated[
    str, Field(pattern=r"^[A-Z]{2}$", description="An ISO 3166-1 alpha-2 code, e.g. PE.")
]
Minutes = Annotated[Whole, Field(gt=0, le=24 * 60, description="Minutes spent with them.")]

# -- enrolment: personal data to the vault, codes to the log ------------------------------


class ParticipantPii(Request):
    """Direct identifiers: sealed in the vault under the participant's own data key, never
    in the log, an answer or an error."""

    name: Text
    date_of_birth: Day | None = None
    a_number: str | None = Field(
        default=None, pattern=r"^A[0-9]{8,9}$", description="An A-Number, e.g. A201456789."
    )
    phone: Text | None = None
    email: Text | None = None
    address: Text | None = None


class EnrolmentFacts(Request):
    """What the log records of an enrolment: a date and codes, nothing that names anyone."""

    enrolled_on: Day
    referral_source: ReferralSource
    language: Language
    age_band: AgeBand
    gender: Code
    nationality: Nationality


class ParticipantEnrolment(EnrolmentFacts):
    pii: ParticipantPii


class ParticipantEnrolled(Recorded, EnrolmentFacts):
    """The participant's new id and the enrolment's codes: no personal data."""

    participant_id: Id
    grantee: Id


# -- consent ------------------------------------------------------------------------------


class ConsentCreate(Request):
    # Each code at most once: a list is bounded by its published list, so no request can
    # write an event of any size into the permanent log.
    services: list[ServiceType] = Field(
        min_length=1,
        max_length=len(c.SERVICE_TYPES),
        json_schema_extra={"uniqueItems": True},
        description="The services consented to, each once.",
    )
    share_with: list[ReferralRecipient] = Field(
        default_factory=list,
        max_length=len(c.REFERRAL_RECIPIENTS),
        json_schema_extra={"uniqueItems": True},
        description="Whom the participant's information may be sent to, each once.",
    )

    @field_validator("services", "share_with")
    @classmethod
    def _each_once(cls, codes: list[str]) -> list[str]:
        if len(set(codes)) != len(codes):
            raise ValueError("names a code twice")
        return codes

    method: Code
    language: Language
    interpreter: bool
    form_version: Id
    given_on: Day
    expires_on: Day | None = None


class ConsentGiven(Recorded, ConsentCreate):
    participant_id: Id
    consent_id: Id


class ConsentWithdrawalCreate(Request):
    withdrawn_on: Day


class ConsentWithdrawn(Recorded, ConsentWithdrawalCreate):
    participant_id: Id
    consent_id: Id


# -- services, referrals, screenings --------------------------------------------------------


class ServiceFacts(Request):
    service_type: ServiceType
    delivered_on: Day
    minutes: Minutes
    language: Language
    interpreter: bool


class ServiceCreate(ServiceFacts):
    notes: Text | None = Field(
        default=None, description="The caseworker's notes: sealed in the vault, never shown back."
    )


class ServiceDelivered(Recorded, ServiceFacts):
    participant_id: Id
    service_id: Id


class ReferralCreate(Request):
    to_kind: ReferralRecipient
    consent_id: Id = Field(description="The consent that releases the participant's data to it.")
    made_on: Day


class ReferralMade(Recorded, ReferralCreate):
    participant_id: Id
    referral_id: Id


# A screening's findings: plain values the vault can seal exactly (no floats in the ledger).
SafeInteger = Annotated[Whole, Field(ge=-MAX_CENTS, le=MAX_CENTS)]
ScreeningValue = bool | SafeInteger | Text | list[Text] | None


class ScreeningFacts(Request):
    screening_type: Code
    completed_on: Day


class ScreeningCreate(ScreeningFacts):
    result: dict[str, ScreeningValue] = Field(
        min_length=1, description="The findings: sealed in the vault, never shown back."
    )


class ScreeningCompleted(Recorded, ScreeningFacts):
    participant_id: Id
    screening_id: Id


# -- complaints -----------------------------------------------------------------------------

Narrative = Annotated[
    Text | None,
    Field(description="What a person would write: sealed in the vault, never shown back."),
]


class ComplaintFacts(Request):
    participant_id: Id | None = Field(
        default=None, description="The participant it is about, if any (the grantee's own)."
    )
    category: ComplaintCategory
    filed_on: Day


class ComplaintCreate(ComplaintFacts):
    narrative: Narrative = None  # only for a complaint about a participant: their key keeps it


class ComplaintFiled(Recorded, ComplaintFacts):
    complaint_id: Id


class ComplaintResolutionFacts(Request):
    resolved_on: Day
    outcome: ComplaintOutcome


class ComplaintResolutionCreate(ComplaintResolutionFacts):
    narrative: Narrative = None


class ComplaintResolved(Recorded, ComplaintResolutionFacts):
    complaint_id: Id


# -- closing and erasing a case -------------------------------------------------------------


class CaseClosureFacts(Request):
    closed_on: Day
    reason: ClosureReason


class CaseClosureCreate(CaseClosureFacts):
    narrative: Narrative = None


class CaseClosed(Recorded, CaseClosureFacts):
    participant_id: Id


class ErasureCreate(Request):
    erased_on: Day
    authority: ErasureAuthority


class ParticipantDataErased(Recorded, ErasureCreate):
    participant_id: Id


# -- plans ----------------------------------------------------------------------------------

SEALED = frozenset({"notes", "result", "narrative"})  # members that go to the vault only


def _recording(method: str, made: tuple[str, str] | None = None) -> Plan:
    """A plan that calls the application's `method` with the command's members, and a new
    id `made` = (member, prefix) if the command makes a thing; it answers with the members
    the log keeps (and the new id), leaving out what goes to the vault."""

    def plan(system: System, _actor: Actor, ids: dict[str, str], request: Any) -> Planned:
        data = data_of(request, ids)
        if made is not None:
            member, prefix = made
            data[member] = new_id(prefix)
        answer = {k: v for k, v in data.items() if k not in SEALED}
        call = getattr(system.app, method)
        return Planned(answer, lambda signer: call(signer, **data))

    return plan


def _enrol(system: System, actor: Actor, _ids: dict[str, str], body: Any) -> Planned:
    participant_id = new_id("P")  # random: never derived from who they are
    facts = body.model_dump(mode="json", exclude={"pii"})
    pii = body.pii.model_dump(mode="json", exclude_none=True)
    answer = {"participant_id": participant_id, "grantee": actor.org, **facts}
    return Planned(
        answer,
        lambda signer: system.app.enrol_participant(
            signer, participant_id=participant_id, pii=pii, **facts
        ),
    )


GRANTEE = ("grantee",)
PARTICIPANT_IDS = ("participant_id",)
# The rules' names for "no such participant" and "another grantee's participant": one
# answer for both (domain.case_rules).
NOT_OURS = frozenset({"known-participant", "own-participant"})
NO_SUCH_PARTICIPANT = "participant {participant_id} does not exist"


def _for_a_participant(
    name: str, request: type[Request], answer: type[Recorded], plan: Plan
) -> CommandSpec:
    """A grantee's command on one of its participants, named in the URL."""
    return CommandSpec(
        name,
        request,
        answer,
        GRANTEE,
        plan,
        PARTICIPANT_IDS,
        hidden=NOT_OURS,
        hidden_as=NO_SUCH_PARTICIPANT,
        owner=participant_grantee,
    )


CASES: tuple[CommandSpec, ...] = (
    CommandSpec("enrol_participant", ParticipantEnrolment, ParticipantEnrolled, GRANTEE, _enrol),
    _for_a_participant(
        "give_consent", ConsentCreate, ConsentGiven, _recording("give_consent", ("consent_id", "C"))
    ),
    CommandSpec(
        "withdraw_consent",
        ConsentWithdrawalCreate,
        ConsentWithdrawn,
        GRANTEE,
        _recording("withdraw_consent"),
        ("participant_id", "consent_id"),
        # A consent of another grantee's participant is as missing as one never given.
        hidden=NOT_OURS | {"known-consent"},
        hidden_as="consent {consent_id} of participant {participant_id} does not exist",
        owner=participant_grantee,
    ),
    _for_a_participant(
        "deliver_service",
        ServiceCreate,
        ServiceDelivered,
        _recording("deliver_service", ("service_id", "S")),
    ),
    _for_a_participant(
        "make_referral",
        ReferralCreate,
        ReferralMade,
        _recording("make_referral", ("referral_id", "R")),
    ),
    _for_a_participant(
        "complete_screening",
        ScreeningCreate,
        ScreeningCompleted,
        _recording("complete_screening", ("screening_id", "SC")),
    ),
    CommandSpec(
        "file_complaint",
        ComplaintCreate,
        ComplaintFiled,
        GRANTEE,
        _recording("file_complaint", ("complaint_id", "CP")),
        # The participant is named in the body, not among the ids: the answer names none.
        hidden=NOT_OURS,
        hidden_as="the participant named does not exist",
        owner=named_participant_grantee,
    ),
    CommandSpec(
        "resolve_complaint",
        ComplaintResolutionCreate,
        ComplaintResolved,
        # CRCL resolves any complaint; a grantee only those it filed (DESIGN.md section 4:
        # every case event of its own), another's being as good as missing.
        ("oversight", "grantee"),
        _recording("resolve_complaint"),
        ("complaint_id",),
        hidden=frozenset({"known-complaint", "resolver"}),
        hidden_as="complaint {complaint_id} does not exist",
        owner=complaint_filer,
    ),
    _for_a_participant("close_case", CaseClosureCreate, CaseClosed, _recording("close_case")),
    _for_a_participant(
        "erase_participant",
        ErasureCreate,
        ParticipantDataErased,
        _recording("erase_participant"),
    ),
)
