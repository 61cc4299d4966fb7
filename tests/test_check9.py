"""Check 9: a log that breaks each funds and case rule, written around the domain, is caught."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from domain.funds import Appropriation, Award
from ledger.application import LedgerApplication
from ledger.settings import persistence_env
from ledger.signing import Signer, SigningKey
from ledger.transparency import LogSigner
from tools.cli import app as cli


class BareLedger:
    """A ledger application with real signatures and keys, but none of the program's rules:
    a way around the domain, to write what it would refuse."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.app = LedgerApplication(env=persistence_env(url))
        self.board = Signer("user:chair", SigningKey.generate("org:board", ("board",)))
        self.log_key = Ed25519PrivateKey.generate()
        self.app.open_ledger(
            origin="cmpp.example.gov/ledger/bad",
            root=self.board,
            log_public=self.log_key.public_key().public_bytes_raw(),
        )
        self.broken: dict[int, str] = {}

    def signer(self, org: str, role: str) -> Signer:
        signer = Signer(f"user:{org[4:]}", SigningKey.generate(org, (role,)))
        self.app.register_key(self.board, signer.key.public_key, org, [role])
        return signer

    def save(self, aggregate: Any, signer: Signer, rule: str | None = None) -> None:
        """Save; if `rule`, the entry breaks it and check 9 must say so at this seq."""
        seq = self.app.store.head().size
        self.app.save(aggregate, signer=signer)
        if rule:
            self.broken[seq] = rule

    def assert_verify_reports_exactly_what_was_broken(self, tmp_path: Path) -> None:
        LogSigner(self.app.store, self.app.origin, self.log_key).checkpoint()
        self.app.close()
        result = CliRunner().invoke(
            cli,
            ["verify", "--json"],
            env={"CMPP_DATABASE_URL": self.url, "CMPP_DATA_DIR": str(tmp_path)},
        )
        assert result.exit_code == 1, result.output
        report = json.loads(result.stdout)
        # Signatures, keys and chain are all sound: only the program's rules break.
        assert {c["number"] for c in report["checks"] if c["status"] == "FAIL"} == {9}
        check9 = next(c for c in report["checks"] if c["number"] == 9)
        assert {f["seq"]: f["message"].split(":")[0] for f in check9["findings"]} == self.broken


def test_verify_reports_each_funds_rule_broken_around_the_domain(
    database_url: str, tmp_path: Path
) -> None:
    bad = BareLedger(database_url)
    board, save = bad.board, bad.save
    cws, irc = bad.signer("org:cws", "fiscal_agent"), bad.signer("org:irc", "grantee")

    save(
        Appropriation(
            appropriation_id="FY2022",
            fiscal_year=2022,
            public_law="P.L. 117-103",
            amount_cents=1_000_00,
            available_until="2024-09-30",
        ),
        board,
    )
    award = Award(
        award_id="A-1",
        appropriation_id="FY2022",
        grantee="org:irc",
        amount_cents=900_00,
        period_start="2022-10-01",
        period_end="2023-09-30",
        method="advance",
    )
    save(award, board)
    save(
        Award(
            award_id="A-2",
            appropriation_id="FY2022",
            grantee="org:irc",
            amount_cents=200_00,
            period_start="2022-10-01",
            period_end="2023-09-30",
            method="advance",
        ),
        board,
        "award-within-appropriation",
    )
    award.record_disbursement(
        award_id="A-1",
        disbursement_id="D-1",
        amount_cents=950_00,
        payment_ref="PAY-1",
        paid_on="2022-11-01",
    )
    save(award, cws, "disbursement-within-award")
    award.receive_refund(
        award_id="A-1",
        refund_id="R-1",
        amount_cents=1_00,
        received_on="2022-12-01",
        payment_ref="PAY-1",
    )
    save(award, cws, "payment-ref-once")
    award.report_expenditure(
        award_id="A-1",
        expenditure_id="E-1",
        category="travel",
        amount_cents=10_00,
        incurred_on="2024-01-01",
        service_ids=[],
        document_sha256=None,
    )
    save(award, irc, "spent-within-period")
    award.record_disbursement(
        award_id="A-1",
        disbursement_id="D-2",
        amount_cents=1_00,
        payment_ref="PAY-2",
        paid_on="2024-06-01",
    )
    save(award, cws, "paid-within-period")
    award.report_expenditure(
        award_id="A-1",
        expenditure_id="E-2",
        category="personnel",
        amount_cents=5_000_00,
        incurred_on="2023-01-01",
        service_ids=[],
        document_sha256=None,
    )
    save(award, irc, "expenditure-within-award")
    reimbursed = Award(
        award_id="A-3",
        appropriation_id="FY2022",
        grantee="org:irc",
        amount_cents=50_00,
        period_start="2022-10-01",
        period_end="2023-09-30",
        method="reimbursement",
    )
    save(reimbursed, board, "award-within-appropriation")  # A-2 already over-committed it
    reimbursed.record_disbursement(
        award_id="A-3",
        disbursement_id="D-3",
        amount_cents=10_00,
        payment_ref="PAY-3",
        paid_on="2022-11-01",
    )
    save(reimbursed, cws, "reimbursement-after-expenditure")
    reimbursed.close(award_id="A-3", closed_on="2023-01-01")
    save(reimbursed, board)
    reimbursed.report_expenditure(
        award_id="A-3",
        expenditure_id="E-3",
        category="travel",
        amount_cents=1_00,
        incurred_on="2023-01-02",
        service_ids=[],
        document_sha256=None,
    )
    save(reimbursed, irc, "closed-award")
    bad.assert_verify_reports_exactly_what_was_broken(tmp_path)


def test_verify_reports_each_case_rule_broken_around_the_domain(
    database_url: str, tmp_path: Path
) -> None:
    from domain.cases import Participant

    bad = BareLedger(database_url)
    save = bad.save
    irc, baker = bad.signer("org:irc", "grantee"), bad.signer("org:baker", "grantee")

    who = Participant(
        participant_id="P-1",
        grantee="org:irc",
        enrolled_on="2023-01-09",
        referral_source="ICE ERO",
        language="es",
        age_band="35-44",
        gender="female",
        nationality="PE",
        pii_sha256="ab" * 32,
    )
    save(who, irc)
    who.give_consent(
        participant_id="P-1",
        consent_id="C-1",
        services=["case_management"],
        share_with=["legal_service_provider"],
        method="written",
        language="es",
        interpreter=True,
        form_version="1",
        given_on="2023-01-10",
        expires_on=None,
    )
    save(who, irc)
    who.deliver_service(
        participant_id="P-1",
        service_id="S-1",
        service_type="mental_health",
        delivered_on="2023-01-11",
        minutes=30,
        language="es",
        interpreter=True,
        notes_sha256=None,
    )
    save(who, irc, "service-with-consent")
    who.deliver_service(
        participant_id="P-1",
        service_id="S-2",
        service_type="case_management",
        delivered_on="2023-01-09",
        minutes=30,
        language="es",
        interpreter=True,
        notes_sha256=None,
    )
    save(who, irc, "service-with-consent")  # the day before the consent was given
    who.refer(
        participant_id="P-1",
        referral_id="R-1",
        to_kind="housing",
        consent_id="C-1",
        made_on="2023-01-12",
    )
    save(who, irc, "referral-with-release")
    who.deliver_service(
        participant_id="P-1",
        service_id="S-3",
        service_type="case_management",
        delivered_on="2023-01-12",
        minutes=30,
        language="es",
        interpreter=True,
        notes_sha256=None,
    )
    save(who, baker, "own-participant")
    who.give_consent(
        participant_id="P-1",
        consent_id="C-2",
        services=["legal_orientation"],
        share_with=[],
        method="oral",
        language="es",
        interpreter=True,
        form_version="1",
        given_on="2023-01-10",
        expires_on="2023-01-31",
    )
    save(who, irc)
    who.deliver_service(
        participant_id="P-1",
        service_id="S-4",
        service_type="legal_orientation",
        delivered_on="2023-02-01",
        minutes=30,
        language="es",
        interpreter=True,
        notes_sha256=None,
    )
    save(who, irc, "service-with-consent")  # the day after the consent expired
    who.withdraw_consent(participant_id="P-1", consent_id="C-1", withdrawn_on="2023-01-20")
    save(who, irc)
    who.deliver_service(
        participant_id="P-1",
        service_id="S-5",
        service_type="case_management",
        delivered_on="2023-01-20",
        minutes=30,
        language="es",
        interpreter=True,
        notes_sha256=None,
    )
    save(who, irc, "service-with-consent")  # on the day it was withdrawn
    bad.assert_verify_reports_exactly_what_was_broken(tmp_path)


def test_verify_reports_a_control_character_written_around_the_domain(
    database_url: str, tmp_path: Path
) -> None:
    bad = BareLedger(database_url)
    bad.save(
        Appropriation(
            appropriation_id="FY2022",
            fiscal_year=2022,
            public_law="P.L. 117-103\x00",
            amount_cents=1_000_00,
            available_until="2024-09-30",
        ),
        bad.board,
        "plain-text",
    )
    bad.assert_verify_reports_exactly_what_was_broken(tmp_path)
