"""The report commands as people run them: balances, replay, reconcile, projections."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from projections import balances
from tests.cli_support import cli_env
from tools.cli import app as cli


@pytest.fixture
def ledger_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    env = cli_env(database_url, tmp_path / "var")
    for args in (["init"], ["demo", "--participants", "25", "--seed", "3"]):
        result = CliRunner().invoke(cli, args, env=env)
        assert result.exit_code == 0, result.output
    return env


def run(env: dict[str, str], *args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if "--json" in args else result


def test_balances_now_and_as_of(ledger_env: dict[str, str]) -> None:
    now = run(ledger_env, "balances", "--json")
    assert now["as_of_seq"] is None and len(now["awards"]) == 8
    early = run(ledger_env, "balances", "--at-seq", "40", "--json")
    assert early["as_of_seq"] == 40
    assert sum(a["disbursed"] for a in early["awards"]) <= sum(
        a["disbursed"] for a in now["awards"]
    )
    replayed = run(ledger_env, "replay", "--at-seq", "40", "--json")
    assert replayed["balances"] == early
    run(ledger_env, "replay", code=2)  # needs a moment
    run(ledger_env, "balances", "--at-seq", "999999", code=2)
    run(ledger_env, "balances", "--as-of", "yesterday", code=2)
    assert run(ledger_env, "balances", "--as-of", "1999-01-01", code=2).output.count("nothing")


def test_projections_status_rebuild_and_digest(ledger_env: dict[str, str]) -> None:
    first = run(ledger_env, "projections", "digest", "--json")
    status = run(ledger_env, "projections", "status", "--json")
    assert all(row["lag"] == 0 for row in status.values())
    run(ledger_env, "projections", "rebuild")
    assert run(ledger_env, "projections", "digest", "--json") == first
    run(ledger_env, "projections", "rebuild", "nonesuch", code=2)


def _bank_file(env: dict[str, str]) -> list[list[str]]:
    from projections.db import ProjectionDB

    db = ProjectionDB(env["CMPP_DATABASE_URL"])
    rows = db.query(
        "SELECT payment_ref, paid_on, amount_cents, reversed_seq FROM bal_disbursements"
        " ORDER BY payment_ref"
    )
    db.close()
    return [
        [
            r["payment_ref"],
            r["paid_on"],
            str(r["amount_cents"]),
            "grantee",
            "reversed" if r["reversed_seq"] is not None else "",
        ]
        for r in rows
    ]


def test_reconcile_finds_each_kind_of_difference(
    ledger_env: dict[str, str], tmp_path: Path
) -> None:
    run(ledger_env, "balances", "--json")  # projected
    payments = _bank_file(ledger_env)
    sent = [p for p in payments if not p[4]]
    reversed_one = next(p for p in payments if p[4])
    csv = tmp_path / "payments.csv"

    def write(rows: list[list[str]]) -> None:
        csv.write_text(
            "payment_ref,paid_on,amount_cents,payee\n"
            + "".join(",".join(r[:4]) + "\n" for r in rows)
        )

    write(sent)
    assert run(ledger_env, "reconcile", str(csv), "--json")["clean"]

    changed = [list(r) for r in sent]
    changed[0][2] = str(int(changed[0][2]) + 1)  # amount mismatch
    dropped = changed.pop(1)  # missing from the bank file
    changed.append(["NOT-IN-LEDGER", "2023-05-01", "100", "someone"])
    changed.append(list(changed[2]))  # a duplicate line
    changed.append(reversed_one)  # the bank paid what the ledger reversed
    write(changed)
    result = run(ledger_env, "reconcile", str(csv), "--json", code=1)
    refs = {k: [r["payment_ref"] for r in v] for k, v in result.items() if isinstance(v, list)}
    assert refs["mismatched"] == [sent[0][0]]
    assert refs["missing_from_bank"] == [dropped[0]]
    assert refs["missing_from_ledger"] == ["NOT-IN-LEDGER"]
    assert refs["duplicates"] == [sent[3][0]]
    assert refs["paid_after_reversal"] == [reversed_one[0]]
    assert result["totals"]["matched"]["count"] == len(sent) - 2


@pytest.mark.parametrize(
    ("content", "line"),
    [
        ("ref,date,amount,payee\n", "line 1"),
        ("payment_ref,paid_on,amount_cents,payee\nP-1,2023-01-01,12.50,x\n", "line 2"),
        (
            "payment_ref,paid_on,amount_cents,payee\nP-1,2023-01-01,1250,x\nP-2,01/02/2023,5,x\n",
            "line 3",
        ),
    ],
)
def test_a_malformed_payment_file_names_its_line(
    ledger_env: dict[str, str], tmp_path: Path, content: str, line: str
) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text(content)
    result = run(ledger_env, "reconcile", str(csv), code=2)
    assert line in result.output and "Traceback" not in result.output


def test_seq_at_picks_the_last_entry_by_then(ledger_env: dict[str, str]) -> None:
    from projections.db import ProjectionDB

    run(ledger_env, "projections", "status", "--json")
    run(ledger_env, "balances", "--json")  # projected
    db = ProjectionDB(ledger_env["CMPP_DATABASE_URL"])
    rows = db.query("SELECT seq, at FROM log_index ORDER BY seq")
    db.close()
    middle = rows[len(rows) // 2]
    db = ProjectionDB(ledger_env["CMPP_DATABASE_URL"])
    assert balances.seq_at(db, middle["at"]) >= middle["seq"]  # type: ignore[operator]
    db.close()


def test_a_report_at_seq_reads_no_later_entry(ledger_env: dict[str, str]) -> None:
    from projections.db import ProjectionDB

    db = ProjectionDB(ledger_env["CMPP_DATABASE_URL"])
    assert not db.table_exists("projection_positions")  # `demo` writes; it does not project
    db.close()
    early = run(ledger_env, "balances", "--at-seq", "30", "--json")
    db = ProjectionDB(ledger_env["CMPP_DATABASE_URL"])
    positions = {r["name"]: r["position"] for r in db.query("SELECT * FROM projection_positions")}
    db.close()
    assert set(positions.values()) == {31}  # entries 0..30, and not one more
    assert run(ledger_env, "balances", "--at-seq", "30", "--json") == early
    run(ledger_env, "balances", "--json")  # now everything
    assert run(ledger_env, "balances", "--at-seq", "30", "--json") == early
