"""A person who keeps their own key: the server prepares, the person signs, the ledger records.

The key is made here, in the test, and never handed to the server."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domain.tokens import Tokens
from ledger.entry import read_event
from tests.api_support import Program, fund, program

PAYMENT = {
    "disbursement_id": "D-1",
    "amount_cents": 500_00,
    "payment_ref": "PAY-C1",
    "paid_on": "2023-02-01",
}


@pytest.fixture
def pilot(database_url: str, tmp_path: Path) -> Iterator[Program]:
    with program(database_url, tmp_path / "data") as p:
        fund(p)
        yield p


def _client_person(p: Program, name: str) -> Ed25519PrivateKey:
    private = Ed25519PrivateKey.generate()
    public = base64.b64encode(private.public_key().public_bytes_raw()).decode()
    made = p.post(
        "board",
        "/v1/people",
        {"org": "org:cws", "role": "fiscal_agent", "custody": "client", "public_key": public},
    )
    assert made.status_code == 201, made.text
    person = made.json()["person_id"]
    tokens = Tokens(p.system.app.recorder.datastore)  # type: ignore[attr-defined]
    p.people[name] = person
    p.tokens[name] = tokens.issue(person, timedelta(minutes=10)).token
    return private


def _prepare(p: Program, who: str, key: str = "prep-1") -> dict[str, object]:
    prepared = p.post(
        who,
        "/v1/prepared",
        {"command": "record_disbursement", "ids": {"award_id": "A-2022-007"}, "body": PAYMENT},
        key=key,
    )
    assert prepared.status_code == 201, prepared.text
    return prepared.json()  # type: ignore[no-any-return]


def test_the_person_signs_and_the_server_never_holds_their_key(pilot: Program) -> None:
    private = _client_person(pilot, "clerk")
    size = pilot.system.app.store.head().size
    # The server cannot sign for them: a plain command is refused, and writes nothing.
    plain = pilot.post("clerk", "/v1/awards/A-2022-007/disbursements", PAYMENT)
    assert plain.status_code == 428, plain.text
    assert plain.json()["type"].endswith("/client-signature-required")
    prepared = _prepare(pilot, "clerk")
    assert pilot.system.app.store.head().size == size  # preparing records nothing
    event_bytes = base64.b64decode(str(prepared["event_bytes"]))
    signature = base64.b64encode(private.sign(event_bytes)).decode()
    done = pilot.post(
        "clerk", f"/v1/prepared/{prepared['prepared_id']}/signature", {"signature": signature}
    )
    assert done.status_code == 201, done.text
    seq = done.json()["seq"]
    assert done.json()["amount_cents"] == 500_00
    rows = pilot.system.app.store.read_rows(seq, 1)
    event = read_event(rows[0][2])  # type: ignore[arg-type]
    assert event["actor"] == pilot.people["clerk"] and event["type"] == "funds.DisbursementRecorded"
    # No private key of theirs is in the server's key store.
    stored = {str(r["key_id"]) for r in pilot.system.keys.list()}
    assert event["key"] not in stored
    assert pilot.system.verify().ok


def test_a_wrong_or_missing_signature_writes_nothing(pilot: Program) -> None:
    _client_person(pilot, "clerk")
    prepared = _prepare(pilot, "clerk")
    size = pilot.system.app.store.head().size
    path = f"/v1/prepared/{prepared['prepared_id']}/signature"
    impostor = Ed25519PrivateKey.generate()
    forged = impostor.sign(base64.b64decode(str(prepared["event_bytes"])))
    for signature in (base64.b64encode(forged).decode(), base64.b64encode(b"\0" * 64).decode()):
        refused = pilot.post("clerk", path, {"signature": signature})
        assert refused.status_code == 422 and refused.json()["type"].endswith("/signature-invalid")
    assert pilot.post("clerk", path, {}).status_code == 422
    assert pilot.system.app.store.head().size == size


def test_a_submission_is_idempotent_and_a_prepared_event_is_the_preparers(pilot: Program) -> None:
    private = _client_person(pilot, "clerk")
    _client_person(pilot, "other")
    prepared = _prepare(pilot, "clerk")
    assert _prepare(pilot, "clerk") == prepared  # the same key prepares the same event
    signature = base64.b64encode(
        private.sign(base64.b64decode(str(prepared["event_bytes"])))
    ).decode()
    path = f"/v1/prepared/{prepared['prepared_id']}/signature"
    # Another person cannot submit it, even with the right signature.
    assert pilot.post("other", path, {"signature": signature}).status_code == 404
    first = pilot.post("clerk", path, {"signature": signature}, key="submit-1")
    size = pilot.system.app.store.head().size
    again = pilot.post("clerk", path, {"signature": signature}, key="submit-1")
    assert again.json() == first.json() and pilot.system.app.store.head().size == size
    # A second submission under a new key cannot write the event twice.
    twice = pilot.post("clerk", path, {"signature": signature}, key="submit-2")
    assert twice.status_code in (404, 409, 422), twice.text  # written: forgotten, or a conflict
    assert pilot.system.app.store.head().size == size
