"""The months a chart of money over time is drawn against: every one, none skipped."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from projections.movements import _months_between

MONTHS = st.tuples(st.integers(2000, 2100), st.integers(1, 12)).map(
    lambda ym: f"{ym[0]:04d}-{ym[1]:02d}"
)


@given(MONTHS, MONTHS)
def test_every_month_from_the_first_to_the_last_once_in_order(a: str, b: str) -> None:
    first, last = min(a, b), max(a, b)
    months = _months_between(first, last)
    assert months[0] == first and months[-1] == last
    span = 12 * (int(last[:4]) - int(first[:4])) + int(last[5:]) - int(first[5:]) + 1
    assert len(months) == len(set(months)) == span
    assert months == sorted(months)
    assert all(1 <= int(m[5:]) <= 12 for m in months)
