"""A FOIA release, as the requester receives it and checks it.

The story: the program answers FOIA-2026-0001 with a release of public money as of an
entry. Every money entry is there whole with its inclusion proof; the CSV rows are
their figures; the control totals are the balances' at that entry; no case entry and
no participant id is in any file; the release is recorded as a disclosure. The
requester checks it with the log's key alone, and every edit is caught."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from domain import catalogue as c
from ledger.entry import read_event
from ledger.note import VerifierKey
from projections.foia_money import MONEY_FILES
from projections.foia_verify import verify_release
from projections.system import System
from tests.api_support import fund, program
from tests.cli_support import cli_env, fast_settings
from tools import console
from tools.cli import app

REQUEST = "FOIA-2026-0001"


def invoke(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _rehash(release: Path, name: str) -> None:
    """An editor covering their tracks: the manifest names the edited file's new hash."""
    manifest = json.loads((release / "manifest.json").read_text())
    manifest["files"][name] = hashlib.sha256((release / name).read_bytes()).hexdigest()
    (release / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture
def ledger(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, str], str]:
    monkeypatch.setattr(console, "load_settings", fast_settings)
    env = cli_env(database_url, tmp_path / "var")
    vkey = _json(invoke(env, "init", "--json"))["log_vkey"]
    assert invoke(env, "demo", "--participants", "8", "--seed", "4").exit_code == 0
    return env, vkey


def test_a_release_holds_public_money_whole_and_checks_with_the_key_alone(
    ledger: tuple[dict[str, str], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env, vkey = ledger
    note = _json(invoke(env, "checkpoint", "--json"))["checkpoint"]
    size = int(note.split("\n")[1])
    at_seq = size * 2 // 3
    release = tmp_path / "release"
    made = invoke(
        env, "export", "foia", str(release), "--request", REQUEST, "--at-seq", str(at_seq)
    )
    assert made.exit_code == 0, made.output
    manifest = json.loads((release / "manifest.json").read_text())
    assert manifest["as_of_seq"] == at_seq and manifest["request"] == REQUEST
    # It says what ties it to the log: the entry, the checkpoint, the manifest's digest.
    digest = hashlib.sha256((release / "manifest.json").read_bytes()).hexdigest()
    assert f"as of entry {at_seq}" in made.stdout and f"sha256:{digest}" in made.stdout
    assert f"checkpoint {manifest['tree_size']} (root {manifest['root']})" in made.stdout

    # Every money entry up to the entry, whole; nothing else.
    with monkeypatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        system = System(console.load_settings())
        rows = system.app.store.read_rows(0, at_seq + 1)
        system.close()
    events = {seq: read_event(state) for seq, _prev, state in rows if state is not None}
    money = sorted(seq for seq, e in events.items() if e["type"] in MONEY_FILES)
    lines = (release / "entries.jsonl").read_bytes().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == money
    # No participant's id, and no case entry, anywhere in the release.
    participants = {
        e["data"]["participant_id"] for e in events.values() if e["type"] == c.PARTICIPANT_ENROLLED
    }
    assert participants
    for path in release.rglob("*"):
        if path.is_file():
            held = path.read_bytes()
            assert not [p for p in participants if p.encode() in held], path.name
            assert b'"type":"case.' not in held, path.name

    # Control totals: the balances' at the same entry.
    balances = _json(invoke(env, "balances", "--at-seq", str(at_seq), "--json"))
    assert manifest["control_totals"] == balances["control_totals"]
    # Recorded as a disclosure, to the request, with the manifest's SHA-256.
    [disclosure] = _json(invoke(env, "disclosures", "--json"))["rows"]
    assert (disclosure["kind"], disclosure["recipient"]) == ("foia", REQUEST)
    assert (
        disclosure["sha256"] == hashlib.sha256((release / "manifest.json").read_bytes()).hexdigest()
    )

    # The requester's check: it verifies with the key, and only with it.
    assert _json(invoke(env, "verify-foia", str(release), "--trusted-key", vkey, "--json"))[
        "verified"
    ]
    wrong = vkey[:-4] + ("AAAA" if not vkey.endswith("AAAA") else "BBBB")
    assert invoke(env, "verify-foia", str(release), "--trusted-key", wrong).exit_code in (1, 2)


@pytest.mark.parametrize("edit", ["csv amount", "entry amount", "file added", "manifest totals"])
def test_every_edit_of_a_release_is_caught(
    ledger: tuple[dict[str, str], str], tmp_path: Path, edit: str
) -> None:
    env, vkey = ledger
    release = tmp_path / "release"
    assert invoke(env, "export", "foia", str(release), "--request", REQUEST).exit_code == 0
    if edit == "csv amount":
        path = release / "money" / "disbursements.csv"
        head, first, *rest = path.read_text().splitlines()
        cells = first.split(",")
        cells[4] = "1.00"
        path.write_text("\n".join([head, ",".join(cells), *rest]) + "\n")
        _rehash(release, "money/disbursements.csv")
    elif edit == "entry amount":
        path = release / "entries.jsonl"
        path.write_bytes(path.read_bytes().replace(b'"amount_cents":', b'"amount_cents":9', 1))
        _rehash(release, "entries.jsonl")
    elif edit == "file added":
        (release / "notes.txt").write_text("added later")
    else:
        manifest = json.loads((release / "manifest.json").read_text())
        kind = next(iter(manifest["control_totals"]))
        manifest["control_totals"][kind]["cents"] += 1
        (release / "manifest.json").write_text(json.dumps(manifest))
    checked = invoke(env, "verify-foia", str(release), "--trusted-key", vkey, "--json")
    assert checked.exit_code == 1, checked.output
    assert json.loads(checked.stdout)["problems"]


def test_a_release_is_refused_without_a_request_number_and_leaves_nothing(
    ledger: tuple[dict[str, str], str], tmp_path: Path
) -> None:
    env, _vkey = ledger
    for request in ("Jane Doe", "FOIA-26-1", ""):
        refused = invoke(env, "export", "foia", str(tmp_path / "r"), "--request", request)
        assert refused.exit_code == 2 and refused.stderr.startswith("error: ")
    assert not (tmp_path / "r").exists()
    assert _json(invoke(env, "disclosures", "--json"))["exports"] == 0
    missing = invoke(env, "verify-foia", str(tmp_path / "nowhere"), "--trusted-key", _vkey)
    assert missing.exit_code == 2


def test_the_public_downloads_a_release_that_checks_and_is_recorded(tmp_path: Path) -> None:
    with program(f"sqlite:///{tmp_path / 'ledger.sqlite3'}", tmp_path / "data") as p:
        fund(p)
        answer = p.client.get(
            "/v1/foia-release", params={"request": REQUEST}, headers=p.headers("public")
        )
        assert answer.status_code == 200, answer.text
        seq = int(answer.headers["CMPP-Export-Seq"])
        with tarfile.open(fileobj=io.BytesIO(answer.content), mode="r:gz") as tar:
            tar.extractall(tmp_path / "got", filter="data")
        [release] = (tmp_path / "got").iterdir()
        key = VerifierKey.parse(str(p.system.app.log_verifier_key))
        assert verify_release(release, key) == []
        [row] = p.get("crcl", "/v1/disclosures").json()["rows"]
        assert (row["seq"], row["kind"], row["recipient"]) == (seq, "foia", REQUEST)
        bad = p.client.get(
            "/v1/foia-release", params={"request": "Jane Doe"}, headers=p.headers("public")
        )
        assert bad.status_code == 422
        assert p.get("crcl", "/v1/disclosures").json()["exports"] == 1
