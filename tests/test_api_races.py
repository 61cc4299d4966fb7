"""Duplicates racing over real HTTP: of many identical requests sent at once with one
Idempotency-Key, one is recorded and every one gets its answer."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.services import Services
from ledger.entry import read_event
from projections.system import System
from tests.api_support import Program, fund, program
from tests.live_server import serving

RACERS = 8


@pytest.fixture
def live(database_url: str, tmp_path: Path) -> Iterator[tuple[Program, str]]:
    with program(database_url, tmp_path / "data") as p:
        fund(p)
        with serving(p.client.app) as url:  # type: ignore[arg-type]
            yield p, url


def _race(url: str, headers: dict[str, str], path: str, body: object) -> list[httpx.Response]:
    def send(_: int) -> httpx.Response:
        with httpx.Client(base_url=url, timeout=60) as client:
            return client.post(path, json=body, headers=headers)

    with ThreadPoolExecutor(RACERS) as pool:
        return list(pool.map(send, range(RACERS)))


def _entries_of(p: Program, event_type: str) -> list[dict[str, object]]:
    rows = p.system.app.store.read_rows(0, p.system.app.store.head().size)
    events = [read_event(state) for _, _, state in rows if state is not None]
    return [e for e in events if e["type"] == event_type]


def test_racing_duplicates_record_once(live: tuple[Program, str]) -> None:
    p, url = live
    body = {
        "disbursement_id": "D-R",
        "amount_cents": 1_00,
        "payment_ref": "PAY-R",
        "paid_on": "2023-01-20",
    }
    answers = _race(url, p.headers("cws", "race-1"), "/v1/awards/A-2022-007/disbursements", body)
    assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
    assert len({a.text for a in answers}) == 1  # every racer got the one answer
    assert len(_entries_of(p, "funds.DisbursementRecorded")) == 1
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == RACERS - 1


def test_racing_new_streams_record_once(live: tuple[Program, str]) -> None:
    """A command that opens a stream (an award) raced: the losers' stream collides."""
    p, url = live
    body = {
        "award_id": "A-RACE",
        "appropriation_id": "FY2022",
        "grantee": "org:bakerripley",
        "amount_cents": 10_00,
        "period_start": "2023-01-01",
        "period_end": "2023-12-31",
        "method": "reimbursement",
    }
    answers = _race(url, p.headers("board", "race-2"), "/v1/awards", body)
    assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
    assert len({a.text for a in answers}) == 1
    made = [e for e in _entries_of(p, "funds.AwardMade") if e["data"]["award_id"] == "A-RACE"]  # type: ignore[index]
    assert len(made) == 1


def test_a_retry_after_a_restart_gets_the_first_answer(database_url: str, tmp_path: Path) -> None:
    body = {
        "appropriation_id": "FY2040",
        "fiscal_year": 2040,
        "public_law": "P.L. 9",
        "amount_cents": 7_00,
        "available_until": "2041-09-30",
    }
    with program(database_url, tmp_path / "data") as p:
        first = p.post("board", "/v1/appropriations", body, key="before-restart")
        headers = p.headers("board", "before-restart")
        settings = p.system.settings
    # A new server process: nothing of the first is kept but the database and the keys.
    again_system = System(settings)
    size = again_system.app.store.head().size
    with TestClient(create_app(settings, Services(settings, again_system))) as client:
        again = client.post("/v1/appropriations", json=body, headers=headers)
    assert again.status_code == 201 and again.json() == first.json()
    with System(settings) as after:
        assert after.app.store.head().size == size
