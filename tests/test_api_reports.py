"""The reports over HTTP: each answer reflects every write before it and names its entry; a
grantee sees its own money only; a case history is recorded in the log before it is
answered; the oversight view leaves oversight suppressed; a payment file reconciles."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain.catalogue import SYSTEM
from ledger.entry import read_event
from ledger.registry import KeyRuleError
from ledger.signing import Signer
from tests.api_support import Program, program

PROBLEM = "application/problem+json"
AS_OF = "CMPP-As-Of-Seq"


@pytest.fixture
def pilot(database_url: str, tmp_path: Path) -> Iterator[Program]:
    with program(database_url, tmp_path / "data") as p:
        yield p


def _post(p: Program, who: str, path: str, body: dict[str, Any]) -> int:
    answer = p.post(who, path, body)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["seq"])


def _awards(p: Program) -> None:
    """An appropriation, and an award to each grantee."""
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
    for award_id, grantee, cents in (
        ("A-IRC", "org:irc", 1_000_000_00),
        ("A-BR", "org:bakerripley", 500_000_00),
    ):
        _post(
            p,
            "board",
            "/v1/awards",
            {
                "award_id": award_id,
                "appropriation_id": "FY2022",
                "grantee": grantee,
                "amount_cents": cents,
                "period_start": "2023-01-01",
                "period_end": "2024-09-30",
                "method": "advance",
            },
        )


def _disburse(p: Program, award_id: str = "A-IRC", ref: str = "PAY-1") -> int:
    body = {
        "disbursement_id": f"D-{ref}",
        "amount_cents": 250_000_00,
        "payment_ref": ref,
        "paid_on": "2023-01-15",
    }
    return _post(p, "cws", f"/v1/awards/{award_id}/disbursements", body)


def _event_at(p: Program, seq: int) -> dict[str, Any]:
    rows = p.system.app.store.read_rows(seq, 1)
    return read_event(rows[0][2])  # type: ignore[arg-type]


def _enrol(p: Program, who: str = "irc") -> str:
    """A participant of `who`'s organisation, enrolled with the application directly."""
    key_id = p.get(who, "/v1/me").json()["key_id"]
    signer = Signer(p.system.keys.load(key_id))
    return p.system.app.enrol_participant(
        signer,
        enrolled_on="2023-01-09",
        referral_source="ice_ero",
        language="es",
        age_band="35-44",
        gender="female",
        nationality="PE",
        pii={"name": "Ana María Quispe Huamán"},
    )


def _award_row(answer: Any, award_id: str) -> dict[str, Any]:
    return next(a for a in answer.json()["awards"] if a["award_id"] == award_id)


def _same_not_found(theirs: Any, missing: Any, their_id: str, missing_id: str) -> None:
    assert theirs.status_code == missing.status_code == 404
    assert theirs.headers["content-type"] == missing.headers["content-type"] == PROBLEM
    one, other = theirs.json(), missing.json()
    for key in ("type", "title", "status"):
        assert one[key] == other[key]
    assert one["detail"].replace(their_id, "X") == other["detail"].replace(missing_id, "X")


def test_balances_reflect_each_write_and_name_their_entry(pilot: Program) -> None:
    _awards(pilot)
    before = pilot.system.app.store.head().size - 1
    paid = _disburse(pilot)
    now = pilot.get("cws", "/v1/balances")
    assert now.status_code == 200, now.text
    assert int(now.headers[AS_OF]) >= paid
    assert _award_row(now, "A-IRC")["disbursed"] == 250_000_00
    assert now.json()["scope"] == "program" and now.json()["rests_on"] is None
    # As of the entry before the payment: nothing was paid yet, and the answer says so.
    then = pilot.get("board", "/v1/balances", at_seq=before)
    assert then.status_code == 200 and then.headers[AS_OF] == str(before)
    assert then.json()["as_of_seq"] == before and then.json()["rests_on"]["last_seq"] == before
    assert _award_row(then, "A-IRC")["disbursed"] == 0
    # An SF-425 as of the payment: 10a is the cash received.
    sf425 = pilot.get("oig", "/v1/awards/A-IRC/sf425", at_seq=paid)
    assert sf425.status_code == 200 and sf425.headers[AS_OF] == str(paid)
    assert sf425.json()["sf425"]["10a"] == 250_000_00
    # Beyond the log is refused, as a problem naming the parameter.
    beyond = pilot.get("board", "/v1/balances", at_seq=10_000)
    assert beyond.status_code == 422 and beyond.headers["content-type"] == PROBLEM
    assert beyond.json()["type"].endswith("/projection") and "at_seq" in beyond.json()["detail"]
    assert pilot.get("board", "/v1/balances", as_of="last week").status_code == 422


def test_a_grantee_sees_its_own_money_only(pilot: Program) -> None:
    _awards(pilot)
    _disburse(pilot)
    _disburse(pilot, "A-BR", "PAY-2")
    mine = pilot.get("irc", "/v1/balances")
    assert mine.status_code == 200
    body = mine.json()
    assert body["scope"] == "org:irc"
    assert [a["award_id"] for a in body["awards"]] == ["A-IRC"]
    assert [g["grantee"] for g in body["grantees"]] == ["org:irc"]
    assert body["control_totals"] is None
    assert body["appropriations"] == [
        {
            "appropriation_id": "FY2022",
            "fiscal_year": 2022,
            "public_law": "P.L. 117-103",
            "amount": 15_000_000_00,
        }
    ]
    assert "bakerripley" not in mine.text and "A-BR" not in mine.text
    # Another grantee's award and organisation are as good as missing.
    assert pilot.get("irc", "/v1/awards/A-IRC/sf425").status_code == 200
    theirs = pilot.get("irc", "/v1/awards/A-BR/sf425")
    missing = pilot.get("irc", "/v1/awards/A-NONE/sf425")
    _same_not_found(theirs, missing, "A-BR", "A-NONE")
    assert "bakerripley" not in theirs.text
    own = pilot.get("irc", "/v1/grantees/org:irc/balances")
    assert own.status_code == 200 and own.json()["totals"]["disbursed"] == 250_000_00
    theirs = pilot.get("irc", "/v1/grantees/org:bakerripley/balances")
    missing = pilot.get("irc", "/v1/grantees/org:nobody/balances")
    _same_not_found(theirs, missing, "org:bakerripley", "org:nobody")
    # The board sees every grantee.
    board = pilot.get("board", "/v1/grantees/org:bakerripley/balances")
    assert board.status_code == 200 and [a["award_id"] for a in board.json()["awards"]] == ["A-BR"]


def test_a_case_history_is_recorded_in_the_log_before_it_is_answered(pilot: Program) -> None:
    participant = _enrol(pilot)
    size = pilot.system.app.store.head().size
    read = pilot.get(
        "crcl", f"/v1/participants/{participant}/history", purpose="complaint_investigation"
    )
    assert read.status_code == 200, read.text
    body = read.json()
    assert body["participant_id"] == participant and body["grantee"] == "org:irc"
    assert [row["type"] for row in body["timeline"]] == ["case.ParticipantEnrolled"]
    assert int(read.headers[AS_OF]) < body["access_seq"]
    # The access entry was written before the answer, signed by the server's system key.
    assert body["access_seq"] >= size
    event = _event_at(pilot, body["access_seq"])
    assert event["type"] == "audit.RecordsAccessed"
    board = pilot.system.app.opening["data"]["root_key"]["holder"]
    assert event["actor"] == event["org"] == board
    key = next(k for k in pilot.system.app.trusted_keys() if k.key_id == event["key"])
    assert key.roles == (SYSTEM,) and key.person is None
    assert event["data"]["actor"] == pilot.people["crcl"]
    assert event["data"]["purpose"] == "complaint_investigation"
    assert event["data"]["participant_ids"] == [participant]
    assert {"pii_sha256", "language"} <= set(event["data"]["fields"])
    # A second read uses the same system key.
    again = pilot.get("oig", f"/v1/participants/{participant}/history", purpose="audit")
    assert _event_at(pilot, again.json()["access_seq"])["key"] == event["key"]
    # The oversight view counts the accesses, by purpose.
    view = pilot.get("crcl", "/v1/oversight")
    assert view.status_code == 200 and view.json()["suppressed"] is False
    assert view.json()["protected_record_accesses"] == {
        "complaint_investigation": 1,
        "audit": 1,
    }
    assert int(view.headers[AS_OF]) >= again.json()["access_seq"]
    assert pilot.system.verify().ok


def test_a_case_history_needs_a_purpose_a_role_and_the_participant(pilot: Program) -> None:
    participant = _enrol(pilot)
    path = f"/v1/participants/{participant}/history"
    size = pilot.system.app.store.head().size
    without = pilot.get("crcl", path)
    assert without.status_code == 422 and without.headers["content-type"] == PROBLEM
    assert "purpose" in without.json()["detail"]
    # A purpose is a code: text that could name someone is refused, and not echoed.
    named = pilot.get("crcl", path, purpose="asked by Ana Quispe")
    assert named.status_code == 422 and "Quispe" not in named.text
    assert pilot.get("board", path, purpose="audit").status_code == 403
    assert pilot.get("cws", path, purpose="audit").status_code == 403
    # The grantee reads its own; another grantee's participant is as good as missing.
    assert pilot.get("irc", path, purpose="case_management").status_code == 200
    theirs = pilot.get("baker", path, purpose="case_management")
    missing = pilot.get("baker", "/v1/participants/P-NONE/history", purpose="case_management")
    _same_not_found(theirs, missing, participant, "P-NONE")
    # Only the one read answered was recorded.
    assert pilot.system.app.store.head().size == size + 2  # the system key, and its read


def test_nothing_is_answered_if_the_read_cannot_be_recorded(
    pilot: Program, monkeypatch: pytest.MonkeyPatch
) -> None:
    participant = _enrol(pilot)
    # A client that answers a fault as the server does, rather than raising it here.
    client = TestClient(pilot.client.app, raise_server_exceptions=False)
    for failure, status in ((KeyRuleError("no key to register with"), 503), (OSError(), 500)):

        def refuse(*_args: Any, failure: Exception = failure, **_kwargs: Any) -> int:
            raise failure

        monkeypatch.setattr("api.routes.reports.record_access", refuse)
        read = client.get(
            f"/v1/participants/{participant}/history",
            params={"purpose": "audit"},
            headers=pilot.headers("crcl"),
        )
        assert read.status_code == status and read.headers["content-type"] == PROBLEM
        # The problem names the path asked for, and nothing of the history.
        assert "timeline" not in read.text and "org:irc" not in read.text


def test_the_oversight_view_leaves_oversight_suppressed(pilot: Program) -> None:
    _enrol(pilot)
    full = pilot.get("oig", "/v1/oversight")
    assert full.status_code == 200 and full.json()["suppressed"] is False
    assert full.json()["participants"] == 1
    for who in ("board", "cws"):
        view = pilot.get(who, "/v1/oversight")
        assert view.status_code == 200, who
        assert view.json()["suppressed"] is True and view.json()["participants"] == "suppressed"
    # A grantee reads no program-wide case figures: they move with another's every case.
    assert pilot.get("irc", "/v1/oversight").status_code == 403
    then = pilot.get("crcl", "/v1/oversight", at_seq=0)
    assert then.json()["participants"] == 0 and then.headers[AS_OF] == "0"


def _csv(*rows: str) -> bytes:
    return "\n".join(["payment_ref,paid_on,amount_cents,payee", *rows]).encode()


def _upload(p: Program, who: str, data: bytes, key: str | None = "k-1") -> Any:
    headers = p.headers(who)
    if key is None:
        del headers["Idempotency-Key"]
    files = {"file": ("payments.csv", data, "text/csv")}
    return p.client.post("/v1/reconciliations", files=files, headers=headers)


def test_a_payment_file_reconciles_against_the_disbursements(pilot: Program) -> None:
    _awards(pilot)
    paid = _disburse(pilot)
    matched = _upload(pilot, "cws", _csv("PAY-1,2023-01-15,25000000,IRC"))
    assert matched.status_code == 200, matched.text
    assert int(matched.headers[AS_OF]) >= paid
    body = matched.json()
    assert body["clean"] is True
    assert [(m["payment_ref"], m["award_id"]) for m in body["matched"]] == [("PAY-1", "A-IRC")]
    differs = _upload(pilot, "oig", _csv("PAY-1,2023-01-16,25000000,IRC", "PAY-9,2023-02-01,1,X"))
    assert differs.status_code == 200 and differs.json()["clean"] is False
    assert [m["payment_ref"] for m in differs.json()["mismatched"]] == ["PAY-1"]
    assert [m["payment_ref"] for m in differs.json()["missing_from_ledger"]] == ["PAY-9"]


def test_a_bad_payment_file_is_a_problem_not_a_fault(pilot: Program) -> None:
    size = pilot.system.app.store.head().size
    wrong = _upload(pilot, "cws", _csv("PAY-1,15/01/2023,100,IRC"))
    assert wrong.status_code == 422 and wrong.headers["content-type"] == PROBLEM
    assert wrong.json()["type"].endswith("/payment-file") and "line 2" in wrong.json()["detail"]
    binary = _upload(pilot, "cws", b"\x00\x01\x02")
    assert binary.status_code == 422 and binary.json()["type"].endswith("/payment-file")
    assert _upload(pilot, "cws", _csv(), key=None).status_code == 422
    assert pilot.client.post("/v1/reconciliations", headers=pilot.headers("cws")).status_code == 422
    huge = _upload(pilot, "cws", b"x" * (10 * 1024 * 1024 + 1))
    assert huge.status_code == 413 and huge.headers["content-type"] == PROBLEM
    assert pilot.system.app.store.head().size == size


def test_the_public_reads_no_report(pilot: Program) -> None:
    _awards(pilot)
    participant = _enrol(pilot)
    for path, params in (
        ("/v1/balances", {}),
        ("/v1/awards/A-IRC/sf425", {}),
        ("/v1/grantees/org:irc/balances", {}),
        (f"/v1/participants/{participant}/history", {"purpose": "legal_request"}),
        ("/v1/oversight", {}),
    ):
        refused = pilot.get("public", path, **params)
        assert refused.status_code == 403, path
        assert refused.json()["type"].endswith("/permission")
    assert _upload(pilot, "public", _csv()).status_code == 403
    assert pilot.client.get("/v1/balances").status_code == 401
