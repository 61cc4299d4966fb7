"""Ledgers for the program's tests, built through the composition root as `cmpp` builds them.

`open_pilot` is a small pilot: the board, the fiscal agent and two grantees, with keys.
`demo_system` is `cmpp demo`'s pilot. Settings are the tests' own: nothing is read from
the caller's CMPP_* environment.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from domain.application import CMPPApplication
from ledger.signing import Signer, SigningKey
from ledger.transparency import LogSigner
from projections.settings import throwaway_settings
from projections.system import System


def new_system(url: str, data_dir: Path | None = None, **overrides: Any) -> System:
    """A new ledger at `url`, created as `cmpp init` creates it."""
    if data_dir is None:
        data_dir = Path(tempfile.mkdtemp(prefix="cmpp-test-"))
    system = System(throwaway_settings(url, data_dir, **overrides))
    system.create_ledger()
    return system


@dataclass
class Pilot:
    system: System
    board: Signer
    cws: Signer
    irc: Signer
    baker: Signer
    signers: dict[str, Signer] = field(default_factory=dict)

    @property
    def app(self) -> CMPPApplication:
        return self.system.app

    @property
    def log(self) -> LogSigner:
        return self.system.log


def open_pilot(url: str) -> Pilot:
    system = new_system(url)
    app = system.app
    board = system.root_signer("user:chair")
    signers = {}
    for org, name, kind, role in (
        ("org:cws", "Church World Service", "fiscal_agent", "fiscal_agent"),
        ("org:irc", "International Rescue Committee", "grantee", "grantee"),
        ("org:bakerripley", "BakerRipley", "grantee", "grantee"),
    ):
        app.register_organisation(board, org_id=org, name=name, kind=kind, uei=None)
        signer = Signer(f"user:{org[4:]}-officer", SigningKey.generate(org, (role,)))
        app.register_key(board, signer.key.public_key, org, [role])
        signers[org] = signer
    return Pilot(
        system, board, signers["org:cws"], signers["org:irc"], signers["org:bakerripley"], signers
    )


def fund(pilot: Pilot, *, award_cents: int = 10_000_00, method: str = "advance") -> str:
    """FY2022 appropriated, and award A-2022-007 made to IRC; returns the award id."""
    pilot.app.record_appropriation(
        pilot.board,
        appropriation_id="FY2022",
        fiscal_year=2022,
        public_law="P.L. 117-103",
        amount_cents=15_000_000_00,
        available_until="2024-09-30",
    )
    pilot.app.make_award(
        pilot.board,
        award_id="A-2022-007",
        appropriation_id="FY2022",
        grantee="org:irc",
        amount_cents=award_cents,
        period_start="2022-10-01",
        period_end="2023-09-30",
        method=method,
    )
    return "A-2022-007"


def demo_system(url: str, data_dir: Path, *, participants: int, seed: int) -> System:
    """A fresh ledger holding `cmpp demo`'s pilot (keys written under `data_dir`)."""
    from tools.demo import run_demo

    system = new_system(url, data_dir)
    run_demo(system.app, system.keys, system.root_signer(), participants=participants, seed=seed)
    return system
