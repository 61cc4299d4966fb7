"""The dashboard in an app: its pages, its static files, and its errors as pages.
Signed in with a person's token; the same roles and organisation scope as the API; no
script from anywhere."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.dashboard import (
    cases,
    entries,
    finance,
    inspector,
    oversight,
    reconciliation,
    sign_in,
)
from api.dashboard.viewer import (
    HERE,
    PREFIX,
    PageForbiddenError,
    PageNotFoundError,
    SignInRequiredError,
    render,
)
from api.problems import TITLES

__all__ = ["PREFIX", "error_page", "install"]


def error_page(request: Request, status: int, detail: str) -> Response:
    """An error under the dashboard, as a page (the API's are problem+json)."""
    if status == 401:
        return RedirectResponse(f"{PREFIX}/sign-in", status_code=303)
    title = TITLES.get(status, "Error")
    return render(
        request,
        "error.html",
        viewer=getattr(request.state, "viewer", None),
        title=title,
        status=status,
        message=detail,
    )


def install(app: FastAPI) -> None:
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="dashboard-static")
    for module in (sign_in, finance, entries, cases, oversight, reconciliation, inspector):
        app.include_router(module.router)

    @app.exception_handler(SignInRequiredError)
    async def _sign_in(request: Request, _exc: SignInRequiredError) -> Response:
        return RedirectResponse(f"{PREFIX}/sign-in", status_code=303)

    @app.exception_handler(PageNotFoundError)
    async def _not_found(request: Request, exc: PageNotFoundError) -> Response:
        return render(
            request,
            "error.html",
            viewer=getattr(request.state, "viewer", None),
            title="Not found",
            status=404,
            message=f"There is no {exc.what} here.",
        )

    @app.exception_handler(PageForbiddenError)
    async def _forbidden(request: Request, exc: PageForbiddenError) -> Response:
        message = (
            "The form has expired: go back, reload the page and try again."
            if exc.role == "csrf"
            else f"This page is not for the role {exc.role}."
        )
        return render(
            request,
            "error.html",
            viewer=getattr(request.state, "viewer", None),
            title="Not permitted",
            status=403,
            message=message,
        )
