"""Canonical JSON (RFC 8785, "JCS") as LEDGER_FORMAT.md section 1 defines it.

`rfc8785` is the reference. For the values this ledger holds (objects, arrays,
strings, integers below 2^53, booleans, null) the standard library's sorted,
compact `json.dumps` gives the same bytes, four times faster, except when an
object key sorts differently by UTF-16 code units than by code points; that can
only happen with characters outside the Basic Multilingual Plane, so any output
holding one goes through `rfc8785`. A property test holds the two together.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

MAX_SAFE_INTEGER = 2**53 - 1
_LONGEST_INTEGER = len(str(-MAX_SAFE_INTEGER))

_encode = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
).encode


class CanonicalError(ValueError):
    """A value that the ledger format cannot hold, or bytes that are not canonical."""


def dumps(value: Any) -> bytes:
    """The JCS bytes of a JSON value made of the types the ledger format allows."""
    _check_value(value)
    return _serialise(value)


def _serialise(value: Any) -> bytes:
    text = _encode(value)
    if not text.isascii() and any(ord(ch) > 0xFFFF for ch in text):
        return bytes(rfc8785.dumps(value))
    return text.encode("utf-8")


def loads(data: bytes) -> Any:
    """Parse bytes that MUST be canonical; raise CanonicalError otherwise, and nothing
    else: the bytes may be anyone's (a row an operator edited, a bundle's line), and a
    verifier or a writer reading them must report them, not crash on them."""
    try:
        value = _decode(data.decode("utf-8"))
        # Parsed JSON holds only JSON types, and the hooks above checked every number,
        # so the value needs no walk before re-serialising.
        serialised = _serialise(value)
    except RecursionError:  # the parser and the encoder recurse once per level
        raise CanonicalError("not a ledger value: nested too deep") from None
    except UnicodeEncodeError:  # JSON may escape a lone surrogate; UTF-8 cannot hold one
        raise CanonicalError("not a ledger value: a string holds a lone surrogate") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CanonicalError(f"not JSON: {exc}") from None
    if serialised != data:
        raise CanonicalError("not in canonical (RFC 8785) form")
    return value


def _safe_int(text: str) -> int:
    # Checked by its length first: int() refuses text of more than 4,300 digits with a
    # plain ValueError, and converting that many costs time for nothing.
    if len(text) > _LONGEST_INTEGER:
        raise CanonicalError(f"integer {text[:20]}… of {len(text)} characters is too large")
    number = int(text)
    if not -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER:
        raise CanonicalError(f"integer {text} is outside ±(2^53 - 1)")
    return number


def _refuse_non_integer(text: str) -> Any:
    raise CanonicalError(f"non-integer number {text!r}: the ledger format has no floats")


_decode = json.JSONDecoder(
    parse_float=_refuse_non_integer, parse_constant=_refuse_non_integer, parse_int=_safe_int
).decode


def _check_value(value: Any) -> None:
    # Iterative, dispatching on exact types first: this runs on every append.
    stack = [value]
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is str or item is None or kind is bool:
            continue
        if kind is int:
            if -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                continue
            raise CanonicalError(f"integer {item} is outside ±(2^53 - 1)")
        if kind is dict:
            for key in item:
                if type(key) is not str:
                    raise CanonicalError(f"object key {key!r} is not a string")
            extend(item.values())
        elif kind is list:
            extend(item)
        elif isinstance(item, str | bool):  # subclasses such as str-valued enums
            continue
        elif isinstance(item, int):
            push(int(item))
        elif isinstance(item, dict | list):
            push(dict(item) if isinstance(item, dict) else list(item))
        else:
            raise CanonicalError(f"{type(item).__name__} is not a ledger JSON value")
