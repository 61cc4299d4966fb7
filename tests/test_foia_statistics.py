"""The statistics of a FOIA release, attacked: on demo releases of several sizes and
seeds, every published table and total is written as linear equations, and no
suppressed cell can be narrowed to a range under 10 wide (tests.lp_attacker). The
cells are counts by grantee and quarter, with no finer date, and they add up."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from projections.foia_statistics import HIDDEN
from projections.suppression import MIN_WIDTH, SMALL, TOTAL
from tests.cli_support import cli_env, fast_settings
from tests.lp_attacker import Cell, feasible_ranges
from tools import console
from tools.cli import app


def invoke(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def _grid(path: Path) -> tuple[list[str], list[str], dict[Cell, int | None]]:
    header, *body = list(csv.reader(path.open()))
    columns = header[1:-1]
    assert header[0] == "grantee" and header[-1] == TOTAL
    assert all(re.fullmatch(r"\d{4}-Q[1-4]", q) for q in columns)  # quarters, never days
    shown: dict[Cell, int | None] = {}
    for row in body:
        for column, value in zip([*columns, TOTAL], row[1:], strict=True):
            shown[(row[0], column)] = None if value == HIDDEN else int(value)
    rows = [row[0] for row in body if row[0] != TOTAL]
    return rows, columns, shown


@pytest.mark.parametrize(("participants", "seed"), [(8, 4), (40, 7), (120, 11)])
def test_no_suppressed_cell_of_a_release_can_be_narrowed_below_ten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, participants: int, seed: int
) -> None:
    monkeypatch.setattr(console, "load_settings", fast_settings)
    env = cli_env(f"sqlite:///{tmp_path / 'ledger.sqlite3'}", tmp_path / "var")
    for args in (["init"], ["demo", "--participants", str(participants), "--seed", str(seed)]):
        assert invoke(env, *args).exit_code == 0
    release = tmp_path / "release"
    made = invoke(env, "export", "foia", str(release), "--request", "FOIA-2026-0007")
    assert made.exit_code == 0, made.output
    tables = sorted((release / "statistics").glob("*.csv"))
    assert len(tables) > 10
    hidden = 0
    for path in tables:
        if path.name == "program_totals.csv":
            for measure, count in list(csv.reader(path.open()))[1:]:
                assert count == HIDDEN or not 1 <= int(count) <= SMALL, measure
            continue
        rows, columns, shown = _grid(path)
        # Nothing small is shown, and what is shown adds up.
        assert not [c for c, v in shown.items() if v is not None and 1 <= v <= SMALL], path.name
        ranges = feasible_ranges(shown, rows, columns, floor=1)
        for cell, (low, high) in ranges.items():
            assert high - low >= MIN_WIDTH - 1e-6, (path.name, cell, low, high)
        hidden += len(ranges)
    withheld = {r[0]: r[3] for r in csv.reader((release / "withholding.csv").open())}
    programs = list(csv.reader((release / "statistics" / "program_totals.csv").open()))[1:]
    assert int(withheld["small counts"]) == hidden + sum(1 for _m, v in programs if v == HIDDEN)
    # Enough participants, and the total of enrolments is published, and right.
    _rows, _columns, enrolled = _grid(release / "statistics" / "participants_enrolled.csv")
    if participants >= 40:
        assert enrolled[(TOTAL, TOTAL)] == participants
    manifest = json.loads((release / "manifest.json").read_text())
    assert all(name in manifest["files"] for name in (f"statistics/{p.name}" for p in tables))
