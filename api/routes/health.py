"""Liveness and readiness, for the load balancer: no token, no data."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.auth import LedgerDep
from api.problems import problem

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request, ledger: LedgerDep) -> JSONResponse:
    """The ledger is reachable and its log is as this process replayed it."""
    try:
        size = ledger.app.confirmed_log().size
    except Exception as exc:  # any failure means: send no traffic here
        # A problem, as every error of the API is, and as the schema says a 503 is.
        return problem(
            503,
            "not-ready",
            "the ledger is not reachable, or its log is not as this process replayed it",
            request.url.path,
            reason=type(exc).__name__,
        )
    return JSONResponse({"status": "ready", "log_size": size})
