"""Schemathesis over the whole OpenAPI schema: no input gives a 500, and every answer is
what the schema says it is (its status, its content type, its body, its headers).

Every operation is run with data that fits the schema and data that does not, as the
board, the fiscal agent, a grantee, CRCL, the inspector general and no one, against a
ledger with money and a case in it. A command the schema admits may still be refused by
the program's rules: that is a documented 4xx problem.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.app import create_app
from projections.settings import Settings
from tests.api_support import Program, program

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Who calls: the board may write; the fiscal agent pays; a grantee sees and acts on its
# own only; CRCL resolves complaints; the inspector general reads everything; None sends
# no token at all.
CALLERS = ["board", "cws", "irc", "crcl", "oig", None]
# Every other check Schemathesis has runs: not_a_server_error, status_code_conformance,
# content_type_conformance, response_headers_conformance, response_schema_conformance,
# negative_data_rejection, missing_required_header, unsupported_method,
# allow_header_conformance, ignored_auth, and the stateful ones (use_after_free,
# ensure_resource_availability, object_level_authorization), which pass trivially here.
EXCLUDED: list[CheckFunction] = [
    # A request that fits the schema can still be refused by the program's rules (an
    # award beyond its appropriation, an id already used, a role that may not act, a
    # thing that does not exist) with a documented 4xx problem: accepting every
    # schema-valid command is no promise of this API.
    positive_data_acceptance,
]
# Examples per operation and caller, beyond the explicit ones of the coverage phase
# (each boundary, each missing or mistyped field, each undeclared method...).
EXAMPLES = 40
# The ids of what `_seed` made, by path parameter.
KNOWN: dict[str, Any] = {}
# The award the cases of its closure close: not KNOWN's, so the operations tested after
# that one still pay, refund and spend against an open award.
CLOSED_AWARD = "A-2022-008"
# The Idempotency-Keys each caller has sent, and a counter to make new ones.
SENT: dict[str | None, set[str]] = {}
FRESH = itertools.count()


class ProgramApp:
    """The ASGI app Schemathesis calls: the app over the module's program, once its
    fixture has built it. The program's own TestClient runs the app's lifespan (whose end
    closes the ledger), so Schemathesis is given none to run."""

    def __init__(self, app: ASGIApp) -> None:
        self.app: ASGIApp | None = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return
        assert self.app is not None, "no program: the `pilot` fixture sets it"
        await self.app(scope, receive, send)


# Schemathesis makes a test per operation when this module is collected, so the schema
# is read then, from the app itself: an app over a ledger never opened (serving
# /openapi.json opens none). Its loader from a fixture (`schemathesis.pytest.
# from_fixture`) cannot be used: it sets `Node._nodeid`, which pytest 9.2 no longer has.
APP = ProgramApp(create_app(Settings()))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
APP.app = None


@pytest.fixture(scope="module")
def pilot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Program]:
    base = tmp_path_factory.mktemp("schema")
    with program(f"sqlite:///{base / 'ledger.sqlite3'}", base / "data") as p:
        _seed(p)
        APP.app = p.client.app
        try:
            yield p
        finally:
            APP.app = None


def _post(p: Program, who: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = p.post(who, path, body)
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def _seed(p: Program) -> None:
    """Things for the generated requests to meet: money (an appropriation, two awards, a
    payment), a participant with a consent, a complaint."""
    _post(
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
    for award_id in ("A-2022-007", "A-2022-008"):
        award = {
            "award_id": award_id,
            "appropriation_id": "FY2022",
            "grantee": "org:irc",
            "amount_cents": 1_000_000_00,
            "period_start": "2023-01-01",
            "period_end": "2024-09-30",
            "method": "advance",
        }
        _post(p, "board", "/v1/awards", award)
    payment = {
        "disbursement_id": "D-1",
        "amount_cents": 250_000_00,
        "payment_ref": "PAY-1",
        "paid_on": "2023-01-15",
    }
    _post(p, "cws", "/v1/awards/A-2022-007/disbursements", payment)
    enrolment = {
        "enrolled_on": "2023-01-09",
        "referral_source": "ice_ero",
        "language": "es",
        "age_band": "35-44",
        "gender": "female",
        "nationality": "PE",
        "pii": {"name": "Schema Tester"},
    }
    participant = _post(p, "irc", "/v1/participants", enrolment)["participant_id"]
    consent = {
        "services": ["case_management", "legal_orientation"],
        "share_with": ["legal_service_provider"],
        "method": "written",
        "language": "es",
        "interpreter": True,
        "form_version": "CMPP-C-2022.2",
        "given_on": "2023-01-10",
    }
    given = _post(p, "irc", f"/v1/participants/{participant}/consents", consent)
    complaint = {"category": "language_access", "filed_on": "2023-02-01"}
    filed = _post(p, "irc", "/v1/complaints", complaint)
    KNOWN.update(
        award_id="A-2022-007",
        disbursement_id="D-1",
        participant_id=participant,
        consent_id=given["consent_id"],
        complaint_id=filed["complaint_id"],
        person_id=p.people["public"],  # the one person no caller here needs
        org_id="org:irc",
        seq=3,  # an entry of the log: shown to some callers, not to others
    )


def _meet_what_exists(case: Case[Any]) -> None:
    """Half the cases with valid path parameters name what the seed made: a generated id
    names nothing, and would never take a request past its 404. Deterministic: the half
    is chosen by the generated values."""
    if not case.path_parameters:
        return
    if zlib.crc32(repr(sorted(case.path_parameters.items())).encode()) % 2:
        return
    for name in case.path_parameters:
        if name in KNOWN:
            case.path_parameters[name] = KNOWN[name]
    if case.operation.path == "/v1/awards/{award_id}/closure":
        case.path_parameters["award_id"] = CLOSED_AWARD


def _fresh_key(case: Case[Any], caller: str | None) -> None:
    """A valid Idempotency-Key the caller has sent before is made another: Schemathesis
    draws the same few ("0", "00"...) again and again, and a key used again for another
    request is refused (idempotency-key-reused) before the command is even looked at."""
    key = case.headers.get("Idempotency-Key")
    if not isinstance(key, str):
        return
    sent = SENT.setdefault(caller, set())
    if key in sent:
        suffix = f"~{next(FRESH)}"
        key = key[: 255 - len(suffix)] + suffix
        case.headers["Idempotency-Key"] = key
    sent.add(key)


@pytest.mark.parametrize("caller", CALLERS, ids=lambda who: who or "anonymous")
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,  # a command writes and signs, a report catches the projections up
    derandomize=True,  # the same cases on every run, so CI is stable
    database=None,  # nothing written to .hypothesis/ in the repository
    suppress_health_check=[
        HealthCheck.too_slow,  # generating a command's body is slow next to a unit test
        HealthCheck.filter_too_much,  # most generated ids fail the schema's patterns
        HealthCheck.data_too_large,  # bodies with many fields, nested (a participant)
    ],
)
def test_no_input_breaks_the_schema(case: Case[Any], pilot: Program, caller: str | None) -> None:
    # What the case tests is judged once, as generated: Schemathesis would judge it
    # again after the edits below (a token taken out of the case's headers is sent, or
    # not, by the caller; an id replaced with one that exists is as valid).
    meta = case.meta
    negated_auth = case.operation.schema.is_security_param_negated(case)
    headers = {}
    # A case whose point is a missing or malformed Authorization is sent as generated;
    # any other carries the caller's token, or none at all.
    if not negated_auth:
        case.headers.pop("Authorization", None)
        if caller is not None:
            headers["Authorization"] = f"Bearer {pilot.tokens[caller]}"
    if meta is not None and not meta.is_negative_at(ParameterLocation.PATH):
        _meet_what_exists(case)
    if meta is not None and not meta.is_negative_at(ParameterLocation.HEADER):
        _fresh_key(case, caller)
    case.call_and_validate(headers=headers, excluded_checks=EXCLUDED)


def test_a_server_that_is_not_ready_answers_as_the_schema_says(
    pilot: Program, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one answer no generated request brings: /readyz when the ledger is unreachable
    (a documented 503 problem, not a body of its own)."""

    def unreachable() -> None:
        raise ConnectionError("the database is down")

    monkeypatch.setattr(pilot.system.app, "confirmed_log", unreachable)
    case = schema["/readyz"]["GET"].Case()
    # Every check but not_a_server_error: this 5xx is the answer asked for.
    answer = case.call_and_validate(excluded_checks=[not_a_server_error])
    assert answer.status_code == 503
    assert answer.json()["type"].endswith("/not-ready")


APPROPRIATION = {
    "appropriation_id": "FY2031",
    "fiscal_year": 2031,
    "public_law": "P.L. 1",
    "amount_cents": 1_00,
    "available_until": "2032-09-30",
}
# Requests Schemathesis answered with a 500, or saw accepted against the schema, before
# the request models were fixed: kept as they were found, since a derandomized run draws
# each of them again only by chance.
FOUND = {
    # An integer the ledger cannot hold (past 2^53): refused only when the request was
    # hashed, as a 500.
    "fiscal year past 2^53": (
        "/v1/appropriations",
        "board",
        {**APPROPRIATION, "fiscal_year": 2**53},
    ),
    # Base64 that is not canonical (padding bits set): refused only when decoded, a 500.
    "public key not canonical": (
        "/v1/people",
        "board",
        {"org": "org:board", "role": "board", "custody": "client", "public_key": "0" * 42 + "1="},
    ),
    "service key not canonical": (
        "/v1/keys",
        "board",
        {"holder": "org:cws", "roles": ["fiscal_agent"], "public_key": "0" * 42 + "1="},
    ),
    # A number for a date: pydantic took it for a Unix time (1970-01-01).
    "date of birth a number": (
        "/v1/participants",
        "irc",
        {
            "enrolled_on": "2023-01-09",
            "referral_source": "ice_ero",
            "language": "es",
            "age_band": "35-44",
            "gender": "female",
            "nationality": "PE",
            "pii": {"name": "Schema Tester", "date_of_birth": 0},
        },
    ),
    # `true` for an amount: pydantic took it for 1 cent.
    "amount true": ("/v1/appropriations", "board", {**APPROPRIATION, "amount_cents": True}),
}


@pytest.mark.parametrize("found", FOUND.values(), ids=FOUND.keys())
def test_what_schemathesis_found_stays_refused(
    pilot: Program, found: tuple[str, str, dict[str, Any]]
) -> None:
    path, caller, body = found
    case = schema[path]["POST"].Case(body=body, headers={"Idempotency-Key": f"found-{path}"})
    headers = {"Authorization": f"Bearer {pilot.tokens[caller]}"}
    answer = case.call_and_validate(headers=headers, excluded_checks=EXCLUDED)
    assert answer.status_code == 422, answer.text
    assert answer.json()["type"].endswith("/validation")
