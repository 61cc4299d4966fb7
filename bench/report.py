"""Printing a figure beside its baseline."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

ROWS: list[str] = []


def line(
    name: str, ours: float, baseline: float, unit: str, goal: str, *, ratio: float | None = None
) -> None:
    ratio = ours / baseline if ratio is None else ratio
    text = (
        f"{name:<52} ledger {ours:>12,.1f} {unit:<10} baseline {baseline:>12,.1f} {unit:<10}"
        f" ratio {ratio:5.2f}x  (goal {goal})"
    )
    ROWS.append(text)
    print(text, flush=True)


def absolute(name: str, value: float, unit: str, goal: str) -> None:
    text = f"{name:<52} ledger {value:>12,.3f} {unit:<10} (goal {goal})"
    ROWS.append(text)
    print(text, flush=True)


@contextmanager
def timer() -> Iterator[Callable[[], float]]:
    start = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    end.append(time.perf_counter())
