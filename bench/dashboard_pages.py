"""The dashboard's signed-in pages over the demo log: `cmpp serve --workers 1` over
PostgreSQL, each page asked one request at a time, as a person would, over loopback.

People: a fiscal agent (org:cws), a board member (org:board) and a grantee's person
(org:irc, an organisation with an award in the demo), each with a token, each signed in
through the real form (its CSRF token and cookie), each with a client of their own, so
that their session cookie goes with every page.

Pages: the program at a glance (fiscal agent), an award of the demo (fiscal agent), the
grantee's own page (grantee), and the program as of an entry halfway through the log
(board member). Each is asked WARMUP times, then SAMPLES times; its time is the server's
own, from the access log (one JSON line a request, with its `ms`), and the round trip
over loopback beside it. GET /healthz of the same server, asked the same way, is the
baseline of the round trip.
"""

from __future__ import annotations

import gc
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

import httpx

from bench import report
from bench.api_load import TOKEN_LIFETIME, percentile, server_env, server_process
from bench.databases import fresh
from bench.demo_log import fill_demo_log
from domain.catalogue import FISCAL_AGENT, GRANTEE, INSPECTOR, OVERSIGHT
from domain.errors import DomainError
from domain.tokens import Tokens
from ledger.catalogue import BOARD
from projections.people import add_person, new_person, organisation_kind
from projections.system import System

WARMUP = 5
SAMPLES = 50
GOAL = "≤ 300 ms"
AGENT_ORG = "org:cws"
BOARD_ORG = "org:board"
OVERSIGHT_ORG = "org:crcl"
INSPECTOR_ORG = "org:dhs-oig"
GRANTEE_ORG = "org:irc"  # one of bench.demo_log.GRANTEES: it has an award, A-irc
LOG_WAIT = 10.0  # seconds for the server's access log lines to be written
FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')


@dataclass
class Page:
    name: str  # as reported
    path: str
    route: str  # the route's template, as the access log names it
    person: str  # the viewer's person id, as the access log names it ("" for none)
    http: httpx.Client
    seq: str | None = None  # the CMPP-As-Of-Seq its answer must have ("": any); None: none
    round_trips: list[float] = field(default_factory=list)  # ms
    server: list[float] = field(default_factory=list)  # ms, from the access log
    failures: list[str] = field(default_factory=list)


# -- the server ---------------------------------------------------------------------------


@contextmanager
def serving(env: dict[str, str], logfile: Path) -> Iterator[str]:
    """`cmpp serve --workers 1` until the block ends; yields its URL. One worker: a
    person's pages are asked one at a time, so a second would only be replaying."""
    with server_process(env, logfile, workers=1) as (base, _pid):
        yield base


class AccessLog:
    """The server's access log lines, read as they are written (one JSON object a line)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def mark(self) -> None:
        """From here on: the lines written so far are not the next page's."""
        with self.path.open("rb") as f:
            data = f.read()
        self.offset = data.rfind(b"\n") + 1

    def since_mark(self) -> list[dict[str, Any]]:
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        lines = data[: data.rfind(b"\n") + 1].decode(errors="replace").splitlines()
        found = []
        for line in lines:
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return found

    def wait_for(self, page: Page, count: int) -> list[float]:
        """The `ms` of the last `count` of the page's requests since the mark, once at
        least `count` are written (or those there are, after LOG_WAIT seconds)."""
        deadline = time.perf_counter() + LOG_WAIT
        while True:
            mine = [
                float(line["ms"])
                for line in self.since_mark()
                if line.get("method") == "GET"
                and line.get("route") == page.route
                and (line.get("person") or "") == page.person
            ]
            if len(mine) >= count or time.perf_counter() > deadline:
                return mine[-count:]
            time.sleep(0.05)


# -- people and signing in ----------------------------------------------------------------


def people(system: System) -> dict[str, tuple[str, str]]:
    """A fiscal agent, a board member and a grantee's person: person id and token each."""
    root = system.root_signer()
    try:
        organisation_kind(system, BOARD_ORG)
    except DomainError:  # the demo log registers the fiscal agent and grantees only
        system.app.register_organisation(root, org_id=BOARD_ORG, name="Board", kind=BOARD)
    for org, kind in ((OVERSIGHT_ORG, OVERSIGHT), (INSPECTOR_ORG, INSPECTOR)):
        try:
            organisation_kind(system, org)
        except DomainError:
            system.app.register_organisation(root, org_id=org, name=org, kind=kind)
    tokens = Tokens(system.app.recorder.datastore)  # type: ignore[attr-defined]
    made = {}
    for who, org, role in (
        ("agent", AGENT_ORG, FISCAL_AGENT),
        ("board", BOARD_ORG, BOARD),
        ("grantee", GRANTEE_ORG, GRANTEE),
        ("crcl", OVERSIGHT_ORG, OVERSIGHT),
        ("inspector", INSPECTOR_ORG, INSPECTOR),
    ):
        person = add_person(system, root, new_person(org, role), {"name": f"Bench {who}"})
        made[who] = person.person_id, tokens.issue(person.person_id, TOKEN_LIFETIME).token
    return made


def signed_in(base: str, token: str) -> httpx.Client:
    """A client with a session: the sign-in form asked, then posted with its CSRF token."""
    http = httpx.Client(base_url=base, timeout=120.0)
    form = http.get("/ui/sign-in")
    found = FORM_TOKEN.search(form.text)
    if form.status_code != 200 or found is None:
        raise RuntimeError(f"GET /ui/sign-in: {form.status_code} {form.text[:300]!r}")
    answer = http.post("/ui/sign-in", data={"token": token, "form_token": found.group(1)})
    if answer.status_code != 303 or "cmpp_session" not in http.cookies:
        raise RuntimeError(f"POST /ui/sign-in: {answer.status_code} {answer.text[:300]!r}")
    return http


# -- asking a page ------------------------------------------------------------------------


def ask(page: Page) -> None:
    start = time.perf_counter()
    try:
        answer = page.http.get(page.path)
    except httpx.HTTPError as exc:
        page.failures.append(f"{exc!r}")
        return
    took = (time.perf_counter() - start) * 1000
    if answer.status_code != 200:
        where = f" → {answer.headers.get('location')}" if answer.is_redirect else ""
        page.failures.append(f"{answer.status_code}{where} {answer.text[:300]!r}")
        return
    said = answer.headers.get("CMPP-As-Of-Seq")
    if page.seq is not None and (said is None or page.seq not in ("", said)):
        page.failures.append(f"200 as of entry {said}, not {page.seq or 'any'}")
        return
    page.round_trips.append(took)


def measure(page: Page, log: AccessLog) -> None:
    log.mark()
    for _ in range(WARMUP):
        ask(page)
    page.round_trips.clear()
    failed = len(page.failures)
    for _ in range(SAMPLES):
        ask(page)
    page.server = log.wait_for(page, WARMUP + SAMPLES)[WARMUP:] if not page.failures else []
    if len(page.server) != SAMPLES:
        page.server = []  # not all its lines found: the round trip alone is shown
    server = (
        f"; server p50 {median(page.server):.1f} ms, p99 {percentile(page.server, 0.99):.1f} ms"
        if page.server
        else ""
    )
    if page.round_trips:
        print(
            f"  {page.name}: round trip p50 {median(page.round_trips):.1f} ms, "
            f"p99 {percentile(page.round_trips, 0.99):.1f} ms{server}",
            flush=True,
        )
    if page.failures:
        print(f"  {page.name}: {len(page.failures)} failed ({failed} in the warm-up)")
        for failure in page.failures[:3]:
            print(f"    {failure}")


# -- the run ------------------------------------------------------------------------------


@contextmanager
def phase(name: str, took: dict[str, float]) -> Iterator[None]:
    print(f"dashboard: {name} …", flush=True)
    start = time.perf_counter()
    yield
    took[name] = time.perf_counter() - start


def run(entries: int) -> None:
    took: dict[str, float] = {}
    with fresh("postgres") as url:
        with phase(f"filling a {entries:,}-entry demo log on PostgreSQL", took):
            ledger = fill_demo_log(url, entries)
        system = ledger.system
        with phase("people and tokens; projections caught up", took):
            made = people(system)
            system.reports.caught_up()
        size = system.app.store.head().size
        middle = size // 2
        # An entry anyone entitled may open without a purpose: a disbursement, mid-log.
        disbursed = system.reports.db.query(
            "SELECT MIN(seq) AS seq FROM log_index WHERE type = ? AND seq >= ?",
            ("funds.DisbursementRecorded", middle),
        )[0]["seq"]
        gc.collect()
        gc.freeze()
        server_log = system.settings.data_dir / "dashboard-server.log"
        try:
            with serving(server_env(system.settings), server_log) as base:
                pages(
                    base,
                    made=made,
                    size=size,
                    middle=middle,
                    entry=int(disbursed),
                    log=AccessLog(server_log),
                    took=took,
                )
            said = server_log.read_text(errors="replace").splitlines()
            for line in [line for line in said if not line.startswith(("INFO", " ", "{"))][:10]:
                print(f"  server said: {line}")
        finally:
            gc.unfreeze()
            ledger.close()
    print("  phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in took.items()), flush=True)


def pages(
    base: str,
    *,
    made: dict[str, tuple[str, str]],
    size: int,
    middle: int,
    entry: int,
    log: AccessLog,
    took: dict[str, float],
) -> None:
    (agent_id, agent), (board_id, board), (grantee_id, grantee) = (
        made["agent"],
        made["board"],
        made["grantee"],
    )
    (crcl_id, crcl), (inspector_id, inspector) = made["crcl"], made["inspector"]
    with httpx.Client(base_url=base, timeout=120.0) as plain:
        answer = plain.get("/v1/balances", headers={"Authorization": f"Bearer {agent}"})
        answer.raise_for_status()
        balances = answer.json()
        health = Page("GET /healthz", "/healthz", "/healthz", "", plain)
        grantees = {g["grantee"] for g in balances["grantees"]}
        if GRANTEE_ORG not in grantees:
            raise RuntimeError(f"{GRANTEE_ORG} has no award in the demo: {sorted(grantees)}")
        award = next(a["award_id"] for a in balances["awards"] if a["grantee"] == GRANTEE_ORG)
        with phase("signing in (the form, its CSRF token and cookie)", took):
            clients = [signed_in(base, token) for token in (agent, board, grantee, crcl, inspector)]
        as_agent, as_board, as_grantee, as_crcl, as_inspector = clients
        try:
            wanted = [
                health,
                Page("GET /ui/program (fiscal agent)", "/ui/program", "/ui/program", agent_id,
                     as_agent, ""),
                Page(f"GET /ui/awards/{award} (fiscal agent)", f"/ui/awards/{award}",
                     "/ui/awards/{award_id}", agent_id, as_agent, ""),
                Page("GET /ui/grantee (grantee)", "/ui/grantee", "/ui/grantee", grantee_id,
                     as_grantee, ""),
                Page(f"GET /ui/program?at={middle:,} (board)", f"/ui/program?at={middle}",
                     "/ui/program", board_id, as_board, str(middle)),
                Page("GET /ui/oversight (oversight)", "/ui/oversight", "/ui/oversight",
                     crcl_id, as_crcl, ""),
                Page(f"GET /ui/oversight?at={middle:,} (oversight)", f"/ui/oversight?at={middle}",
                     "/ui/oversight", crcl_id, as_crcl, str(middle)),
                Page("GET /ui/accesses (oversight)", "/ui/accesses", "/ui/accesses",
                     crcl_id, as_crcl, ""),
                Page("GET /ui/entries (inspector)", "/ui/entries", "/ui/entries",
                     inspector_id, as_inspector, ""),
                Page("GET /ui/entries?type=funds.ExpenditureReported (inspector)",
                     "/ui/entries?type=funds.ExpenditureReported", "/ui/entries",
                     inspector_id, as_inspector, ""),
                Page(f"GET /ui/entries/{entry:,} (inspector)", f"/ui/entries/{entry}",
                     "/ui/entries/{seq}", inspector_id, as_inspector, ""),
                Page("GET /ui/reconciliation (fiscal agent)", "/ui/reconciliation",
                     "/ui/reconciliation", agent_id, as_agent),  # a form: as of nothing
                Page("GET /ui/verification (inspector)", "/ui/verification",
                     "/ui/verification", inspector_id, as_inspector, ""),
            ]  # fmt: skip
            for page in wanted:
                with phase(f"{page.name}: {WARMUP} warm-up, then {SAMPLES} one at a time", took):
                    measure(page, log)
        finally:
            for http in clients:
                http.close()
    shown(health, wanted[1:], size)


def shown(health: Page, wanted: list[Page], size: int) -> None:
    baseline = median(health.round_trips) if health.round_trips else float("nan")
    failed = sum(len(page.failures) for page in [health, *wanted])
    for page in wanted:
        name = f"dashboard: {page.name}, {size:,} entries"
        if not page.round_trips:
            continue
        times, kind = (page.server, "server") if page.server else (page.round_trips, "round trip")
        report.absolute(f"{name}: {kind} p50", median(times), "ms", GOAL)
        report.absolute(f"{name}: {kind} p99", percentile(times, 0.99), "ms", GOAL)
        report.line(
            f"{name}: round trip p50 vs GET /healthz",
            median(page.round_trips),
            baseline,
            "ms",
            "—",
        )
    report.absolute("dashboard: failed page requests", failed, "requests", "0")
