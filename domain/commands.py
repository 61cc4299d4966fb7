"""What every command shares: permission pre-checks and input checks, each a DomainError."""

from __future__ import annotations

from datetime import date
from typing import Any

from domain.errors import DomainError
from ledger.permissions import may_sign
from ledger.signing import Signer


class NotPermittedError(DomainError):
    """The signer's key may not sign this kind of event."""


def permitted(signer: Signer, event_type: str) -> None:
    if not may_sign(signer.key.roles, event_type):
        raise NotPermittedError(
            "permission",
            f"a key of {signer.org} with roles {', '.join(signer.key.roles)} may not sign "
            f"{event_type}",
        )


def check(ok: bool, rule: str, message: str) -> None:
    if not ok:
        raise DomainError(rule, message)


def cents(value: Any, *, allow_negative: bool = False) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool)
    check(ok, "integer-cents", f"amounts are integer cents, not {value!r}")
    check(allow_negative or value > 0, "positive-amount", f"amount must be positive, not {value}")
    check(value != 0, "positive-amount", "an amendment of zero changes nothing")


def day(value: Any, name: str) -> None:
    try:
        ok = isinstance(value, str) and date.fromisoformat(value).isoformat() == value
    except ValueError:
        ok = False
    check(ok, "well-formed", f"{name} must be a date YYYY-MM-DD, not {value!r}")
