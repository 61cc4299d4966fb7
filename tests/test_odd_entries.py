"""A database administrator writes odd bytes into an entry's stored state: every command
meets them with a finding or one line, never a traceback.

`cmpp verify` (of the database, or of a bundle exported from it) reports a check-2
finding at that seq and exits 1; a writer refuses with the altered-log error; the
projections stop at that seq with one line, their batch rolled back (or, with
--verified, refuse with the verifier's findings). Each odd state, on both backends.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from domain.application import CMPPApplication
from ledger import canonical
from ledger.export import export_bundle
from ledger.replay import AlteredLogError
from projections.db import ProjectionDB
from tests.cli_support import BUNDLE_TO_OIG, cli_env, fast_settings
from tests.helpers import RawDatabase
from tests.pilot import open_pilot
from tools import console
from tools.cli import app

SEQ = 5  # an entry well inside the log: entry 0 is the trust anchor, tested apart
DEPTH = 100_000
ODD = {
    "deep nesting": b"[" * DEPTH,
    # Sealable, so read past the splice: the nesting is met by the parser itself.
    "deep nesting in the event": b'{"event":{"data":' + b"[" * DEPTH + b"]" * DEPTH + b"}"
    b',"sig":"AAAA"}',
    "a list": b"[1,2,3]",
    "event a list": b'{"event":[1],"sig":"AAAA"}',
    "event missing": b'{"sig":"AAAA"}',
    "not UTF-8": b"\xff\xfe\x00\x80",
    "empty": b"",
    "a huge string": b'"' + b"x" * 3_000_000 + b'"',
    "a number past int()'s digits": b"7" * 5000,
    "a lone surrogate": b'{"event":{"data":"\\ud800"},"sig":"AAAA"}',
}
IDS = list(ODD)


def invoke(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def no_traceback(result: Result) -> str:
    shown = result.output + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"raised {result.exception!r}\n{shown}"
    )
    assert "Traceback" not in shown, shown
    return shown


def one_line(result: Result) -> str:
    """Exit 2 with one line, `error: …`, and nothing else."""
    shown = no_traceback(result)
    assert result.exit_code == 2, shown
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and result.stdout == "", shown
    return line


def check2_seqs(result: Result) -> set[int | None]:
    """The seqs check 2 (canonical entries) names in `verify --json`'s report."""
    no_traceback(result)
    assert result.exit_code == 1, result.output
    checks = json.loads(result.stdout)["checks"]
    return {f["seq"] for f in next(c for c in checks if c["number"] == 2)["findings"]}


def make_ledger(url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A small pilot ledger, made and filled by `cmpp` itself; not yet projected."""
    monkeypatch.setattr(console, "load_settings", fast_settings)
    env = cli_env(url, data_dir)
    for args in (["init"], ["demo", "--participants", "1", "--seed", "3"]):
        result = invoke(env, *args)
        assert result.exit_code == 0, result.output
    return env


@pytest.fixture
def ledger_env(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    return make_ledger(database_url, tmp_path / "var", monkeypatch)


def _positions(url: str) -> dict[str, int]:
    db = ProjectionDB(url)
    try:
        if not db.table_exists("projection_positions"):
            return {}
        return {r["name"]: r["position"] for r in db.query("SELECT * FROM projection_positions")}
    finally:
        db.close()


@pytest.mark.parametrize("odd", IDS)
def test_an_odd_state_is_a_finding_or_one_line_everywhere(
    ledger_env: dict[str, str], tmp_path: Path, odd: str
) -> None:
    env, url = ledger_env, ledger_env["CMPP_DATABASE_URL"]
    RawDatabase(url).set_state(SEQ, ODD[odd])

    # The auditor: a finding at that seq, and the rest of the log still checked.
    assert SEQ in check2_seqs(invoke(env, "verify", "--json"))
    text = invoke(env, "verify")
    assert text.exit_code == 1 and f"seq {SEQ}" in no_traceback(text)

    # A writer: refuses, naming the entry.
    line = one_line(invoke(env, "keys", "register", "--holder", "org:cws", "--role", "grantee"))
    assert "altered" in line and f"entry {SEQ} " in line

    # The projections: stop at the entry, nothing of the batch kept.
    line = one_line(invoke(env, "balances"))
    assert f"entry {SEQ} " in line and "altered" in line and "cmpp verify" in line
    positions = _positions(url)
    assert positions and set(positions.values()) == {0}  # entries 0 to SEQ-1 rolled back
    refused = invoke(env, "balances", "--verified")
    assert refused.exit_code == 1 and "REFUSED" in no_traceback(refused)

    # An export is recorded before it leaves, and a writer refuses this log: no bundle
    # leaves by the command line, and it says why.
    bundle = tmp_path / "bundle"
    line = one_line(invoke(env, *BUNDLE_TO_OIG, str(bundle)))
    assert "altered" in line and f"entry {SEQ} " in line and not bundle.exists()
    # An offline auditor with a bundle of it (written by the library, unrecorded, as the
    # database's own copy would be): the same finding.
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        with console.system(read_only=True) as ledger:
            root_id = ledger.app.opening["data"]["root_key"]["key_id"]
            export_bundle(ledger.app.store, ledger.log, root_id, bundle)
    assert SEQ in check2_seqs(invoke(env, "verify", "--bundle", str(bundle), "--json"))
    text = invoke(env, "verify", "--bundle", str(bundle))
    assert text.exit_code == 1 and f"seq {SEQ}" in no_traceback(text)


@pytest.mark.parametrize("odd", ["deep nesting in the event", "a list", "not UTF-8"])
def test_projections_already_built_are_checked_and_rebuilt_to_one_line(
    ledger_env: dict[str, str], odd: str
) -> None:
    env, url = ledger_env, ledger_env["CMPP_DATABASE_URL"]
    assert invoke(env, "balances").exit_code == 0  # the projections, built from the good log
    RawDatabase(url).set_state(SEQ, ODD[odd])
    # What they stored stays as it was; rebuilding them apart meets the entry.
    assert invoke(env, "balances").exit_code == 0
    line = one_line(invoke(env, "projections", "check"))
    assert f"entry {SEQ} " in line and "altered" in line
    line = one_line(invoke(env, "projections", "rebuild"))
    assert f"entry {SEQ} " in line and "altered" in line
    line = one_line(invoke(env, "vault", "sweep"))
    assert f"entry {SEQ} " in line and "altered" in line


@pytest.mark.parametrize("odd", ["deep nesting in the event", "a list", "event missing"])
def test_an_odd_entry_0_is_one_line_for_writers_projections_and_exports(
    ledger_env: dict[str, str], tmp_path: Path, odd: str
) -> None:
    env = ledger_env
    RawDatabase(env["CMPP_DATABASE_URL"]).set_state(0, ODD[odd])
    line = one_line(invoke(env, "keys", "register", "--holder", "org:cws", "--role", "grantee"))
    assert "altered" in line and "entry 0 " in line
    assert "entry 0 " in one_line(invoke(env, "balances"))
    line = one_line(
        invoke(
            env,
            *BUNDLE_TO_OIG,
            str(tmp_path / "bundle"),
        )
    )
    assert "altered" in line and "entry 0 " in line
    assert not (tmp_path / "bundle").exists()


def test_a_state_sqlite_holds_as_text_is_read_as_its_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite keeps the type written into a column: text set by hand is not bytes."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    env = make_ledger(url, tmp_path / "var", monkeypatch)
    raw = RawDatabase(url)
    oid, version = raw.event_key(SEQ)
    for value in ("not an entry", 10**15):
        raw.execute(
            "UPDATE {events} SET state = ? WHERE originator_id = ? AND originator_version = ?",
            (value, oid, version),
        )
        assert SEQ in check2_seqs(invoke(env, "verify", "--json"))
        line = one_line(invoke(env, "keys", "register", "--holder", "org:cws", "--role", "grantee"))
        assert f"entry {SEQ} " in line
        assert f"entry {SEQ} " in one_line(invoke(env, "balances"))


def test_an_aggregate_read_before_the_replay_refuses_an_odd_event(database_url: str) -> None:
    """A command adding to a stream reads its events before a writer replays the log."""
    pilot = open_pilot(database_url)
    who = pilot.enrol()
    app: CMPPApplication = pilot.app
    raw = RawDatabase(database_url)
    enrolled = next(
        seq for seq in range(app.store.head().size) if b"ParticipantEnrolled" in raw.state(seq)
    )
    raw.set_state(enrolled, b'{"event":[1],"sig":"AAAA"}')
    with pytest.raises(AlteredLogError, match="is not a signed event"):
        pilot.consent(who, ["case_management"])
    pilot.system.close()


def test_an_entry_whose_data_is_not_as_declared_stops_the_projections_in_one_line(
    ledger_env: dict[str, str],
) -> None:
    """Well-formed bytes, the wrong data for its type (no writer could have made it):
    the projection that reads it says so, rather than failing on a missing member."""
    env, url = ledger_env, ledger_env["CMPP_DATABASE_URL"]
    raw = RawDatabase(url)
    size = int(raw.execute("SELECT size FROM ledger_head")[0][0])
    seq = next(
        s for s in range(size) if json.loads(raw.state(s))["event"]["type"] == "funds.AwardMade"
    )
    value = json.loads(raw.state(seq))
    value["event"]["data"] = {}
    raw.set_state(seq, canonical.dumps(value))
    line = one_line(invoke(env, "balances"))
    assert f"entry {seq} " in line and "not as its type declares" in line and "altered" in line
