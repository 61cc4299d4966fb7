"""Suppression of small counts in released tables, primary and complementary.

A table of counts (say, participants enrolled by grantee and quarter) is published
with its row totals, column totals and grand total. A count from 1 to 10 is hidden
(primary suppression). Hiding it is not enough: the totals and the other counts pin it
down by subtraction. So more cells are hidden (complementary suppression) until every
hidden cell, attacked as a linear program (every published count and total an equation,
every hidden cell a variable of at least 1, since zeros are published and never hidden),
can take values across a range at least 10 wide.

How: the table with its margins is a grid whose every row and column sums to zero once
the margins are negated, so adding t to the corners (r, c) and (i, j) of a rectangle and
taking t from (r, j) and (i, c) keeps every published figure. A narrow hidden cell gets
the cheapest rectangle through it (the fewest counts newly hidden) that makes its range
wide enough, as the linear program says; failing any, its whole row and column. Hiding
more only widens every range, so the loop ends, and the last audit checks every cell.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import product

import numpy as np
from scipy.optimize import linprog

from ledger.errors import UserError

SMALL = 10  # counts from 1 to SMALL are hidden
MIN_WIDTH = 10  # each hidden cell's feasible range: at least this wide
TOTAL = "total"  # the label of a table's total row and total column
RECTANGLES_TRIED = 60  # per narrow cell, cheapest first, before the fallback
SLACK = 1e-6  # the solver's arithmetic is floating point: a width of 9.9999999 is 10

Cell = tuple[str, str]  # (row, column); either may be TOTAL


class SuppressionError(UserError, RuntimeError):
    """The linear program failed (a table's figures do not add up, or the solver gave
    up): the release is not written."""

    rule = "suppression-failed"


@dataclass
class Table:
    """Counts by row and column; its margins are computed, and published with it."""

    name: str
    rows: list[str]
    columns: list[str]
    counts: dict[Cell, int]  # interior cells; a missing cell is 0
    hidden: set[Cell] = field(default_factory=set)

    def grid(self) -> dict[Cell, int]:
        """Every cell of the published grid, margins included."""
        grid = {(r, c): self.counts.get((r, c), 0) for r in self.rows for c in self.columns}
        for r in self.rows:
            grid[(r, TOTAL)] = sum(grid[(r, c)] for c in self.columns)
        for c in [*self.columns, TOTAL]:
            grid[(TOTAL, c)] = sum(grid[(r, c)] for r in self.rows)
        return grid

    def equations(self) -> list[tuple[list[Cell], Cell]]:
        """Each published total and the cells it adds up: (parts, whole)."""
        found = [([(r, c) for c in self.columns], (r, TOTAL)) for r in [*self.rows, TOTAL]]
        found += [([(r, c) for r in self.rows], (TOTAL, c)) for c in [*self.columns, TOTAL]]
        return found

    def shown(self) -> dict[Cell, int | None]:
        """The grid as released: None where a cell is hidden."""
        return {cell: None if cell in self.hidden else v for cell, v in self.grid().items()}


def ranges(table: Table, cells: Iterable[Cell] | None = None) -> dict[Cell, tuple[float, float]]:
    """Each hidden cell's smallest and largest value given what is published (math.inf:
    no bound), as an attacker solving the table's equations would find them."""
    return _Program(table.grid(), table.equations(), table.hidden).ranges(
        table.hidden if cells is None else cells
    )


def protect(table: Table) -> Table:
    """Hide the table's counts from 1 to SMALL, then complements, until every hidden
    cell's range is at least MIN_WIDTH wide; returns the table with `hidden` set."""
    grid = table.grid()
    hidden = {cell for cell, v in grid.items() if 1 <= v <= SMALL}
    equations = table.equations()
    narrow = set(hidden)
    while narrow:
        program = _Program(grid, equations, hidden)
        widths = {cell: hi - lo for cell, (lo, hi) in program.ranges(narrow).items()}
        narrow = {cell for cell, width in widths.items() if width < MIN_WIDTH - SLACK}
        if not narrow:
            break
        target = min(narrow, key=lambda cell: (grid[cell], cell))
        hidden |= _complement(table, grid, equations, hidden, target)
        narrow |= hidden - set(widths)  # newly hidden cells are audited too
    table.hidden = hidden
    return table


def _complement(
    table: Table,
    grid: dict[Cell, int],
    equations: list[tuple[list[Cell], Cell]],
    hidden: set[Cell],
    target: Cell,
) -> set[Cell]:
    """The cells to hide for `target`: the cheapest rectangle through it that widens it
    enough; else its whole row and column (every count in them that is not zero)."""
    r, c = target
    rows, columns = [*table.rows, TOTAL], [*table.columns, TOTAL]
    options = []
    for i, j in product(rows, columns):
        if i == r or j == c:
            continue
        corners = sorted({(r, j), (i, c), (i, j)} - hidden)
        if any(grid[cell] == 0 for cell in corners):
            continue  # a published zero cannot move: no rectangle through it
        options.append((sum(grid[cell] for cell in corners), corners))
    for _cost, corners in sorted(options)[:RECTANGLES_TRIED]:
        lo, hi = _Program(grid, equations, hidden | set(corners)).ranges([target])[target]
        if hi - lo >= MIN_WIDTH - SLACK:
            return set(corners)
    line = {(r, j) for j in columns} | {(i, c) for i in rows}
    return {cell for cell in line if grid[cell] > 0} - hidden or _everything(grid, hidden)


def _everything(grid: dict[Cell, int], hidden: set[Cell]) -> set[Cell]:
    return {cell for cell, v in grid.items() if v > 0} - hidden


class _Program:
    """The attacker's linear program over one table: the hidden cells are the variables
    (each at least 1), every total an equation, the published cells constants."""

    def __init__(
        self,
        grid: dict[Cell, int],
        equations: list[tuple[list[Cell], Cell]],
        hidden: set[Cell],
    ) -> None:
        self.index = {cell: n for n, cell in enumerate(sorted(hidden))}
        rows, rhs = [], []
        for parts, whole in equations:
            row = np.zeros(len(self.index))
            constant = 0
            for cell, sign in [*((p, 1) for p in parts), (whole, -1)]:
                if cell in self.index:
                    row[self.index[cell]] += sign
                else:
                    constant += sign * grid[cell]
            if row.any():
                rows.append(row)
                rhs.append(-constant)
        self.a_eq = np.array(rows) if rows else None
        self.b_eq = np.array(rhs) if rows else None

    def ranges(self, cells: Iterable[Cell]) -> dict[Cell, tuple[float, float]]:
        found = {}
        for cell in cells:
            found[cell] = (self._bound(cell, 1), -self._bound(cell, -1))
        return found

    def _bound(self, cell: Cell, sense: int) -> float:
        """min of sense·x[cell]."""
        objective = np.zeros(len(self.index))
        objective[self.index[cell]] = sense
        result = linprog(
            objective,
            A_eq=self.a_eq,
            b_eq=self.b_eq,
            bounds=[(1, None)] * len(self.index),
            method="highs",
        )
        if result.status == 3:  # unbounded: no limit in that direction
            return -math.inf
        if result.status != 0:
            raise SuppressionError(f"the table's linear program failed: {result.message}")
        return float(result.fun)
