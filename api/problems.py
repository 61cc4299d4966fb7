"""RFC 9457 problem details: every error the API gives, with a `type` per rule.

A refused command says which rule refused it (`…/problems/award-overdrawn`) with the
figures of the message; a request that does not fit the schema names each field; and
an error of ours is a bare 500 that leaks nothing. Messages are the domain's own: they
hold ids and amounts, never a secret or personal data (those never reach an error).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.errors import UserError

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://cmpp.example.gov/problems/"
TITLES = {
    400: "Bad request",
    401: "Not signed in",
    403: "Not permitted",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    422: "Refused",
    428: "Signature required",
    500: "Internal error",
    503: "Unavailable",
}
# Rules whose refusal is not the request's fault, or is not a refusal of its content.
STATUS_OF_RULE = {
    "permission": 403,
    "role": 403,
    "not-found": 404,
    "unique-id": 409,
    "busy": 409,
    "client-signature-required": 428,
    "altered-log": 503,
    "database-unavailable": 503,
    "outcome-unknown": 503,
    "ledger-not-open": 503,
    "signer-record": 503,
    "stored-tree": 503,
    "checkpoint-not-issued": 503,
    # The server's own configuration or storage, not the request.
    "cosign": 503,
    "key-store": 503,
    "export": 503,
    "vault-key": 503,
    "config": 503,
}
log = logging.getLogger("cmpp.api")


class ProblemDetails(BaseModel):
    """RFC 9457 problem details, as every error of this API is answered."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="A URI naming the rule, e.g. …/problems/award-overdrawn.")
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, str]] | None = Field(
        default=None, description="For invalid requests: each field and what is wrong with it."
    )


# Documented on every route, so a client (and Schemathesis) knows each error's shape.
# 400: a body that is not JSON at all (FastAPI refuses it before any field is read).
RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ProblemDetails, "description": TITLES[status]}
    for status in (400, 401, 403, 404, 409, 413, 422, 428, 503)
}


def document(app: FastAPI) -> None:
    """Say in the schema that errors come as application/problem+json (FastAPI would
    document the model under application/json)."""
    make_schema = app.openapi

    def schema() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = make_schema()
            for path in spec.get("paths", {}).values():
                for operation in path.values():
                    for status, response in operation.get("responses", {}).items():
                        content = response.get("content", {})
                        if (
                            status.isdigit()
                            and int(status) >= 400
                            and "application/json" in content
                        ):
                            response["content"] = {MEDIA_TYPE: content["application/json"]}
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = schema  # type: ignore[method-assign]


class ProblemError(Exception):
    """An error to answer with, raised by the API itself."""

    def __init__(self, status: int, rule: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.rule, self.detail, self.extra = status, rule, detail, extra


def status_of(rule: str) -> int:
    if rule in STATUS_OF_RULE:
        return STATUS_OF_RULE[rule]
    if rule.startswith("known-"):
        return 404
    return 422


def problem(
    status: int, rule: str, detail: str, instance: str | None = None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_BASE + rule,
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **extra,
    }
    if instance is not None:
        body["instance"] = instance
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


# Pages under a prefix (the dashboard's) answer errors as pages: (prefix, draw).
Pages = tuple[str, Callable[[Request, int, str], Response]]


def install(app: FastAPI, pages: Pages | None = None) -> None:
    """Answer every error as problem+json (as a page under `pages`' prefix)."""

    def answer(request: Request, status: int, rule: str, detail: str, **extra: Any) -> Response:
        if pages is not None and request.url.path.startswith(pages[0] + "/"):
            return pages[1](request, status, detail)
        return problem(status, rule, detail, request.url.path, **extra)

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> Response:
        return answer(request, exc.status, exc.rule, exc.detail, **exc.extra)

    @app.exception_handler(UserError)
    async def _user_error(request: Request, exc: UserError) -> Response:
        return answer(request, status_of(exc.rule), exc.rule, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {
                "field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"),
                "message": str(e.get("msg", "invalid")),
            }
            for e in exc.errors()
        ]
        fields = ", ".join(sorted({e["field"] for e in errors})) or "the request"
        return answer(request, 422, "validation", f"invalid: {fields}", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        rule = {404: "not-found", 405: "method-not-allowed", 413: "body-too-large"}.get(
            exc.status_code, "http"
        )
        given = answer(request, exc.status_code, rule, str(exc.detail))
        # The error's own headers, kept: a 405 names the methods the path takes (`Allow`,
        # which RFC 9110 requires of it).
        given.headers.update(exc.headers or {})
        return given

    @app.exception_handler(Exception)
    async def _ours(request: Request, exc: Exception) -> Response:
        # Logged with its type only: a message may hold what a request sent.
        # The route's template, never the path: a path holds ids (access_log.py says why).
        route = getattr(request.scope.get("route"), "path", "(no route)")
        log.error("unexpected %s on %s %s", type(exc).__name__, request.method, route)
        return answer(
            request,
            500,
            "internal",
            "an error of ours: retry with the same Idempotency-Key to learn whether a "
            "command was recorded",
        )
