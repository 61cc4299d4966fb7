"""Every page of the dashboard, every caller: the one answer the role table allows.

The pages keep the API's roles and organisation scope (tests/test_api_matrix.py is the
API's table); this is the dashboard's. Each caller signs in with their own token (a
session cookie), and "nobody" has none. A cell is the one status allowed: 200 a page,
303 a form that redirects, 403 the not-permitted page, 404 the not-found page (the same
as for a thing that does not exist). Without a session every page redirects to sign-in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import fastapi.routing
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from ledger.entry import read_event
from tests.api_support import PEOPLE, Program, program
from tests.dashboard_support import activity, csrf_of, sign_in

CALLERS = [name for name, _org, _role in PEOPLE]  # board cws irc baker crcl oig public

# route: (method, path template, {caller: status}); irc owns what a path names.
TABLE: dict[str, tuple[str, str, dict[str, int]]] = {
    "home": ("GET", "/ui/", dict.fromkeys(CALLERS, 303)),
    "program": ("GET", "/ui/program", {"board": 200, "cws": 200, "crcl": 200, "oig": 200}),
    "award": (
        "GET",
        "/ui/awards/{award_id}",
        {"board": 200, "cws": 200, "irc": 200, "baker": 404, "crcl": 200, "oig": 200},
    ),
    "grantee": ("GET", "/ui/grantee", {"irc": 200, "baker": 200}),
    "money entry": ("GET", "/ui/entries/{seq}", {**dict.fromkeys(CALLERS, 200), "baker": 404}),
    "case entry": (
        "POST",
        "/ui/entries/{seq}",
        {
            "board": 404,
            "cws": 404,
            "irc": 200,
            "baker": 404,
            "crcl": 200,
            "oig": 200,
            "public": 404,
        },
    ),
    "participant": (
        "GET",
        "/ui/participants/{participant_id}",
        {"irc": 200, "baker": 404, "crcl": 200, "oig": 200},
    ),
    "case history": (
        "POST",
        "/ui/participants/{participant_id}",
        {"irc": 200, "baker": 404, "crcl": 200, "oig": 200},
    ),
    "oversight": ("GET", "/ui/oversight", {"board": 200, "cws": 200, "crcl": 200, "oig": 200}),
    "accesses": ("GET", "/ui/accesses", {"crcl": 200, "oig": 200}),
    "disclosures": ("GET", "/ui/disclosures", {"crcl": 200, "oig": 200}),
    "reconciliation form": ("GET", "/ui/reconciliation", {"cws": 200, "oig": 200}),
    "reconciliation": ("POST", "/ui/reconciliation", {"cws": 200, "oig": 200}),
    "verification": ("GET", "/ui/verification", {"oig": 200, "public": 200}),
    "verify now": ("POST", "/ui/verification", {"oig": 303}),
    "entries": ("GET", "/ui/entries", {"oig": 200}),
    "bundle": ("GET", "/ui/bundle", {"oig": 200}),
    "sign out": ("POST", "/ui/sign-out", dict.fromkeys(CALLERS, 303)),
}
OPEN = {("GET", "/ui/sign-in"), ("POST", "/ui/sign-in")}  # before any session
PAYMENTS = b"payment_ref,paid_on,amount_cents,payee\nPAY-1,2023-02-01,25000000,IRC\n"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Program, dict[str, Any]]]:
    where = tmp_path_factory.mktemp("matrix")
    with program(f"sqlite:///{where / 'ledger.sqlite3'}", where / "data") as p:
        participants = activity(p)
        entries = {}
        for seq in range(p.system.app.store.head().size):
            event = read_event(p.system.app.store.read_rows(seq, 1)[0][2])  # type: ignore[arg-type]
            if event["org"] == "org:irc":
                area = str(event["type"]).partition(".")[0]
                entries.setdefault(area, seq)
        names = {
            "award_id": "A-2022-007",
            "participant_id": participants["irc"],
            "money": entries["funds"],
            "case": entries["case"],
        }
        yield p, names


def _ask(client: TestClient, route: str, names: dict[str, Any], csrf: str) -> Any:
    method, template, _ = TABLE[route]
    path = template.format(
        award_id=names["award_id"],
        participant_id=names["participant_id"],
        seq=names["case" if route == "case entry" else "money"],
    )
    if method == "GET":
        return client.get(path, follow_redirects=False)
    data = {"csrf": csrf}
    if route in ("case entry", "case history"):
        data["purpose"] = "audit"
    if route == "reconciliation":
        files = {"file": ("payments.csv", PAYMENTS, "text/csv")}
        return client.post(path, data=data, files=files, follow_redirects=False)
    return client.post(path, data=data, follow_redirects=False)


@pytest.mark.parametrize("caller", [*CALLERS, "nobody"])
def test_every_page_answers_each_caller_as_the_table_says(
    site: tuple[Program, dict[str, Any]], caller: str
) -> None:
    p, names = site
    client = TestClient(p.client.app)
    csrf = ""
    if caller != "nobody":
        assert sign_in(client, p.tokens[caller]).status_code == 303
        csrf = csrf_of(client.get("/ui/", follow_redirects=True).text)  # the sign-out form's
    wrong = []
    for route in (r for r in TABLE if r != "sign out"):
        _method, _template, allowed = TABLE[route]
        expected = 303 if caller == "nobody" else allowed.get(caller, 403)
        answer = _ask(client, route, names, csrf)
        if answer.status_code != expected:
            wrong.append(f"{route}: {answer.status_code}, not {expected}")
        elif caller == "nobody":
            assert answer.headers["location"] == "/ui/sign-in", route
    assert not wrong, f"{caller}: {wrong}"
    if caller != "nobody":
        assert _ask(client, "sign out", names, csrf).status_code == 303
        assert client.get("/ui/", follow_redirects=False).headers["location"] == "/ui/sign-in"


def test_every_page_of_the_app_is_in_the_table(site: tuple[Program, dict[str, Any]]) -> None:
    p, _ = site
    served = {
        (method, path)
        for method, path in _all_routes(p.client.app)
        if path.startswith("/ui/") and not path.startswith("/ui/static")
    }
    listed = {(method, template) for method, template, _ in TABLE.values()} | OPEN
    assert served == listed, served ^ listed


def _all_routes(app: Any) -> set[tuple[str, str]]:
    flatten: Callable[[Any], Any] | None = getattr(fastapi.routing, "iter_route_contexts", None)
    entries = list(flatten(app.routes)) if flatten else list(app.routes)
    found = set()
    for entry in entries:
        if isinstance(getattr(entry, "original_route", entry), APIRoute):
            found |= {(method, entry.path) for method in entry.methods}
    return found
