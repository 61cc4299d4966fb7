"""Who is asking: a bearer token, mapped to a person, their organisation and their role.

The person's organisation and role are those of their key in force, as the log's own
entries make them; a token of a person whose key was revoked (suspended), or a token
expired or revoked, is refused with 401 like no token at all. Each route names the
roles it serves (`allow`); any other role gets 403.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.problems import ProblemError
from api.services import Services
from projections.commands.spec import Actor

bearer = HTTPBearer(auto_error=False, description="A token from `cmpp tokens create`.")


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


LedgerDep = Annotated[Services, Depends(services)]
UNAUTHENTICATED = "the token is unknown, expired or revoked, or its holder may no longer act"


def principal(
    request: Request,
    ledger: LedgerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Actor:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ProblemError(401, "unauthenticated", "send Authorization: Bearer <token>")
    person_id = ledger.tokens.holder(credentials.credentials)
    if person_id is None:
        raise ProblemError(401, "unauthenticated", UNAUTHENTICATED)
    # The committed log as the request begins (one read of the stored head, checked
    # against the entries): who is asking, and (request.state) whether an answer already
    # given still stands.
    log = ledger.app.confirmed_log()
    keys_changed = log.keys_changed
    request.state.log_size = log.size
    actor = ledger.actor(person_id, keys_changed)
    if actor is None:
        # Said as for any token that is not in force: a stolen token of someone
        # suspended is not confirmed genuine by its answer.
        raise ProblemError(401, "unauthenticated", UNAUTHENTICATED)
    request.state.person = actor.person  # for the access log
    return actor


PrincipalDep = Annotated[Actor, Depends(principal)]


def allow(*roles: str) -> Callable[[Actor], Actor]:
    """A dependency admitting only `roles` (403 for any other)."""

    def admitted(who: PrincipalDep) -> Actor:
        if who.role not in roles:
            raise ProblemError(
                403, "permission", f"the role {who.role} may not do this (only {', '.join(roles)})"
            )
        return who

    return admitted
