"""When a consent is in force: the one definition, for the rules and for the projections.

Dates are ISO strings (YYYY-MM-DD), which order as the days do. A consent is in force
on a day from the day it was given, up to but not including the day it was withdrawn,
and up to and including the day it expires. A service on the withdrawal date is
therefore refused.
"""

from __future__ import annotations

IN_FORCE = "in force"
NOT_YET_GIVEN = "not yet given"
WITHDRAWN = "withdrawn"
EXPIRED = "expired"


def consent_state(on: str, given_on: str, expires_on: str | None, withdrawn_on: str | None) -> str:
    """The state, on day `on`, of a consent given, expiring and withdrawn on those days."""
    if on < given_on:
        return NOT_YET_GIVEN
    if withdrawn_on is not None and on >= withdrawn_on:
        return WITHDRAWN
    if expires_on is not None and on > expires_on:
        return EXPIRED
    return IN_FORCE
