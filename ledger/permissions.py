"""Who may sign what: the permission table of DESIGN.md (section 4, Roles).

It names event types, not grant rules, so the ledger and its verifier can hold it
without knowing anything of grants.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

ROLES = ("board", "fiscal_agent", "grantee", "oversight", "inspector", "system", "public")

# A pattern is an exact type or `area.*`.
SIGNABLE: dict[str, tuple[str, ...]] = {
    "board": (
        "ledger.KeyRegistered",
        "ledger.KeyRevoked",
        "org.*",
        "funds.AppropriationRecorded",
        "funds.AwardMade",
        "funds.AwardAmended",
        "funds.AwardClosed",
    ),
    "fiscal_agent": (
        "funds.DisbursementRecorded",
        "funds.DisbursementReversed",
        "funds.RefundReceived",
    ),
    "grantee": ("funds.ExpenditureReported", "case.*"),
    "oversight": ("case.ComplaintResolved",),
    "inspector": (),
    "system": ("audit.*",),
    "public": (),
}

OPENING_TYPE = "ledger.LedgerOpened"


def role_may_sign(role: str, event_type: str) -> bool:
    for pattern in SIGNABLE.get(role, ()):
        if pattern == event_type or (
            pattern.endswith(".*") and event_type.startswith(pattern[:-1])
        ):
            return True
    return False


@lru_cache(maxsize=4096)
def _may_sign(roles: tuple[str, ...], event_type: str) -> bool:
    return any(role_may_sign(role, event_type) for role in roles)


def may_sign(roles: Iterable[str], event_type: str) -> bool:
    return _may_sign(tuple(roles), event_type)
