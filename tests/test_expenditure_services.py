"""An expenditure's entry can be released whole: the services it paid for stay beside the log.

A grantee reports spending and names the services it paid for. The signed entry holds
a salted commitment to them, never an id of a service or participant; the ids and salt
are kept beside the log, written with the entry or not at all, and an inspector checks
them against the entry."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domain.expenditure_services import ExpenditureServices
from domain.tokens import Tokens
from ledger.entry import read_event
from tests.api_support import AWARD, Program, fund, program
from tests.test_api_cases import CONSENT, ENROLMENT, SERVICE

AWARD_ID = "A-2022-007"
SPENDING = {"category": "personnel", "amount_cents": 250_00, "incurred_on": "2023-02-01"}


@pytest.fixture
def funded(database_url: str, tmp_path: Path) -> Iterator[Program]:
    with program(database_url, tmp_path / "data") as p:
        fund(p)
        yield p


def _created(p: Program, who: str, path: str, body: Any) -> Any:
    answer = p.post(who, path, body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def _served(p: Program) -> tuple[str, list[str]]:
    """A participant of org:irc with two services: their ids."""
    pid = _created(p, "irc", "/v1/participants", ENROLMENT)["participant_id"]
    _created(p, "irc", f"/v1/participants/{pid}/consents", CONSENT)
    services = [
        _created(p, "irc", f"/v1/participants/{pid}/services", SERVICE)["service_id"]
        for _ in range(2)
    ]
    return pid, services


def _last_entry(p: Program) -> tuple[bytes, dict[str, Any]]:
    store = p.system.app.store
    size = store.head().size
    [(_seq, _prev, state)] = store.read_rows(size - 1, 1)
    return bytes(state), read_event(state)


def _links(p: Program) -> ExpenditureServices:
    return ExpenditureServices(p.system.app.recorder.datastore)  # type: ignore[attr-defined]


def test_the_entry_commits_to_the_services_and_names_none_of_them(funded: Program) -> None:
    p = funded
    pid, services = _served(p)
    body = {**SPENDING, "expenditure_id": "E-1", "service_ids": services}
    _created(p, "irc", f"/v1/awards/{AWARD_ID}/expenditures", body)
    raw, event = _last_entry(p)
    assert event["type"] == "funds.ExpenditureReported"
    for named in (pid, *services):
        assert named.encode() not in raw
    assert "service_ids" not in event["data"]
    committed = event["data"]["services_sha256"]
    opened = _links(p).opened(AWARD_ID, "E-1")
    assert opened is not None and opened.service_ids == sorted(services)
    assert opened.matches(committed)
    # A row edited beside the log no longer opens the signed commitment.
    edited = type(opened)(
        AWARD_ID, opened.expenditure_id, [*opened.service_ids, "S-forged"], opened.salt, committed
    )
    assert not edited.matches(committed)
    # Two expenditures naming the same services make different commitments (salted).
    _created(p, "irc", f"/v1/awards/{AWARD_ID}/expenditures", {**body, "expenditure_id": "E-2"})
    assert _last_entry(p)[1]["data"]["services_sha256"] != committed


def test_spending_that_names_no_service_commits_to_nothing(funded: Program) -> None:
    _created(
        funded, "irc", f"/v1/awards/{AWARD_ID}/expenditures", {**SPENDING, "expenditure_id": "E-1"}
    )
    assert _last_entry(funded)[1]["data"]["services_sha256"] is None
    assert _links(funded).opened(AWARD_ID, "E-1") is None


def test_refused_spending_keeps_no_row(funded: Program) -> None:
    p = funded
    _pid, services = _served(p)
    too_much = {
        **SPENDING,
        "expenditure_id": "E-9",
        "amount_cents": 10**12,
        "service_ids": services,
    }
    answer = p.post("irc", f"/v1/awards/{AWARD_ID}/expenditures", too_much)
    assert answer.status_code == 422, answer.text
    assert _links(p).opened(AWARD_ID, "E-9") is None and _links(p).all() == []


def test_a_client_signed_expenditure_keeps_its_services_as_prepared(funded: Program) -> None:
    """Client custody: the row prepared with the event is written when the person's
    signature comes back, and it opens the commitment they signed."""
    p = funded
    _pid, services = _served(p)
    private = Ed25519PrivateKey.generate()
    public = base64.b64encode(private.public_key().public_bytes_raw()).decode()
    made = _created(
        p,
        "board",
        "/v1/people",
        {"org": "org:irc", "role": "grantee", "custody": "client", "public_key": public},
    )
    tokens = Tokens(p.system.app.recorder.datastore)  # type: ignore[attr-defined]
    p.tokens["clerk"] = tokens.issue(made["person_id"], timedelta(minutes=10)).token
    body = {**SPENDING, "expenditure_id": "E-5", "service_ids": services}
    prepared = _created(
        p,
        "clerk",
        "/v1/prepared",
        {"command": "report_expenditure", "ids": {"award_id": AWARD_ID}, "body": body},
    )
    assert _links(p).opened(AWARD_ID, "E-5") is None  # nothing is written before the signature
    signature = private.sign(base64.b64decode(prepared["event_bytes"]))
    _created(
        p,
        "clerk",
        f"/v1/prepared/{prepared['prepared_id']}/signature",
        {"signature": base64.b64encode(signature).decode()},
    )
    raw, event = _last_entry(p)
    assert all(s.encode() not in raw for s in services)
    opened = _links(p).opened(AWARD_ID, "E-5")
    assert opened is not None and opened.matches(event["data"]["services_sha256"])


def test_an_expenditure_id_may_be_used_again_on_another_award(funded: Program) -> None:
    """Expenditure ids are unique per award (the rules), and so are the rows kept."""
    p = funded
    _pid, services = _served(p)
    second = {**AWARD, "award_id": "A-2022-008", "amount_cents": 10_000_00}
    _created(p, "board", "/v1/awards", second)
    for award_id in (AWARD_ID, "A-2022-008"):
        body = {**SPENDING, "expenditure_id": "E-1", "service_ids": services}
        _created(p, "irc", f"/v1/awards/{award_id}/expenditures", body)
        opened = _links(p).opened(award_id, "E-1")
        assert opened is not None
        assert opened.matches(_last_entry(p)[1]["data"]["services_sha256"])
    assert len(_links(p).all()) == 2
