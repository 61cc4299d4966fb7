"""The API attacked as an insider or an outsider would: another grantee, a stolen or stale
token, a forged request, a database operator editing the tables beside the log.

Each test names the claim it checks. "Fixed:" marks a defect this attack found, now
mended (the test guards the mend); "Holds:" a claim that held when attacked.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap
from fastapi.testclient import TestClient

from api.app import create_app
from api.services import Services
from domain.funds import Award
from domain.tokens import Tokens
from ledger import canonical
from ledger.entry import read_event
from tests.api_support import Program, program
from tests.helpers import RawDatabase
from tests.live_server import serving
from tests.test_api_cases import COMPLAINT, CONSENT, ENROLMENT, PII

ACCESSED = "audit.RecordsAccessed"
SPENDING = {
    "expenditure_id": "E-1",
    "category": "personnel",
    "amount_cents": 100_00,
    "incurred_on": "2023-02-01",
}


@pytest.fixture
def pilot(database_url: str, tmp_path: Path) -> Iterator[Program]:
    with program(database_url, tmp_path / "data") as p:
        _awards(p)
        p.url = database_url  # type: ignore[attr-defined]
        yield p


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[Program]:
    """SQLite only: for claims whose backend does not matter."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    with program(url, tmp_path / "data") as p:
        _awards(p)
        p.url = url  # type: ignore[attr-defined]
        yield p


# -- helpers ------------------------------------------------------------------------------


def _created(p: Program, who: str, path: str, body: Any, key: str | None = None) -> Any:
    answer = p.post(who, path, body, key)
    assert answer.status_code == 201, answer.text
    return answer.json()


def _awards(p: Program) -> None:
    _created(
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
    for award_id, grantee in (("A-IRC", "org:irc"), ("A-BRR", "org:bakerripley")):
        _created(
            p,
            "board",
            "/v1/awards",
            {
                "award_id": award_id,
                "appropriation_id": "FY2022",
                "grantee": grantee,
                "amount_cents": 500_000_00,
                "period_start": "2023-01-01",
                "period_end": "2024-09-30",
                "method": "advance",
            },
        )


def _size(p: Program) -> int:
    return p.system.app.store.head().size


def _events(p: Program, start: int = 0) -> list[dict[str, Any]]:
    rows = p.system.app.store.read_rows(start, _size(p) - start)
    return [read_event(state) for _seq, _prev, state in rows if state is not None]


def _count(p: Program, event_type: str) -> int:
    return sum(1 for e in _events(p) if e["type"] == event_type)


def _enrol(p: Program, who: str = "irc") -> str:
    return str(_created(p, who, "/v1/participants", ENROLMENT)["participant_id"])


def _lenient(p: Program) -> TestClient:
    """A client of the same app that answers a 500 instead of raising it."""
    return TestClient(p.client.app, raise_server_exceptions=False)


def _client_person(p: Program, name: str, org: str = "org:irc") -> Ed25519PrivateKey:
    """A grantee of `org` who keeps their own key (client custody), with a token."""
    private = Ed25519PrivateKey.generate()
    public = base64.b64encode(private.public_key().public_bytes_raw()).decode()
    made = _created(
        p,
        "board",
        "/v1/people",
        {"org": org, "role": "grantee", "custody": "client", "public_key": public},
    )
    tokens = Tokens(p.system.app.recorder.datastore)  # type: ignore[attr-defined]
    p.people[name] = made["person_id"]
    p.tokens[name] = tokens.issue(made["person_id"], timedelta(minutes=10)).token
    return private


def _prepare(p: Program, who: str, command: str, ids: dict[str, str], body: Any) -> Any:
    return _created(p, who, "/v1/prepared", {"command": command, "ids": ids, "body": body})


def _sign(private: Ed25519PrivateKey, event_bytes: bytes) -> str:
    return base64.b64encode(private.sign(event_bytes)).decode()


def _submit(p: Program, who: str, prepared_id: str, signature: str) -> Any:
    return _lenient(p).post(
        f"/v1/prepared/{prepared_id}/signature",
        json={"signature": signature},
        headers=p.headers(who),
    )


def _same_answer(theirs: Any, missing: Any, their_id: str, missing_id: str) -> None:
    """Two answers an attacker cannot tell apart (but for the id each asked about)."""
    assert theirs.status_code == missing.status_code, (theirs.text, missing.text)
    one, other = theirs.json(), missing.json()
    for member in ("type", "title", "status"):
        assert one[member] == other[member], (one, other)
    assert one["detail"].replace(their_id, "X") == other["detail"].replace(missing_id, "X")
    drop = {"date", "content-length"}
    assert {k: v for k, v in theirs.headers.items() if k not in drop} == {
        k: v for k, v in missing.headers.items() if k not in drop
    }


def _missing_like(real_id: str) -> str:
    """An id of the same shape and length as `real_id`, that names nothing."""
    prefix, _, rest = real_id.rpartition("-")
    return f"{prefix}-{'0' * len(rest)}"


def _without_cut(answer: Any) -> Any:
    """An answer with what only says which entries it rests on taken out."""
    body = answer.json()
    if isinstance(body, dict):
        for member in ("as_of_seq", "rests_on"):
            body.pop(member, None)
    return answer.status_code, body


# == claim 1: a grantee learns nothing of another grantee's cases ===========================


def test_a_grantees_oversight_view_shows_nothing_of_another_grantees_cases(
    pilot: Program,
) -> None:
    """Fixed: GET /v1/oversight admits grantees (suppressed view), but the suppressed
    view still moves when another grantee records a case: the count goes from 0 to hidden,
    a row appears per age band, gender, nationality and language of the new participant,
    a complaint category appears as a key, and the median days from enrolment to consent
    is given exactly even for one participant. With at_seq, a grantee reads each entry
    of another grantee's off the differences."""
    before_seq = _size(pilot) - 1
    before = _without_cut(pilot.get("baker", "/v1/oversight"))
    participant = _enrol(pilot)
    _created(pilot, "irc", f"/v1/participants/{participant}/consents", CONSENT)
    _created(pilot, "irc", "/v1/complaints", {**COMPLAINT, "participant_id": participant})
    after = _without_cut(pilot.get("baker", "/v1/oversight"))
    leaked = json.dumps(after[1])[:600]
    assert after == before, (
        "baker's oversight view changed when irc enrolled a participant, recorded their "
        f"consent and filed a complaint: baker learns of them. Now: {leaked}"
    )
    at_before = _without_cut(pilot.get("baker", "/v1/oversight", at_seq=before_seq))
    at_after = _without_cut(pilot.get("baker", "/v1/oversight", at_seq=_size(pilot) - 1))
    assert at_before == at_after, "at_seq differencing shows irc's entries to baker"


def test_another_grantees_things_are_as_missing_as_none_through_commands_and_prepared(
    pilot: Program,
) -> None:
    """Holds: Commands and prepared commands on irc's participant, consent, complaint or
    award answer baker exactly as for ones that never existed."""
    participant = _enrol(pilot)
    consent = _created(pilot, "irc", f"/v1/participants/{participant}/consents", CONSENT)
    complaint = _created(pilot, "irc", "/v1/complaints", {**COMPLAINT})["complaint_id"]
    nobody, no_consent = _missing_like(participant), _missing_like(consent["consent_id"])
    no_complaint = _missing_like(complaint)
    pairs: list[tuple[str, str, Any, str, str]] = [
        (
            f"/v1/participants/{participant}/consents",
            f"/v1/participants/{nobody}/consents",
            CONSENT,
            participant,
            nobody,
        ),
        (
            f"/v1/participants/{participant}/closure",
            f"/v1/participants/{nobody}/closure",
            {"closed_on": "2023-03-01", "reason": "consent_withdrawn"},
            participant,
            nobody,
        ),
        (
            f"/v1/participants/{participant}/consents/{consent['consent_id']}/withdrawal",
            f"/v1/participants/{participant}/consents/{no_consent}/withdrawal",
            {"withdrawn_on": "2023-02-15"},
            consent["consent_id"],
            no_consent,
        ),
        (
            f"/v1/complaints/{complaint}/resolution",
            f"/v1/complaints/{no_complaint}/resolution",
            {"resolved_on": "2023-02-10", "outcome": "substantiated"},
            complaint,
            no_complaint,
        ),
        (
            "/v1/awards/A-IRC/expenditures",
            "/v1/awards/A-XYZ/expenditures",
            SPENDING,
            "A-IRC",
            "A-XYZ",
        ),
    ]
    size = _size(pilot)
    for theirs_path, missing_path, body, their_id, missing_id in pairs:
        theirs = pilot.post("baker", theirs_path, body)
        missing = pilot.post("baker", missing_path, body)
        _same_answer(theirs, missing, their_id, missing_id)
    complaint_about = {**COMPLAINT, "participant_id": participant}
    theirs = pilot.post("baker", "/v1/complaints", complaint_about)
    missing = pilot.post("baker", "/v1/complaints", {**complaint_about, "participant_id": nobody})
    _same_answer(theirs, missing, participant, nobody)
    for command, ids, missing_ids, body, their_id, missing_id in (
        (
            "give_consent",
            {"participant_id": participant},
            {"participant_id": nobody},
            CONSENT,
            participant,
            nobody,
        ),
        (
            "report_expenditure",
            {"award_id": "A-IRC"},
            {"award_id": "A-XYZ"},
            SPENDING,
            "A-IRC",
            "A-XYZ",
        ),
        (
            "resolve_complaint",
            {"complaint_id": complaint},
            {"complaint_id": no_complaint},
            {"resolved_on": "2023-02-10", "outcome": "substantiated"},
            complaint,
            no_complaint,
        ),
    ):
        theirs = pilot.post("baker", "/v1/prepared", {"command": command, "ids": ids, "body": body})
        missing = pilot.post(
            "baker", "/v1/prepared", {"command": command, "ids": missing_ids, "body": body}
        )
        _same_answer(theirs, missing, their_id, missing_id)
    for theirs_path, missing_path, their_id, missing_id, params in (
        (
            f"/v1/participants/{participant}/history",
            f"/v1/participants/{nobody}/history",
            participant,
            nobody,
            {"purpose": "complaint_investigation"},
        ),
        ("/v1/awards/A-IRC/sf425", "/v1/awards/A-XYZ/sf425", "A-IRC", "A-XYZ", {}),
        (
            "/v1/grantees/org:irc/balances",
            "/v1/grantees/org:xyz/balances",
            "org:irc",
            "org:xyz",
            {},
        ),
    ):
        theirs = pilot.get("baker", theirs_path, **params)
        missing = pilot.get("baker", missing_path, **params)
        _same_answer(theirs, missing, their_id, missing_id)
    enrolment = next(
        seq
        for seq, event in enumerate(_events(pilot))
        if event["data"].get("participant_id") == participant
    )
    pilot.get("oig", "/v1/checkpoint")  # a checkpoint covering the whole log
    past_end = 10 ** len(str(enrolment)) - 1  # as many digits: headers alike
    assert past_end >= _size(pilot)
    theirs = pilot.get("baker", f"/v1/entries/{enrolment}")
    missing = pilot.get("baker", f"/v1/entries/{past_end}")
    _same_answer(theirs, missing, str(enrolment), str(past_end))
    assert _size(pilot) == size, "a refused request wrote to the log"


def test_an_idempotency_key_is_the_persons_own(pilot: Program) -> None:
    """Holds: baker reusing irc's Idempotency-Key, with irc's very request, gets no
    answer of irc's: keys are per person."""
    participant = _enrol(pilot)
    path = f"/v1/participants/{participant}/consents"
    first = _created(pilot, "irc", path, CONSENT, key="shared-key")
    reused = pilot.post("baker", path, CONSENT, key="shared-key")
    assert reused.status_code == 404, reused.text
    assert first["consent_id"] not in reused.text
    assert "Idempotent-Replayed" not in reused.headers
    own = pilot.post("baker", "/v1/participants", ENROLMENT, key="shared-key")
    assert own.status_code == 201 and own.json()["grantee"] == "org:bakerripley"


def test_org_and_role_are_those_of_the_key_in_force_not_of_a_table(pilot: Program) -> None:
    """Fixed: api.auth says a person's organisation and role are those of their key in
    force, as the log makes them; but PeopleDirectory.find takes both from the `people`
    side table. Whoever can write that table (a database operator) moves baker into
    irc and baker then reads irc's participants' case histories (or makes anyone an
    inspector, who downloads the whole bundle)."""
    participant = _enrol(pilot)
    RawDatabase(pilot.url).execute(  # type: ignore[attr-defined]
        "UPDATE people SET org = 'org:irc' WHERE person_id = ?", (pilot.people["baker"],)
    )
    me = pilot.get("baker", "/v1/me").json()
    history = pilot.get(
        "baker", f"/v1/participants/{participant}/history", purpose="complaint_investigation"
    )
    assert me["org"] == "org:bakerripley" and history.status_code == 404, (
        f"an edited people row made baker a member of {me['org']}; irc's case history "
        f"answered {history.status_code}"
    )


# == claim 2: tokens ========================================================================


def test_every_bad_token_gets_one_answer_and_no_token_is_logged(
    lite: Program, caplog: pytest.LogCaptureFixture
) -> None:
    """Holds: Expired, revoked, unknown, very long and other-format tokens: one 401 answer;
    no token in any answer or log line."""
    caplog.set_level(logging.DEBUG)
    tokens = Tokens(lite.system.app.recorder.datastore)  # type: ignore[attr-defined]
    revoked = tokens.issue(lite.people["irc"], timedelta(hours=1))
    tokens.revoke(revoked.token_id)
    expired = tokens.issue(lite.people["irc"], timedelta(seconds=1)).token
    time.sleep(1.2)
    bad = {
        "expired": expired,
        "revoked": revoked.token,
        "unknown": "cmpp_" + "A" * 43,
        "long": "cmpp_" + "a" * 100_000,
        "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJpcmMifQ.c2ln",
        "prefix-only": "cmpp_",
        "token-id": revoked.token_id,
    }
    answers = {}
    for name, token in bad.items():
        answer = lite.client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        answers[name] = (answer.status_code, answer.json(), answer.headers.get("www-authenticate"))
        assert token not in answer.text
    assert len({json.dumps(a, sort_keys=True) for a in answers.values()}) == 1, answers
    assert answers["unknown"][0] == 401
    for who in ("irc", "crcl", "board"):
        assert lite.get(who, "/v1/me").status_code == 200
        lite.post(who, "/v1/awards/A-IRC/expenditures", {"no": "such field"})
    logged = caplog.text
    for token in (*bad.values(), *lite.tokens.values()):
        if len(token) > 12:
            assert token not in logged, "a token reached a log line"


def test_a_person_whose_key_was_revoked_is_answered_as_an_unknown_token(lite: Program) -> None:
    """DEFECT (low). When a person's key is revoked (`cmpp keys revoke`, or a rotation)
    without their tokens, the 401 says "the token's holder may no longer act
    (suspended)": whoever holds a stolen token learns it is genuine and that its holder
    was suspended, where api.auth promises the answer of no token at all."""
    key_id = lite.get("baker", "/v1/me").json()["key_id"]
    lite.system.app.revoke_key(lite.system.root_signer(), key_id, "left the program")
    revoked = lite.get("baker", "/v1/me")
    unknown = lite.client.get("/v1/me", headers={"Authorization": "Bearer cmpp_" + "A" * 43})
    assert revoked.status_code == unknown.status_code == 401
    assert revoked.json()["detail"] == unknown.json()["detail"], (
        f"a suspended person's token is told apart: {revoked.json()['detail']!r}"
    )


def test_the_access_log_names_the_route(lite: Program, caplog: pytest.LogCaptureFixture) -> None:
    """DEFECT (low). api.access_log promises each line names the route's template; under
    FastAPI 0.165 (routers kept as one entry of app.routes) every line says "?", so the
    API's access log no longer says what was asked."""
    caplog.set_level(logging.INFO, logger="cmpp.access")
    lite.get("irc", "/v1/me")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "cmpp.access"]
    assert lines, "no access log line"
    assert lines[-1]["route"] == "/v1/me", f"the access log line says route {lines[-1]['route']!r}"
    assert lines[-1]["person"] == lite.people["irc"] and lines[-1]["status"] == 200
    lite.get("irc", "/v1/balances")
    line = json.loads([r for r in caplog.records if r.name == "cmpp.access"][-1].getMessage())
    assert line["route"] == "/v1/balances" and int(line["seq"]) >= 0


def test_a_suspension_stops_the_token_on_every_worker_at_once(pilot: Program) -> None:
    """Holds: Two server processes over one database: a person suspended through one is
    refused by the other at their very next request (each request replays to the head)."""
    settings = pilot.system.settings
    with TestClient(create_app(settings, Services(settings))) as other:
        assert other.get("/v1/me", headers=pilot.headers("baker")).status_code == 200
        reason = {"reason": "left the program"}
        _created(pilot, "board", f"/v1/people/{pilot.people['baker']}/suspension", reason)
        assert other.get("/v1/me", headers=pilot.headers("baker")).status_code == 401
    assert pilot.get("baker", "/v1/me").status_code == 401


# == claim 3: nothing of a request sets the actor, org, key, instant or stream ===============


def test_no_request_member_sets_who_or_where(pilot: Program) -> None:
    """Holds: Extra members naming the actor, org, key, instant or stream are refused and
    write nothing; each written event's actor and org are the authenticated person's."""
    size = _size(pilot)
    forged = {
        "actor": pilot.people["irc"],
        "org": "org:irc",
        "key": "0" * 64,
        "at": "2020-01-01T00:00:00Z",
        "stream": str(uuid.uuid4()),
        "grantee": "org:irc",
    }
    for member, value in forged.items():
        answer = pilot.post("baker", "/v1/awards/A-BRR/expenditures", {**SPENDING, member: value})
        assert answer.status_code == 422, answer.text
        prepared = pilot.post(
            "baker",
            "/v1/prepared",
            {
                "command": "report_expenditure",
                "ids": {"award_id": "A-BRR"},
                "body": {**SPENDING, member: value},
            },
        )
        assert prepared.status_code == 422, prepared.text
    # An id that looks like irc's award but is not it.
    for lookalike in ("A-IRC ", "A-IRС", "a-irc", "A-IRC\u200b"):
        answer = pilot.post("baker", f"/v1/awards/{lookalike}/expenditures", SPENDING)
        assert answer.status_code in (404, 422), answer.text
    assert _size(pilot) == size
    done = _created(pilot, "baker", "/v1/awards/A-BRR/expenditures", SPENDING)
    event = _events(pilot, done["seq"])[0]
    assert event["actor"] == pilot.people["baker"] and event["org"] == "org:bakerripley"


def test_a_request_body_is_bounded(pilot: Program) -> None:
    """Fixed: No JSON request has a size limit (only the payment-file upload does), and
    no list a command takes is bounded: a grantee writes a consent naming
    "case_management" 200,000 times, a 3 MB event, into the permanent log (and into every
    bundle made from it), and again into the idempotency table (with 200,000 of
    share_with too, 8.6 MB). Service ids of an expenditure are as unbounded. And before
    any of this, FastAPI reads and parses a body of any size before the token is looked
    at: anyone, signed in or not, makes the server hold it in memory."""
    participant = _enrol(pilot)
    size = _size(pilot)
    body = {**CONSENT, "services": ["case_management"] * 200_000}
    answer = pilot.post("irc", f"/v1/participants/{participant}/consents", body)
    written = _size(pilot) - size
    assert answer.status_code in (413, 422) and written == 0, (
        f"a {len(json.dumps(body)) // 1_000_000} MB consent was answered "
        f"{answer.status_code} and {written} entry written"
    )


# == claim 4: idempotency =====================================================================


def test_a_key_names_one_request(pilot: Program) -> None:
    """Holds: The same key with another body, or for another command, is 422 and writes
    nothing; a retry replays the first answer."""
    first = pilot.post("irc", "/v1/awards/A-IRC/expenditures", SPENDING, key="k-1")
    assert first.status_code == 201
    size = _size(pilot)
    other_body = pilot.post(
        "irc", "/v1/awards/A-IRC/expenditures", {**SPENDING, "amount_cents": 1}, key="k-1"
    )
    other_command = pilot.post("irc", "/v1/participants", ENROLMENT, key="k-1")
    for answer in (other_body, other_command):
        assert answer.status_code == 422, answer.text
        assert answer.json()["type"].endswith("/idempotency-key-reused")
        assert PII["name"] not in answer.text
    again = pilot.post("irc", "/v1/awards/A-IRC/expenditures", SPENDING, key="k-1")
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert _size(pilot) == size


# == claim 5: client custody ==================================================================


def test_a_prepared_event_is_written_only_by_its_person_once_in_time_with_their_key(
    pilot: Program,
) -> None:
    """Holds: Another person, another event's signature, an expired preparation, a second
    submission and a revoked key all write nothing."""
    private = _client_person(pilot, "clerk")
    other = _client_person(pilot, "other")
    one = _prepare(pilot, "clerk", "report_expenditure", {"award_id": "A-IRC"}, SPENDING)
    two = _prepare(
        pilot,
        "clerk",
        "report_expenditure",
        {"award_id": "A-IRC"},
        {**SPENDING, "expenditure_id": "E-2"},
    )
    one_bytes = base64.b64decode(one["event_bytes"])
    size = _size(pilot)
    assert _submit(pilot, "other", one["prepared_id"], _sign(private, one_bytes)).status_code == 404
    assert _submit(pilot, "other", one["prepared_id"], _sign(other, one_bytes)).status_code == 404
    crossed = _submit(pilot, "clerk", two["prepared_id"], _sign(private, one_bytes))
    assert crossed.status_code == 422 and crossed.json()["type"].endswith("/signature-invalid")
    RawDatabase(pilot.url).execute(  # type: ignore[attr-defined]
        "UPDATE prepared_commands SET expires_at = ? WHERE prepared_id = ?",
        ("2000-01-01T00:00:00Z", two["prepared_id"]),
    )
    two_bytes = base64.b64decode(two["event_bytes"])
    late = _submit(pilot, "clerk", two["prepared_id"], _sign(private, two_bytes))
    assert late.status_code == 422, late.text
    assert _size(pilot) == size
    done = _submit(pilot, "clerk", one["prepared_id"], _sign(private, one_bytes))
    assert done.status_code == 201, done.text
    twice = _submit(pilot, "clerk", one["prepared_id"], _sign(private, one_bytes))
    assert twice.status_code in (404, 409, 422), twice.text  # written: forgotten, or a conflict
    three = _prepare(
        pilot,
        "clerk",
        "report_expenditure",
        {"award_id": "A-IRC"},
        {**SPENDING, "expenditure_id": "E-3"},
    )
    _created(pilot, "board", f"/v1/people/{pilot.people['clerk']}/suspension", {"reason": "left"})
    after = _submit(
        pilot, "clerk", three["prepared_id"], _sign(private, base64.b64decode(three["event_bytes"]))
    )
    assert after.status_code == 401, after.text
    assert _size(pilot) == size + 2  # the one submission, and the suspension


def test_racing_submissions_write_a_prepared_event_once(pilot: Program) -> None:
    """Holds: Eight submissions of one prepared event at once over real HTTP, with one
    key and then with eight keys: one entry, every other answer a replay or a refusal."""
    private = _client_person(pilot, "clerk")
    prepared = _prepare(pilot, "clerk", "report_expenditure", {"award_id": "A-IRC"}, SPENDING)
    body = {"signature": _sign(private, base64.b64decode(prepared["event_bytes"]))}
    path = f"/v1/prepared/{prepared['prepared_id']}/signature"
    size = _size(pilot)
    with serving(pilot.client.app) as url:  # type: ignore[arg-type]

        def send(key: str) -> httpx.Response:
            with httpx.Client(base_url=url, timeout=60) as client:
                return client.post(path, json=body, headers=pilot.headers("clerk", key))

        with ThreadPoolExecutor(8) as pool:
            same = list(pool.map(send, ["one-key"] * 8))
            many = list(pool.map(send, [f"key-{i}" for i in range(8)]))
    assert {a.status_code for a in same} == {201} and len({a.text for a in same}) == 1
    assert all(a.status_code in (404, 409, 422) for a in many), [a.text for a in many]
    assert _size(pilot) == size + 1


def test_a_person_registered_through_a_prepared_command_can_act(pilot: Program) -> None:
    """Fixed: A board member who keeps their own key prepares register_person for a
    server-custody caseworker: the server makes the caseworker's key while preparing,
    its key file is staged and then thrown away when preparation stops at the signature,
    and the submission registers a public key whose private half exists nowhere. The
    caseworker's every command is a 503 (no private key in the key store), for good."""
    private = Ed25519PrivateKey.generate()
    public = base64.b64encode(private.public_key().public_bytes_raw()).decode()
    clerk = _created(
        pilot,
        "board",
        "/v1/people",
        {"org": "org:board", "role": "board", "custody": "client", "public_key": public},
    )
    tokens = Tokens(pilot.system.app.recorder.datastore)  # type: ignore[attr-defined]
    pilot.tokens["clerk"] = tokens.issue(clerk["person_id"], timedelta(minutes=10)).token
    asked = pilot.post(
        "clerk",
        "/v1/prepared",
        {"command": "register_person", "ids": {}, "body": {"org": "org:irc", "role": "grantee"}},
    )
    if asked.status_code != 201:  # refusing to prepare it is a fix too
        assert 400 <= asked.status_code < 500, asked.text
        return
    prepared = asked.json()
    done = _submit(
        pilot,
        "clerk",
        prepared["prepared_id"],
        _sign(private, base64.b64decode(prepared["event_bytes"])),
    )
    assert done.status_code == 201, done.text
    worker = done.json()["person_id"]
    pilot.tokens["worker"] = tokens.issue(worker, timedelta(minutes=10)).token
    acts = _lenient(pilot).post(
        "/v1/awards/A-IRC/expenditures", json=SPENDING, headers=pilot.headers("worker")
    )
    assert acts.status_code == 201, (
        f"a server-custody person registered through a prepared command cannot act: "
        f"{acts.status_code} {acts.json().get('detail')}"
    )


def test_erasure_leaves_no_copy_of_the_data_key_in_prepared_commands(pilot: Program) -> None:
    """Fixed: A participant enrolled through a prepared command (a caseworker keeping
    their own key) has their wrapped data key and sealed personal data copied into
    `prepared_commands.statements`, and that row is never deleted. Erasure
    (crypto-shredding) deletes the vault's copy of the key only: with the master key,
    the name is read back from the prepared row after the participant was erased."""
    private = _client_person(pilot, "clerk")
    prepared = _prepare(pilot, "clerk", "enrol_participant", {}, ENROLMENT)
    done = _submit(
        pilot,
        "clerk",
        prepared["prepared_id"],
        _sign(private, base64.b64decode(prepared["event_bytes"])),
    )
    assert done.status_code == 201, done.text
    participant = done.json()["participant_id"]
    erasure = {"erased_on": "2023-06-01", "authority": "participant_request"}
    _created(pilot, "irc", f"/v1/participants/{participant}/erasure", erasure)
    master = pilot.system.settings.vault_key_bytes
    assert master is not None
    raw = RawDatabase(pilot.url)  # type: ignore[attr-defined]
    assert not raw.execute("SELECT * FROM vault_keys WHERE participant_id = ?", (participant,))
    recovered = []
    for (statements,) in raw.execute("SELECT statements FROM prepared_commands"):
        wrapped = [
            base64.b64decode(params[1]["b64"])
            for sql, params in json.loads(statements)
            if sql.startswith("INSERT INTO vault_keys") and params[0] == participant
        ]
        records = [params for sql, params in json.loads(statements) if "vault_records" in sql]
        for key in wrapped:
            data_key = aes_key_unwrap(master, key)
            for record_id, pid, kind, nonce, ciphertext, _commitment in records:
                aad = f"{record_id}|{pid}|{kind}".encode()
                plain = AESGCM(data_key).decrypt(
                    base64.b64decode(nonce["b64"]), base64.b64decode(ciphertext["b64"]), aad
                )
                recovered.append(canonical.loads(plain)["value"])
    assert not recovered, (
        f"participant {participant} was erased, yet their personal data is read back from "
        f"prepared_commands: {recovered}"
    )


def _prepared_row(p: Program, prepared_id: str) -> tuple[str, str]:
    rows = RawDatabase(p.url).execute(  # type: ignore[attr-defined]
        "SELECT answer, statements FROM prepared_commands WHERE prepared_id = ?", (prepared_id,)
    )
    return rows[0][0], rows[0][1]


def test_edited_statements_of_a_prepared_command_are_not_run(pilot: Program) -> None:
    """Fixed: A prepared command keeps, in the `prepared_commands` table, the SQL text of
    the rows to write beside its event (`statements`), and submission runs that text as
    it finds it, inside the writers' transaction: nothing binds it to the event or the
    signature (the request digest is MACed against the database's operators; this row
    is not). An operator's edit (here one more statement) is run, not caught."""
    private = _client_person(pilot, "clerk")
    prepared = _prepare(pilot, "clerk", "report_expenditure", {"award_id": "A-IRC"}, SPENDING)
    _answer, statements = _prepared_row(pilot, prepared["prepared_id"])
    edited = [*json.loads(statements), ["CREATE TABLE operator_was_here (x TEXT)", []]]
    raw = RawDatabase(pilot.url)  # type: ignore[attr-defined]
    raw.execute(
        "UPDATE prepared_commands SET statements = ? WHERE prepared_id = ?",
        (json.dumps(edited), prepared["prepared_id"]),
    )
    signature = _sign(private, base64.b64decode(prepared["event_bytes"]))
    answer = _submit(pilot, "clerk", prepared["prepared_id"], signature)
    try:
        raw.execute("SELECT count(*) FROM operator_was_here")
        ran = True
    except Exception:
        ran = False
    assert not ran and answer.status_code != 201, (
        f"the edited statements were run (table made: {ran}); the submission answered "
        f"{answer.status_code}"
    )


def test_an_edited_prepared_answer_is_not_given_as_the_commands(pilot: Program) -> None:
    """Fixed: The answer a prepared command gives is read back from its table row, not
    from the event written: an operator's edit is given to the person, and kept as the
    idempotent answer of every retry (here, an enrolment answering another participant's
    id than the one recorded)."""
    private = _client_person(pilot, "clerk")
    prepared = _prepare(pilot, "clerk", "enrol_participant", {}, ENROLMENT)
    answer_text, _statements = _prepared_row(pilot, prepared["prepared_id"])
    edited = {**json.loads(answer_text), "participant_id": "P-" + "f" * 32}
    RawDatabase(pilot.url).execute(  # type: ignore[attr-defined]
        "UPDATE prepared_commands SET answer = ? WHERE prepared_id = ?",
        (json.dumps(edited), prepared["prepared_id"]),
    )
    signature = _sign(private, base64.b64decode(prepared["event_bytes"]))
    answer = _submit(pilot, "clerk", prepared["prepared_id"], signature)
    if answer.status_code == 201:
        written = _events(pilot, answer.json()["seq"])[0]["data"]["participant_id"]
        assert answer.json()["participant_id"] == written, (
            f"the answer names participant {answer.json()['participant_id']}, the log "
            f"recorded {written}"
        )


EDITS: dict[str, Callable[[dict[str, Any]], None]] = {
    "another award's stream": lambda e: e.__setitem__("stream", str(Award.create_id("A-BRR"))),
    "a gap in the stream's versions": lambda e: e.__setitem__("version", e["version"] + 5),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_an_edited_prepared_event_is_refused_at_writing(pilot: Program, edit: str) -> None:
    """Fixed: An event's `stream` and `version` (LEDGER_FORMAT.md section 2: the aggregate
    it belongs to; "1, 2, 3 … with no gaps") are not checked against its data and its
    stream when a prepared event is written. Edited in `prepared_commands` and signed as
    shown: irc's expenditure on A-IRC is filed in baker's award A-BRR's stream; or A-IRC's
    stream gets a gap, after which every command on A-IRC is a 500 (eventsourcing's
    OriginatorVersionError), the award frozen for good. `cmpp verify` passes both logs."""
    private = _client_person(pilot, "clerk")
    prepared = _prepare(pilot, "clerk", "report_expenditure", {"award_id": "A-IRC"}, SPENDING)
    event = canonical.loads(base64.b64decode(prepared["event_bytes"]))
    EDITS[edit](event)
    edited = canonical.dumps(event)
    RawDatabase(pilot.url).execute(  # type: ignore[attr-defined]
        "UPDATE prepared_commands SET event_bytes = ? WHERE prepared_id = ?",
        (edited, prepared["prepared_id"]),
    )
    size = _size(pilot)
    answer = _submit(pilot, "clerk", prepared["prepared_id"], _sign(private, edited))
    assert _size(pilot) == size, "an edited prepared event wrote something"
    client = _lenient(pilot)
    later = {
        award: client.post(
            f"/v1/awards/{award}/expenditures",
            json={**SPENDING, "expenditure_id": f"E-after-{award}"},
            headers=pilot.headers(who),
        ).status_code
        for award, who in (("A-IRC", "irc"), ("A-BRR", "baker"))
    }
    if answer.status_code == 201:
        verified = pilot.system.verify().ok
        raise AssertionError(
            f"an event edited ({edit}) was written (answered 201); later expenditures on "
            f"the awards answered {later}; the log verifies: {verified}"
        )


# == claim 6: protected reads =================================================================


@pytest.mark.parametrize("purpose", ["ana-maria-quispe-huaman", "a201456789"])
def test_a_purpose_naming_a_person_is_refused(pilot: Program, purpose: str) -> None:
    """Fixed: The purpose of a case-history read is checked only for its shape
    (^[a-z0-9]+([_-][a-z0-9]+)*$), not against a list of codes: a participant's name or
    A-Number written as a "code" is recorded in the log for ever, and shown to every
    grantee in the oversight view's protected_record_accesses."""
    participant = _enrol(pilot)
    recorded = _count(pilot, ACCESSED)
    answer = pilot.get("crcl", f"/v1/participants/{participant}/history", purpose=purpose)
    shown = pilot.get("baker", "/v1/oversight").json().get("protected_record_accesses", {})
    assert answer.status_code == 422 and _count(pilot, ACCESSED) == recorded, (
        f"purpose {purpose!r} was answered {answer.status_code}, written to the log, and "
        f"shown to another grantee: {shown}"
    )


def test_case_entries_are_not_read_without_an_access_record(pilot: Program) -> None:
    """Fixed: GET /v1/entries/{seq} gives CRCL (and the grantee itself) a case event whole,
    the very fields a case history records as accessed (age band, gender, nationality,
    language…), with no purpose and no audit.RecordsAccessed: the case history's access
    record is bypassed one entry at a time."""
    participant = _enrol(pilot)
    enrolment = next(
        seq
        for seq, event in enumerate(_events(pilot))
        if event["data"].get("participant_id") == participant
    )
    # A checkpoint covering it (the entries route proves against the latest).
    pilot.get("crcl", "/v1/checkpoint")
    recorded = _count(pilot, ACCESSED)
    answer = pilot.get("crcl", f"/v1/entries/{enrolment}")
    assert answer.status_code != 200 or _count(pilot, ACCESSED) > recorded, (
        "CRCL read participant "
        f"{answer.json()['entry']['event']['data']['participant_id']}'s enrolment "
        "(age band, gender, nationality) with no purpose and no access record"
    )


def test_a_case_history_is_answered_only_after_its_access_record(pilot: Program) -> None:
    """Holds: Each answered read adds one audit.RecordsAccessed naming the reader, the
    purpose code and the participant, nothing more."""
    participant = _enrol(pilot)
    recorded = _count(pilot, ACCESSED)
    answer = pilot.get(
        "crcl", f"/v1/participants/{participant}/history", purpose="complaint_investigation"
    )
    assert answer.status_code == 200
    access = [e for e in _events(pilot) if e["type"] == ACCESSED]
    assert len(access) == recorded + 1
    data = access[-1]["data"]
    assert data["actor"] == pilot.people["crcl"] and data["participant_ids"] == [participant]
    assert data["purpose"] == "complaint_investigation"
    assert not any(str(v) in json.dumps(data) for v in PII.values())
    refused = pilot.get("crcl", f"/v1/participants/{participant}/history", purpose="Ana Quispe")
    assert refused.status_code == 422 and _count(pilot, ACCESSED) == recorded + 1


# == claim 7: no input is a 500 ================================================================


def test_odd_inputs_are_problems_never_faults(pilot: Program) -> None:
    """Holds: Control characters, lone surrogates, huge numbers, deep nesting, odd dates:
    4xx problems, never a 500 or a traceback."""
    client = _lenient(pilot)
    participant = _enrol(pilot)
    _created(pilot, "irc", f"/v1/participants/{participant}/consents", CONSENT)
    surrogate = '"\\ud800"'
    deep = "[" * 50_000 + "]" * 50_000
    raw_bodies = [
        (
            "irc",
            f"/v1/participants/{participant}/screenings",
            '{"screening_type":"x","completed_on":"2023-01-11","result":{'
            + surrogate
            + ":"
            + surrogate
            + "}}",
        ),
        ("irc", "/v1/prepared", '{"command":' + surrogate + ',"ids":{},"body":{}}'),
        ("irc", "/v1/prepared", '{"command":"give_consent","ids":{},"body":{"x":' + deep + "}}"),
        (
            "irc",
            "/v1/awards/A-IRC/expenditures",
            '{"expenditure_id":"E","category":"x","amount_cents":'
            + "9" * 5000
            + ',"incurred_on":"2023-02-01"}',
        ),
        (
            "irc",
            "/v1/awards/A-IRC/expenditures",
            '{"expenditure_id":"E\\u0000","category":"x","amount_cents":1,'
            '"incurred_on":"2023-02-01"}',
        ),
        ("board", "/v1/awards/A-IRC/amendments", '{"delta_cents":1,"reason":"\\u0000"}'),
        ("board", "/v1/people", '{"org":"org:irc\\u0000","role":"grantee"}'),
        ("irc", "/v1/participants", "{" * 10),
    ]
    for who, path, text in raw_bodies:
        answer = client.post(
            path,
            content=text.encode(),
            headers={**pilot.headers(who), "content-type": "application/json"},
        )
        assert 400 <= answer.status_code < 500, (path, answer.status_code, answer.text[:300])
        assert "Traceback" not in answer.text
    for params in (
        {"as_of": "2023-02-30"},
        {"as_of": "0000-01-01"},
        {"at_seq": 2**62},
        {"as_of": "2023-01-01T00:00:00+99:00"},
    ):
        for path in ("/v1/balances", "/v1/oversight", f"/v1/participants/{participant}/history"):
            answer = client.get(
                path, params={**params, "purpose": "audit"}, headers=pilot.headers("oig")
            )
            assert 400 <= answer.status_code < 500, (path, params, answer.text[:300])
    for path in ("/v1/entries/-1", "/v1/entries/99999999999999999999", "/v1/prepared/x/signature"):
        answer = client.get(path, headers=pilot.headers("oig"))
        assert 400 <= answer.status_code < 500, (path, answer.text[:300])
