"""The reconciliation page: a payment file uploaded by the fiscal agent or the inspector,
matched by the API's own functions (its counts are POST /v1/reconciliations' for the same
file), each category drawn with its rows; a form with its CSRF token; nothing written."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.dashboard import reconciliation
from api.dashboard.viewer import dollars
from tests.api_support import Program, program
from tests.dashboard_support import activity, csrf_of, reflected, sign_in

# Each category as the API names it, and whose amounts its rows carry: a side they have
# none of is totalled as none on the page (the API says 0).
CATEGORIES = {
    "matched": ("ledger", "bank"),
    "missing_from_ledger": ("bank",),
    "missing_from_bank": ("ledger",),
    "mismatched": ("ledger", "bank"),
    "duplicates": ("bank",),
    "paid_after_reversal": ("ledger", "bank"),
}
# activity() disburses PAY-1 (A-2022-007, $250,000.00) and PAY-2 (A-2022-011, $90,000.00),
# both paid on 2023-02-01; each test adds PAY-3 to A-2022-007, which the file leaves out.
PAYMENTS = "\n".join(
    [
        "payment_ref,paid_on,amount_cents,payee",
        "PAY-1,2023-02-01,25000000,International Rescue Committee",
        "PAY-2,2023-02-01,9000001,BakerRipley",  # one cent more than the ledger's
        "PAY-77,2023-02-03,4200,Somebody Else",  # no such disbursement
    ]
).encode()


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[Program]:
    with program(f"sqlite:///{tmp_path / 'ledger.sqlite3'}", tmp_path / "data") as p:
        activity(p)
        body = {
            "disbursement_id": "D-PAY-3",
            "amount_cents": 5_000_00,
            "paid_on": "2023-03-01",
            "payment_ref": "PAY-3",
        }
        made = p.post("cws", "/v1/awards/A-2022-007/disbursements", body)
        assert made.status_code == 201, made.text
        yield p


def _upload(p: Program, data: bytes, csrf: str | None) -> Any:
    form = {} if csrf is None else {"csrf": csrf}
    files = {"file": ("payments.csv", data, "text/csv")}
    return p.client.post("/ui/reconciliation", data=form, files=files)


def _form(p: Program) -> str:
    page = p.client.get("/ui/reconciliation")
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def _size(p: Program) -> int:
    return p.system.app.store.head().size


def _category(page: str, name: str) -> list[str]:
    """The payment references of a category's table, in order."""
    table = re.search(rf'<table data-category="{name}">(.*?)</table>', page, re.S)
    assert table, f"no table for {name}"
    return re.findall(r'<tr data-ref="([^"]+)"', table.group(1))


def _summary(page: str, name: str) -> tuple[int, list[str]]:
    """A category's count and its totals as shown in the summary."""
    row = re.search(rf'<tr data-summary="{name}">(.*?)</tr>', page, re.S)
    assert row, f"no summary for {name}"
    count = re.search(r'data-count="(\d+)"', row.group(1))
    assert count, name
    return int(count.group(1)), re.findall(r'<td class="num">([^<]*)</td>', row.group(1))


def test_a_fiscal_agent_sees_each_category_with_its_rows_as_the_api_counts_them(
    lite: Program,
) -> None:
    p = lite
    size = _size(p)
    sign_in(p.client, p.tokens["cws"])
    form = p.client.get("/ui/reconciliation")
    assert form.status_code == 200
    assert 'enctype="multipart/form-data"' in form.text and 'type="file"' in form.text
    assert '<label for="file">' in form.text and 'name="csrf"' in form.text
    assert 'id="as-of"' not in form.text  # a reconciliation is of now

    page = _upload(p, PAYMENTS, csrf_of(form.text))
    assert page.status_code == 200, page.text
    assert "text/html" in page.headers["content-type"]
    assert 'data-clean="false"' in page.text
    assert _category(page.text, "matched") == ["PAY-1"]
    assert _category(page.text, "mismatched") == ["PAY-2"]
    assert _category(page.text, "missing_from_ledger") == ["PAY-77"]
    assert _category(page.text, "missing_from_bank") == ["PAY-3"]
    assert _category(page.text, "duplicates") == _category(page.text, "paid_after_reversal") == []
    mismatched = re.search(r'<tr data-ref="PAY-2">(.*?)</tr>', page.text, re.S)
    assert mismatched and dollars(90_000_00) in mismatched.group(1)
    assert dollars(90_000_01) in mismatched.group(1)

    api = p.client.post(
        "/v1/reconciliations",
        files={"file": ("payments.csv", PAYMENTS, "text/csv")},
        headers=p.headers("cws"),
    )
    assert api.status_code == 200, api.text
    answer = api.json()
    assert answer["clean"] is False
    assert reflected(page.text) == int(api.headers["CMPP-As-Of-Seq"]) == size - 1
    assert page.headers["CMPP-As-Of-Seq"] == api.headers["CMPP-As-Of-Seq"]
    for name, sides in CATEGORIES.items():
        count, totals = _summary(page.text, name)
        assert count == answer["totals"][name]["count"] == len(answer[name]), name
        assert totals == [
            dollars(answer["totals"][name]["ledger_cents"] if "ledger" in sides else None),
            dollars(answer["totals"][name]["bank_cents"] if "bank" in sides else None),
        ], name
        assert _category(page.text, name) == [r["payment_ref"] for r in answer[name]], name
    assert _size(p) == size  # neither the page nor the API wrote anything


def test_the_inspector_reconciles_and_a_clean_file_says_so(lite: Program) -> None:
    p = lite
    size = _size(p)
    sign_in(p.client, p.tokens["oig"])
    clean = b"\n".join(
        [
            b"payment_ref,paid_on,amount_cents,payee",
            b"PAY-1,2023-02-01,25000000,IRC",
            b"PAY-2,2023-02-01,9000000,BakerRipley",
            b"PAY-3,2023-03-01,500000,IRC",
        ]
    )
    page = _upload(p, clean, _form(p))
    assert page.status_code == 200, page.text
    assert 'data-clean="true"' in page.text
    assert _category(page.text, "matched") == ["PAY-1", "PAY-2", "PAY-3"]
    assert _summary(page.text, "matched") == (3, [dollars(345_000_00)] * 2)
    assert _size(p) == size


def test_a_grantee_and_the_board_may_not_reconcile(lite: Program) -> None:
    p = lite
    size = _size(p)
    for who, home in (("irc", "/ui/grantee"), ("board", "/ui/program")):
        sign_in(p.client, p.tokens[who])
        csrf = csrf_of(p.client.get(home).text)
        shown = p.client.get("/ui/reconciliation")
        assert shown.status_code == 403, who
        assert "text/html" in shown.headers["content-type"]
        posted = _upload(p, PAYMENTS, csrf)
        assert posted.status_code == 403, who
        assert "PAY-77" not in posted.text and "data-category" not in posted.text
    assert _size(p) == size


def test_a_post_without_its_csrf_token_is_refused(lite: Program) -> None:
    p = lite
    size = _size(p)
    sign_in(p.client, p.tokens["cws"])
    _form(p)
    for csrf in (None, "forged"):
        refused = _upload(p, PAYMENTS, csrf)
        assert refused.status_code == 403, csrf
        assert "The form has expired" in refused.text and "data-category" not in refused.text
    assert _size(p) == size


def test_a_malformed_file_shows_the_form_again_with_the_error(lite: Program) -> None:
    p = lite
    size = _size(p)
    sign_in(p.client, p.tokens["cws"])
    csrf = _form(p)
    for data, says in (
        (b"payment_ref,paid_on,amount_cents,payee\nPAY-1,15/01/2023,100,IRC", "line 2"),
        (b"ref,date,amount\nPAY-1,2023-02-01,100", "line 1: the header must be"),
        (b"\x00\x01\x02", "NUL bytes"),
        (b"", "line 1: the header must be"),
    ):
        page = _upload(p, data, csrf)
        assert page.status_code == 422, data
        assert says in page.text and 'role="alert"' in page.text, data
        assert 'type="file"' in page.text and f'name="csrf" value="{csrf}"' in page.text
        assert "data-category" not in page.text
    # No file at all: the form again, asking for one.
    none = p.client.post("/ui/reconciliation", data={"csrf": csrf})
    assert none.status_code == 422 and "Choose a payment file" in none.text
    assert _size(p) == size


def test_a_file_over_the_limit_is_a_413_page(
    lite: Program, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = lite
    size = _size(p)
    sign_in(p.client, p.tokens["cws"])
    csrf = _form(p)
    monkeypatch.setattr(reconciliation, "MAX_UPLOAD_BYTES", len(PAYMENTS) - 1)
    page = _upload(p, PAYMENTS, csrf)
    assert page.status_code == 413
    assert "text/html" in page.headers["content-type"] and "too large" in page.text
    monkeypatch.setattr(reconciliation, "MAX_UPLOAD_BYTES", len(PAYMENTS))
    assert _upload(p, PAYMENTS, csrf).status_code == 200
    assert _size(p) == size


def test_a_long_category_shows_its_first_rows_and_counts_them_all(
    lite: Program, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = lite
    sign_in(p.client, p.tokens["cws"])
    monkeypatch.setattr(reconciliation, "SHOWN_ROWS", 5)
    rows = [f"X-{n},2023-02-01,100,Nobody" for n in range(8)]
    data = "\n".join(["payment_ref,paid_on,amount_cents,payee", *rows]).encode()
    page = _upload(p, data, _form(p))
    assert page.status_code == 200, page.text
    assert _category(page.text, "missing_from_ledger") == [f"X-{n}" for n in range(5)]
    assert _summary(page.text, "missing_from_ledger") == (8, [dollars(None), dollars(800)])
    assert "The first 5 of 8 are shown." in page.text
