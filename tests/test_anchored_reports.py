"""Reports anchored to the signed log, and recomputed from a bundle alone.

Each report names the entry it reflects, the first checkpoint covering it and a digest
of what it says. An inspector general with an audit bundle recomputes balances and the
oversight view as of an entry, without the database, and gets the same digest; a
bundle that does not verify answers no figure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from ledger.hashing import b64encode
from ledger.note import Checkpoint
from projections import anchors
from projections import reports as reports_module
from projections.system import System
from tests.api_support import fund, program
from tests.cli_support import BUNDLE_TO_OIG, cli_env, fast_settings
from tools import console
from tools.cli import app


def invoke(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _figures(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k not in ("anchor", "basis", "rests_on")}


FIGURES = st.recursive(
    st.integers(-(10**12), 10**12) | st.text(max_size=8) | st.none() | st.booleans(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(
    st.dictionaries(st.text(min_size=1, max_size=8), FIGURES, min_size=1, max_size=6),
    st.integers(0, 10**9),
)
def test_the_digest_is_of_the_figures_and_the_entry_not_of_how_they_were_asked(
    report: dict[str, Any], seq: int
) -> None:
    report = {k: v for k, v in report.items() if k not in anchors.NOT_DIGESTED}
    first = anchors.digest(report, seq)
    # Members in another order, and how it was answered, change nothing.
    shuffled = dict(reversed(list(report.items())))
    asked = {**shuffled, "rests_on": {"x": 1}, "basis": "b", "as_of_seq": seq, "scope": "p"}
    assert anchors.digest(asked, seq) == first
    # Another entry, or any figure changed, is another digest.
    assert anchors.digest(report, seq + 1) != first
    key = next(iter(report))
    assert anchors.digest({**report, key: [report[key]]}, seq) != first


def test_a_bundle_gives_the_live_reports_digest_and_a_bad_bundle_no_figure(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console, "load_settings", fast_settings)
    env = cli_env(database_url, tmp_path / "var")
    vkey = _json(invoke(env, "init", "--json"))["log_vkey"]  # the key the auditor trusts
    for args in (["demo", "--participants", "12", "--seed", "6"], ["checkpoint"]):
        assert invoke(env, *args).exit_code == 0
    bundle = tmp_path / "bundle"
    assert invoke(env, *BUNDLE_TO_OIG, str(bundle)).exit_code == 0
    size = json.loads((bundle / "manifest.json").read_text())["size"]
    bundled_checkpoints = {
        int(p.stem): p.read_text() for p in (bundle / "checkpoints").glob("*.txt")
    } | {size: (bundle / "checkpoint.txt").read_text()}

    for at_seq in (size // 3, size - 1):
        for name, *extra in (
            ("balances",),
            ("sf425",),
            ("oversight",),
            ("oversight", "--suppressed"),
        ):
            live = _json(invoke(env, name, *extra, "--at-seq", str(at_seq), "--json"))
            offline = _json(
                invoke(
                    env,
                    "report",
                    name,
                    *extra,
                    "--bundle",
                    str(bundle),
                    "--trusted-key",
                    vkey,
                    "--at-seq",
                    str(at_seq),
                    "--json",
                )
            )
            assert offline["basis"]["verified"] is True
            assert live["anchor"] == offline["anchor"], (name, at_seq)
            assert _figures(live) == _figures(offline)
            anchor = live["anchor"]
            assert anchor["seq"] == at_seq
            covered = anchor["checkpoint"]
            assert covered is not None and covered["size"] > at_seq
            # The checkpoint named is one the bundle holds: its size and root.
            note = Checkpoint.parse_text(
                bundled_checkpoints[covered["size"]].split("\n\n")[0] + "\n"
            )
            assert (note.size, b64encode(note.root)) == (covered["size"], covered["root"])
            assert anchors.digest(live, at_seq) == anchor["digest"]

    # Text says the same: the entry, the checkpoint, the digest.
    text = invoke(env, "report", "balances", "--bundle", str(bundle), "--at-seq", str(size - 1))
    assert text.exit_code == 0 and f"reflects entry {size - 1}" in text.stdout
    assert "digest sha256:" in text.stdout and "VERIFIED" in text.stdout
    # Without a key to trust, it says where the key came from, as `cmpp verify` does.
    assert "pass --trusted-key to pin it" in text.stdout

    # One figure edited in the bundle: it does not verify, and no figure is answered.
    lines = (bundle / "entries.jsonl").read_bytes().split(b"\n")
    paid = next(
        i for i, line in enumerate(lines) if b'"amount_cents":' in line and b"Disbursement" in line
    )
    lines[paid] = lines[paid].replace(b'"amount_cents":', b'"amount_cents":1', 1)
    (bundle / "entries.jsonl").write_bytes(b"\n".join(lines))
    refused = invoke(env, "report", "balances", "--bundle", str(bundle), "--json")
    assert refused.exit_code == 1
    answer = json.loads(refused.stdout)
    assert answer["verified"] is False and "awards" not in answer
    missing = invoke(env, "report", "balances", "--bundle", str(tmp_path / "nowhere"))
    assert missing.exit_code == 2 and missing.stderr.startswith("error: ")


def test_a_grantees_share_of_the_balances_is_digested_as_shown(tmp_path: Path) -> None:
    with program(f"sqlite:///{tmp_path / 'ledger.sqlite3'}", tmp_path / "data") as p:
        fund(p)
        whole = p.get("cws", "/v1/balances").json()
        share = p.get("irc", "/v1/balances").json()
        assert whole["anchor"]["seq"] == share["anchor"]["seq"]
        assert whole["anchor"]["checkpoint"] == share["anchor"]["checkpoint"]
        for answer in (whole, share):
            assert anchors.digest(answer, answer["anchor"]["seq"]) == answer["anchor"]["digest"]
        assert share["anchor"]["digest"] != whole["anchor"]["digest"]


def _pay(p: Any, n: int) -> None:
    answer = p.post(
        "cws",
        "/v1/awards/A-2022-007/disbursements",
        {
            "disbursement_id": f"D-{n}",
            "amount_cents": 1000_00 * n,
            "payment_ref": f"PAY-{n}",
            "paid_on": "2023-01-15",
        },
    )
    assert answer.status_code == 201, answer.text


def test_a_report_now_is_anchored_to_the_entry_its_figures_reflect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was a defect: a projection worker in another process applied an entry while a
    report was answered "now", and the anchor named that later entry. The entry is now
    read first and the report reads nothing after it."""
    with program(f"sqlite:///{tmp_path / 'ledger.sqlite3'}", tmp_path / "data") as p:
        fund(p)
        _pay(p, 1)
        worker = System(p.system.settings)  # as `cmpp projections follow` would
        real = reports_module.balances.report
        fired: list[int] = []

        def worker_runs_meanwhile(db: Any, seq: Any) -> Any:
            if not fired:
                fired.append(1)
                _pay(p, 2)
                worker.reports.caught_up()
            return real(db, seq)

        monkeypatch.setattr(reports_module.balances, "report", worker_runs_meanwhile)
        now = p.system.reports.balances()
        monkeypatch.setattr(reports_module.balances, "report", real)
        worker.close()
        assert fired and now["as_of_seq"] is None
        then = p.system.reports.balances(at_seq=now["anchor"]["seq"])
        assert then["anchor"]["digest"] == now["anchor"]["digest"]
        assert [a["disbursed"] for a in now["awards"]] == [1000_00]


def test_a_replay_digest_stays_as_the_log_grows(tmp_path: Path) -> None:
    """Was a defect: a replay's digest covered its parts' own anchors and bases, so the
    same figures as of the same instant changed digest once the log grew."""
    with program(f"sqlite:///{tmp_path / 'ledger.sqlite3'}", tmp_path / "data") as p:
        fund(p)
        _pay(p, 1)
        reports = p.system.reports
        reports.caught_up()
        at = reports.rests_on(p.system.app.store.head().size - 1)["last_at"]
        first = reports.replay(as_of=at)
        _pay(p, 2)
        p.system.log.checkpoint()  # a checkpoint now covers the instant's entries too
        second = reports.replay(as_of=at)
        assert first["anchor"] == {**second["anchor"], "checkpoint": first["anchor"]["checkpoint"]}
        assert first["anchor"]["digest"] == second["anchor"]["digest"]
