"""The funds over HTTP: the board appropriates and awards, the fiscal agent pays, the grantee
reports spending; each signs as themselves, every POST is idempotent, every error a problem."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger import canonical
from ledger.entry import read_event
from tests.api_support import Program, fund, program

PROBLEM = "application/problem+json"


@pytest.fixture
def pilot(database_url: str, tmp_path: Path) -> Iterator[Program]:
    with program(database_url, tmp_path / "data") as p:
        yield p


def _event_at(p: Program, seq: int) -> dict[str, object]:
    rows = p.system.app.store.read_rows(seq, 1)
    return read_event(rows[0][2])  # type: ignore[arg-type]


def test_each_person_signs_their_own_commands(pilot: Program) -> None:
    fund(pilot)
    paid = pilot.post(
        "cws",
        "/v1/awards/A-2022-007/disbursements",
        {
            "disbursement_id": "D-1",
            "amount_cents": 250_000_00,
            "payment_ref": "PAY-1",
            "paid_on": "2023-01-15",
        },
    )
    assert paid.status_code == 201, paid.text
    body = paid.json()
    assert body["amount_cents"] == 250_000_00 and body["award_id"] == "A-2022-007"
    assert paid.headers["CMPP-As-Of-Seq"] == str(body["seq"])
    event = _event_at(pilot, body["seq"])
    # The entry is the person's: their id as actor, their key, their organisation.
    assert event["type"] == "funds.DisbursementRecorded"
    assert event["actor"] == pilot.people["cws"] and event["org"] == "org:cws"
    me = pilot.get("cws", "/v1/me").json()
    assert event["key"] == me["key_id"] and me["role"] == "fiscal_agent"
    assert pilot.system.verify().ok


def test_a_retry_returns_the_first_answer_and_writes_nothing(pilot: Program) -> None:
    fund(pilot)
    body = {
        "disbursement_id": "D-1",
        "amount_cents": 100_00,
        "payment_ref": "P-1",
        "paid_on": "2023-02-01",
    }
    first = pilot.post("cws", "/v1/awards/A-2022-007/disbursements", body, key="k-1")
    size = pilot.system.app.store.head().size
    again = pilot.post("cws", "/v1/awards/A-2022-007/disbursements", body, key="k-1")
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert pilot.system.app.store.head().size == size
    # The same key for another request is refused, and writes nothing.
    other = pilot.post(
        "cws", "/v1/awards/A-2022-007/disbursements", {**body, "amount_cents": 200_00}, key="k-1"
    )
    assert other.status_code == 422 and other.headers["content-type"] == PROBLEM
    assert other.json()["type"].endswith("/idempotency-key-reused")
    assert pilot.system.app.store.head().size == size
    # Keys are the person's own: another person's "k-1" is another request.
    assert (
        pilot.post(
            "board",
            "/v1/appropriations",
            {
                "appropriation_id": "FY2023",
                "fiscal_year": 2023,
                "public_law": "P.L. 1",
                "amount_cents": 1_00,
                "available_until": "2025-09-30",
            },
            key="k-1",
        ).status_code
        == 201
    )


def test_refusals_are_problems_with_a_type_per_rule(pilot: Program) -> None:
    fund(pilot)
    over = pilot.post(
        "cws",
        "/v1/awards/A-2022-007/disbursements",
        {
            "disbursement_id": "D-9",
            "amount_cents": 2_000_000_00,
            "payment_ref": "PAY-9",
            "paid_on": "2023-01-15",
        },
    )
    assert over.status_code == 422 and over.headers["content-type"] == PROBLEM
    problem = over.json()
    assert problem["type"].endswith("/disbursement-within-award"), problem
    assert "$1,000,000.00" in problem["detail"]
    invalid = pilot.post("cws", "/v1/awards/A-2022-007/disbursements", {"amount_cents": "x"})
    assert invalid.status_code == 422
    fields = {e["field"] for e in invalid.json()["errors"]}
    assert {"amount_cents", "disbursement_id", "payment_ref", "paid_on"} <= fields


def test_roles_and_organisations_are_enforced(pilot: Program) -> None:
    fund(pilot)
    # The fiscal agent may not award; no token is no one.
    refused = pilot.post(
        "cws",
        "/v1/awards",
        {
            "award_id": "A-X",
            "appropriation_id": "FY2022",
            "grantee": "org:irc",
            "amount_cents": 1_00,
            "period_start": "2023-01-01",
            "period_end": "2023-12-31",
            "method": "advance",
        },
    )
    assert refused.status_code == 403 and refused.json()["type"].endswith("/permission")
    anonymous = pilot.client.post("/v1/appropriations", json={}, headers={"Idempotency-Key": "a"})
    assert anonymous.status_code == 401
    # A grantee reports on its own award; another grantee's is as good as missing.
    spend = {
        "expenditure_id": "E-1",
        "category": "personnel",
        "amount_cents": 10_00,
        "incurred_on": "2023-03-01",
    }
    assert pilot.post("irc", "/v1/awards/A-2022-007/expenditures", spend).status_code == 201
    theirs = pilot.post("baker", "/v1/awards/A-2022-007/expenditures", spend)
    missing = pilot.post("baker", "/v1/awards/A-NONE/expenditures", spend)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["type"] == missing.json()["type"]
    assert "org:irc" not in theirs.text


def test_a_suspended_person_can_no_longer_act(pilot: Program) -> None:
    suspended = pilot.post(
        "board", f"/v1/people/{pilot.people['cws']}/suspension", {"reason": "left the agency"}
    )
    assert suspended.status_code == 201, suspended.text
    assert pilot.get("cws", "/v1/me").status_code == 401
    report = pilot.system.verify()
    assert report.ok


def test_a_request_body_is_read_canonically(pilot: Program) -> None:
    """Member order and spacing do not make another request."""
    body = {
        "appropriation_id": "FY2030",
        "fiscal_year": 2030,
        "public_law": "P.L. 2",
        "amount_cents": 5_00,
        "available_until": "2031-09-30",
    }
    first = pilot.client.post(
        "/v1/appropriations",
        content=json.dumps(body),
        headers={**pilot.headers("board", "same"), "Content-Type": "application/json"},
    )
    reordered = dict(reversed(list(body.items())))
    second = pilot.client.post(
        "/v1/appropriations",
        content=canonical.dumps(reordered),
        headers={**pilot.headers("board", "same"), "Content-Type": "application/json"},
    )
    assert first.status_code == 201 and second.json() == first.json()


def test_a_body_too_large_is_refused_before_it_is_read(pilot: Program) -> None:
    """Bounded before the token is looked at: no one makes the server hold a huge body."""
    huge = b'{"appropriation_id": "' + b"x" * (2 << 20) + b'"}'
    answer = pilot.client.post(
        "/v1/appropriations",
        content=huge,
        headers={"Content-Type": "application/json", "Idempotency-Key": "big"},
    )
    assert answer.status_code == 413 and answer.headers["content-type"] == PROBLEM
    assert answer.json()["type"].endswith("/body-too-large")
