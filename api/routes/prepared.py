"""Commands of people who keep their own keys: prepare, sign elsewhere, submit.

1. `POST /v1/prepared` with a command's name, ids and body: the answer holds the exact
   bytes of the event the command would record (`event_bytes`, base64), to be signed
   with the person's own Ed25519 key within `expires_at`. Nothing is recorded.
2. `POST /v1/prepared/{prepared_id}/signature` with that signature: the event is
   recorded as prepared, and the command's answer returned, as any command's.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from api.auth import LedgerDep, PrincipalDep
from api.commands import IdempotencyKey, answered
from api.problems import ProblemError
from ledger.hashing import b64encode
from projections.commands.models import Id, Request
from projections.commands.registry import COMMANDS

router = APIRouter(prefix="/v1", tags=["client custody"])
COMMAND_NAMES: list[Any] = sorted(COMMANDS)


class PreparationCreate(Request):
    command: str = Field(json_schema_extra={"enum": COMMAND_NAMES})
    ids: dict[str, Id] = Field(default_factory=dict)
    body: dict[str, Any]


class PreparedPublic(BaseModel):
    prepared_id: str
    command: str
    event: dict[str, Any] = Field(description="The event as JSON, for the person to read.")
    event_bytes: str = Field(description="Base64 of the exact bytes to sign (JCS of the event).")
    expires_at: str


class SignatureCreate(Request):
    signature: str = Field(
        pattern=r"^[A-Za-z0-9+/]{86}==$",
        description="Base64 of the person's Ed25519 signature of the event's bytes.",
    )


@router.post("/prepared", status_code=201, response_model=PreparedPublic)
def prepare_command(
    body: PreparationCreate, who: PrincipalDep, ledger: LedgerDep, key: IdempotencyKey
) -> PreparedPublic:
    """Prepare a command for signing with your own key (client custody)."""
    spec = COMMANDS.get(body.command)
    if spec is None:
        raise ProblemError(422, "validation", f"no command {body.command!r}")
    if set(body.ids) != set(spec.ids):
        raise ProblemError(
            422, "validation", f"{spec.name} takes the ids {', '.join(spec.ids) or 'none'}"
        )
    try:
        request = spec.request.model_validate(body.body)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
        raise ProblemError(422, "validation", f"invalid: {', '.join(fields)}") from None
    prepared = ledger.commands.prepare(who, spec, dict(body.ids), request, key=key)
    return PreparedPublic(
        prepared_id=prepared.prepared_id,
        command=prepared.command,
        event=prepared.event.event,
        event_bytes=b64encode(prepared.event.event_bytes),
        expires_at=prepared.expires_at,
    )


@router.post("/prepared/{prepared_id}/signature", status_code=201)
def submit_signature(
    prepared_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")],
    body: SignatureCreate,
    who: PrincipalDep,
    ledger: LedgerDep,
    key: IdempotencyKey,
) -> JSONResponse:
    """Record a prepared command with your signature; answered as the command is."""
    return answered(ledger.commands.submit(who, prepared_id, body.signature, key=key))
