"""A program of organisations and people, each with a token, and the API over it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

from fastapi.testclient import TestClient

from api.app import create_app
from api.services import Services
from domain.tokens import Tokens
from projections.people import add_person, new_person
from projections.settings import throwaway_settings
from projections.system import System

ORGS = [
    ("org:board", "National Board", "board"),
    ("org:cws", "Church World Service", "fiscal_agent"),
    ("org:irc", "International Rescue Committee", "grantee"),
    ("org:bakerripley", "BakerRipley", "grantee"),
    ("org:crcl", "CRCL", "oversight"),
    ("org:dhs-oig", "DHS OIG", "inspector"),
]
# (name in tests, org, role)
PEOPLE = [
    ("board", "org:board", "board"),
    ("cws", "org:cws", "fiscal_agent"),
    ("irc", "org:irc", "grantee"),
    ("baker", "org:bakerripley", "grantee"),
    ("crcl", "org:crcl", "oversight"),
    ("oig", "org:dhs-oig", "inspector"),
    ("public", "org:board", "public"),
]


# The money most API tests start from: FY2022 appropriated, award A-2022-007 to IRC.
APPROPRIATION = {
    "appropriation_id": "FY2022",
    "fiscal_year": 2022,
    "public_law": "P.L. 117-103",
    "amount_cents": 15_000_000_00,
    "available_until": "2024-09-30",
}
AWARD = {
    "award_id": "A-2022-007",
    "appropriation_id": "FY2022",
    "grantee": "org:irc",
    "amount_cents": 1_000_000_00,
    "period_start": "2023-01-01",
    "period_end": "2024-09-30",
    "method": "advance",
}


@dataclass
class Program:
    client: TestClient
    system: System
    people: dict[str, str] = field(default_factory=dict)  # name -> person id
    tokens: dict[str, str] = field(default_factory=dict)  # name -> token

    def headers(self, who: str, key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        headers["Idempotency-Key"] = key or uuid4().hex
        return headers

    def post(self, who: str, path: str, body: Any, key: str | None = None) -> Any:
        return self.client.post(path, json=body, headers=self.headers(who, key))

    def get(self, who: str, path: str, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.headers(who))


def fund(p: Program) -> None:
    """APPROPRIATION recorded and AWARD made, by the board, through the API."""
    for path, body in (("/v1/appropriations", APPROPRIATION), ("/v1/awards", AWARD)):
        made = p.post("board", path, body)
        assert made.status_code == 201, made.text


@contextmanager
def program(url: str, data_dir: Path) -> Iterator[Program]:
    """A ledger with the program's organisations, one person of each role, a token each."""
    settings = throwaway_settings(url, data_dir)
    system = System(settings)
    system.create_ledger()
    root = system.root_signer()
    for org_id, name, kind in ORGS:
        system.app.register_organisation(root, org_id=org_id, name=name, kind=kind)
    tokens = Tokens(system.app.recorder.datastore)  # type: ignore[attr-defined]
    people, issued = {}, {}
    for name, org, role in PEOPLE:
        added = add_person(system, root, new_person(org, role), {"name": f"{name} tester"})
        people[name] = added.person_id
        issued[name] = tokens.issue(added.person_id, timedelta(hours=1)).token
    with TestClient(create_app(settings, Services(settings, system))) as client:
        yield Program(client, system, people, issued)
