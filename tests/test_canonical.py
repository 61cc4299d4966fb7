"""The fast canonical encoder gives exactly the bytes of the reference RFC 8785 one."""

from __future__ import annotations

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from ledger import canonical

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-canonical.MAX_SAFE_INTEGER, max_value=canonical.MAX_SAFE_INTEGER)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_dumps_equals_rfc8785(value: object) -> None:
    assert canonical.dumps(value) == rfc8785.dumps(value)


@given(json_values)
def test_loads_accepts_canonical_bytes_and_round_trips(value: object) -> None:
    data = canonical.dumps(value)
    assert canonical.loads(data) == value


def test_keys_that_sort_differently_by_utf16_use_the_reference() -> None:
    value = {"\U0001f600": 1, "\ufb01": 2}  # astral vs high-BMP: UTF-16 order differs
    assert canonical.dumps(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    "data",
    [
        b'{"b":1,"a":2}',
        b'{"a": 1}',
        b'{"a":1.5}',
        b'{"a":1e3}',
        b"[NaN]",
        b'{"a":1,"a":1}',
        b'{"a":"\\u0041"}',
        b"\xff",
        b'{"a":9007199254740993}',
    ],
)
def test_loads_refuses_what_is_not_canonical(data: bytes) -> None:
    with pytest.raises(canonical.CanonicalError):
        canonical.loads(data)


def test_dumps_refuses_floats_and_big_integers() -> None:
    for bad in (1.5, 2**53, {"a": [float("nan")]}):
        with pytest.raises(canonical.CanonicalError):
            canonical.dumps(bad)
