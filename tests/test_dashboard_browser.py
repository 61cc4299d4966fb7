"""The dashboard in a real browser (Debian's chromium, driven by Playwright): each role
signs in from the keyboard, opens its pages, finds the API's figures for the same entry
on them, and leaves a screenshot of each (PNG) under artifacts/dashboard-<run>/."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.dashboard.viewer import dollars
from tests.api_support import Program, program
from tests.dashboard_support import activity
from tests.live_server import serving

CHROMIUM = Path("/usr/bin/chromium")
# Named by the run: every page of one run together, runs apart.
ARTIFACTS = Path(os.environ.get("CMPP_ARTIFACTS", "artifacts")) / time.strftime(
    "dashboard-%Y%m%d-%H%M%S"
)

if not CHROMIUM.exists():
    if os.environ.get("CI") == "true":
        raise RuntimeError("CI needs Debian's chromium at /usr/bin/chromium (.ci/run installs it)")
    pytest.skip("no /usr/bin/chromium here (apt install chromium)", allow_module_level=True)

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Program, dict[str, str], str]]:
    where = tmp_path_factory.mktemp("dashboard")
    with program(f"sqlite:///{where / 'ledger.sqlite3'}", where / "data") as p:
        participants = activity(p)
        with serving(p.client.app) as base:  # type: ignore[arg-type]
            yield p, participants, base


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


def _signed_in(browser: Browser, base: str, token: str) -> Page:
    page = browser.new_context(base_url=base).new_page()
    page.goto("/ui/sign-in")
    page.focus("#token")  # from the keyboard: type the token, press Enter
    page.keyboard.type(token)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/ui/(program|grantee|verification)$"))
    return page


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _seq(page: Page) -> int:
    return int(page.locator("#reflects [data-seq]").get_attribute("data-seq") or "-1")


def _api(base: str, token: str, path: str, **params: Any) -> Any:
    answer = httpx.get(base + path, params=params, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    return answer.json()


def _program_matches_the_api(page: Page, base: str, token: str) -> None:
    api = _api(base, token, "/v1/balances", at_seq=_seq(page))
    for row in api["appropriations"]:
        cells = page.locator(f'tr[data-appropriation="{row["appropriation_id"]}"]').inner_text()
        assert dollars(row["authorised"]) in cells and dollars(row["expended"]) in cells
    for award in api["awards"]:
        cells = page.locator(f'tr[data-award="{award["award_id"]}"]').inner_text()
        assert dollars(award["authorised"]) in cells and dollars(award["cash_on_hand"]) in cells


@pytest.mark.parametrize("who", ["board", "cws", "crcl", "oig"])
def test_program_and_award_pages_show_the_apis_figures(
    site: tuple[Program, dict[str, str], str], browser: Browser, who: str
) -> None:
    p, _, base = site
    page = _signed_in(browser, base, p.tokens[who])
    assert page.title().startswith("The program at a glance")
    assert page.locator("figure.chart svg").count() == 1
    _program_matches_the_api(page, base, p.tokens[who])
    _shot(page, f"{who}-program")
    page.click("text=A-2022-007")
    page.wait_for_url(re.compile(r"/ui/awards/A-2022-007"))
    api = _api(base, p.tokens[who], "/v1/awards/A-2022-007/sf425", at_seq=_seq(page))
    for line, cents in api["sf425"].items():
        assert dollars(cents) in page.locator(f'tr[data-line="{line}"]').inner_text()
    _shot(page, f"{who}-award")
    # As of the award's making: authorised, and nothing drawn yet.
    made = min(
        int(s or 0)
        for s in page.locator("tr[data-seq]").evaluate_all("rows => rows.map(r => r.dataset.seq)")
    )
    page.fill("#as-of", str(made))
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"at={made}"))
    assert _seq(page) == made
    api = _api(base, p.tokens[who], "/v1/awards/A-2022-007/sf425", at_seq=made)
    for line in ("10a", "10d"):
        cells = page.locator(f'tr[data-line="{line}"]').inner_text()
        assert dollars(api["sf425"][line]) in cells
    assert api["sf425"]["10a"] == 0 and api["sf425"]["10d"] > 0
    page.locator("tr[data-seq] a").first.click()
    assert page.locator("[data-signature]").get_attribute("data-signature") == "holds"
    assert page.locator("[data-inclusion]").get_attribute("data-inclusion") == "holds"
    _shot(page, f"{who}-entry")


def test_a_grantee_sees_its_own_and_not_anothers(
    site: tuple[Program, dict[str, str], str], browser: Browser
) -> None:
    p, participants, base = site
    page = _signed_in(browser, base, p.tokens["irc"])
    grantee = _api(base, p.tokens["irc"], "/v1/grantees/org:irc/balances", at_seq=_seq(page))
    assert page.locator('[data-total="expended"]').inner_text() == dollars(
        grantee["totals"]["expended"]
    )
    assert page.locator('[data-figure="enrolled"]').inner_text() == "1"
    assert "A-2022-011" not in page.content()
    _shot(page, "irc-grantee")
    page.goto(f"/ui/participants/{participants['irc']}")
    page.select_option("#purpose", "case_management")
    page.click("text=Read the case history")
    assert page.locator("text=case.ServiceDelivered").count() >= 1
    _shot(page, "irc-participant")
    for path in ("/ui/awards/A-2022-011", f"/ui/participants/{participants['baker']}"):
        answer = page.goto(path)
        assert answer is not None and answer.status == 404
        assert page.title().startswith("Not found")
    _shot(page, "irc-not-found")
    page.click("text=Sign out")
    page.wait_for_url(re.compile(r"/ui/sign-in$"))
    assert page.goto("/ui/grantee") is not None and page.url.endswith("/ui/sign-in")


@pytest.mark.parametrize("who", ["crcl", "board"])
def test_the_oversight_pages(
    site: tuple[Program, dict[str, str], str], browser: Browser, who: str
) -> None:
    p, _, base = site
    page = _signed_in(browser, base, p.tokens[who])
    page.click("nav >> text=Oversight")
    page.wait_for_url(re.compile(r"/ui/oversight$"))
    api = _api(base, p.tokens[who], "/v1/oversight", at_seq=_seq(page))
    assert page.locator('[data-figure="participants"]').inner_text() == str(api["participants"])
    assert page.locator('[data-figure="services"]').inner_text() == str(
        api["language_access"]["services"]
    )
    _shot(page, f"{who}-oversight")
    if who == "crcl":
        page.click("nav >> text=Reads of records")
        page.wait_for_url(re.compile(r"/ui/accesses$"))
        _shot(page, f"{who}-accesses")


def test_the_fiscal_agent_reconciles_a_payment_file(
    site: tuple[Program, dict[str, str], str], browser: Browser, tmp_path: Path
) -> None:
    p, _, base = site
    payments = tmp_path / "payments.csv"
    payments.write_text(
        "payment_ref,paid_on,amount_cents,payee\n"
        "PAY-1,2023-02-01,25000000,International Rescue Committee\n"
        "PAY-2,2023-02-01,9000001,BakerRipley\n"
        "PAY-77,2023-02-03,4200,Somebody Else\n"
    )
    page = _signed_in(browser, base, p.tokens["cws"])
    page.click("nav >> text=Reconciliation")
    page.set_input_files("input[type=file]", str(payments))
    page.locator("form button[type=submit]").last.click()
    page.wait_for_selector('[data-category="matched"]')
    for category, rows in (("matched", 1), ("mismatched", 1), ("missing_from_ledger", 1)):
        assert page.locator(f'[data-category="{category}"] tbody tr').count() == rows, category
    _shot(page, "cws-reconciliation")


def test_the_inspector_verifies_and_browses_entries(
    site: tuple[Program, dict[str, str], str], browser: Browser
) -> None:
    p, _, base = site
    page = _signed_in(browser, base, p.tokens["oig"])
    page.click("nav >> text=Verification")
    checkpoint = _api(base, p.tokens["oig"], "/v1/checkpoint")
    assert page.locator("[data-size]").get_attribute("data-size") == str(checkpoint["size"])
    page.click("text=Verify the whole log now")
    for _ in range(300):  # the verification runs in the background: reload until done
        if page.locator("[data-verdict]").count():
            break
        page.wait_for_timeout(200)
        page.reload()
    assert page.locator("[data-verdict]").get_attribute("data-verdict") == "verified"
    assert page.locator("[data-earlier]").get_attribute("data-earlier") == "PASS"
    _shot(page, "oig-verification")
    page.click("nav >> text=Entries")
    page.select_option("#type", "funds.DisbursementRecorded")
    page.click("text=Find")
    page.wait_for_url(re.compile(r"type=funds.DisbursementRecorded"))
    assert page.locator("tr[data-entry]").count() == 2
    assert page.locator('[data-signature="holds"]').count() == 2
    _shot(page, "oig-entries")


def test_the_public_sees_the_verification_status_and_nothing_else(
    site: tuple[Program, dict[str, str], str], browser: Browser
) -> None:
    p, _, base = site
    page = browser.new_context(base_url=base).new_page()
    page.goto("/ui/sign-in")
    page.fill("#token", p.tokens["public"])
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/ui/verification$"))
    assert page.locator("text=Verify the whole log now").count() == 0
    _shot(page, "public-verification")
    for path in ("/ui/program", "/ui/oversight", "/ui/entries"):
        answer = page.goto(path)
        assert answer is not None and answer.status == 403, path
