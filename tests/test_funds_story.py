"""Funds, told through the application's commands: every rule holds, with its figures."""

from __future__ import annotations

import pytest

from domain.commands import NotPermittedError
from domain.errors import DomainError
from domain.verification import verify_log
from ledger.live import LiveSource
from tests.helpers import RawDatabase
from tests.pilot import fund, open_pilot


def test_an_award_is_paid_spent_refunded_and_closed(database_url: str) -> None:
    pilot = open_pilot(database_url)
    app, award = pilot.app, fund(pilot)

    pilot.pay(award, "D-1", 1_500_00, "2022-10-05")
    with pytest.raises(
        DomainError,
        match=r"^disbursement of \$12,000\.00 exceeds the "
        r"\$8,500\.00 remaining on award A-2022-007$",
    ):
        pilot.pay(award, "D-2", 12_000_00, "2022-11-01")

    pilot.spend(award, "E-1", 900_00, "2022-10-20")
    pilot.refund(award, "R-1", 100_00, "2023-01-10", ref="REF-0001")
    app.amend_award(pilot.board, award_id=award, delta_cents=2_000_00, reason="scope_change")
    pilot.pay(award, "D-3", 500_00, "2023-02-01")
    app.reverse_disbursement(pilot.cws, award_id=award, disbursement_id="D-3", reason="wrong_payee")
    app.close_award(pilot.board, award_id=award, closed_on="2023-12-31")

    figures = app.funds.awards[award]
    assert (
        figures.authorised,
        figures.disbursed,
        figures.reversed,
        figures.refunded,
        figures.expended,
        figures.closed,
    ) == (12_000_00, 2_000_00, 500_00, 100_00, 900_00, True)
    with pytest.raises(DomainError, match="award A-2022-007 is closed"):
        pilot.refund(award, "R-2", 1_00, "2024-01-10", ref="REF-0002")
    with pytest.raises(DomainError, match="award A-2022-007 is closed"):
        pilot.spend(award, "E-2", 1_00, "2022-12-01")

    pilot.log.checkpoint()
    assert verify_log(LiveSource(app.store)).ok


def test_each_funds_rule_refuses_and_writes_nothing(database_url: str) -> None:
    pilot = open_pilot(database_url)
    app, award = pilot.app, fund(pilot, method="reimbursement")
    pilot.spend(award, "E-1", 2_000_00, "2022-10-20")
    pilot.pay(award, "D-1", 1_000_00, "2022-11-01", ref="PAY-1")
    raw = RawDatabase(database_url)
    before = raw.count("ledger_log")

    refused = {
        "award-within-appropriation": lambda: app.make_award(
            pilot.board,
            award_id="A-BIG",
            appropriation_id="FY2022",
            grantee="org:irc",
            amount_cents=15_000_000_00,
            period_start="2022-10-01",
            period_end="2023-09-30",
            method="advance",
        ),
        "reimbursement-after-expenditure": lambda: pilot.pay(award, "D-2", 1_500_00, "2022-11-02"),
        "payment-ref-once": lambda: pilot.pay(award, "D-3", 10_00, "2022-11-02", ref="PAY-1"),
        "paid-within-period": lambda: pilot.pay(award, "D-4", 10_00, "2024-01-15"),
        "spent-within-period": lambda: pilot.spend(award, "E-2", 10_00, "2023-10-01"),
        "expenditure-within-award": lambda: pilot.spend(award, "E-3", 8_000_01, "2023-01-01"),
        "own-award": lambda: pilot.spend(award, "E-4", 10_00, "2023-01-01", signer=pilot.baker),
        "refund-within-cash": lambda: pilot.refund(award, "R-1", 1_000_01, "2023-01-01", ref="R1"),
        "reversal-within-cash": lambda: (
            pilot.refund(award, "R-9", 600_00, "2023-01-01", ref="REF-9"),
            app.reverse_disbursement(
                pilot.cws, award_id=award, disbursement_id="D-1", reason="paid_in_error"
            ),
        ),
        "known-disbursement": lambda: app.reverse_disbursement(
            pilot.cws, award_id=award, disbursement_id="D-404", reason="paid_in_error"
        ),
        "known-award": lambda: pilot.pay("A-404", "D-5", 1, "2022-11-02"),
        "unique-id": lambda: app.register_organisation(
            pilot.board, org_id="org:cws", name="Again", kind="grantee"
        ),
        "integer-cents": lambda: pilot.refund(award, "R-2", 10.5, "2023-01-01", ref="REF-2"),  # type: ignore[arg-type]
    }
    for rule, command in refused.items():
        with pytest.raises(DomainError) as caught:
            command()
        assert caught.value.rule == rule, (rule, str(caught.value))
    assert raw.count("ledger_log") == before + 1  # the one refund the reversal case needed


def test_keys_sign_only_what_their_role_allows(database_url: str) -> None:
    pilot = open_pilot(database_url)
    app, award = pilot.app, fund(pilot)
    with pytest.raises(NotPermittedError, match=r"may not sign funds\.AwardMade"):
        app.make_award(
            pilot.irc,
            award_id="A-X",
            appropriation_id="FY2022",
            grantee="org:irc",
            amount_cents=1_00,
            period_start="2022-10-01",
            period_end="2023-09-30",
            method="advance",
        )
    with pytest.raises(NotPermittedError, match=r"may not sign funds\.DisbursementRecorded"):
        pilot.pay(award, "D-1", 1_00, "2022-11-01", signer=pilot.board)


def test_keys_are_rotated_and_revoked_by_the_board(database_url: str) -> None:
    from ledger.appender import LogWriteError
    from ledger.signing import Signer, SigningKey

    pilot = open_pilot(database_url)
    app, award = pilot.app, fund(pilot)
    # The successor is the same person's: a rotation keeps the holder, person and roles.
    successor = Signer(SigningKey.generate("org:cws", ("fiscal_agent",), pilot.cws.key.person))
    app.rotate_key(pilot.board, pilot.cws.key.key_id, successor.key.public_key, "annual rotation")
    with pytest.raises(LogWriteError, match="revoked"):
        pilot.pay(award, "D-1", 1_00, "2022-11-01")
    pilot.pay(award, "D-1", 1_00, "2022-11-01", signer=successor)
    with pytest.raises(LogWriteError, match=r"may not sign ledger\.KeyRegistered"):
        app.rotate_key(
            successor,
            successor.key.key_id,
            SigningKey.generate("org:cws", ("fiscal_agent",)).public_key,
            "self",
        )


def test_a_fiscal_agent_key_cannot_sign_a_consent(database_url: str) -> None:
    pilot = open_pilot(database_url)
    who = pilot.enrol()
    with pytest.raises(NotPermittedError, match=r"may not sign case\.ConsentGiven"):
        pilot.consent(who, ["case_management"], signer=pilot.cws)
