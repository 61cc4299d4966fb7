"""The one root of every error a user can cause.

A user can put these right: bad input, a command the rules refuse, a ledger not yet
made, a missing key. Each names the rule it enforces, so the command line maps the
one class to exit code 2 and the API maps it to a problem+json body whose `type`
is the rule. Anything else that escapes is a fault of ours, not the user's.
"""

from __future__ import annotations


class UserError(Exception):
    """Something the user asked for that cannot be done as asked; `rule` says why."""

    rule = "usage"

    def __init__(self, message: str, *, rule: str | None = None) -> None:
        super().__init__(message)
        if rule is not None:
            self.rule = rule


class NotFoundError(UserError):
    """The thing asked for does not exist, or is not the asker's to see."""

    rule = "not-found"
