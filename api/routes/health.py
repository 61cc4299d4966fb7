"""Liveness and readiness, for the load balancer: no token, no data."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.auth import LedgerDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(ledger: LedgerDep) -> JSONResponse:
    """The ledger is reachable and its log is as this process replayed it."""
    try:
        size = ledger.app.confirmed_log().size
    except Exception as exc:  # any failure means: send no traffic here
        return JSONResponse(
            {"status": "unavailable", "reason": type(exc).__name__}, status_code=503
        )
    return JSONResponse({"status": "ready", "log_size": size})
