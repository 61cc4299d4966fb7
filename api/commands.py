"""What every command route shares: the Idempotency-Key header, and the answer it gives."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse

from api.auth import LedgerDep
from projections.commands.registry import COMMANDS
from projections.commands.runner import Outcome
from projections.commands.spec import Actor

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[ -~]+$",
        description="Names this request: a retry with the same key and body is answered "
        "as the first was, and records nothing new.",
    ),
]


def answered(outcome: Outcome) -> JSONResponse:
    answer = outcome.answer
    headers = {"CMPP-As-Of-Seq": str(answer.seq)}
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(answer.body, status_code=answer.status, headers=headers)


def command(
    ledger: LedgerDep, who: Actor, name: str, body: Any, key: str, **ids: str
) -> JSONResponse:
    """Run the command `name` for `who`, once per idempotency key."""
    return answered(ledger.commands.run(who, COMMANDS[name], ids, body, key=key))
