"""Every route, every caller: the one answer the role table allows, and nothing else.

The table below is the API's access contract in one place (DESIGN.md section 4, the roles
table, and section 6: "a grantee sees only its own org's data, and an attempt to see
another's gets 404"). Each row is a route of the app, asked by each of the seven people of
tests.api_support (irc owns every thing a row names; baker is the other grantee) and by
nobody at all (no token). A cell holds the one answer allowed:

- 200 / 201  ALLOWED: exactly the route's success status (201 for a command, 200 a read);
- 403        FORBIDDEN: a problem of type …/permission, the same whether the thing named
             exists or not (the role is judged before anything is looked up);
- 404        HIDDEN: the very answer (status, type, title, content type; detail and
             instance but for the ids asked about) that the same caller gets for a thing
             that does not exist, and never a word naming the owning organisation;
- 401        no token: refused on every route but the load balancer's two;
- 422        REFUSED (a few rows only): the thing was closed, erased or resolved by an
             earlier row, and those the role allows get the rule that refuses it.

The walk runs once per backend (SQLite, and PostgreSQL when it is reachable) over one
ledger set up for it; every allowed command gets a fresh valid body, so ALLOWED means
201 and nothing else, and what closes or erases uses a target of its own. Afterwards the
log verifies and holds exactly the entries the allowed answers named. The walked table is
written to <pytest's base temp>/api-matrix.md for a person to read.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import uuid4

import fastapi.routing
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.app import create_app
from domain.catalogue import CATALOGUE
from projections.commands.registry import COMMANDS
from projections.settings import throwaway_settings
from tests.api_support import PEOPLE, Program, program
from tests.conftest import PostgresDatabase, require_postgres

# -- the table --------------------------------------------------------------------------
# Columns: the people of tests.api_support (irc owns every thing a row names; baker is
# the other grantee), then `nobody`, a request without a token. Rows: ROUTES, below.
MATRIX = """
row                         board  cws  irc  baker  crcl  oig  public  nobody
healthz                       200  200  200    200   200  200     200     200
readyz                        200  200  200    200   200  200     200     200
me                            200  200  200    200   200  200     200     401
register person               201  403  403    403   403  403     403     401
suspend person                201  403  403    403   403  403     403     401
register key                  201  403  403    403   403  403     403     401
rotate key                    201  403  403    403   403  403     403     401
revoke key                    201  403  403    403   403  403     403     401
register organisation         201  403  403    403   403  403     403     401
record appropriation          201  403  403    403   403  403     403     401
make award                    201  403  403    403   403  403     403     401
amend award                   201  403  403    403   403  403     403     401
close award                   201  403  403    403   403  403     403     401
record disbursement           403  201  403    403   403  403     403     401
reverse disbursement          403  201  403    403   403  403     403     401
record refund                 403  201  403    403   403  403     403     401
report expenditure            403  403  201    404   403  403     403     401
spend on closed award         403  403  422    404   403  403     403     401
enrol participant             403  403  201    201   403  403     403     401
give consent                  403  403  201    404   403  403     403     401
withdraw consent              403  403  201    404   403  403     403     401
deliver service               403  403  201    404   403  403     403     401
make referral                 403  403  201    404   403  403     403     401
complete screening            403  403  201    404   403  403     403     401
close case                    403  403  201    404   403  403     403     401
erase participant             403  403  201    404   403  403     403     401
serve closed case             403  403  422    404   403  403     403     401
consent of erased             403  403  422    404   403  403     403     401
file complaint                403  403  201    404   403  403     403     401
resolve complaint             403  403  201    404   201  403     403     401
resolve resolved complaint    403  403  422    404   422  403     403     401
balances                      200  200  200    200   200  200     403     401
award sf425                   200  200  200    404   200  200     403     401
grantee balances              200  200  200    404   200  200     403     401
case history                  403  403  200    404   200  200     403     401
oversight view                200  200  403    403   200  200     403     401
reconciliation                403  200  403    403   403  200     403     401
checkpoint                    200  200  200    200   200  200     200     401
inclusion proof               200  200  200    200   200  200     200     401
consistency proof             200  200  200    200   200  200     200     401
money entry                   200  200  200    404   200  200     200     401
case entry                    404  404  200    404   200  200     404     401
audit bundle                  403  403  403    403   403  200     403     401
disclosures                   403  403  403    403   200  200     403     401
foia release                  200  200  200    200   200  200     200     401
prepare payment               403  201  403    403   403  403     403     401
prepare spending              403  403  201    404   403  403     403     401
submit payment                404  201  404    404   404  404     404     401
submit spending               404  404  201    404   404  404     404     401
"""
# 422 (REFUSED) is the one answer beyond the three: those the role allows, asking about a
# thing an earlier row closed, erased or resolved, get the rule that refuses it. The other
# grantee must still get 404 there: what irc's things have become is no more its business
# than whether they exist.
#
# Why the rows that are not plain "the role may, or not" read as they do:
# - resolve complaint: DESIGN.md gives oversight `case.ComplaintResolved` and the grantee
#   "every `case.*` event, for its own org only": irc resolves a complaint it filed.
# - balances, enrol participant: baker names nothing of irc's there, so it is answered
#   for itself (its own scope, its own participant).
# - oversight view: program-wide case figures move with every grantee's cases, even
#   suppressed, so no grantee reads them (DESIGN.md section 6: a grantee sees only its
#   own org's data); the board and the fiscal agent get them suppressed.
# - case history: "protected fields only with a stated purpose" for oversight; the
#   inspector "reads everything"; the grantee its own; the board, the fiscal agent and
#   the public read no case data ("public: … no case data").
# - reconciliation: the fiscal agent "reconciles them against the bank's payment file";
#   the inspector reads everything. Money entries are public money (section 5, FOIA).
# - case entry: case data is for its grantee, oversight and the inspector; to anyone
#   else the entry is as missing as one past the log's end.
# - prepare: the prepared command's own roles, and the grantee's own things only;
#   submit: a prepared command is its preparer's alone, anyone else's submission is
#   answered as for one never prepared.

OWNER = "org:irc"  # the organisation every row's thing belongs to
CALLERS = [name for name, _org, _role in PEOPLE]
ROLE_OF = {name: role for name, _org, role in PEOPLE}
NOBODY = "nobody"
COLUMNS = [*CALLERS, NOBODY]
OPEN_ROUTES = {"/healthz", "/readyz"}  # the load balancer asks without a token
PROBLEM = "application/problem+json"

# DESIGN.md section 4, "Organisations and roles": the events each role may sign.
DESIGN_SIGNERS: dict[str, tuple[str, ...]] = {
    "board": (
        "ledger.KeyRegistered",
        "ledger.KeyRevoked",
        "org.*",
        "funds.AppropriationRecorded",
        "funds.AwardMade",
        "funds.AwardAmended",
        "funds.AwardClosed",
    ),
    "fiscal_agent": (
        "funds.DisbursementRecorded",
        "funds.DisbursementReversed",
        "funds.RefundReceived",
    ),
    "grantee": ("funds.ExpenditureReported", "case.*"),
    "oversight": ("case.ComplaintResolved",),
    "inspector": (),
    "system": ("audit.*",),
    "public": (),
}


def design_roles(event: str) -> set[str]:
    """The roles DESIGN.md lets sign `event`."""
    area = event.partition(".")[0]
    return {
        role for role, signs in DESIGN_SIGNERS.items() if event in signs or f"{area}.*" in signs
    }


# -- the ledger the walk runs over ------------------------------------------------------

Names = dict[str, str]  # the ids a request names: path parameters, or ids in its body


@dataclass
class World:
    """One backend's ledger, and the things of irc's the rows name."""

    p: Program
    backend: str
    award: str = "A-IRC"  # paid, spent on, amended, refunded
    award_to_close: str = "A-CLOSE"
    award_paid: str = "A-PAY"  # its one disbursement is reversed
    disbursement: str = "D-REV"
    participant: str = ""  # consents, services, referrals, screenings, complaints, history
    participant_to_close: str = ""
    participant_to_erase: str = ""
    consent: str = ""  # in force: services and referrals rest on it
    consent_to_withdraw: str = ""
    complaint_for_crcl: str = ""  # filed by irc; CRCL resolves it
    complaint_for_irc: str = ""  # filed by irc; irc resolves it itself
    spare_person: str = ""  # registered to be suspended
    key_to_rotate: str = ""  # an organisation's service keys, for the board to manage
    key_to_revoke: str = ""
    checkpoint_size: int = 0
    money_entry: int = 0  # seq of irc's expenditure
    case_entry: int = 0  # seq of irc's enrolment
    key_ids: dict[str, str] = field(default_factory=dict)
    prepared: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # id: owner, bytes
    serial: Iterator[int] = field(default_factory=itertools.count)

    def irc_things(self) -> list[str]:
        """What names irc or one of its things: never in an answer to the other grantee."""
        things = [OWNER, self.award, self.award_to_close, self.award_paid]
        things += [self.participant, self.participant_to_close, self.participant_to_erase]
        things += [self.consent, self.consent_to_withdraw]
        return [*things, self.complaint_for_crcl, self.complaint_for_irc]

    def fresh(self, prefix: str) -> str:
        """An id used nowhere else in this ledger."""
        return f"{prefix}-{next(self.serial)}"


ENROLMENT = {
    "enrolled_on": "2023-01-09",
    "referral_source": "ice_ero",
    "language": "es",
    "age_band": "35-44",
    "gender": "female",
    "nationality": "PE",
    "pii": {"name": "Matrix Tester"},
}
CONSENT = {
    "services": ["case_management", "legal_orientation"],
    "share_with": ["legal_service_provider"],
    "method": "written",
    "language": "es",
    "interpreter": True,
    "form_version": "CMPP-C-2022.2",
    "given_on": "2023-01-10",
    "expires_on": "2023-12-31",
}
SERVICE = {
    "service_type": "legal_orientation",
    "delivered_on": "2023-01-12",
    "minutes": 45,
    "language": "es",
    "interpreter": True,
}
SCREENING = {
    "screening_type": "trafficking",
    "completed_on": "2023-01-11",
    "result": {"positive": False},
}
COMPLAINT = {"category": "language_access", "filed_on": "2023-02-01"}
RESOLUTION = {"resolved_on": "2023-02-10", "outcome": "substantiated"}


def _payment(w: World, cents: int = 1_000_00) -> dict[str, Any]:
    return {
        "disbursement_id": w.fresh("D"),
        "amount_cents": cents,
        "payment_ref": w.fresh("PAY"),
        "paid_on": "2023-02-01",
    }


def _spending(w: World) -> dict[str, Any]:
    return {
        "expenditure_id": w.fresh("E"),
        "category": "personnel",
        "amount_cents": 10_00,
        "incurred_on": "2023-03-01",
    }


def _award(award_id: str, cents: int = 1_000_00) -> dict[str, Any]:
    return {
        "award_id": award_id,
        "appropriation_id": "FY2022",
        "grantee": OWNER,
        "amount_cents": cents,
        "period_start": "2023-01-01",
        "period_end": "2024-09-30",
        "method": "advance",
    }


def _made(p: Program, who: str, path: str, body: Any) -> dict[str, Any]:
    answer = p.post(who, path, body)
    assert answer.status_code == 201, (path, answer.text)
    made: dict[str, Any] = answer.json()
    return made


def _set_up(p: Program, backend: str) -> World:
    """Everything the rows name, made through the API as its people would."""
    w = World(p, backend)
    w.key_ids = {name: p.get(name, "/v1/me").json()["key_id"] for name in CALLERS}
    _made(
        p,
        "board",
        "/v1/appropriations",
        {
            "appropriation_id": "FY2022",
            "fiscal_year": 2022,
            "public_law": "P.L. 117-103",
            "amount_cents": 15_000_000_00,
            "available_until": "2024-09-30",
        },
    )
    _made(p, "board", "/v1/awards", _award(w.award, 1_000_000_00))
    _made(p, "board", "/v1/awards", _award(w.award_to_close))
    _made(p, "board", "/v1/awards", _award(w.award_paid))
    # Cash on hand to refund from, and a payment of its own to reverse.
    _made(p, "cws", f"/v1/awards/{w.award}/disbursements", _payment(w, 250_000_00))
    paid = {**_payment(w, 500_00), "disbursement_id": w.disbursement}
    _made(p, "cws", f"/v1/awards/{w.award_paid}/disbursements", paid)
    w.money_entry = _made(p, "irc", f"/v1/awards/{w.award}/expenditures", _spending(w))["seq"]
    enrolled = _made(p, "irc", "/v1/participants", ENROLMENT)
    w.participant, w.case_entry = enrolled["participant_id"], enrolled["seq"]
    w.participant_to_close = _made(p, "irc", "/v1/participants", ENROLMENT)["participant_id"]
    w.participant_to_erase = _made(p, "irc", "/v1/participants", ENROLMENT)["participant_id"]
    consents = f"/v1/participants/{w.participant}/consents"
    w.consent = _made(p, "irc", consents, CONSENT)["consent_id"]
    w.consent_to_withdraw = _made(p, "irc", consents, CONSENT)["consent_id"]
    about = {**COMPLAINT, "participant_id": w.participant}
    w.complaint_for_crcl = _made(p, "irc", "/v1/complaints", about)["complaint_id"]
    w.complaint_for_irc = _made(p, "irc", "/v1/complaints", about)["complaint_id"]
    spare = {"org": OWNER, "role": "grantee", "profile": {"name": "Spare Clerk"}}
    w.spare_person = _made(p, "board", "/v1/people", spare)["person_id"]
    w.key_to_rotate = _made(p, "board", "/v1/keys", _service_key())["key_id"]
    w.key_to_revoke = _made(p, "board", "/v1/keys", _service_key())["key_id"]
    # The first protected read registers the server's system key: done here, so that in
    # the walk each allowed read of a case history writes exactly one entry, its own.
    first = p.get("crcl", f"/v1/participants/{w.participant}/history", purpose="audit")
    assert first.status_code == 200, first.text
    # A checkpoint issued before the walk, for the consistency proofs to start from.
    w.checkpoint_size = p.get("oig", "/v1/checkpoint").json()["size"]
    return w


def _prepare(w: World, owner: str, command: str, body: dict[str, Any]) -> str:
    """A command prepared by `owner` (nothing is written); its id."""
    ids = {"award_id": w.award}
    made = _made(w.p, owner, "/v1/prepared", {"command": command, "ids": ids, "body": body})
    w.prepared[made["prepared_id"]] = (owner, base64.b64decode(made["event_bytes"]))
    return str(made["prepared_id"])


def _signature(w: World, prepared_id: str) -> str:
    """The preparer's own signature of a prepared event (the right one, whoever sends it);
    for an id never prepared, one of the right shape."""
    if prepared_id not in w.prepared:
        return base64.b64encode(b"\0" * 64).decode()
    owner, event_bytes = w.prepared[prepared_id]
    key = w.p.system.keys.load(w.key_ids[owner])
    return base64.b64encode(key.sign(event_bytes)).decode()


# -- the rows -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Ask:
    """What a request sends besides its path: a JSON body, a query, or a file."""

    body: Any = None
    params: dict[str, Any] | None = None
    files: dict[str, Any] | None = None


Build = Callable[[World, str, Names], Ask]  # (world, caller, names) -> the request
Targets = Callable[[World, str], Names]  # (world, caller) -> the things of irc's it names


def _no_ask(_w: World, _caller: str, _names: Names) -> Ask:
    return Ask()


def _no_names(_w: World, _caller: str) -> Names:
    return {}


def _public_key() -> str:
    return base64.b64encode(Ed25519PrivateKey.generate().public_key().public_bytes_raw()).decode()


def _service_key() -> dict[str, Any]:
    """The fiscal agent's own key (no person): its private half stays with it."""
    return {"holder": "org:cws", "roles": ["fiscal_agent"], "public_key": _public_key()}


def _body(make: Callable[[World], Any]) -> Build:
    """A request whose body is `make(world)`, fresh for each call."""
    return lambda w, _caller, _names: Ask(body=make(w))


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # as the app declares it; formatted with the names of each request
    ask: Build = _no_ask
    targets: Targets = _no_names
    absent: Names = field(default_factory=dict)  # the same names, of nothing that exists
    command: str | None = None  # the CommandSpec it runs (or prepares)
    event: str | None = None  # the event that command records (DESIGN.md's role table)
    writes: bool = False  # each allowed answer writes entries, the last named by `seq_member`
    seq_member: str = "seq"
    seq_header: str | None = None  # the entry's seq is in this header (the answer is a file)
    entries: int = 1  # how many (a rotation registers the successor and revokes the key)
    refused: str | None = None  # the rule answering 422 (the thing is closed, erased…)


def _csv(_w: World, _caller: str, _names: Names) -> Ask:
    data = b"payment_ref,paid_on,amount_cents,payee\nPAY-1,2023-02-01,100000,IRC\n"
    return Ask(files={"file": ("payments.csv", data, "text/csv")})


def _prepared(owner: str, command: str, make: Callable[[World], Any]) -> Targets:
    """A command freshly prepared by `owner`, for the caller to submit."""
    return lambda w, _caller: {"prepared_id": _prepare(w, owner, command, make(w))}


AWARD = "/v1/awards/{award_id}"
PARTICIPANT = "/v1/participants/{participant_id}"
NO_AWARD = {"award_id": "A-NONE"}
NO_PARTICIPANT = {"participant_id": "P-NONE"}
NO_ENTRY = {"seq": str(10**12)}  # far past the log's end


ROUTES: dict[str, Route] = {
    "healthz": Route("GET", "/healthz"),
    "readyz": Route("GET", "/readyz"),
    "me": Route("GET", "/v1/me"),
    # -- people and organisations: the board's
    "register person": Route(
        "POST",
        "/v1/people",
        _body(lambda w: {"org": OWNER, "role": "grantee", "profile": {"name": "New Clerk"}}),
        command="register_person",
        event="ledger.KeyRegistered",
        writes=True,
    ),
    "suspend person": Route(
        "POST",
        "/v1/people/{person_id}/suspension",
        _body(lambda w: {"reason": "left the program"}),
        lambda w, _c: {"person_id": w.spare_person},
        {"person_id": "user:none:0000"},
        command="suspend_person",
        event="ledger.KeyRevoked",
        writes=True,
    ),
    "register key": Route(
        "POST",
        "/v1/keys",
        _body(lambda w: _service_key()),
        command="register_key",
        event="ledger.KeyRegistered",
        writes=True,
    ),
    "rotate key": Route(
        "POST",
        "/v1/keys/{key_id}/rotation",
        _body(lambda w: {"public_key": _public_key(), "reason": "yearly rotation"}),
        lambda w, _c: {"key_id": w.key_to_rotate},
        {"key_id": "0" * 64},
        command="rotate_key",
        event="ledger.KeyRevoked",
        writes=True,
        entries=2,
    ),
    "revoke key": Route(
        "POST",
        "/v1/keys/{key_id}/revocation",
        _body(lambda w: {"reason": "no longer used"}),
        lambda w, _c: {"key_id": w.key_to_revoke},
        {"key_id": "0" * 64},
        command="revoke_key",
        event="ledger.KeyRevoked",
        writes=True,
    ),
    "register organisation": Route(
        "POST",
        "/v1/organisations",
        _body(lambda w: {"org_id": w.fresh("org:new"), "name": "New Org", "kind": "grantee"}),
        command="register_organisation",
        event="org.OrganisationRegistered",
        writes=True,
    ),
    # -- funds
    "record appropriation": Route(
        "POST",
        "/v1/appropriations",
        _body(
            lambda w: {
                "appropriation_id": w.fresh("FY"),
                "fiscal_year": 2023,
                "public_law": "P.L. 117-328",
                "amount_cents": 1_000_00,
                "available_until": "2025-09-30",
            }
        ),
        command="record_appropriation",
        event="funds.AppropriationRecorded",
        writes=True,
    ),
    "make award": Route(
        "POST",
        "/v1/awards",
        _body(lambda w: _award(w.fresh("A"))),
        command="make_award",
        event="funds.AwardMade",
        writes=True,
    ),
    "amend award": Route(
        "POST",
        f"{AWARD}/amendments",
        _body(lambda w: {"delta_cents": 1_00, "reason": "scope_change"}),
        lambda w, _c: {"award_id": w.award},
        NO_AWARD,
        command="amend_award",
        event="funds.AwardAmended",
        writes=True,
    ),
    "close award": Route(
        "POST",
        f"{AWARD}/closure",
        _body(lambda w: {"closed_on": "2024-10-01"}),
        lambda w, _c: {"award_id": w.award_to_close},
        NO_AWARD,
        command="close_award",
        event="funds.AwardClosed",
        writes=True,
    ),
    "record disbursement": Route(
        "POST",
        f"{AWARD}/disbursements",
        _body(_payment),
        lambda w, _c: {"award_id": w.award},
        NO_AWARD,
        command="record_disbursement",
        event="funds.DisbursementRecorded",
        writes=True,
    ),
    "reverse disbursement": Route(
        "POST",
        f"{AWARD}/disbursements/{{disbursement_id}}/reversal",
        _body(lambda w: {"reason": "duplicate_payment"}),
        lambda w, _c: {"award_id": w.award_paid, "disbursement_id": w.disbursement},
        {**NO_AWARD, "disbursement_id": "D-NONE"},
        command="reverse_disbursement",
        event="funds.DisbursementReversed",
        writes=True,
    ),
    "record refund": Route(
        "POST",
        f"{AWARD}/refunds",
        _body(
            lambda w: {
                "refund_id": w.fresh("RF"),
                "amount_cents": 1_00,
                "received_on": "2023-03-01",
                "payment_ref": w.fresh("REFUND"),
            }
        ),
        lambda w, _c: {"award_id": w.award},
        NO_AWARD,
        command="record_refund",
        event="funds.RefundReceived",
        writes=True,
    ),
    "report expenditure": Route(
        "POST",
        f"{AWARD}/expenditures",
        _body(_spending),
        lambda w, _c: {"award_id": w.award},
        NO_AWARD,
        command="report_expenditure",
        event="funds.ExpenditureReported",
        writes=True,
    ),
    "spend on closed award": Route(
        "POST",
        f"{AWARD}/expenditures",
        _body(_spending),
        lambda w, _c: {"award_id": w.award_to_close},  # closed by "close award"
        NO_AWARD,
        command="report_expenditure",
        event="funds.ExpenditureReported",
        refused="closed-award",
    ),
    # -- cases
    "enrol participant": Route(
        "POST",
        "/v1/participants",
        _body(lambda w: ENROLMENT),
        command="enrol_participant",
        event="case.ParticipantEnrolled",
        writes=True,
    ),
    "give consent": Route(
        "POST",
        f"{PARTICIPANT}/consents",
        _body(lambda w: CONSENT),
        lambda w, _c: {"participant_id": w.participant},
        NO_PARTICIPANT,
        command="give_consent",
        event="case.ConsentGiven",
        writes=True,
    ),
    "withdraw consent": Route(
        "POST",
        f"{PARTICIPANT}/consents/{{consent_id}}/withdrawal",
        _body(lambda w: {"withdrawn_on": "2023-02-15"}),
        lambda w, _c: {"participant_id": w.participant, "consent_id": w.consent_to_withdraw},
        {**NO_PARTICIPANT, "consent_id": "C-NONE"},
        command="withdraw_consent",
        event="case.ConsentWithdrawn",
        writes=True,
    ),
    "deliver service": Route(
        "POST",
        f"{PARTICIPANT}/services",
        _body(lambda w: SERVICE),
        lambda w, _c: {"participant_id": w.participant},
        NO_PARTICIPANT,
        command="deliver_service",
        event="case.ServiceDelivered",
        writes=True,
    ),
    "make referral": Route(
        "POST",
        f"{PARTICIPANT}/referrals",
        _body(
            lambda w: {
                "to_kind": "legal_service_provider",
                "consent_id": w.consent,
                "made_on": "2023-01-13",
            }
        ),
        lambda w, _c: {"participant_id": w.participant},
        NO_PARTICIPANT,
        command="make_referral",
        event="case.ReferralMade",
        writes=True,
    ),
    "complete screening": Route(
        "POST",
        f"{PARTICIPANT}/screenings",
        _body(lambda w: SCREENING),
        lambda w, _c: {"participant_id": w.participant},
        NO_PARTICIPANT,
        command="complete_screening",
        event="case.ScreeningCompleted",
        writes=True,
    ),
    "close case": Route(
        "POST",
        f"{PARTICIPANT}/closure",
        _body(lambda w: {"closed_on": "2023-03-01", "reason": "services_completed"}),
        lambda w, _c: {"participant_id": w.participant_to_close},
        NO_PARTICIPANT,
        command="close_case",
        event="case.CaseClosed",
        writes=True,
    ),
    "erase participant": Route(
        "POST",
        f"{PARTICIPANT}/erasure",
        _body(lambda w: {"erased_on": "2023-06-01", "authority": "participant_request"}),
        lambda w, _c: {"participant_id": w.participant_to_erase},
        NO_PARTICIPANT,
        command="erase_participant",
        event="case.ParticipantDataErased",
        writes=True,
    ),
    "serve closed case": Route(
        "POST",
        f"{PARTICIPANT}/services",
        _body(lambda w: SERVICE),
        lambda w, _c: {"participant_id": w.participant_to_close},  # closed by "close case"
        NO_PARTICIPANT,
        command="deliver_service",
        event="case.ServiceDelivered",
        refused="closed-case",
    ),
    "consent of erased": Route(
        "POST",
        f"{PARTICIPANT}/consents",
        _body(lambda w: CONSENT),
        # Erased by "erase participant".
        lambda w, _c: {"participant_id": w.participant_to_erase},
        NO_PARTICIPANT,
        command="give_consent",
        event="case.ConsentGiven",
        refused="erased",
    ),
    "file complaint": Route(
        "POST",
        "/v1/complaints",
        # The participant is named in the body, not the path.
        lambda w, _c, names: Ask(body={**COMPLAINT, "participant_id": names["participant_id"]}),
        lambda w, _c: {"participant_id": w.participant},
        NO_PARTICIPANT,
        command="file_complaint",
        event="case.ComplaintFiled",
        writes=True,
    ),
    "resolve complaint": Route(
        "POST",
        "/v1/complaints/{complaint_id}/resolution",
        _body(lambda w: RESOLUTION),
        # Two callers may resolve: each its own complaint (a complaint is resolved once).
        lambda w, c: {"complaint_id": w.complaint_for_irc if c == "irc" else w.complaint_for_crcl},
        {"complaint_id": "CP-NONE"},
        command="resolve_complaint",
        event="case.ComplaintResolved",
        writes=True,
    ),
    "resolve resolved complaint": Route(
        "POST",
        "/v1/complaints/{complaint_id}/resolution",
        _body(lambda w: RESOLUTION),
        lambda w, _c: {"complaint_id": w.complaint_for_crcl},  # resolved by the row above
        {"complaint_id": "CP-NONE"},
        command="resolve_complaint",
        event="case.ComplaintResolved",
        refused="resolve-once",
    ),
    # -- reports
    "balances": Route("GET", "/v1/balances"),
    "award sf425": Route(
        "GET", f"{AWARD}/sf425", targets=lambda w, _c: {"award_id": w.award}, absent=NO_AWARD
    ),
    "grantee balances": Route(
        "GET",
        "/v1/grantees/{org_id}/balances",
        targets=lambda w, _c: {"org_id": OWNER},
        absent={"org_id": "org:nobody"},
    ),
    "case history": Route(
        "GET",
        f"{PARTICIPANT}/history",
        lambda w, _c, _n: Ask(params={"purpose": "case_management"}),
        lambda w, _c: {"participant_id": w.participant},
        NO_PARTICIPANT,
        # DESIGN.md section 6: "Reads of protected case data record audit.RecordsAccessed".
        writes=True,
        seq_member="access_seq",
    ),
    "oversight view": Route("GET", "/v1/oversight"),
    "reconciliation": Route("POST", "/v1/reconciliations", _csv),
    # -- the log
    "checkpoint": Route("GET", "/v1/checkpoint"),
    "inclusion proof": Route(
        "GET", "/v1/proofs/inclusion", lambda w, _c, _n: Ask(params={"seq": 0})
    ),
    "consistency proof": Route(
        "GET",
        "/v1/proofs/consistency",
        lambda w, _c, _n: Ask(params={"first": w.checkpoint_size}),
    ),
    "money entry": Route(
        "GET",
        "/v1/entries/{seq}",
        targets=lambda w, _c: {"seq": str(w.money_entry)},
        absent=NO_ENTRY,
    ),
    "case entry": Route(
        "GET",
        "/v1/entries/{seq}",
        lambda w, _c, _n: Ask(params={"purpose": "audit"}),
        lambda w, _c: {"seq": str(w.case_entry)},
        NO_ENTRY,
        # A case entry is a piece of a case history: its read is recorded as one is.
        writes=True,
        seq_member="access_seq",
    ),
    # DESIGN.md section 7: every export records audit.ExportGenerated before it leaves.
    "audit bundle": Route("GET", "/v1/bundle", writes=True, seq_header="CMPP-Export-Seq"),
    "disclosures": Route("GET", "/v1/disclosures"),
    # DESIGN.md section 7: a FOIA release is recorded before it leaves; anyone may ask.
    "foia release": Route(
        "GET",
        "/v1/foia-release",
        lambda w, _c, _n: Ask(params={"request": "FOIA-2026-0001"}),
        writes=True,
        seq_header="CMPP-Export-Seq",
    ),
    # -- client custody: prepare, sign, submit
    "prepare payment": Route(
        "POST",
        "/v1/prepared",
        lambda w, _c, names: Ask(
            body={
                "command": "record_disbursement",
                "ids": {"award_id": names["award_id"]},
                "body": _payment(w),
            }
        ),
        lambda w, _c: {"award_id": w.award},
        NO_AWARD,
        command="record_disbursement",
        event="funds.DisbursementRecorded",
    ),
    "prepare spending": Route(
        "POST",
        "/v1/prepared",
        lambda w, _c, names: Ask(
            body={
                "command": "report_expenditure",
                "ids": {"award_id": names["award_id"]},
                "body": _spending(w),
            }
        ),
        lambda w, _c: {"award_id": w.award},
        NO_AWARD,
        command="report_expenditure",
        event="funds.ExpenditureReported",
    ),
    "submit payment": Route(
        "POST",
        "/v1/prepared/{prepared_id}/signature",
        lambda w, _c, names: Ask(body={"signature": _signature(w, names["prepared_id"])}),
        _prepared("cws", "record_disbursement", _payment),
        {"prepared_id": "0" * 32},
        writes=True,
    ),
    "submit spending": Route(
        "POST",
        "/v1/prepared/{prepared_id}/signature",
        lambda w, _c, names: Ask(body={"signature": _signature(w, names["prepared_id"])}),
        _prepared("irc", "report_expenditure", _spending),
        {"prepared_id": "0" * 32},
        writes=True,
    ),
}


def _parse(table: str) -> dict[str, dict[str, int]]:
    """MATRIX as {row: {column: status}}."""
    header, *lines = [line for line in table.strip().splitlines() if line.strip()]
    columns = header.split()[1:]
    assert columns == COLUMNS, columns
    rows: dict[str, dict[str, int]] = {}
    for line in lines:
        label, *cells = line.rsplit(maxsplit=len(columns))
        assert label.strip() not in rows, f"{label} twice"
        rows[label.strip()] = dict(zip(columns, map(int, cells), strict=True))
    return rows


EXPECTED = _parse(MATRIX)


# -- asking, and judging an answer --------------------------------------------------------


def _retried(client: TestClient, route: Route, names: Names, first: Any) -> str | None:
    """Every command, sent again as it was (its body and its Idempotency-Key): the first
    answer again, marked a replay (and, as the walk's count checks, nothing written)."""
    again = client.request(
        route.method,
        route.path.format(**names),
        content=first.request.content,
        headers=dict(first.request.headers),
    )
    if again.status_code != first.status_code or again.json() != first.json():
        return f"a retry answered {again.status_code} {again.text[:200]}, not the first answer"
    if again.headers.get("Idempotent-Replayed") != "true":
        return "a retry was not marked Idempotent-Replayed"
    return None


def _send(w: World, client: TestClient, who: str, route: Route, names: Names) -> Any:
    """The request of `route` naming `names`, as `who` (or with no token at all)."""
    ask = route.ask(w, who, names)
    # Without a token, everything else is sent: the token alone is what is refused.
    headers = {"Idempotency-Key": uuid4().hex} if who == NOBODY else w.p.headers(who)
    return client.request(
        route.method,
        route.path.format(**names),
        json=ask.body,
        params=ask.params,
        files=ask.files,
        headers=headers,
    )


def _problem(answer: Any, status: int) -> dict[str, Any] | str:
    """The answer's problem body, or what is wrong with it as a problem of `status`."""
    if answer.status_code != status:
        return f"answered {answer.status_code}, not {status}: {answer.text[:300]}"
    if answer.headers.get("content-type") != PROBLEM:
        return f"content-type {answer.headers.get('content-type')}, not {PROBLEM}"
    body: dict[str, Any] = answer.json()
    return body


def _without(body: dict[str, Any], names: Names) -> dict[str, Any]:
    """A problem with the ids it was asked about replaced by their kinds (<award_id>)."""
    shown = dict(body)
    for member in ("detail", "instance"):
        for kind, value in names.items():
            if isinstance(shown.get(member), str):
                pattern = rf"(?<![\w-]){re.escape(value)}(?![\w-])"
                shown[member] = re.sub(pattern, f"<{kind}>", shown[member])
    return shown


def _alike(answer: Any, missing: Any, status: int, names: Names, absent: Names) -> str | None:
    """Whether `answer` is the very answer given for a thing that does not exist."""
    one, other = _problem(answer, status), _problem(missing, status)
    if isinstance(one, str):
        return one
    if isinstance(other, str):
        return f"for a thing that does not exist, {other}"
    one, other = _without(one, names), _without(other, absent)
    if one != other:
        return f"differs from the answer for a missing thing: {one} != {other}"
    if OWNER in json.dumps(one):  # the ids asked about aside, nothing names irc
        return f"names {OWNER}: {one}"
    return None


@dataclass
class Cell:
    row: str
    caller: str
    expected: int
    got: int
    wrong: str | None = None  # None: as the table says
    seq: int | None = None  # the entry an allowed answer wrote


def _judge(w: World, client: TestClient, label: str, who: str) -> Cell:
    """Ask row `label` as `who`, and say whether the answer is the one the table allows."""
    route, expected = ROUTES[label], EXPECTED[label][who]
    names = route.targets(w, who)
    answer = _send(w, client, who, route, names)
    cell = Cell(label, who, expected, answer.status_code)
    if expected in (200, 201):
        if answer.status_code != expected:
            cell.wrong = f"answered {answer.status_code}, not {expected}: {answer.text[:300]}"
        elif who == "baker" and (named := [t for t in w.irc_things() if t in answer.text]):
            cell.wrong = f"the other grantee's answer names irc's {named}"
        elif route.writes:
            if route.seq_header is not None:
                cell.seq = int(answer.headers[route.seq_header])
            else:
                cell.seq = int(answer.json()[route.seq_member])
            if route.method == "POST":
                cell.wrong = _retried(client, route, names, answer)
    elif expected == 422:
        body = _problem(answer, 422)
        if isinstance(body, str):
            cell.wrong = body
        elif not body["type"].endswith(f"/{route.refused}"):
            cell.wrong = f"type {body['type']}, not …/{route.refused}"
    elif expected == 401:
        body = _problem(answer, 401)
        if isinstance(body, str):
            cell.wrong = body
        elif not body["type"].endswith("/unauthenticated"):
            cell.wrong = f"type {body['type']}, not …/unauthenticated"
    elif expected in (403, 404):
        body = _problem(answer, expected)
        if isinstance(body, str):
            cell.wrong = body
        elif expected == 403 and not body["type"].endswith("/permission"):
            cell.wrong = f"type {body['type']}, not …/permission"
        elif route.absent:  # the same answer whether the thing named exists or not
            missing = _send(w, client, who, route, route.absent)
            cell.wrong = _alike(answer, missing, expected, names, route.absent)
    else:
        cell.wrong = f"the table holds {expected}, which is no answer it knows"
    return cell


@dataclass
class Walk:
    world: World
    cells: list[Cell]
    size_before: int
    size_after: int

    def table(self, only: set[str] | None = None) -> str:
        """The walked matrix, as markdown; a wrong cell shows what came and what should."""
        shown = COLUMNS if only is None else [c for c in COLUMNS if c in only]
        got = {(c.row, c.caller): c for c in self.cells}
        lines = [
            f"| route | row | {' | '.join(shown)} |",
            f"|---|---|{'---|' * len(shown)}",
        ]
        for label, route in ROUTES.items():
            marks = []
            for who in shown:
                cell = got[label, who]
                mark = str(cell.got) if cell.wrong is None else f"**{cell.got}** ✗ {cell.expected}"
                marks.append(mark)
            lines.append(f"| `{route.method} {route.path}` | {label} | {' | '.join(marks)} |")
        return "\n".join(lines)

    def wrong(self, only: set[str] | None = None) -> list[Cell]:
        return [c for c in self.cells if c.wrong and (only is None or c.caller in only)]

    def report(self, only: set[str] | None = None) -> str:
        problems = [f"- {c.row} × {c.caller}: {c.wrong}" for c in self.wrong(only)]
        return "\n".join(
            [
                f"API matrix on {self.world.backend} (✗ wanted: the table's answer)",
                "",
                self.table(only),
                "",
                *(problems or ["every cell as the table says"]),
            ]
        )


def _walk(w: World) -> Walk:
    """Every row, every caller: refusals first, so that each refusal is judged against the
    thing as the table's rows set it up (not yet closed, erased or resolved)."""
    client = TestClient(w.p.client.app, raise_server_exceptions=False)  # 500 is an answer
    size_before = w.p.system.app.store.head().size
    cells = []
    for label in ROUTES:
        first = [who for who in COLUMNS if EXPECTED[label][who] not in (200, 201)]
        then = [who for who in COLUMNS if who not in first]
        cells += [_judge(w, client, label, who) for who in (*first, *then)]
    return Walk(w, cells, size_before, w.p.system.app.store.head().size)


# -- the ledgers, one per backend ---------------------------------------------------------

WALKED: dict[str, str] = {}  # backend: its walked table, for the artifact


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    backend = request.param
    base = tmp_path_factory.mktemp(f"api-matrix-{backend}")
    if backend == "sqlite":
        with program(f"sqlite:///{base / 'ledger.sqlite3'}", base / "data") as p:
            yield _set_up(p, backend)
        return
    require_postgres()
    db = PostgresDatabase()
    db.create()
    try:
        with program(db.url, base / "data") as p:
            yield _set_up(p, backend)
    finally:
        db.drop()


@pytest.fixture(scope="module")
def walk(world: World, tmp_path_factory: pytest.TempPathFactory) -> Walk:
    walked = _walk(world)
    WALKED[world.backend] = walked.report()
    artifact = tmp_path_factory.getbasetemp() / "api-matrix.md"
    artifact.write_text("\n\n".join(WALKED[b] for b in sorted(WALKED)) + "\n")
    return walked


# -- the tests ----------------------------------------------------------------------------


def _app_routes(app: FastAPI) -> dict[tuple[str, str], APIRoute]:
    """Every (method, path) the app serves. FastAPI ≥ 0.165 keeps each included router as
    one entry of app.routes, flattened by iter_route_contexts; before, each APIRoute was
    an entry of its own."""
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    entries: list[Any] = list(flatten(app.routes)) if flatten else list(app.routes)
    found: dict[tuple[str, str], APIRoute] = {}
    for entry in entries:
        route = getattr(entry, "original_route", entry)
        # The dashboard's pages have their own table (tests/test_dashboard_matrix.py).
        if isinstance(route, APIRoute) and not entry.path.startswith("/ui/"):
            for method in entry.methods:
                found[method, entry.path] = route
    return found


def test_every_route_of_the_app_is_in_the_table(tmp_path: Path) -> None:
    settings = throwaway_settings(f"sqlite:///{tmp_path / 'ledger.sqlite3'}", tmp_path / "data")
    app = create_app(settings)
    try:
        served = _app_routes(app)
    finally:
        app.state.services.close()
    assert len(served) > 30, f"the app's routes were not found: {sorted(served)}"
    listed = {(r.method, r.path) for r in ROUTES.values()}
    assert set(ROUTES) == set(EXPECTED), set(ROUTES) ^ set(EXPECTED)
    assert not set(served) - listed, f"routes the table does not list: {set(served) - listed}"
    assert not listed - set(served), f"rows for routes the app lacks: {listed - set(served)}"
    # ALLOWED is exactly the route's success status: 201 for a command, 200 for a read.
    for label, route in ROUTES.items():
        success = served[route.method, route.path].status_code or 200
        for who, status in EXPECTED[label].items():
            assert status not in (200, 201) or status == success, (label, who, status)
        nobody = 200 if route.path in OPEN_ROUTES else 401
        assert EXPECTED[label][NOBODY] == nobody, label


def test_the_command_rows_follow_the_design_role_table() -> None:
    """A command row allows exactly the roles DESIGN.md lets sign its event, as its
    CommandSpec does; baker, the other grantee, is answered 404 where the row names a
    thing of irc's."""
    for label, route in ROUTES.items():
        if route.command is None:
            continue
        assert route.event is not None, label
        roles = design_roles(route.event)
        spec = COMMANDS[route.command]
        assert set(spec.roles) == roles, (label, spec.roles, roles)
        for who in CALLERS:
            if ROLE_OF[who] not in roles:
                wanted = 403
            elif who == "baker" and route.absent:  # it names one of irc's
                wanted = 404
            else:
                wanted = 201 if route.refused is None else 422
            assert EXPECTED[label][who] == wanted, (label, who, EXPECTED[label][who], wanted)


def test_the_role_table_is_the_catalogues() -> None:
    """DESIGN_SIGNERS (DESIGN.md section 4's roles table) is who the event catalogue lets
    sign each type of the program, the server's audit records and the 4b life cycle
    aside: the table the walk judges by is the one the writers and the verifier enforce."""
    for event_type in CATALOGUE:
        area = event_type.split(".")[0]
        if area in ("audit",) or event_type == "ledger.LedgerOpened":
            continue
        named = {r for r, signs in DESIGN_SIGNERS.items() if event_type in signs}
        named |= {r for r, signs in DESIGN_SIGNERS.items() if f"{area}.*" in signs}
        assert named == set(event_type.signed_by), (event_type, named, event_type.signed_by)


def test_each_caller_gets_the_one_answer_the_table_allows(walk: Walk) -> None:
    if walk.wrong(set(CALLERS)):  # the walked table says it best, without pytest's repr
        pytest.fail(walk.report(set(CALLERS)), pytrace=False)


def test_without_a_token_only_health_answers(walk: Walk) -> None:
    if walk.wrong({NOBODY}):
        pytest.fail(walk.report({NOBODY}), pytrace=False)


def test_the_log_verifies_and_holds_only_what_was_allowed(walk: Walk) -> None:
    report = walk.world.p.system.verify()
    assert report.ok, report.lines()
    # Each allowed command (and each allowed read of a case history, recorded as
    # audit.RecordsAccessed) wrote one entry and named it; no refusal wrote anything.
    named = sorted(
        seq
        for c in walk.cells
        if c.seq is not None
        for seq in range(c.seq - ROUTES[c.row].entries + 1, c.seq + 1)
    )
    written = list(range(walk.size_before, walk.size_after))
    assert named == written, (
        f"{len(written)} entries written during the walk, {len(named)} named by allowed "
        f"answers: written {written}, named {named}\n\n{walk.report()}"
    )
    allowed_writes = [
        c
        for c in walk.cells
        if ROUTES[c.row].writes and c.expected in (200, 201) and c.wrong is None
    ]
    assert len([c for c in walk.cells if c.seq is not None]) == len(allowed_writes)
