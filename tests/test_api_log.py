"""The log over HTTP: a checkpoint that verifies with the log's key, proofs that verify
against it, each entry only to those entitled to it, and the inspector's bundle."""

from __future__ import annotations

import json
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger import canonical, merkle, transparency
from ledger.entry import read_event
from ledger.hashing import b64decode, b64encode
from ledger.note import Checkpoint, VerifierKey
from ledger.signing import Signer
from ledger.tlog_proof import verify_tlog_proof
from tests.api_support import PEOPLE, Program, fund, program

PROBLEM = "application/problem+json"
AS_OF = "CMPP-As-Of-Seq"
EVERYONE = [name for name, _org, _role in PEOPLE]


@pytest.fixture
def pilot(database_url: str, tmp_path: Path) -> Iterator[Program]:
    with program(database_url, tmp_path / "data") as p:
        yield p


def _appropriate(p: Program, year: int) -> int:
    """Record an appropriation; its seq."""
    made = p.post(
        "board",
        "/v1/appropriations",
        {
            "appropriation_id": f"FY{year}",
            "fiscal_year": year,
            "public_law": "P.L. 117-103",
            "amount_cents": 15_000_000_00,
            "available_until": f"{year + 2}-09-30",
        },
    )
    assert made.status_code == 201, made.text
    return int(made.json()["seq"])


def _checkpoint(p: Program, who: str = "public") -> tuple[Checkpoint, dict[str, Any]]:
    """The API's latest checkpoint, verified with the log's own key (entry 0's)."""
    got = p.get(who, "/v1/checkpoint")
    assert got.status_code == 200, got.text
    body = got.json()
    key = VerifierKey.parse(body["verifier_key"])
    assert key == p.system.app.log_verifier_key
    checkpoint = Checkpoint.open(body["note"], key)
    assert (checkpoint.size, b64encode(checkpoint.root)) == (body["size"], body["root"])
    assert got.headers[AS_OF] == str(checkpoint.size - 1)
    return checkpoint, body


def _seqs(p: Program) -> dict[str, list[int]]:
    """The seqs of the log's entries, by event type."""
    found: dict[str, list[int]] = {}
    for seq, _prev, state in p.system.app.store.read_rows(0, 10_000):
        assert state is not None
        found.setdefault(read_event(state)["type"], []).append(seq)
    return found


def _problem(response: Any, status: int, rule: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"].endswith(f"/{rule}"), body
    return body


def test_the_checkpoint_is_the_whole_log_signed_by_its_key(pilot: Program) -> None:
    for who in EVERYONE:
        checkpoint, _body = _checkpoint(pilot, who)
        assert checkpoint.size == pilot.system.app.store.head().size
    # The log grows: the next checkpoint, issued as it is asked for, covers it.
    seq = _appropriate(pilot, 2023)
    later, _body = _checkpoint(pilot)
    assert later.size == seq + 1 == pilot.system.app.store.head().size
    assert pilot.client.get("/v1/checkpoint").status_code == 401


def test_an_entry_and_its_proof_verify_against_the_checkpoint(pilot: Program) -> None:
    seq = _appropriate(pilot, 2022)
    checkpoint, body = _checkpoint(pilot)
    key = VerifierKey.parse(body["verifier_key"])
    got = pilot.get("public", f"/v1/entries/{seq}")
    assert got.status_code == 200, got.text
    assert got.headers[AS_OF] == str(checkpoint.size - 1)
    entry = got.json()
    # The leaf is the entry's exact canonical bytes; `entry` is them parsed.
    leaf = b64decode(entry["leaf"])
    assert canonical.dumps(entry["entry"]) == leaf and entry["entry"]["seq"] == seq
    assert entry["entry"]["event"]["type"] == "funds.AppropriationRecorded"
    # Its proof is the one /v1/proofs/inclusion gives, and the CLI's `prove inclusion`.
    proof = entry["inclusion"]
    asked = pilot.get("oig", "/v1/proofs/inclusion", seq=seq, size=checkpoint.size)
    assert asked.status_code == 200 and asked.json() == proof
    assert asked.headers[AS_OF] == str(checkpoint.size - 1)
    assert pilot.get("oig", "/v1/proofs/inclusion", seq=seq).json() == proof  # the latest
    assert transparency.inclusion(pilot.system.log, seq, checkpoint.size) == proof
    # Recomputed from the bytes given, up the audit path, to the signed root.
    proved = Checkpoint.open(proof["checkpoint"], key)
    assert proved == checkpoint and proof["tree_size"] == checkpoint.size
    assert b64decode(proof["leaf_hash"]) == merkle.leaf_hash(leaf)
    path = [b64decode(p) for p in proof["proof"]]
    merkle.verify_inclusion(seq, proved.size, merkle.leaf_hash(leaf), path, proved.root)
    # The same as a C2SP tlog-proof, with the entry's line, as `cmpp verify-entry` reads it.
    assert verify_tlog_proof(entry["tlog_proof"], leaf + b"\n", key) == checkpoint


def test_a_consistency_proof_joins_two_checkpoints(pilot: Program) -> None:
    first, body = _checkpoint(pilot)
    key = VerifierKey.parse(body["verifier_key"])
    fund(pilot)
    second, _body = _checkpoint(pilot)
    assert first.size < second.size
    got = pilot.get("crcl", "/v1/proofs/consistency", first=first.size, second=second.size)
    assert got.status_code == 200, got.text
    assert got.headers[AS_OF] == str(second.size - 1)
    proof = got.json()
    assert (proof["old_size"], proof["new_size"]) == (first.size, second.size)
    assert Checkpoint.open(proof["old_checkpoint"], key) == first
    assert Checkpoint.open(proof["new_checkpoint"], key) == second
    path = [b64decode(p) for p in proof["proof"]]
    merkle.verify_consistency(first.size, second.size, first.root, second.root, path)
    assert transparency.consistency(pilot.system.log, first.size, second.size) == proof
    # Without `second`: to the latest.
    latest = pilot.get("public", "/v1/proofs/consistency", first=first.size)
    assert latest.status_code == 200 and latest.json() == proof


def test_bad_proof_parameters_are_problems(pilot: Program) -> None:
    fund(pilot)
    latest, _body = _checkpoint(pilot)
    issued = {size for size, _note in pilot.system.app.store.checkpoints()}
    # A size no checkpoint was issued for: the API signs no tree size a caller picks.
    unissued = next(n for n in range(2, latest.size) if n not in issued)
    refused: list[tuple[str, dict[str, object]]] = [
        ("/v1/proofs/inclusion", {"seq": latest.size}),
        ("/v1/proofs/inclusion", {"seq": 0, "size": unissued}),
        ("/v1/proofs/inclusion", {"seq": 0, "size": latest.size + 1}),
        ("/v1/proofs/inclusion", {"seq": 0, "size": 0}),
        ("/v1/proofs/inclusion", {"seq": 3, "size": 1}),
        ("/v1/proofs/consistency", {"first": 0, "second": latest.size}),
        ("/v1/proofs/consistency", {"first": latest.size, "second": 1}),
        ("/v1/proofs/consistency", {"first": unissued}),
        ("/v1/proofs/consistency", {"first": 1, "second": latest.size + 1}),
    ]
    for path, params in refused:
        detail = _problem(pilot.get("public", path, **params), 422, "proof-request")["detail"]
        assert "Traceback" not in detail
    invalid: list[tuple[str, dict[str, object]]] = [
        ("/v1/proofs/inclusion", {}),
        ("/v1/proofs/inclusion", {"seq": -1}),
        ("/v1/proofs/inclusion", {"seq": "x"}),
        ("/v1/proofs/inclusion", {"seq": 0, "size": 2**63}),
        ("/v1/proofs/inclusion", {"seq": 10**30}),
        ("/v1/proofs/consistency", {"first": 1, "second": -2}),
        ("/v1/proofs/consistency", {"first": "1.5"}),
        ("/v1/proofs/consistency", {"second": 3}),
    ]
    for path, params in invalid:
        _problem(pilot.get("public", path, **params), 422, "validation")
    assert pilot.client.get("/v1/proofs/inclusion", params={"seq": 0}).status_code == 401
    assert pilot.get("public", "/v1/entries/-1").status_code == 422
    assert pilot.get("public", f"/v1/entries/{2**64}").status_code == 422


def _enrol(p: Program) -> None:
    """A case event of the IRC's, signed by its grantee's own key."""
    me = p.get("irc", "/v1/me").json()
    p.system.app.enrol_participant(
        Signer(p.system.keys.load(me["key_id"])),
        enrolled_on="2023-01-09",
        referral_source="ice_ero",
        language="es",
        age_band="35-44",
        gender="female",
        nationality="PE",
        pii={"name": "A. Tester"},
    )


def _without_seq(problem: dict[str, Any], seq: int) -> dict[str, Any]:
    """A problem about entry `seq`, with the seq taken out of what names it."""
    return {
        member: value.replace(f"entry {seq} ", "entry N ").replace(f"/{seq}", "/N")
        if member in ("detail", "instance")
        else value
        for member, value in problem.items()
    }


def test_entries_are_shown_only_to_those_entitled(pilot: Program) -> None:
    fund(pilot)
    spend = {
        "expenditure_id": "E-1",
        "category": "personnel",
        "amount_cents": 10_00,
        "incurred_on": "2023-03-01",
    }
    assert pilot.post("irc", "/v1/awards/A-2022-007/expenditures", spend).status_code == 201
    _enrol(pilot)
    seqs = _seqs(pilot)
    one = {
        kind: seqs[kind][0]
        for kind in (
            "ledger.LedgerOpened",
            "ledger.KeyRegistered",
            "org.OrganisationRegistered",
            "funds.AppropriationRecorded",
            "funds.ExpenditureReported",
            "case.ParticipantEnrolled",
        )
    }
    everything = set(one)
    money_and_keys = {k for k in one if k.split(".")[0] in ("funds", "ledger")}
    entitled = {
        "oig": everything,
        "crcl": everything,
        "board": everything - {"case.ParticipantEnrolled"},
        "cws": everything - {"case.ParticipantEnrolled"},
        "irc": {"funds.ExpenditureReported", "case.ParticipantEnrolled"},  # org:irc's own
        "baker": set(),
        "public": money_and_keys,
    }
    size = pilot.system.app.store.head().size
    for who, kinds in entitled.items():
        for kind, seq in one.items():
            # A case entry is read with a purpose (and the read recorded); others need none.
            params = {"purpose": "audit"} if kind.startswith("case.") else {}
            got = pilot.get(who, f"/v1/entries/{seq}", **params)
            if kind in kinds:
                assert got.status_code == 200, (who, kind, got.text)
                assert got.json()["entry"]["event"]["type"] == kind
                continue
            # Not theirs to see: the very answer an entry past the log's end gets.
            hidden = _problem(got, 404, "not-found")
            missing = _problem(pilot.get(who, f"/v1/entries/{size + 7}"), 404, "not-found")
            assert _without_seq(hidden, seq) == _without_seq(missing, size + 7), (who, kind)
            assert kind not in got.text and "org:" not in got.text


def test_a_server_without_the_log_key_hands_out_the_latest_issued(
    pilot: Program, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued, _body = _checkpoint(pilot)
    monkeypatch.setattr(pilot.system, "holds_log_key", lambda: False)
    seq = _appropriate(pilot, 2024)
    stored = pilot.system.app.store.checkpoints()
    checkpoint, _body = _checkpoint(pilot)
    assert checkpoint == issued and seq >= issued.size
    assert pilot.system.app.store.checkpoints() == stored  # nothing signed
    # Proofs and entries, against what was issued; the entry not yet covered is not there.
    assert pilot.get("public", "/v1/proofs/inclusion", seq=0).json()["tree_size"] == issued.size
    assert pilot.get("oig", "/v1/entries/0").status_code == 200
    _problem(pilot.get("oig", f"/v1/entries/{seq}"), 404, "not-found")
    # A bundle needs a checkpoint of the whole log, which only the log key could issue.
    _problem(pilot.get("oig", "/v1/bundle"), 503, "checkpoint-not-issued")


def test_the_inspector_downloads_a_bundle_that_verifies(
    pilot: Program, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fund(pilot)
    # The server's temporary files go here, to be seen gone once the bundle is sent.
    scratch = tmp_path / "server-tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    size = pilot.system.app.store.head().size  # the log the bundle holds
    got = pilot.get("oig", "/v1/bundle")
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "application/gzip"
    assert got.headers[AS_OF] == str(size - 1)
    # Recorded as exported, in the entry after the last it holds (or after the system
    # key's registration, made for the first record).
    assert int(got.headers["CMPP-Export-Seq"]) in (size, size + 1)
    assert pilot.system.app.store.head().size == int(got.headers["CMPP-Export-Seq"]) + 1
    assert f'filename="cmpp-bundle-{size}.tar.gz"' in got.headers["content-disposition"]
    assert list(scratch.iterdir()) == []
    archive = tmp_path / "bundle.tar.gz"
    archive.write_bytes(got.content)
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    bundle = tmp_path / "unpacked" / f"cmpp-bundle-{size}"
    key = VerifierKey.parse(pilot.get("oig", "/v1/checkpoint").json()["verifier_key"])
    report = pilot.system.verify(bundle=bundle, trusted_key=key)
    assert report.ok, report.lines()
    assert json.loads((bundle / "manifest.json").read_text())["size"] == size
    for who in EVERYONE:
        if who != "oig":
            _problem(pilot.get(who, "/v1/bundle"), 403, "permission")
    assert pilot.client.get("/v1/bundle").status_code == 401


def test_every_route_says_what_it_answers(pilot: Program) -> None:
    paths = pilot.client.get("/openapi.json").json()["paths"]
    for path in (
        "/v1/checkpoint",
        "/v1/proofs/inclusion",
        "/v1/proofs/consistency",
        "/v1/entries/{seq}",
        "/v1/bundle",
    ):
        answer = paths[path]["get"]["responses"]["200"]
        assert AS_OF in answer["headers"], path
        assert answer["content"], path
    bundle = paths["/v1/bundle"]["get"]["responses"]["200"]["content"]
    assert "application/gzip" in bundle
