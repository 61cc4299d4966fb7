"""A state machine of random funds commands, refused ones included, on SQLite.

After every step the log itself is folded, naively and independently of the domain's
rules, and every funds invariant of DESIGN.md must hold; a refused command wrote nothing.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from domain.errors import DomainError
from ledger.store import iter_leaves
from tests.pilot import open_pilot

START = date(2022, 10, 1)
# Mostly inside the usual period of performance, sometimes well outside it.
days = (st.integers(0, 364) | st.integers(0, 364) | st.integers(-60, 520)).map(
    lambda n: (START + timedelta(n)).isoformat()
)
cents = st.integers(min_value=1, max_value=40_000_00)
ids = st.sampled_from(["A", "A", "B", "B", "C"])
refs = st.sampled_from([f"PAY-{i}" for i in range(6)])


class FundsMachine(RuleBasedStateMachine):
    @initialize(amount=st.integers(min_value=200_000_00, max_value=400_000_00))
    def open(self, amount: int) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.pilot = open_pilot(f"sqlite:///{self.tmp / 'db.sqlite3'}")
        self.pilot.app.record_appropriation(
            self.pilot.board,
            appropriation_id="FY",
            fiscal_year=2022,
            public_law="P.L. 1",
            amount_cents=amount,
            available_until="2024-09-30",
        )
        for award, method in (("A", "advance"), ("B", "reimbursement")):
            self.pilot.app.make_award(
                self.pilot.board,
                award_id=award,
                appropriation_id="FY",
                grantee="org:irc",
                amount_cents=100_000_00,
                period_start="2022-10-01",
                period_end="2023-09-30",
                method=method,
            )
        self.counter = 0

    def teardown(self) -> None:
        if hasattr(self, "pilot"):
            self.pilot.app.close()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _do(self, command: Any, **kwargs: Any) -> None:
        size = self.pilot.app.store.head().size
        self.counter += 1
        try:
            command(**kwargs)
        except DomainError as refusal:
            event(f"{command.__name__} refused: {refusal.rule}")
            assert self.pilot.app.store.head().size == size, "a refused command wrote"
            return
        event(f"{command.__name__} accepted")
        assert self.pilot.app.store.head().size == size + 1

    @rule(
        award=ids,
        amount=cents,
        start=days,
        length=st.integers(0, 400),
        method=st.sampled_from(["advance", "reimbursement"]),
    )
    def make_award(self, award: str, amount: int, start: str, length: int, method: str) -> None:
        end = (date.fromisoformat(start) + timedelta(length)).isoformat()
        self._do(
            self.pilot.app.make_award,
            signer=self.pilot.board,
            award_id=award,
            appropriation_id="FY",
            grantee="org:irc",
            amount_cents=amount,
            period_start=start,
            period_end=end,
            method=method,
        )

    @rule(award=ids, delta=st.integers(-20_000_00, 20_000_00).filter(bool))
    def amend(self, award: str, delta: int) -> None:
        self._do(
            self.pilot.app.amend_award,
            signer=self.pilot.board,
            award_id=award,
            delta_cents=delta,
            reason="correction",
        )

    @rule(award=ids, amount=cents, ref=refs, paid_on=days)
    def disburse(self, award: str, amount: int, ref: str, paid_on: str) -> None:
        self._do(
            self.pilot.app.record_disbursement,
            signer=self.pilot.cws,
            award_id=award,
            disbursement_id=f"D-{self.counter}",
            amount_cents=amount,
            payment_ref=ref,
            paid_on=paid_on,
        )

    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        # Often one that was recorded, sometimes one that never was.
        known = list(self.pilot.app.funds.disbursements)  # (award id, disbursement id)
        if known and data.draw(st.booleans()):
            award, disbursement = data.draw(st.sampled_from(known))
        else:
            award, disbursement = data.draw(ids), "D-none"
        self._do(
            self.pilot.app.reverse_disbursement,
            signer=self.pilot.cws,
            award_id=award,
            disbursement_id=disbursement,
            reason="paid_in_error",
        )

    @rule(award=ids, amount=cents, incurred=days, own=st.booleans())
    def spend(self, award: str, amount: int, incurred: str, own: bool) -> None:
        self._do(
            self.pilot.app.report_expenditure,
            signer=self.pilot.irc if own else self.pilot.baker,
            award_id=award,
            expenditure_id=f"E-{self.counter}",
            category="personnel",
            amount_cents=amount,
            incurred_on=incurred,
        )

    @rule(award=ids, amount=cents, ref=refs, received=days)
    def refund(self, award: str, amount: int, ref: str, received: str) -> None:
        self._do(
            self.pilot.app.record_refund,
            signer=self.pilot.cws,
            award_id=award,
            refund_id=f"R-{self.counter}",
            amount_cents=amount,
            payment_ref=ref,
            received_on=received,
        )

    @precondition(lambda self: self.counter > 20)  # close late, or nothing else gets a turn
    @rule(award=ids, closed=days)
    def close(self, award: str, closed: str) -> None:
        self._do(
            self.pilot.app.close_award, signer=self.pilot.board, award_id=award, closed_on=closed
        )

    @invariant()
    def the_log_keeps_every_funds_rule(self) -> None:
        if not hasattr(self, "pilot"):
            return
        events = [json.loads(leaf)["event"] for _, leaf in iter_leaves(self.pilot.app.store)]
        funds = [e for e in events if e["type"].startswith("funds.")]
        appropriation = next(e["data"] for e in funds if e["type"] == "funds.AppropriationRecorded")
        awards = {e["data"]["award_id"]: e["data"] for e in funds if e["type"] == "funds.AwardMade"}
        authorised: dict[str, int] = {}  # built in log order, as awards are made
        paid: dict[str, dict[str, int]] = defaultdict(dict)
        reversed_: dict[str, set[str]] = defaultdict(set)
        spent: Counter[str] = Counter()
        refunded: Counter[str] = Counter()
        closed: set[str] = set()
        for e in funds:
            d, award = e["data"], e["data"].get("award_id")
            assert award not in closed, f"{e['type']} recorded on closed award {award}"
            if e["type"] == "funds.AwardMade":
                authorised[award] = d["amount_cents"]
            elif e["type"] == "funds.AwardAmended":
                authorised[award] += d["delta_cents"]
            elif e["type"] == "funds.DisbursementRecorded":
                paid[award][d["disbursement_id"]] = d["amount_cents"]
                end = date.fromisoformat(awards[award]["period_end"]) + timedelta(90)
                assert awards[award]["period_start"] <= d["paid_on"] <= end.isoformat()
            elif e["type"] == "funds.DisbursementReversed":
                assert d["disbursement_id"] in paid[award]
                reversed_[award].add(d["disbursement_id"])
            elif e["type"] == "funds.ExpenditureReported":
                spent[award] += d["amount_cents"]
                assert (
                    awards[award]["period_start"] <= d["incurred_on"] <= awards[award]["period_end"]
                )
                assert e["org"] == awards[award]["grantee"]
            elif e["type"] == "funds.RefundReceived":
                refunded[award] += d["amount_cents"]
            elif e["type"] == "funds.AwardClosed":
                closed.add(award)
            net = {
                a: sum(v for k, v in paid[a].items() if k not in reversed_[a]) for a in authorised
            }
            assert sum(authorised.values()) <= appropriation["amount_cents"]
            for a, total in authorised.items():
                assert net[a] <= total, f"award {a} overdrawn"
                assert spent[a] <= total, f"award {a} overspent"
                assert refunded[a] <= net[a]
                if awards[a]["method"] == "reimbursement":
                    assert net[a] <= spent[a], f"reimbursement award {a} paid ahead"
        refs_used = [
            e["data"]["payment_ref"]
            for e in funds
            if e["type"] in ("funds.DisbursementRecorded", "funds.RefundReceived")
        ]
        assert len(refs_used) == len(set(refs_used)), "a payment_ref was used twice"


TestFunds = FundsMachine.TestCase
TestFunds.settings = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
