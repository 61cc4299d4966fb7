"""Figures a decision rests on come from the verified log (issue 10).

`reconcile` and `sf425` verify the log and answer from a rebuild of exactly the verified
entries, unless told `--unverified`; `balances --verified` does the same. An edited
projection row fools only the unverified answer; an edited log is refused; an entry
edited or written between verifying and rebuilding cannot slip in. Answers as of an
entry or an instant say exactly which entries they rest on.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from domain.organisations import Organisation
from ledger.hashing import b64encode
from ledger.note import Checkpoint
from ledger.report import Check
from ledger.store import iter_leaves
from projections.reports import Reports
from projections.scratch import scratch_db
from projections.verified import LogNotVerifiedError, rebuild_verified, verify_for_figures
from tests.helpers import RawDatabase
from tests.pilot import Pilot, fund, open_pilot
from tests.test_projections_check import demo_env, ledger_env, run

__all__ = ["demo_env", "ledger_env"]  # fixtures, shared


def bank_file(env: dict[str, str], path: Path, *, more_for: int = 0) -> list[list[Any]]:
    """The payments the bank made: each disbursement not reversed, the first `more_for`
    paid one cent more than the ledger says."""
    rows = RawDatabase(env["CMPP_DATABASE_URL"]).execute(
        "SELECT payment_ref, paid_on, amount_cents FROM bal_disbursements"
        " WHERE reversed_seq IS NULL ORDER BY payment_ref"
    )
    payments = [
        [ref, on, int(cents) + (1 if n < more_for else 0)]
        for n, (ref, on, cents) in enumerate(rows)
    ]
    path.write_text(
        "payment_ref,paid_on,amount_cents,payee\n"
        + "".join(f"{ref},{on},{cents},grantee\n" for ref, on, cents in payments)
    )
    return payments


def latest_checkpoint(env: dict[str, str]) -> Checkpoint:
    note = run(env, "checkpoint", "--json")["checkpoint"]
    return Checkpoint.parse_text(note.split("\n\n")[0] + "\n")


def test_an_edited_projection_fools_only_the_unverified_answer(
    ledger_env: dict[str, str], tmp_path: Path
) -> None:
    csv = tmp_path / "payments.csv"
    [(ref, _on, bank_cents), *_] = bank_file(ledger_env, csv, more_for=1)
    honest = run(ledger_env, "reconcile", str(csv), "--json", code=1)  # verified by default
    assert [r["payment_ref"] for r in honest["mismatched"]] == [ref]
    checkpoint = latest_checkpoint(ledger_env)
    assert honest["basis"]["verified"] is True
    assert honest["basis"]["entries"] == checkpoint.size
    assert honest["basis"]["last_seq"] == checkpoint.size - 1
    assert honest["basis"]["root"] == b64encode(checkpoint.root)
    assert honest["basis"]["uncovered_entries"] == 0
    # Someone with the database's password hides the difference in the stored rows.
    RawDatabase(ledger_env["CMPP_DATABASE_URL"]).execute(
        "UPDATE bal_disbursements SET amount_cents = ? WHERE payment_ref = ?", (bank_cents, ref)
    )
    fooled = run(ledger_env, "reconcile", str(csv), "--unverified", "--json")
    assert fooled["clean"] and fooled["basis"]["verified"] is False
    assert "UNVERIFIED" in run(ledger_env, "reconcile", str(csv), "--unverified").output
    [found] = run(ledger_env, "projections", "check", "--json", code=1)["differences"]
    assert (found["table"], found["columns"]) == ("bal_disbursements", ["amount_cents"])
    assert found["stored"]["payment_ref"] == ref
    for flag in ((), ("--verified",)):
        assert run(ledger_env, "reconcile", str(csv), *flag, "--json", code=1) == honest
    shown = run(ledger_env, "reconcile", str(csv), code=1).output
    assert shown.startswith(f"VERIFIED: answered from entries 0–{checkpoint.size - 1}")
    assert f"mismatched: {ref}" in shown and "DIFFERENCES FOUND" in shown


def test_the_sf425_is_answered_from_the_verified_log(ledger_env: dict[str, str]) -> None:
    verified = run(ledger_env, "sf425", "--json")
    unverified = run(ledger_env, "sf425", "--unverified", "--json")
    assert verified["basis"]["verified"] and not unverified["basis"]["verified"]
    assert verified["awards"] == unverified["awards"] and verified["totals"] == unverified["totals"]
    balances = run(ledger_env, "balances", "--verified", "--json")
    assert balances["basis"] == verified["basis"]
    assert [a["sf425"] for a in balances["awards"]] == [a["sf425"] for a in verified["awards"]]
    assert verified["totals"]["10b"] == sum(a["expended"] for a in balances["awards"])
    # An expenditure's amount edited in the stored rows moves only the stored answers.
    raw = RawDatabase(ledger_env["CMPP_DATABASE_URL"])
    seq = raw.execute("SELECT MIN(seq) FROM bal_movements WHERE field = 'expended'")[0][0]
    raw.execute("UPDATE bal_movements SET amount_cents = amount_cents + 500 WHERE seq = ?", (seq,))
    assert run(ledger_env, "sf425", "--json") == verified
    stored = run(ledger_env, "sf425", "--unverified", "--json")
    assert stored["totals"]["10b"] == verified["totals"]["10b"] + 500
    assert run(ledger_env, "balances", "--json")["basis"]["verified"] is False  # its default
    shown = run(ledger_env, "sf425").output
    assert shown.startswith("SF-425 now\nVERIFIED: answered from entries 0–")


def test_a_tampered_log_is_refused(ledger_env: dict[str, str], tmp_path: Path) -> None:
    csv = tmp_path / "payments.csv"
    bank_file(ledger_env, csv)
    raw = RawDatabase(ledger_env["CMPP_DATABASE_URL"])
    store_rows = raw.execute("SELECT seq FROM bal_disbursements ORDER BY seq LIMIT 1")
    seq = int(store_rows[0][0])
    state = raw.state(seq)
    assert b'"amount_cents":' in state
    raw.set_state(seq, state.replace(b'"amount_cents":', b'"amount_cents":1', 1))
    for command in (["reconcile", str(csv)], ["sf425"], ["balances", "--verified"]):
        refused = run(ledger_env, *command, "--json", code=1)
        assert refused["verified"] is False and "REFUSED" in refused["refused"]
        assert refused["verification"]["verified"] is False
        seqs = {f["seq"] for c in refused["verification"]["checks"] for f in c["findings"]}
        assert seq in seqs
        shown = run(ledger_env, *command, code=1).output
        assert "FAILED" in shown and "REFUSED: the log does not verify" in shown
        assert "VERIFIED: answered" not in shown
    # Answered from the stored rows only when asked, and labelled so.
    assert run(ledger_env, "reconcile", str(csv), "--unverified", "--json")["basis"] == {
        "verified": False,
        "source": "the stored projections",
        "statement": "UNVERIFIED: answered from the stored projections, not checked against"
        " the log (--verified rebuilds them from the verified log)",
    }


def small_ledger(url: str) -> Pilot:
    pilot = open_pilot(url)
    award = fund(pilot)
    for n in range(3):
        pilot.pay(award, f"D-{n}", 1_000_00 * (n + 1), "2022-11-01")
    pilot.log.checkpoint()
    return pilot


@pytest.mark.parametrize("change", ["edit", "delete the last", "delete one"])
def test_an_entry_changed_between_verifying_and_rebuilding_is_refused(
    database_url: str, change: str
) -> None:
    pilot = small_ledger(database_url)
    store = pilot.app.store
    verification = verify_for_figures(store)
    raw = RawDatabase(database_url)
    last = store.head().size - 1  # the last payment, D-2
    if change == "edit":
        edited = raw.state(last).replace(b'"amount_cents":300000', b'"amount_cents":300001')
        raw.set_state(last, edited)
    else:
        raw.delete_entry(last if change == "delete the last" else last - 1)
    with scratch_db() as scratch, pytest.raises(LogNotVerifiedError) as caught:
        rebuild_verified(store, verification, scratch)
    [finding] = caught.value.report.findings[Check.ROOT]
    assert "the log changed between verifying and rebuilding" in finding.message
    assert not caught.value.report.ok
    pilot.system.close()


def test_an_entry_written_after_verifying_is_left_out(database_url: str) -> None:
    pilot = small_ledger(database_url)
    store = pilot.app.store
    verification = verify_for_figures(store)
    pilot.pay("A-2022-007", "D-LATE", 5_00, "2022-11-02")
    assert store.head().size == verification.size + 1
    with scratch_db() as scratch:
        projector = rebuild_verified(store, verification, scratch)
        assert set(projector.positions().values()) == {verification.size}
        [award] = Reports(projector).balances()["awards"]
        assert award["disbursed"] == 6_000_00  # D-0, D-1, D-2; not D-LATE
        assert set(projector.positions().values()) == {verification.size}  # nor later
    pilot.system.close()


def dated(data: dict[str, Any], moment: datetime) -> Organisation:
    """An organisation registered, its event stamped `moment` instead of now."""
    aggregate = Organisation.open(dict(data))
    for event in aggregate.pending_events:
        object.__setattr__(event, "timestamp", moment)
    return aggregate


def expected_basis(ats: list[str], seq: int, instant: str | None = None) -> dict[str, Any]:
    """What an answer as of entry `seq` (cut at `instant`) rests on, counted from the log."""
    basis: dict[str, Any] = {
        "first_seq": 0,
        "last_seq": seq,
        "entries": seq + 1,
        "last_at": ats[seq],
        "latest_at": max(ats[: seq + 1]),
    }
    if instant is not None:
        basis["as_of"] = instant
        basis["log_size"] = len(ats)
        basis["recorded_after_as_of"] = sum(at > instant for at in ats[: seq + 1])
    return basis


def test_as_of_answers_say_which_entries_they_rest_on(database_url: str, tmp_path: Path) -> None:
    pilot = small_ledger(database_url)
    now = datetime.now(UTC)
    organisation = {"org_id": "org:skewed", "name": "Skewed", "kind": "grantee", "uei": None}
    # A writer whose clock is 290 s behind: within the 300 s the format allows.
    pilot.app.save(dated(organisation, now - timedelta(seconds=290)), signer=pilot.board)
    skewed = pilot.app.store.head().size - 1
    pilot.pay("A-2022-007", "D-3", 1_00, "2022-11-03")
    pilot.log.checkpoint()
    ats = [json.loads(leaf)["event"]["at"] for _, leaf in iter_leaves(pilot.app.store)]
    instant = ats[skewed]
    cut = max(seq for seq, at in enumerate(ats) if at <= instant)
    assert cut == skewed and ats[cut - 1] > instant  # entries before it were recorded later
    env = {"CMPP_DATABASE_URL": database_url, "CMPP_DATA_DIR": str(tmp_path)}
    expected = expected_basis(ats, cut, instant)
    assert expected["recorded_after_as_of"] == cut  # every earlier entry, here
    for flag in ("--unverified", "--verified"):
        answer = run(env, "balances", "--as-of", instant, flag, "--json")
        rests_on = answer.pop("rests_on")
        statement = rests_on.pop("statement")
        assert rests_on == expected and answer["as_of_seq"] == cut
        assert statement.startswith(
            f"entries 0–{cut} ({cut + 1} entries), the last recorded at {instant}, "
            f"the latest at {expected['latest_at']}; every one of the log's first "
            f"{len(ats)} entries recorded by {instant} is among them, and {cut} of them were"
            " recorded after it"
        )
        shown = run(env, "balances", "--as-of", instant, flag).output
        assert f"as of: {statement}" in shown
    for seq in (3, skewed, len(ats) - 1):
        for command in (["balances"], ["sf425"], ["oversight"], ["replay"]):
            answer = run(env, *command, "--at-seq", str(seq), "--json")
            assert {k: v for k, v in answer["rests_on"].items() if k != "statement"} == (
                expected_basis(ats, seq)
            )
        replayed = run(env, "replay", "--at-seq", str(seq), "--json")
        assert replayed["balances"]["rests_on"] == replayed["rests_on"]
    pilot.system.close()
