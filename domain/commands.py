"""What every command shares: it may be signed by the signer's roles, and its data is well formed.

Both are checked before anything is signed, so a wrong command fails with the rule it
breaks; the rules (domain.rules) check the same again under the writers' lock.
"""

from __future__ import annotations

from typing import Any

from domain.catalogue import CATALOGUE
from domain.errors import DomainError
from ledger.catalogue import EventType
from ledger.signing import Signer


class NotPermittedError(DomainError):
    """The signer's key may not sign this kind of event."""


def permitted(signer: Signer, event_type: EventType) -> None:
    if not CATALOGUE.may_sign(signer.key.roles, event_type):
        raise NotPermittedError(
            "permission",
            f"a key of {signer.org} with roles {', '.join(signer.key.roles)} may not sign "
            f"{event_type}",
        )


def well_formed(event_type: EventType, data: dict[str, Any]) -> None:
    problems = event_type.problems(data)
    if problems:
        rule, message = problems[0]
        raise DomainError(rule, message)


def check(ok: bool, rule: str, message: str) -> None:
    if not ok:
        raise DomainError(rule, message)
