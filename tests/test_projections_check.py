"""`cmpp projections check`: every stored row is compared with a rebuild from the log, and
each row that differs (changed, missing, or made by no entry) is named; exit 1 if any."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from projections.balances import LogIndex
from projections.check import check_projections
from projections.db import ProjectionDB
from projections.runner import Projector
from projections.scratch import every_projection
from tests.cli_support import cli_env
from tests.helpers import RawDatabase
from tests.pilot import demo_system
from tools.cli import app as cli


@pytest.fixture
def demo_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """`cmpp demo`'s pilot, not yet projected."""
    env = cli_env(database_url, tmp_path / "var")
    for args in (["init"], ["demo", "--participants", "25", "--seed", "3"]):
        result = CliRunner().invoke(cli, args, env=env)
        assert result.exit_code == 0, result.output
    return env


@pytest.fixture
def ledger_env(demo_env: dict[str, str]) -> dict[str, str]:
    """The pilot, with every projection caught up."""
    run(demo_env, "balances", "--json")
    return demo_env


def run(env: dict[str, str], *args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if "--json" in args else result


def positions(env: dict[str, str]) -> dict[str, int]:
    rows = RawDatabase(env["CMPP_DATABASE_URL"]).execute(
        "SELECT name, position FROM projection_positions"
    )
    return {str(name): int(position) for name, position in rows}


def test_projections_as_built_match_the_log(ledger_env: dict[str, str]) -> None:
    before = positions(ledger_env)
    result = run(ledger_env, "projections", "check", "--json")
    assert result["match"] and result["differences"] == [] and result["not_built"] == []
    assert {n: p["position"] for n, p in result["projections"].items()} == before
    tables = result["projections"]["balances"]["tables"]
    assert tables["bal_disbursements"]["rows"] > 0
    assert all(t["differences"] == 0 for t in tables.values())
    assert result["projections"]["log_index"]["tables"]["log_index"]["rows"] == before["log_index"]
    shown = run(ledger_env, "projections", "check")
    assert "PROJECTIONS MATCH THE LOG" in shown.output
    assert positions(ledger_env) == before  # a check reads: it projects nothing


def test_nothing_projected_is_nothing_to_compare(demo_env: dict[str, str]) -> None:
    result = run(demo_env, "projections", "check", "--json")
    assert result["match"] and result["projections"] == {}
    assert sorted(result["not_built"]) == sorted(p.name for p in every_projection())


def test_a_changed_amount_is_named(ledger_env: dict[str, str]) -> None:
    raw = RawDatabase(ledger_env["CMPP_DATABASE_URL"])
    award, disbursement, amount = raw.execute(
        "SELECT award_id, disbursement_id, amount_cents FROM bal_disbursements"
        " ORDER BY award_id, disbursement_id LIMIT 1"
    )[0]
    raw.execute(
        "UPDATE bal_disbursements SET amount_cents = ? WHERE award_id = ? AND disbursement_id = ?",
        (amount + 100, award, disbursement),
    )
    result = run(ledger_env, "projections", "check", "--json", code=1)
    assert not result["match"]
    [found] = result["differences"]
    assert (found["projection"], found["table"], found["kind"]) == (
        "balances",
        "bal_disbursements",
        "changed",
    )
    assert found["key"] == {"award_id": award, "disbursement_id": disbursement}
    assert found["columns"] == ["amount_cents"]
    assert (found["stored"]["amount_cents"], found["rebuilt"]["amount_cents"]) == (
        amount + 100,
        amount,
    )
    assert result["projections"]["balances"]["tables"]["bal_disbursements"]["differences"] == 1
    shown = run(ledger_env, "projections", "check", code=1).output
    assert f"bal_disbursements (award_id='{award}', disbursement_id='{disbursement}')" in shown
    assert f"amount_cents stored {amount + 100}, rebuilt {amount}" in shown
    assert "DIFFERENCES FOUND: 1" in shown


def test_a_deleted_row_and_an_inserted_row_are_named(ledger_env: dict[str, str]) -> None:
    raw = RawDatabase(ledger_env["CMPP_DATABASE_URL"])
    seq, award, amount = raw.execute(
        "SELECT seq, award_id, amount_cents FROM bal_movements ORDER BY seq LIMIT 1 OFFSET 3"
    )[0]
    raw.execute("DELETE FROM bal_movements WHERE seq = ?", (seq,))
    raw.execute(
        "INSERT INTO case_complaints VALUES (?, ?)", ("C-FORGED", "P-NOBODY")
    )  # no entry made it
    result = run(ledger_env, "projections", "check", "--json", code=1)
    by_kind = {d["kind"]: d for d in result["differences"]}
    assert sorted(by_kind) == ["missing", "unexpected"]
    missing, unexpected = by_kind["missing"], by_kind["unexpected"]
    assert (missing["table"], missing["key"], missing["stored"]) == (
        "bal_movements",
        {"seq": seq},
        None,
    )
    assert (missing["rebuilt"]["award_id"], missing["rebuilt"]["amount_cents"]) == (award, amount)
    assert (unexpected["table"], unexpected["key"], unexpected["rebuilt"]) == (
        "case_complaints",
        {"complaint_id": "C-FORGED"},
        None,
    )
    assert unexpected["stored"] == {"complaint_id": "C-FORGED", "participant_id": "P-NOBODY"}
    shown = run(ledger_env, "projections", "check", code=1).output
    assert f"bal_movements (seq={seq}): missing from the stored projection" in shown
    assert "case_complaints (complaint_id='C-FORGED'): stored, but the log makes no such row" in (
        shown
    )


def test_a_projection_of_another_version_is_named(ledger_env: dict[str, str]) -> None:
    raw = RawDatabase(ledger_env["CMPP_DATABASE_URL"])
    raw.execute("UPDATE projection_positions SET version = 999 WHERE name = 'oversight'")
    result = run(ledger_env, "projections", "check", "--json", code=1)
    [found] = result["differences"]
    assert (found["projection"], found["kind"]) == ("oversight", "projection")
    assert "version 999" in found["message"]


def test_each_projection_is_compared_at_its_own_position(database_url: str, tmp_path: Path) -> None:
    system = demo_system(database_url, tmp_path, participants=10, seed=4)
    store = system.app.store
    db = ProjectionDB(database_url)
    try:
        Projector(store, db, every_projection()).catch_up(stop=30)
        Projector(store, db, [LogIndex()]).catch_up(stop=80)  # one projection further on
        result = check_projections(store, db)
        assert result.ok and not result.not_built
        assert result.positions == {
            "balances": 30,
            "log_index": 80,
            "case_history": 30,
            "oversight": 30,
        }
        assert result.rows["log_index"] == 80
        db.execute("UPDATE log_index SET at = ? WHERE seq = 79", ("2000-01-01T00:00:00.000000Z",))
        [found] = check_projections(store, db).differences
        assert (found.table, found.key, found.columns) == ("log_index", {"seq": 79}, ["at"])
        assert found.stored["seq"] == 79 and found.stored["at"] == "2000-01-01T00:00:00.000000Z"
    finally:
        db.close()
        system.close()


def test_projections_stored_past_a_truncated_log_are_named(ledger_env: dict[str, str]) -> None:
    raw = RawDatabase(ledger_env["CMPP_DATABASE_URL"])
    size = positions(ledger_env)["log_index"]
    for seq in (size - 1, size - 2):
        raw.delete_entry(seq)
    result = run(ledger_env, "projections", "check", "--json", code=1)
    whole = {d["projection"]: d["message"] for d in result["differences"] if not d["table"]}
    assert sorted(whole) == sorted(p.name for p in every_projection())
    assert all(
        f"stored from {size} entries, but the log holds only {size - 2}" in m
        for m in (whole.values())
    )
    rows = [d for d in result["differences"] if d["table"] == "log_index"]
    assert [(d["kind"], d["key"]) for d in rows] == [
        ("unexpected", {"seq": size - 2}),
        ("unexpected", {"seq": size - 1}),
    ]
