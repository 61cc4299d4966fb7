"""Domain errors: each names the rule it enforces and says it with the figures."""

from __future__ import annotations

from ledger.guard import GuardError


class DomainError(GuardError):
    """A command the program's rules refuse; nothing was written."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message, rule=rule)


def dollars(cents: int) -> str:
    """12000 -> '$120.00'; money is always integer cents until it is shown."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{part:02d}"
