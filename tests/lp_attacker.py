"""The attacker of released tables: every published count and total a linear equation,
every suppressed cell a variable, and for each suppressed cell the smallest and largest
value the equations allow (SciPy's HiGHS). Written apart from projections.suppression,
from the released grid alone."""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import linprog

TOTAL = "total"
Cell = tuple[str, str]


def feasible_ranges(
    shown: dict[Cell, int | None], rows: list[str], columns: list[str], floor: int
) -> dict[Cell, tuple[float, float]]:
    """Each suppressed (None) cell's range; `rows` and `columns` exclude the totals, which
    `shown` holds under TOTAL. Suppressed cells are taken to be at least `floor`."""
    cells = sorted(shown)
    at = {cell: n for n, cell in enumerate(cells)}
    equations = [([(r, c) for c in columns], (r, TOTAL)) for r in [*rows, TOTAL]]
    equations += [([(r, c) for r in rows], (TOTAL, c)) for c in [*columns, TOTAL]]
    a_eq = np.zeros((len(equations), len(cells)))
    for n, (parts, whole) in enumerate(equations):
        for part in parts:
            a_eq[n, at[part]] += 1
        a_eq[n, at[whole]] -= 1
    bounds = [(v, v) if v is not None else (floor, None) for v in (shown[c] for c in cells)]
    found = {}
    for cell, value in shown.items():
        if value is not None:
            continue
        extremes = []
        for sense in (1, -1):
            objective = np.zeros(len(cells))
            objective[at[cell]] = sense
            result = linprog(objective, A_eq=a_eq, b_eq=np.zeros(len(equations)), bounds=bounds)
            assert result.status in (0, 3), result.message  # the true figures are feasible
            extremes.append(math.inf if result.status == 3 else sense * result.fun)
        found[cell] = (extremes[0], extremes[1])
    return found
