"""A small pilot for domain tests: the board, the fiscal agent and two grantees, with keys."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domain.application import CMPPApplication
from ledger.settings import persistence_env
from ledger.signing import Signer, SigningKey
from ledger.transparency import LogSigner


@dataclass
class Pilot:
    app: CMPPApplication
    board: Signer
    cws: Signer
    irc: Signer
    baker: Signer
    log_key: Ed25519PrivateKey

    @property
    def log(self) -> LogSigner:
        return LogSigner(self.app.store, self.app.origin, self.log_key)


def open_pilot(url: str) -> Pilot:
    app = CMPPApplication(env=persistence_env(url), vault_key=os.urandom(32))
    board = Signer("user:chair", SigningKey.generate("org:board", ("board",)))
    log_key = Ed25519PrivateKey.generate()
    app.open_ledger(
        origin="cmpp.example.gov/ledger/pilot",
        root=board,
        log_public=log_key.public_key().public_bytes_raw(),
    )
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
    pilot = Pilot(
        app, board, signers["org:cws"], signers["org:irc"], signers["org:bakerripley"], log_key
    )
    pilot.log.checkpoint()
    return pilot


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


def demo_app(url: str, keys: Path, *, participants: int, seed: int) -> CMPPApplication:
    """A fresh ledger holding `cmpp demo`'s pilot (keys written under `keys`)."""
    from ledger.keystore import KeyStore
    from tools.demo import run_demo

    app = CMPPApplication(env=persistence_env(url), vault_key=os.urandom(32))
    board = Signer("user:chair", SigningKey.generate("org:board", ("board",)))
    app.open_ledger(
        origin="cmpp.example.gov/ledger/demo",
        root=board,
        log_public=Ed25519PrivateKey.generate().public_key().public_bytes_raw(),
    )
    run_demo(app, KeyStore(keys, "pass"), board, participants=participants, seed=seed)
    return app
