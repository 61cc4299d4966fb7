"""The app factory: `create_app(settings)` wires one process's API over the ledger."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from api import problems
from api.access_log import AccessLog
from api.body_limit import BodyLimit
from api.dashboard import site as dashboard
from api.routes import (
    cases,
    disclosures,
    funds,
    health,
    keys,
    log,
    people,
    prepared,
    releases,
    reports,
)
from api.services import Services
from projections.settings import Settings

DESCRIPTION = """The CMPP ledger over HTTP: every command of the program, signed by the
person who acts with their own key, and every report, as of any entry of the log.

Send `Authorization: Bearer <token>` (from `cmpp tokens create`) and, on every POST, an
`Idempotency-Key`. Errors are RFC 9457 `application/problem+json`, with a `type` per rule.
"""


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    """The API over the ledger of `settings` (or over `services`, already made)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(app.state.services.warm)
        yield
        app.state.services.close()

    app = FastAPI(
        title="CMPP ledger",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        responses=problems.RESPONSES,
    )
    app.state.services = services or Services(settings)
    problems.install(app, pages=(dashboard.PREFIX, dashboard.error_page))
    problems.document(app)
    app.add_middleware(AccessLog)
    app.add_middleware(BodyLimit)  # outermost: before anything reads a body
    for module in (
        health,
        people,
        keys,
        funds,
        cases,
        reports,
        disclosures,
        log,
        releases,
        prepared,
    ):
        app.include_router(module.router)
    dashboard.install(app)
    return app
