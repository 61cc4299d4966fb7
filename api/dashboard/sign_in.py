"""Signing in with a token, and out: a session cookie (HttpOnly, SameSite=Strict, and
Secure when served over TLS), and a CSRF token on both forms."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import LedgerDep
from api.dashboard.viewer import PREFIX, SESSION_COOKIE, Viewing, check_csrf, render
from domain.catalogue import GRANTEE
from domain.sessions import SESSION_LIFETIME

router = APIRouter(prefix=PREFIX, include_in_schema=False)
REFUSED_SIGN_IN = "That token is unknown, expired or revoked, or its holder may no longer act."
SIGN_IN_COOKIE = "cmpp_sign_in"  # the sign-in form's CSRF token, before any session


def _cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PREFIX,
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="strict",
    )


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request) -> Response:
    form_token = secrets.token_urlsafe(32)
    page = render(
        request, "sign_in.html", viewer=None, title="Sign in", form_token=form_token, error=None
    )
    _cookie(request, page, SIGN_IN_COOKIE, form_token, 3600)
    return page


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(
    request: Request,
    ledger: LedgerDep,
    token: Annotated[str, Form(max_length=200)] = "",
    form_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    if not expected or not hmac.compare_digest(expected.encode(), form_token.encode()):
        return _refused(request, "The form has expired: sign in again.", 403)
    # Only a token whose holder may act now opens a session (a revoked key or a
    # suspended person may still have a token in force).
    holder = ledger.tokens.holder(token.strip())
    actor = None
    if holder is not None:
        actor = ledger.actor(holder, ledger.app.confirmed_log().keys_changed)
    opened = ledger.sessions.open(token.strip()) if actor is not None else None
    if opened is None:
        return _refused(request, REFUSED_SIGN_IN, 401)
    session_id, _session = opened
    # A browser signing in again ends the session it had: one session per sign-in.
    if previous := request.cookies.get(SESSION_COOKIE):
        ledger.sessions.close(previous)
    ledger.sessions.forget_expired()
    answer = RedirectResponse(f"{PREFIX}/", status_code=303)
    _cookie(request, answer, SESSION_COOKIE, session_id, int(SESSION_LIFETIME.total_seconds()))
    answer.delete_cookie(SIGN_IN_COOKIE, path=PREFIX)
    return answer


def _refused(request: Request, error: str, status: int) -> Response:
    form_token = secrets.token_urlsafe(32)
    page = render(
        request,
        "sign_in.html",
        viewer=None,
        title="Sign in",
        form_token=form_token,
        error=error,
        status=status,
    )
    _cookie(request, page, SIGN_IN_COOKIE, form_token, 3600)
    return page


@router.post("/sign-out")
def sign_out(
    request: Request,
    ledger: LedgerDep,
    viewer: Viewing,
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    check_csrf(viewer[1], csrf)
    ledger.sessions.close(request.cookies.get(SESSION_COOKIE, ""))
    answer = RedirectResponse(f"{PREFIX}/sign-in", status_code=303)
    answer.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return answer


@router.get("/")
def home(viewer: Viewing) -> Response:
    """Each person's first page: a grantee's own, everyone else's the program's."""
    actor, _session = viewer
    where = {GRANTEE: "grantee", "public": "verification"}.get(actor.role, "program")
    return RedirectResponse(f"{PREFIX}/{where}", status_code=303)
