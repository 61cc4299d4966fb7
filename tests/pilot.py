"""Ledgers for the program's tests, built through the composition root as `cmpp` builds them.

`open_pilot` is a small pilot: the board, the fiscal agent and two grantees, with keys.
`demo_system` is `cmpp demo`'s pilot. Settings are the tests' own: nothing is read from
the caller's CMPP_* environment.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from domain.application import CMPPApplication
from ledger.signing import Signer, SigningKey
from ledger.store import iter_leaves
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

    def events(self, event_type: str) -> list[dict[str, Any]]:
        """The events of one type in the log, in seq order."""
        found = (json.loads(leaf)["event"] for _, leaf in iter_leaves(self.app.store))
        return [event for event in found if event["type"] == event_type]

    # -- the clerks' usual commands, with what a test does not care about filled in ----

    def enrol(
        self,
        pii: dict[str, str] | None = None,
        on: str = "2023-01-09",
        signer: Signer | None = None,
        language: str = "es",
    ) -> str:
        return self.app.enrol_participant(
            signer or self.irc,
            enrolled_on=on,
            referral_source="ice_ero",
            language=language,
            age_band="35-44",
            gender="female",
            nationality="PE",
            pii=pii or {"name": "Ana María Quispe Huamán"},
        )

    def consent(
        self,
        who: str,
        services: list[str],
        *,
        share_with: tuple[str, ...] = (),
        given_on: str = "2023-01-10",
        expires_on: str | None = None,
        signer: Signer | None = None,
    ) -> str:
        return self.app.give_consent(
            signer or self.irc,
            participant_id=who,
            services=services,
            share_with=list(share_with),
            method="written",
            language="es",
            interpreter=True,
            form_version="2023-01",
            given_on=given_on,
            expires_on=expires_on,
        )

    def serve(
        self,
        who: str,
        service_type: str,
        on: str,
        *,
        signer: Signer | None = None,
        notes: str | None = None,
    ) -> str:
        return self.app.deliver_service(
            signer or self.irc,
            participant_id=who,
            service_type=service_type,
            delivered_on=on,
            minutes=30,
            language="es",
            interpreter=True,
            notes=notes,
        )

    def pay(
        self,
        award: str,
        disbursement: str,
        cents: int,
        on: str,
        *,
        ref: str | None = None,
        signer: Signer | None = None,
    ) -> None:
        self.app.record_disbursement(
            signer or self.cws,
            award_id=award,
            disbursement_id=disbursement,
            amount_cents=cents,
            payment_ref=ref or f"PAY-{disbursement}",
            paid_on=on,
        )

    def spend(
        self,
        award: str,
        expenditure: str,
        cents: int,
        on: str,
        *,
        signer: Signer | None = None,
        category: str = "personnel",
    ) -> None:
        self.app.report_expenditure(
            signer or self.irc,
            award_id=award,
            expenditure_id=expenditure,
            category=category,
            amount_cents=cents,
            incurred_on=on,
        )

    def refund(self, award: str, refund: str, cents: int, on: str, *, ref: str) -> None:
        self.app.record_refund(
            self.cws,
            award_id=award,
            refund_id=refund,
            amount_cents=cents,
            received_on=on,
            payment_ref=ref,
        )


def open_pilot(url: str) -> Pilot:
    system = new_system(url)
    app = system.app
    board = system.root_signer()
    signers = {}
    for org, name, kind, role in (
        ("org:cws", "Church World Service", "fiscal_agent", "fiscal_agent"),
        ("org:irc", "International Rescue Committee", "grantee", "grantee"),
        ("org:bakerripley", "BakerRipley", "grantee", "grantee"),
    ):
        app.register_organisation(board, org_id=org, name=name, kind=kind, uei=None)
        person = f"user:{org[4:]}:officer"
        signer = Signer(SigningKey.generate(org, (role,), person))
        app.register_key(board, signer.key.public_key, org, [role], person)
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
    run_demo(system, participants=participants, seed=seed)
    return system
