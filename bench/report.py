"""Printing a figure beside its baseline, and writing them all to BENCHMARKS.md."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


@dataclass(frozen=True)
class Row:
    name: str
    ours: float
    unit: str
    goal: str
    baseline: float | None = None
    ratio: float | None = None

    def __str__(self) -> str:
        if self.baseline is None:
            return f"{self.name:<52} ledger {self.ours:>12,.3f} {self.unit:<10} (goal {self.goal})"
        return (
            f"{self.name:<52} ledger {self.ours:>12,.1f} {self.unit:<10} baseline "
            f"{self.baseline:>12,.1f} {self.unit:<10} ratio {self.ratio:5.2f}x  (goal {self.goal})"
        )


ROWS: list[Row] = []


def line(
    name: str, ours: float, baseline: float, unit: str, goal: str, *, ratio: float | None = None
) -> None:
    row = Row(name, ours, unit, goal, baseline, ours / baseline if ratio is None else ratio)
    ROWS.append(row)
    print(row, flush=True)


def absolute(name: str, value: float, unit: str, goal: str) -> None:
    row = Row(name, value, unit, goal)
    ROWS.append(row)
    print(row, flush=True)


def write_markdown(command: str) -> None:
    """BENCHMARKS.md: this run's figures, each beside its baseline from the same run."""
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}. Each baseline was "
        "measured in the same run (plain eventsourcing, raw Ed25519 and SHA-256, raw "
        "reads of the log, or a full replay); the ratio is ours over the baseline.",
        "",
        "| measure | ledger | baseline | ratio | goal |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for row in ROWS:
        baseline = "" if row.baseline is None else f"{row.baseline:,.1f} {row.unit}"
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}x"
        ours = f"{row.ours:,.3f}" if row.baseline is None else f"{row.ours:,.1f}"
        lines.append(f"| {row.name} | {ours} {row.unit} | {baseline} | {ratio} | {row.goal} |")
    BENCHMARKS.write_text("\n".join(lines) + "\n")


@contextmanager
def timer() -> Iterator[Callable[[], float]]:
    start = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    end.append(time.perf_counter())
