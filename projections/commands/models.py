"""What every command's models share: field types (ids, cents, codes), the request and
the answer. The domain checks every value again; these give a schema and early errors."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

MAX_CENTS = 2**53 - 1  # LEDGER_FORMAT.md section 1: integers are exact below 2^53
# An Ed25519 public key (32 bytes) in canonical base64: the character before "=" carries
# two bits of padding, which must be zero, else the key is refused only when it is decoded
# (ledger.hashing.b64decode), as a 500.
ED25519_PUBLIC_KEY = r"^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$"
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _written_day(value: Any) -> Any:
    """A date as the schema says it is written, YYYY-MM-DD (or a date, from Python): left
    to itself pydantic would take a number as a Unix time (0 for 1970-01-01) and a
    datetime at midnight as its day, and a strict model no text at all."""
    if type(value) is date:
        return value
    if isinstance(value, str) and _DAY.fullmatch(value):
        return date.fromisoformat(value)  # a ValueError (2023-02-30) is a validation error
    if isinstance(value, datetime):
        raise ValueError("a date is a day, written YYYY-MM-DD, not an instant")
    raise ValueError("a date is written YYYY-MM-DD")


Id = Annotated[str, StringConstraints(min_length=1, max_length=256, strip_whitespace=False)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9_-]+$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=1000)]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


def _whole(value: Any) -> Any:
    """JSON has one kind of number: 611.0 is the integer 611, as JSON Schema says (a strict
    int takes no float; `true` and "611" stay refused)."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


Day = Annotated[date, BeforeValidator(_written_day)]
Whole = Annotated[int, BeforeValidator(_whole)]  # every integer of a request
Cents = Annotated[Whole, Field(gt=0, le=MAX_CENTS, description="An amount in integer cents.")]
SignedCents = Annotated[
    Whole, Field(ge=-MAX_CENTS, le=MAX_CENTS, description="A change in integer cents.")
]


class Request(BaseModel):
    """A command's body: exactly the fields it names, each of the JSON type its schema
    gives. Strict: pydantic would otherwise take `true` or "100" for an amount of cents,
    or 0 for `false`, values the schema refuses (dates are `Day`, written as text)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Recorded(BaseModel):
    """A command's answer: what was recorded and the seq of its entry in the log."""

    seq: int = Field(description="The seq of the entry the command wrote.")


def one_of(codes: tuple[str, ...], list_name: str) -> Any:
    """A code of one of the catalogue's published lists: checked by a pattern made from the
    list, and shown in the schema as its enum, so neither can drift from the catalogue."""
    return Field(
        pattern="^(" + "|".join(map(re.escape, codes)) + ")$",
        json_schema_extra={"enum": list(codes)},
        description=f"A code from the published list of {list_name}.",
    )
