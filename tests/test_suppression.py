"""Suppression that holds: an attacker solving a released table as a linear program
cannot narrow any hidden cell below a range of 10.

The attacker (tests.lp_attacker) is written apart from projections.suppression: every
cell of the released grid (margins included) is a variable, a published one fixed at
its value, a hidden one free from its lower bound up; every row and every column of the
table, with its total, is an equation."""

from __future__ import annotations

import copy
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.suppression import MIN_WIDTH, SMALL, Table, protect
from tests.lp_attacker import feasible_ranges

Cell = tuple[str, str]


def attack(table: Table, floor: int) -> dict[Cell, tuple[float, float]]:
    return feasible_ranges(table.shown(), table.rows, table.columns, floor)


def _table(grid: list[list[int]]) -> Table:
    rows = [f"grantee-{i}" for i in range(len(grid))]
    columns = [f"2024-Q{j + 1}" if j < 4 else f"q{j}" for j in range(len(grid[0]))]
    counts = {(r, c): grid[i][j] for i, r in enumerate(rows) for j, c in enumerate(columns)}
    return Table("participants enrolled", rows, columns, counts)


def test_hiding_the_small_cells_alone_is_undone_by_subtraction() -> None:
    """Why complements are needed: with only the 1-10 cells hidden, the attacker pins
    one down exactly."""
    table = _table([[3, 40, 25], [30, 50, 60]])
    table.hidden = {("grantee-0", "2024-Q1")}
    [(low, high)] = attack(table, floor=0).values()
    assert low == high == 3


COUNTS = st.sampled_from([0, 0, 0, 1, 2, 3, 5, 8, 10, 11, 12, 15, 24, 40, 75, 300])
GRIDS = st.integers(1, 5).flatmap(
    lambda rows: st.integers(1, 7).flatmap(
        lambda columns: st.lists(
            st.lists(COUNTS, min_size=columns, max_size=columns), min_size=rows, max_size=rows
        )
    )
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(GRIDS)
def test_no_hidden_cell_can_be_narrowed_below_ten(grid: list[list[int]]) -> None:
    table = protect(_table(grid))
    figures = table.grid()
    # Every count from 1 to 10 is hidden, margins included; no zero is hidden.
    assert {c for c, v in figures.items() if 1 <= v <= SMALL} <= table.hidden
    assert all(figures[cell] > 0 for cell in table.hidden)
    # The attacker, knowing hidden cells are not zero, and not even knowing that.
    for floor in (1, 0):
        for cell, (low, high) in attack(table, floor).items():
            assert high - low >= MIN_WIDTH - 1e-6, (cell, figures[cell], low, high)
            assert low <= figures[cell] <= high
    # The same table is always hidden the same way.
    assert protect(copy.deepcopy(_table(grid))).hidden == table.hidden


def test_a_table_of_small_counts_only_is_hidden_whole() -> None:
    table = protect(_table([[2, 3], [1, 4]]))
    assert table.hidden == set(table.grid())  # the grand total, 10, is small too
    assert all(high == math.inf for _low, high in attack(table, 1).values())
