"""What the dashboard's tests share: a program with money and cases for two grantees,
and a browser-less sign-in."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.api_support import AWARD, Program, fund

BAKER_AWARD = {**AWARD, "award_id": "A-2022-011", "grantee": "org:bakerripley"}
ENROLMENT = {
    "enrolled_on": "2023-01-09",
    "referral_source": "ice_ero",
    "language": "es",
    "age_band": "35-44",
    "gender": "female",
    "nationality": "PE",
    "pii": {"name": "Ana Example"},
}
CONSENT = {
    "services": ["case_management"],
    "share_with": [],
    "method": "written",
    "language": "es",
    "interpreter": True,
    "form_version": "CMPP-C-2022.2",
    "given_on": "2023-01-10",
    "expires_on": None,
}
SERVICE = {
    "service_type": "case_management",
    "delivered_on": "2023-01-12",
    "minutes": 45,
    "language": "es",
    "interpreter": True,
    "notes": "Went through the hearing notice.",
}


def _made(p: Program, who: str, path: str, body: Any) -> Any:
    answer = p.post(who, path, body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def activity(p: Program) -> dict[str, str]:
    """Money and cases: awards to IRC and BakerRipley, drawdowns, spending, and one
    participant of each with a consent and a service. Returns the participants."""
    fund(p)
    _made(p, "board", "/v1/awards", BAKER_AWARD)
    for award, ref, cents in (
        ("A-2022-007", "PAY-1", 250_000_00),
        ("A-2022-011", "PAY-2", 90_000_00),
    ):
        body = {
            "disbursement_id": f"D-{ref}",
            "amount_cents": cents,
            "paid_on": "2023-02-01",
            "payment_ref": ref,
        }
        _made(p, "cws", f"/v1/awards/{award}/disbursements", body)
    spend = {
        "expenditure_id": "E-1",
        "category": "personnel",
        "amount_cents": 12_345_67,
        "incurred_on": "2023-02-15",
    }
    _made(p, "irc", "/v1/awards/A-2022-007/expenditures", spend)
    participants = {}
    for who in ("irc", "baker"):
        pid = _made(p, who, "/v1/participants", ENROLMENT)["participant_id"]
        _made(p, who, f"/v1/participants/{pid}/consents", CONSENT)
        _made(p, who, f"/v1/participants/{pid}/services", SERVICE)
        participants[who] = pid
    return participants


def sign_in(client: TestClient, token: str) -> Any:
    form = client.get("/ui/sign-in")
    found = re.search(r'name="form_token" value="([^"]+)"', form.text)
    assert found, form.text
    return client.post(
        "/ui/sign-in", data={"token": token, "form_token": found.group(1)}, follow_redirects=False
    )


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found.group(1)


def reflected(page: str) -> int:
    found = re.search(r'data-seq="(\d+)"', page)
    assert found, "the page does not say which entry it reflects"
    return int(found.group(1))
