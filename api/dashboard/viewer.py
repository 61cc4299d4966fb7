"""Who is looking, and how a page is drawn: the session cookie, the CSRF token, the
`as of` control, the templates and their filters.

The dashboard is a view over the API's own functions: a page asks the same reports with
the same role and organisation scope, through the same `Services`, and draws them.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader

from api.auth import LedgerDep
from domain.sessions import Session, Sessions, same_csrf
from projections.commands.spec import Actor

PREFIX = "/ui"
SESSION_COOKIE = "cmpp_session"
HERE = Path(__file__).parent
# Every value escaped unless marked safe (the charts' SVG is): a name cannot become markup.
templates = Jinja2Templates(
    env=Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
)


def dollars(cents: int | None) -> str:
    """Cents as dollars with cents: 1234567 → $12,345.67 (a negative amount with a minus sign)."""
    if cents is None:
        return "—"
    sign = "−" if cents < 0 else ""
    whole, part = divmod(abs(int(cents)), 100)
    return f"{sign}${whole:,}.{part:02d}"


templates.env.filters["dollars"] = dollars


class SignInRequiredError(Exception):
    """No session in force: the page answers with the sign-in form."""


class PageNotFoundError(Exception):
    """A page that does not exist for this viewer (another grantee's is the same)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class PageForbiddenError(Exception):
    def __init__(self, role: str) -> None:
        super().__init__(role)
        self.role = role


def sessions(ledger: LedgerDep) -> Sessions:
    return ledger.sessions


def _viewing(request: Request, ledger: LedgerDep) -> tuple[Actor, Session]:
    session_id = request.cookies.get(SESSION_COOKIE, "")
    session = ledger.sessions.find(session_id)
    if session is None:
        raise SignInRequiredError
    log = ledger.app.confirmed_log()
    actor = ledger.actor(session.person_id, log.keys_changed)
    if actor is None:  # suspended since signing in
        raise SignInRequiredError
    request.state.person = actor.person  # for the access log
    request.state.viewer = actor, session  # for an error page, drawn with its header
    return actor, session


Viewing = Annotated[tuple[Actor, Session], Depends(_viewing)]


def check_csrf(session: Session, given: str | None) -> None:
    if not same_csrf(session, given):
        raise PageForbiddenError("csrf")


def permit(actor: Actor, *roles: str) -> None:
    if actor.role not in roles:
        raise PageForbiddenError(actor.role)


# -- as of: a seq or a date, for the whole page --------------------------------------------

# What a page may load: its own stylesheet and inline SVG styles; no script at all, no
# frame around it, and forms that post only here.
POLICY = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

SEQ_OR_DATE = re.compile(r"^(\d{1,18}|\d{4}-\d{2}-\d{2})$")


class AsOf:
    """The `as of` of a page: `at_seq` (an entry) or `as_of` (a date), or now."""

    def __init__(self, at: str | None) -> None:
        self.text = (at or "").strip()
        self.at_seq: int | None = None
        self.as_of: str | None = None
        self.error: str | None = None
        if not self.text:
            return
        if not SEQ_OR_DATE.match(self.text):
            self.error = "as of is an entry's seq (a number) or a date YYYY-MM-DD"
        elif "-" in self.text:
            try:
                date.fromisoformat(self.text)
                self.as_of = self.text
            except ValueError:
                self.error = f"{self.text} is not a date"
        else:
            self.at_seq = int(self.text)

    def query(self) -> str:
        return f"?at={self.text}" if self.text else ""


def _as_of(
    at: Annotated[str | None, Query(max_length=40, description="A seq or a date")] = None,
) -> AsOf:
    return AsOf(at)


AsOfDep = Annotated[AsOf, Depends(_as_of)]

PAGE_ROWS = 50  # a screen's worth: longer tables are cut into pages on the server
PageDep = Annotated[int, Query(ge=1, le=1_000_000, description="Page of a long table")]


class Paged:
    """One page of a table's rows, and where it is among them."""

    def __init__(self, rows: list[Any], page: int, size: int = PAGE_ROWS) -> None:
        self.total = len(rows)
        self.pages = max(1, -(-self.total // size))
        self.page = min(max(page, 1), self.pages)
        self.rows = rows[(self.page - 1) * size : self.page * size]


def render(
    request: Request,
    name: str,
    *,
    viewer: tuple[Actor, Session] | None,
    title: str,
    status: int = 200,
    seq: int | None = None,
    as_of: AsOf | None = None,
    **context: Any,
) -> HTMLResponse:
    actor, session = viewer if viewer is not None else (None, None)
    headers = {"Cache-Control": "no-store", "Content-Security-Policy": POLICY}
    if seq is not None:
        headers["CMPP-As-Of-Seq"] = str(seq)
    page: HTMLResponse = templates.TemplateResponse(
        request,
        name,
        {
            "title": title,
            "actor": actor,
            "csrf": session.csrf if session is not None else None,
            "seq": seq,
            "as_of": as_of or AsOf(None),
            "prefix": PREFIX,
            **context,
        },
        status_code=status,
        headers=headers,
    )
    return page


def bad_as_of(request: Request, viewer: tuple[Actor, Session], as_of: AsOf) -> HTMLResponse:
    return render(
        request,
        "error.html",
        viewer=viewer,
        title="That moment cannot be shown",
        status=422,
        as_of=as_of,
        message=as_of.error,
    )
