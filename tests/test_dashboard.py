"""The dashboard's rules, without a browser: sessions and their cookie, CSRF on every
form, the same roles and organisation scope as the API, and pages that say what the
API says for the same entry (tests/test_dashboard_browser.py drives a real browser)."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.dashboard.viewer import dollars
from ledger.entry import read_event
from tests.api_support import AWARD, Program, program
from tests.dashboard_support import activity, csrf_of, reflected, sign_in


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[tuple[Program, dict[str, str]]]:
    with program(f"sqlite:///{tmp_path / 'ledger.sqlite3'}", tmp_path / "data") as p:
        yield p, activity(p)


def test_sign_in_sets_a_strict_http_only_session_cookie_and_sign_out_ends_it(
    lite: tuple[Program, dict[str, str]],
) -> None:
    p, _ = lite
    client = p.client
    assert client.get("/ui/program", follow_redirects=False).headers["location"] == "/ui/sign-in"
    signed = sign_in(client, p.tokens["cws"])
    assert signed.status_code == 303
    cookie = next(c for c in signed.headers.get_list("set-cookie") if c.startswith("cmpp_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert "Secure" not in cookie  # served over plain HTTP here; over TLS it is Secure
    page = client.get("/ui/program")
    assert page.status_code == 200 and p.people["cws"] in page.text
    # Sign-out needs the session's CSRF token: without it, nothing happens.
    assert client.post("/ui/sign-out", data={"csrf": "forged"}).status_code == 403
    assert client.get("/ui/program").status_code == 200
    out = client.post("/ui/sign-out", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/ui/program", follow_redirects=False).status_code == 303


def test_a_stolen_session_id_is_useless_once_its_token_is_revoked_or_its_person_suspended(
    lite: tuple[Program, dict[str, str]],
) -> None:
    p, _ = lite
    sign_in(p.client, p.tokens["cws"])
    assert p.client.get("/ui/program").status_code == 200
    token_id = p.client.app.state.services.tokens.of(p.people["cws"])[0].token_id  # type: ignore[attr-defined]
    p.client.app.state.services.tokens.revoke(token_id)  # type: ignore[attr-defined]
    assert p.client.get("/ui/program", follow_redirects=False).status_code == 303
    # A person suspended since signing in is signed out at the next page.
    sign_in(p.client, p.tokens["board"])
    assert p.client.get("/ui/program").status_code == 200
    suspended = p.post("board", f"/v1/people/{p.people['board']}/suspension", {"reason": "left"})
    assert suspended.status_code in (201, 422), suspended.text  # the board may not suspend itself
    if suspended.status_code == 201:
        assert p.client.get("/ui/program", follow_redirects=False).status_code == 303


def test_sign_in_refuses_a_bad_token_and_a_form_without_its_csrf_token(
    lite: tuple[Program, dict[str, str]],
) -> None:
    p, _ = lite
    refused = sign_in(p.client, "cmpp_" + "A" * 43)
    assert refused.status_code == 401 and "unknown, expired or revoked" in refused.text
    forged = p.client.post("/ui/sign-in", data={"token": p.tokens["cws"], "form_token": "x"})
    assert forged.status_code == 403
    assert "cmpp_session" not in p.client.cookies


def test_a_grantee_sees_its_own_and_finds_anothers_award_and_participant_missing(
    lite: tuple[Program, dict[str, str]],
) -> None:
    p, participants = lite
    sign_in(p.client, p.tokens["irc"])
    home = p.client.get("/ui/")
    assert home.url.path == "/ui/grantee"
    assert "A-2022-007" in home.text and "A-2022-011" not in home.text
    assert "org:bakerripley" not in home.text
    for path in (
        "/ui/awards/A-2022-011",
        f"/ui/participants/{participants['baker']}",
        "/ui/awards/A-1999-000",
        "/ui/participants/P-doesnotexist",
    ):
        missing = p.client.get(path)
        assert missing.status_code == 404, path
        assert "text/html" in missing.headers["content-type"]
    theirs = p.client.post(
        f"/ui/participants/{participants['baker']}",
        data={"purpose": "case_management", "csrf": csrf_of(home.text)},
    )
    assert theirs.status_code == 404
    assert p.client.get("/ui/program").status_code == 403  # program-wide: not a grantee's


def test_a_case_history_is_read_with_a_purpose_and_the_read_is_in_the_log(
    lite: tuple[Program, dict[str, str]],
) -> None:
    p, participants = lite
    sign_in(p.client, p.tokens["irc"])
    pid = participants["irc"]
    form = p.client.get(f"/ui/participants/{pid}")
    assert form.status_code == 200 and "case_management" not in form.text.split("<form")[0]
    size = p.system.app.store.head().size
    no_csrf = p.client.post(f"/ui/participants/{pid}", data={"purpose": "case_management"})
    assert no_csrf.status_code == 403 and p.system.app.store.head().size == size
    read = p.client.post(
        f"/ui/participants/{pid}", data={"purpose": "case_management", "csrf": csrf_of(form.text)}
    )
    assert read.status_code == 200, read.text
    assert "case.ServiceDelivered" in read.text
    access = re.search(r"this read is entry <a href=\"/ui/entries/(\d+)\"", read.text)
    assert access and int(access.group(1)) == p.system.app.store.head().size - 1 >= size
    recorded = read_event(p.system.app.store.read_rows(int(access.group(1)), 1)[0][2])  # type: ignore[arg-type]
    assert recorded["type"] == "audit.RecordsAccessed"
    assert recorded["data"]["purpose"] == "case_management"
    assert recorded["data"]["participant_ids"] == [pid]


def test_the_program_page_says_what_the_api_says_for_the_same_entry(
    lite: tuple[Program, dict[str, str]],
) -> None:
    p, _ = lite
    sign_in(p.client, p.tokens["cws"])
    for at in ("", "?at=12"):
        page = p.client.get(f"/ui/program{at}")
        seq = reflected(page.text)
        api = p.get("cws", "/v1/balances", at_seq=seq).json()
        for row in api["appropriations"]:
            cells = re.search(
                rf'data-appropriation="{row["appropriation_id"]}">(.*?)</tr>', page.text, re.S
            )
            assert cells, row["appropriation_id"]
            assert dollars(row["authorised"]) in cells.group(1)
            assert dollars(row["expended"]) in cells.group(1)
        for award in api["awards"]:
            assert f'data-award="{award["award_id"]}"' in page.text
            assert dollars(award["cash_on_hand"]) in page.text


def test_an_award_page_has_its_sf425_lines_and_every_movement_linked_to_its_entry(
    lite: tuple[Program, dict[str, str]],
) -> None:
    p, _ = lite
    sign_in(p.client, p.tokens["board"])
    page = p.client.get("/ui/awards/A-2022-007")
    api = p.get("board", "/v1/awards/A-2022-007/sf425", at_seq=reflected(page.text)).json()
    for line, cents in api["sf425"].items():
        row = re.search(rf'data-line="{line}">(.*?)</tr>', page.text, re.S)
        assert row and dollars(cents) in row.group(1), line
    linked = [int(s) for s in re.findall(r'href="/ui/entries/(\d+)"', page.text)]
    assert len(linked) == 3  # the award, its drawdown, IRC's expenditure
    entry = p.client.get(f"/ui/entries/{linked[0]}")
    assert 'data-signature="holds"' in entry.text and 'data-inclusion="holds"' in entry.text


def test_as_of_a_seq_or_a_date_and_nothing_else(lite: tuple[Program, dict[str, str]]) -> None:
    p, _ = lite
    sign_in(p.client, p.tokens["oig"])
    assert reflected(p.client.get("/ui/program?at=5").text) == 5
    assert p.client.get("/ui/program?at=2023-13-45").status_code == 422
    assert p.client.get("/ui/program?at=yesterday").status_code == 422
    before = p.client.get("/ui/program?at=1999-01-01")
    assert before.status_code == 422 and "nothing was recorded" in before.text


def test_pages_load_nothing_from_another_site(lite: tuple[Program, dict[str, str]]) -> None:
    p, _ = lite
    sign_in(p.client, p.tokens["cws"])
    answer = p.client.get("/ui/program")
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    page = answer.text
    assert "<svg" in page  # the chart, drawn on the server
    assert not re.search(r"<script", page, re.I)
    assert not re.search(r'(src|href)="(https?:)?//', page)


def test_the_oversight_page_is_the_apis_view_suppressed_as_the_api_suppresses_it(
    lite: tuple[Program, dict[str, str]],
) -> None:
    p, participants = lite
    # CRCL reads one case history: the read is in the log, and in the log of reads.
    sign_in(p.client, p.tokens["crcl"])
    form = p.client.get(f"/ui/participants/{participants['irc']}")
    read = p.client.post(
        f"/ui/participants/{participants['irc']}",
        data={"purpose": "civil_rights_review", "csrf": csrf_of(form.text)},
    )
    assert read.status_code == 200, read.text
    for who, suppressed in (("crcl", False), ("oig", False), ("board", True), ("cws", True)):
        p.client.cookies.clear()
        sign_in(p.client, p.tokens[who])
        page = p.client.get("/ui/oversight")
        assert page.status_code == 200, who
        api = p.get(who, "/v1/oversight", at_seq=reflected(page.text)).json()
        assert api["suppressed"] is suppressed
        shown = re.search(r'data-figure="participants">([^<]*)<', page.text)
        assert shown and html.unescape(shown.group(1)) == str(api["participants"]), who
        assert (">suppressed<" in page.text) is suppressed  # a hidden count, as shown
        accesses = p.client.get("/ui/accesses")
        assert accesses.status_code == (403 if suppressed else 200), who
        if not suppressed:
            assert "civil_rights_review" in accesses.text and p.people["crcl"] in accesses.text
    p.client.cookies.clear()
    sign_in(p.client, p.tokens["irc"])
    assert p.client.get("/ui/oversight").status_code == 403  # program-wide case figures


def test_a_body_too_large_without_a_declared_length_is_a_413_not_a_400(
    lite: tuple[Program, dict[str, str]],
) -> None:
    p, _ = lite

    def chunks() -> Iterator[bytes]:
        for _ in range(64):
            yield b"x" * (32 << 10)  # 2 MiB in all, streamed with no Content-Length

    api = p.client.post("/v1/awards", content=chunks(), headers=p.headers("board"))
    assert api.status_code == 413 and api.json()["type"].endswith("/body-too-large")


def test_the_inspector_verifies_now_and_the_page_says_when_and_what_was_found(
    lite: tuple[Program, dict[str, str]],
) -> None:
    p, _ = lite
    sign_in(p.client, p.tokens["oig"])
    page = p.client.get("/ui/verification")
    assert page.status_code == 200 and "has not been verified here yet" in page.text
    checkpoint = p.get("oig", "/v1/checkpoint").json()
    assert f'data-size="{checkpoint["size"]}"' in page.text and checkpoint["root"] in page.text
    assert p.client.post("/ui/verification", data={"csrf": "forged"}).status_code == 403
    started = p.client.post("/ui/verification", data={"csrf": csrf_of(page.text)})
    assert started.status_code == 200  # back on the page, following the redirect
    deadline = time.monotonic() + 60
    while 'data-verdict="' not in (page := p.client.get("/ui/verification")).text:
        assert time.monotonic() < deadline, "the verification did not finish"
        time.sleep(0.2)
    assert 'data-verdict="verified"' in page.text and 'data-earlier="PASS"' in page.text
    assert p.people["oig"] in page.text  # who asked
    # The public sees the status, and may not start one.
    p.client.cookies.clear()
    sign_in(p.client, p.tokens["public"])
    public = p.client.get("/ui/verification")
    assert public.status_code == 200 and 'data-verdict="verified"' in public.text
    assert "Verify the whole log now" not in public.text
    assert p.client.post("/ui/verification", data={"csrf": csrf_of(public.text)}).status_code == 403
    assert p.client.get("/ui/bundle").status_code == 403


def test_the_entry_browser_finds_by_type_and_organisation_with_each_signature_checked(
    lite: tuple[Program, dict[str, str]],
) -> None:
    p, _ = lite
    sign_in(p.client, p.tokens["oig"])
    found = p.client.get("/ui/entries", params={"type": "funds.DisbursementRecorded"})
    seqs = [int(s) for s in re.findall(r'data-entry="(\d+)"', found.text)]
    assert len(seqs) == 2 and seqs == sorted(seqs, reverse=True)
    assert found.text.count('data-signature="holds"') == 2
    irc = p.client.get("/ui/entries", params={"org": "org:irc"}).text
    for seq in re.findall(r'data-entry="(\d+)"', irc):
        event = read_event(p.system.app.store.read_rows(int(seq), 1)[0][2])  # type: ignore[arg-type]
        assert event["org"] == "org:irc"
    below = p.client.get("/ui/entries", params={"before": seqs[0]}).text
    assert f'data-entry="{seqs[0]}"' not in below and f'data-entry="{seqs[0] - 1}"' in below
    assert p.client.get("/ui/entries?at=3").text.count("data-entry=") == 4  # entries 0 to 3
    bundle = p.client.get("/ui/bundle")
    assert bundle.status_code == 200 and bundle.content[:2] == b"\x1f\x8b"  # gzip
    p.client.cookies.clear()
    sign_in(p.client, p.tokens["cws"])
    assert p.client.get("/ui/entries").status_code == 403


def test_a_table_longer_than_a_screen_is_cut_into_pages_on_the_server(
    lite: tuple[Program, dict[str, str]],
) -> None:
    p, _ = lite
    for n in range(60):
        body = {**AWARD, "award_id": f"A-2023-{n:03d}", "amount_cents": 1_000_00}
        assert p.post("board", "/v1/awards", body).status_code == 201
    sign_in(p.client, p.tokens["cws"])
    first = p.client.get("/ui/program").text
    second = p.client.get("/ui/program", params={"page": 2}).text
    rows = [re.findall(r'data-award="([^"]+)"', page) for page in (first, second)]
    assert len(rows[0]) == 50 and len(rows[1]) == 12
    assert not set(rows[0]) & set(rows[1])
    assert "Page 1 of 2 (62 awards)" in first and 'href="?page=2" rel="next"' in first
    beyond = p.client.get("/ui/program", params={"page": 99}).text
    assert re.findall(r'data-award="([^"]+)"', beyond) == rows[1]  # the last page
    assert p.client.get("/ui/program", params={"page": 0}).status_code == 422
