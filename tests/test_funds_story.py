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

    app.record_disbursement(
        pilot.cws,
        award_id=award,
        disbursement_id="D-1",
        amount_cents=1_500_00,
        payment_ref="PAY-0001",
        paid_on="2022-10-05",
    )
    with pytest.raises(
        DomainError,
        match=r"^disbursement of \$12,000\.00 exceeds the "
        r"\$8,500\.00 remaining on award A-2022-007$",
    ):
        app.record_disbursement(
            pilot.cws,
            award_id=award,
            disbursement_id="D-2",
            amount_cents=12_000_00,
            payment_ref="PAY-0002",
            paid_on="2022-11-01",
        )

    app.report_expenditure(
        pilot.irc,
        award_id=award,
        expenditure_id="E-1",
        category="personnel",
        amount_cents=900_00,
        incurred_on="2022-10-20",
    )
    app.record_refund(
        pilot.cws,
        award_id=award,
        refund_id="R-1",
        amount_cents=100_00,
        received_on="2023-01-10",
        payment_ref="REF-0001",
    )
    app.amend_award(pilot.board, award_id=award, delta_cents=2_000_00, reason="scope")
    app.record_disbursement(
        pilot.cws,
        award_id=award,
        disbursement_id="D-3",
        amount_cents=500_00,
        payment_ref="PAY-0003",
        paid_on="2023-02-01",
    )
    app.reverse_disbursement(pilot.cws, award_id=award, disbursement_id="D-3", reason="wrong payee")
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
        app.record_refund(
            pilot.cws,
            award_id=award,
            refund_id="R-2",
            amount_cents=1_00,
            received_on="2024-01-10",
            payment_ref="REF-0002",
        )
    with pytest.raises(DomainError, match="award A-2022-007 is closed"):
        app.report_expenditure(
            pilot.irc,
            award_id=award,
            expenditure_id="E-2",
            category="travel",
            amount_cents=1_00,
            incurred_on="2022-12-01",
        )

    pilot.log.checkpoint()
    assert verify_log(LiveSource(app.store)).ok


def test_each_funds_rule_refuses_and_writes_nothing(database_url: str) -> None:
    pilot = open_pilot(database_url)
    app, award = pilot.app, fund(pilot, method="reimbursement")
    app.report_expenditure(
        pilot.irc,
        award_id=award,
        expenditure_id="E-1",
        category="personnel",
        amount_cents=2_000_00,
        incurred_on="2022-10-20",
    )
    app.record_disbursement(
        pilot.cws,
        award_id=award,
        disbursement_id="D-1",
        amount_cents=1_000_00,
        payment_ref="PAY-1",
        paid_on="2022-11-01",
    )
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
        "reimbursement-after-expenditure": lambda: app.record_disbursement(
            pilot.cws,
            award_id=award,
            disbursement_id="D-2",
            amount_cents=1_500_00,
            payment_ref="PAY-2",
            paid_on="2022-11-02",
        ),
        "payment-ref-once": lambda: app.record_disbursement(
            pilot.cws,
            award_id=award,
            disbursement_id="D-3",
            amount_cents=10_00,
            payment_ref="PAY-1",
            paid_on="2022-11-02",
        ),
        "paid-within-period": lambda: app.record_disbursement(
            pilot.cws,
            award_id=award,
            disbursement_id="D-4",
            amount_cents=10_00,
            payment_ref="PAY-4",
            paid_on="2024-01-15",
        ),
        "spent-within-period": lambda: app.report_expenditure(
            pilot.irc,
            award_id=award,
            expenditure_id="E-2",
            category="travel",
            amount_cents=10_00,
            incurred_on="2023-10-01",
        ),
        "expenditure-within-award": lambda: app.report_expenditure(
            pilot.irc,
            award_id=award,
            expenditure_id="E-3",
            category="travel",
            amount_cents=8_000_01,
            incurred_on="2023-01-01",
        ),
        "own-award": lambda: app.report_expenditure(
            pilot.baker,
            award_id=award,
            expenditure_id="E-4",
            category="travel",
            amount_cents=10_00,
            incurred_on="2023-01-01",
        ),
        "refund-within-cash": lambda: app.record_refund(
            pilot.cws,
            award_id=award,
            refund_id="R-1",
            amount_cents=1_000_01,
            received_on="2023-01-01",
            payment_ref="REF-1",
        ),
        "reversal-within-cash": lambda: (
            app.record_refund(
                pilot.cws,
                award_id=award,
                refund_id="R-9",
                amount_cents=600_00,
                received_on="2023-01-01",
                payment_ref="REF-9",
            ),
            app.reverse_disbursement(pilot.cws, award_id=award, disbursement_id="D-1", reason="?"),
        ),
        "known-disbursement": lambda: app.reverse_disbursement(
            pilot.cws, award_id=award, disbursement_id="D-404", reason="?"
        ),
        "known-award": lambda: app.record_disbursement(
            pilot.cws,
            award_id="A-404",
            disbursement_id="D-5",
            amount_cents=1,
            payment_ref="PAY-5",
            paid_on="2022-11-02",
        ),
        "unique-id": lambda: app.register_organisation(
            pilot.board, org_id="org:cws", name="Again", kind="grantee"
        ),
        "integer-cents": lambda: app.record_refund(
            pilot.cws,
            award_id=award,
            refund_id="R-2",
            amount_cents=10.5,  # type: ignore[arg-type]
            received_on="2023-01-01",
            payment_ref="REF-2",
        ),
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
        app.record_disbursement(
            pilot.board,
            award_id=award,
            disbursement_id="D-1",
            amount_cents=1_00,
            payment_ref="P",
            paid_on="2022-11-01",
        )


def test_keys_are_rotated_and_revoked_by_the_board(database_url: str) -> None:
    from ledger.appender import LogWriteError
    from ledger.signing import Signer, SigningKey

    pilot = open_pilot(database_url)
    app, award = pilot.app, fund(pilot)
    successor = Signer("user:cws-officer", SigningKey.generate("org:cws", ("fiscal_agent",)))
    app.rotate_key(pilot.board, pilot.cws.key.key_id, successor.key.public_key, "annual rotation")
    with pytest.raises(LogWriteError, match="revoked"):
        app.record_disbursement(
            pilot.cws,
            award_id=award,
            disbursement_id="D-1",
            amount_cents=1_00,
            payment_ref="P-1",
            paid_on="2022-11-01",
        )
    app.record_disbursement(
        successor,
        award_id=award,
        disbursement_id="D-1",
        amount_cents=1_00,
        payment_ref="P-1",
        paid_on="2022-11-01",
    )
    with pytest.raises(LogWriteError, match=r"may not sign ledger\.KeyRegistered"):
        app.rotate_key(
            successor,
            successor.key.key_id,
            SigningKey.generate("org:cws", ("fiscal_agent",)).public_key,
            "self",
        )


def test_a_fiscal_agent_key_cannot_sign_a_consent(database_url: str) -> None:
    pilot = open_pilot(database_url)
    who = pilot.app.enrol_participant(
        pilot.irc,
        enrolled_on="2023-01-09",
        referral_source="self",
        language="es",
        age_band="25-34",
        gender="male",
        nationality="HN",
        pii={"name": "Test Person"},
    )
    with pytest.raises(NotPermittedError, match=r"may not sign case\.ConsentGiven"):
        pilot.app.give_consent(
            pilot.cws,
            participant_id=who,
            services=["case_management"],
            share_with=[],
            method="oral",
            language="es",
            interpreter=True,
            form_version="1",
            given_on="2023-01-10",
        )
