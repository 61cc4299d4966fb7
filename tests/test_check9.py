"""Check 9: a log that breaks each funds and case rule, written around the domain, is caught."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from domain import catalogue as c
from ledger.signing import Signer
from tests.helpers import BareLedger
from tools.cli import app as cli


class BrokenLedger(BareLedger):
    def assert_verify_reports_exactly_what_was_broken(self, tmp_path: Path) -> str:
        """Check 9 alone fails, with one finding per broken entry naming its rule; the
        report, as `cmpp verify --json` prints it, is returned."""
        self.log.checkpoint()
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
        return result.stdout


def test_verify_reports_each_funds_rule_broken_around_the_domain(
    database_url: str, tmp_path: Path
) -> None:
    bad = BrokenLedger(database_url)
    board = bad.board
    cws, irc = bad.signer("org:cws", "fiscal_agent"), bad.signer("org:irc", "grantee")

    def award(award_id: str, cents: int, method: str, breaks: str | None = None) -> None:
        bad.record(
            board,
            c.AWARD_MADE,
            breaks,
            award_id=award_id,
            appropriation_id="FY2022",
            grantee="org:irc",
            amount_cents=cents,
            period_start="2022-10-01",
            period_end="2023-09-30",
            method=method,
        )

    def pay(award_id: str, n: int, cents: int, on: str, breaks: str | None = None) -> None:
        bad.record(
            cws,
            c.DISBURSEMENT_RECORDED,
            breaks,
            award_id=award_id,
            disbursement_id=f"D-{n}",
            amount_cents=cents,
            payment_ref=f"PAY-{n}",
            paid_on=on,
        )

    def spend(award_id: str, n: int, cents: int, on: str, breaks: str | None = None) -> None:
        bad.record(
            irc,
            c.EXPENDITURE_REPORTED,
            breaks,
            award_id=award_id,
            expenditure_id=f"E-{n}",
            category="travel",
            amount_cents=cents,
            incurred_on=on,
            services_sha256=None,
            document_sha256=None,
        )

    bad.record(
        board,
        c.APPROPRIATION_RECORDED,
        appropriation_id="FY2022",
        fiscal_year=2022,
        public_law="P.L. 117-103",
        amount_cents=1_000_00,
        available_until="2024-09-30",
    )
    award("A-1", 900_00, "advance")
    award("A-2", 200_00, "advance", "award-within-appropriation")
    pay("A-1", 1, 950_00, "2022-11-01", "disbursement-within-award")
    bad.record(
        cws,
        c.REFUND_RECEIVED,
        "payment-ref-once",
        award_id="A-1",
        refund_id="R-1",
        amount_cents=1_00,
        received_on="2022-12-01",
        payment_ref="PAY-1",
    )
    spend("A-1", 1, 10_00, "2024-01-01", "spent-within-period")
    pay("A-1", 2, 1_00, "2024-06-01", "paid-within-period")
    spend("A-1", 2, 5_000_00, "2023-01-01", "expenditure-within-award")
    award("A-3", 50_00, "reimbursement", "award-within-appropriation")  # A-2 over-committed it
    pay("A-3", 3, 10_00, "2022-11-01", "reimbursement-after-expenditure")
    bad.record(board, c.AWARD_CLOSED, award_id="A-3", closed_on="2023-01-01")
    spend("A-3", 3, 1_00, "2023-01-02", "closed-award")
    bad.assert_verify_reports_exactly_what_was_broken(tmp_path)


def test_verify_reports_each_case_rule_broken_around_the_domain(
    database_url: str, tmp_path: Path
) -> None:
    bad = BrokenLedger(database_url)
    irc, baker = bad.signer("org:irc", "grantee"), bad.signer("org:baker", "grantee")

    def consent(consent_id: str, services: list[str], share: list[str], until: str | None) -> None:
        bad.record(
            irc,
            c.CONSENT_GIVEN,
            participant_id="P-1",
            consent_id=consent_id,
            services=services,
            share_with=share,
            method="written",
            language="es",
            interpreter=True,
            form_version="1",
            given_on="2023-01-10",
            expires_on=until,
        )

    def service(n: int, kind: str, on: str, breaks: str, by: Signer = irc) -> None:
        bad.record(
            by,
            c.SERVICE_DELIVERED,
            breaks,
            participant_id="P-1",
            service_id=f"S-{n}",
            service_type=kind,
            delivered_on=on,
            minutes=30,
            language="es",
            interpreter=True,
            notes_sha256=None,
        )

    bad.record(
        irc,
        c.PARTICIPANT_ENROLLED,
        participant_id="P-1",
        grantee="org:irc",
        enrolled_on="2023-01-09",
        referral_source="ice_ero",
        language="es",
        age_band="35-44",
        gender="female",
        nationality="PE",
        pii_sha256="ab" * 32,
    )
    consent("C-1", ["case_management"], ["legal_service_provider"], None)
    service(1, "mental_health", "2023-01-11", "service-with-consent")
    service(2, "case_management", "2023-01-09", "service-with-consent")  # before the consent
    bad.record(
        irc,
        c.REFERRAL_MADE,
        "referral-with-release",
        participant_id="P-1",
        referral_id="R-1",
        to_kind="housing",
        consent_id="C-1",
        made_on="2023-01-12",
    )
    service(3, "case_management", "2023-01-12", "own-participant", by=baker)
    consent("C-2", ["legal_orientation"], [], "2023-01-31")
    service(4, "legal_orientation", "2023-02-01", "service-with-consent")  # after it expired
    bad.record(
        irc, c.CONSENT_WITHDRAWN, participant_id="P-1", consent_id="C-1", withdrawn_on="2023-01-20"
    )
    service(5, "case_management", "2023-01-20", "service-with-consent")  # on its withdrawal
    bad.assert_verify_reports_exactly_what_was_broken(tmp_path)


def test_verify_reports_malformed_data_and_control_characters_written_around_the_domain(
    database_url: str, tmp_path: Path
) -> None:
    bad = BrokenLedger(database_url)
    appropriation = {
        "fiscal_year": 2022,
        "amount_cents": 1_000_00,
        "available_until": "2024-09-30",
    }
    bad.record(
        bad.board,
        c.APPROPRIATION_RECORDED,
        "plain-text",
        appropriation_id="FY2022",
        public_law="P.L. 117-103\x00",
        **appropriation,
    )
    bad.record(
        bad.board,
        c.APPROPRIATION_RECORDED,
        "well-formed",
        appropriation_id="FY2023",
        public_law="P.L. 118-1",
        **{**appropriation, "available_until": "2024-02-30"},
    )
    bad.assert_verify_reports_exactly_what_was_broken(tmp_path)


def test_verify_flags_free_text_forged_into_case_events_without_repeating_it(
    database_url: str, tmp_path: Path
) -> None:
    """The writers refuse free text where a published code belongs (tests/test_cases_story);
    written around them, check 9 flags it by the same declaration, and never repeats it."""
    typed_in = "John Doe A123456789"
    bad = BrokenLedger(database_url)
    irc = bad.signer("org:irc", "grantee")

    def enrol(pid: str, source: str, breaks: str | None = None) -> None:
        bad.record(
            irc,
            c.PARTICIPANT_ENROLLED,
            breaks,
            participant_id=pid,
            grantee="org:irc",
            enrolled_on="2023-01-09",
            referral_source=source,
            language="es",
            age_band="35-44",
            gender="female",
            nationality="PE",
            pii_sha256="ab" * 32,
        )

    def consent(consent_id: str, share: list[str], breaks: str | None = None) -> None:
        bad.record(
            irc,
            c.CONSENT_GIVEN,
            breaks,
            participant_id="P-1",
            consent_id=consent_id,
            services=["case_management"],
            share_with=share,
            method="written",
            language="es",
            interpreter=True,
            form_version="1",
            given_on="2023-01-10",
            expires_on=None,
        )

    def complaint(
        cid: str, pid: str | None, category: str, narrative: str | None, breaks: str | None = None
    ) -> None:
        bad.record(
            irc,
            c.COMPLAINT_FILED,
            breaks,
            complaint_id=cid,
            participant_id=pid,
            category=category,
            filed_on="2023-02-01",
            narrative_sha256=narrative,
        )

    def resolve(cid: str, outcome: str, narrative: str | None, breaks: str) -> None:
        bad.record(
            irc,
            c.COMPLAINT_RESOLVED,
            breaks,
            complaint_id=cid,
            resolved_on="2023-02-10",
            outcome=outcome,
            narrative_sha256=narrative,
        )

    enrol("P-1", "ice_ero")
    consent("C-1", ["shelter"])
    consent("C-2", ["shelter", typed_in], "published-code")
    bad.record(
        irc,
        c.REFERRAL_MADE,
        "published-code",
        participant_id="P-1",
        referral_id="R-1",
        to_kind=typed_in,
        consent_id="C-1",
        made_on="2023-01-12",
    )
    complaint("CP-1", "P-1", typed_in, None, "published-code")
    complaint("CP-2", "P-1", "privacy", "cd" * 32)
    resolve("CP-2", typed_in, None, "published-code")
    # A narrative is kept under a participant's key: a complaint about no one has none.
    complaint("CP-3", None, "conduct", "ef" * 32, "narrative")
    resolve("CP-3", "withdrawn", "ef" * 32, "narrative")
    bad.record(
        irc,
        c.CASE_CLOSED,
        "published-code",
        participant_id="P-1",
        closed_on="2023-03-01",
        reason=typed_in,
        narrative_sha256=None,
    )
    bad.record(
        irc,
        c.PARTICIPANT_DATA_ERASED,
        "published-code",
        participant_id="P-1",
        erased_on="2023-06-01",
        authority=typed_in,
    )
    enrol("P-2", "Officer Smith, ICE Houston", "published-code")
    report = bad.assert_verify_reports_exactly_what_was_broken(tmp_path)
    assert "John Doe" not in report and "Officer Smith" not in report
    assert "closure reasons (services_completed, " in report  # the finding names the list
