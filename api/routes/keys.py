"""Keys: the board registers organisations' service keys, and rotates and revokes keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from api.auth import LedgerDep, PrincipalDep
from api.commands import IdempotencyKey, command
from projections.commands.keys import (
    KeyCreate,
    KeyRegistered,
    KeyRevocationCreate,
    KeyRevoked,
    KeyRotated,
    KeyRotationCreate,
)

router = APIRouter(prefix="/v1", tags=["keys"])
KeyId = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="A key id (64 hex).")]


@router.post("/keys", status_code=201, response_model=KeyRegistered)
def register_key(
    body: KeyCreate, who: PrincipalDep, ledger: LedgerDep, key: IdempotencyKey
) -> JSONResponse:
    """Register an organisation's own service key (board); its holder keeps the private key."""
    return command(ledger, who, "register_key", body, key)


@router.post("/keys/{key_id}/rotation", status_code=201, response_model=KeyRotated)
def rotate_key(
    key_id: KeyId,
    body: KeyRotationCreate,
    who: PrincipalDep,
    ledger: LedgerDep,
    key: IdempotencyKey,
) -> JSONResponse:
    """Replace a key: its successor is registered as it is revoked, in one transaction (board)."""
    return command(ledger, who, "rotate_key", body, key, key_id=key_id)


@router.post("/keys/{key_id}/revocation", status_code=201, response_model=KeyRevoked)
def revoke_key(
    key_id: KeyId,
    body: KeyRevocationCreate,
    who: PrincipalDep,
    ledger: LedgerDep,
    key: IdempotencyKey,
) -> JSONResponse:
    """Revoke a key (board); what it signed before stays valid."""
    return command(ledger, who, "revoke_key", body, key, key_id=key_id)
