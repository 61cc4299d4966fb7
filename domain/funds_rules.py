"""The funds invariants of DESIGN.md section 4, judged from events alone.

Awards (with amendments) never exceed their appropriation; disbursements net of
reversals never exceed the award; expenditures never exceed the award and lie inside
its period; a payment reference is used once; a disbursement is paid inside the
period plus the 90-day liquidation window; nothing is recorded against a closed award;
a reimbursement award is never paid more than its reported expenditures. Also: a
refund cannot exceed the cash paid out, an amendment cannot take an award below what
was paid or spent, and a reversal cannot undo money already refunded.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any, NamedTuple

from domain import catalogue as c
from domain.errors import dollars
from domain.rule_set import Event, Problem, RuleSet, applies, checks
from ledger.guard import Journal

LIQUIDATION_DAYS = 90  # closeout: disbursements may be paid up to 90 days after the period
METHODS = ("advance", "reimbursement")


class AppropriationState(NamedTuple):
    amount: int
    available_until: str
    awarded: int = 0

    @property
    def left(self) -> int:
        return self.amount - self.awarded


class AwardState(NamedTuple):
    award_id: str
    appropriation_id: str
    grantee: str
    authorised: int
    period_start: str
    period_end: str
    last_pay_day: str  # period_end plus the liquidation window
    method: str
    disbursed: int = 0
    reversed: int = 0
    refunded: int = 0
    expended: int = 0
    closed: bool = False

    @property
    def net_disbursed(self) -> int:
        return self.disbursed - self.reversed

    @property
    def remaining(self) -> int:
        """What may still be disbursed: the award net of what was paid and not returned."""
        return self.authorised - self.net_disbursed

    @property
    def cash(self) -> int:
        """Cash the grantee holds from this award: paid, not reversed, not refunded."""
        return self.net_disbursed - self.refunded


class DisbursementState(NamedTuple):
    amount: int
    reversed_seq: int | None = None


class FundsRules(RuleSet):
    def __init__(self, journal: Journal) -> None:
        super().__init__(journal)
        self.appropriations = self.table("appropriations", AppropriationState)
        self.awards = self.table("awards", AwardState)
        self.disbursements = self.table("disbursements", DisbursementState)  # (award, id)
        self.expenditures = self.table("expenditures")  # (award, id) -> seq
        self.payment_refs = self.table("payment_refs")  # ref -> seq of its first use

    # -- appropriations and awards ------------------------------------------------------

    @checks(c.APPROPRIATION_RECORDED)
    def _appropriation_problems(self, d: dict[str, Any], _: Event) -> Iterator[Problem]:
        if d["appropriation_id"] in self.appropriations:
            yield "unique-id", f"appropriation {d['appropriation_id']} is already recorded"
        if d["amount_cents"] <= 0:
            yield "positive-amount", "an appropriation must be positive"

    @applies(c.APPROPRIATION_RECORDED)
    def _record_appropriation(self, seq: int, d: dict[str, Any], _: Event) -> None:
        self.appropriations[d["appropriation_id"]] = AppropriationState(
            d["amount_cents"], d["available_until"]
        )

    @checks(c.AWARD_MADE)
    def _award_problems(self, d: dict[str, Any], _: Event) -> Iterator[Problem]:
        if d["award_id"] in self.awards:
            yield "unique-id", f"award {d['award_id']} already exists"
        appropriation = self.appropriations.get(d["appropriation_id"])
        if appropriation is None:
            yield "known-appropriation", f"appropriation {d['appropriation_id']} is not recorded"
            return
        if d["amount_cents"] <= 0:
            yield "positive-amount", "an award must be positive"
        if d["amount_cents"] > appropriation.left:
            yield (
                "award-within-appropriation",
                f"award of {dollars(d['amount_cents'])} exceeds the "
                f"{dollars(appropriation.left)} remaining on appropriation "
                f"{d['appropriation_id']}",
            )
        if d["period_start"] > d["period_end"]:
            yield "period", "the period of performance ends before it starts"
        if d["method"] not in METHODS:
            yield "method", "method is advance or reimbursement"

    @applies(c.AWARD_MADE)
    def _make_award(self, seq: int, d: dict[str, Any], _: Event) -> None:
        appropriation = self.appropriations.get(d["appropriation_id"])
        if appropriation is not None:
            self.appropriations[d["appropriation_id"]] = appropriation._replace(
                awarded=appropriation.awarded + d["amount_cents"]
            )
        last_pay_day = date.fromisoformat(d["period_end"]) + timedelta(days=LIQUIDATION_DAYS)
        self.awards[d["award_id"]] = AwardState(
            d["award_id"],
            d["appropriation_id"],
            d["grantee"],
            d["amount_cents"],
            d["period_start"],
            d["period_end"],
            last_pay_day.isoformat(),
            d["method"],
        )

    def _open_award(self, d: dict[str, Any]) -> tuple[AwardState | None, list[Problem]]:
        award = self.awards.get(d["award_id"])
        if award is None:
            return None, [("known-award", f"award {d['award_id']} does not exist")]
        if award.closed:
            return award, [("closed-award", f"award {award.award_id} is closed")]
        return award, []

    @checks(c.AWARD_AMENDED)
    def _amendment_problems(self, d: dict[str, Any], _: Event) -> Iterator[Problem]:
        award, problems = self._open_award(d)
        yield from problems
        if award is None:
            return
        delta = d["delta_cents"]
        if delta == 0:
            yield "positive-amount", "an amendment of zero changes nothing"
        appropriation = self.appropriations.get(award.appropriation_id)
        left = 0 if appropriation is None else appropriation.left
        if delta > left:
            yield (
                "award-within-appropriation",
                f"amendment of {dollars(delta)} exceeds the {dollars(left)} remaining on "
                f"appropriation {award.appropriation_id}",
            )
        floor = max(award.net_disbursed, award.expended)
        if award.authorised + delta < floor:
            yield (
                "award-covers-spending",
                f"amendment would leave award {award.award_id} at "
                f"{dollars(award.authorised + delta)}, below the {dollars(floor)} "
                "already disbursed or spent",
            )

    @applies(c.AWARD_AMENDED)
    def _amend(self, seq: int, d: dict[str, Any], _: Event) -> None:
        award = self.awards.get(d["award_id"])
        if award is None:
            return
        appropriation = self.appropriations.get(award.appropriation_id)
        if appropriation is not None:
            self.appropriations[award.appropriation_id] = appropriation._replace(
                awarded=appropriation.awarded + d["delta_cents"]
            )
        self.awards[award.award_id] = award._replace(authorised=award.authorised + d["delta_cents"])

    @checks(c.AWARD_CLOSED)
    def _closure_problems(self, d: dict[str, Any], _: Event) -> Iterator[Problem]:
        yield from self._open_award(d)[1]

    @applies(c.AWARD_CLOSED)
    def _close(self, seq: int, d: dict[str, Any], _: Event) -> None:
        award = self.awards.get(d["award_id"])
        if award is not None:
            self.awards[award.award_id] = award._replace(closed=True)

    # -- money paid out, returned and spent -------------------------------------------------

    def _payment_ref_problems(self, ref: str) -> list[Problem]:
        if ref in self.payment_refs:
            return [
                (
                    "payment-ref-once",
                    f"payment_ref {ref} was already used (entry {self.payment_refs[ref]})",
                )
            ]
        return []

    @checks(c.DISBURSEMENT_RECORDED)
    def _disbursement_problems(self, d: dict[str, Any], _: Event) -> Iterator[Problem]:
        award, problems = self._open_award(d)
        yield from problems
        if award is None:
            return
        amount = d["amount_cents"]
        if amount <= 0:
            yield "positive-amount", "a disbursement must be positive"
        if (award.award_id, d["disbursement_id"]) in self.disbursements:
            yield "unique-id", f"disbursement {d['disbursement_id']} is already recorded"
        if amount > award.remaining:
            yield (
                "disbursement-within-award",
                f"disbursement of {dollars(amount)} exceeds the {dollars(award.remaining)} "
                f"remaining on award {award.award_id}",
            )
        if award.method == "reimbursement" and award.net_disbursed + amount > award.expended:
            yield (
                "reimbursement-after-expenditure",
                f"reimbursement award {award.award_id} has {dollars(award.expended)} of "
                f"reported expenditures; {dollars(award.net_disbursed + amount)} would be paid",
            )
        yield from self._payment_ref_problems(d["payment_ref"])
        if not award.period_start <= d["paid_on"] <= award.last_pay_day:
            yield (
                "paid-within-period",
                f"disbursement paid on {d['paid_on']} is outside award {award.award_id}'s "
                f"period {award.period_start} to {award.period_end} "
                f"plus {LIQUIDATION_DAYS} days",
            )

    @applies(c.DISBURSEMENT_RECORDED)
    def _disburse(self, seq: int, d: dict[str, Any], _: Event) -> None:
        award = self.awards.get(d["award_id"])
        if award is None:
            return
        self.disbursements[(award.award_id, d["disbursement_id"])] = DisbursementState(
            d["amount_cents"]
        )
        self.awards[award.award_id] = award._replace(disbursed=award.disbursed + d["amount_cents"])
        self.payment_refs[d["payment_ref"]] = seq

    @checks(c.DISBURSEMENT_REVERSED)
    def _reversal_problems(self, d: dict[str, Any], _: Event) -> Iterator[Problem]:
        award, problems = self._open_award(d)
        yield from problems
        if award is None:
            return
        paid = self.disbursements.get((award.award_id, d["disbursement_id"]))
        if paid is None:
            yield (
                "known-disbursement",
                f"disbursement {d['disbursement_id']} is not on award {award.award_id}",
            )
        elif paid.reversed_seq is not None:
            yield "reverse-once", f"disbursement {d['disbursement_id']} is already reversed"
        elif paid.amount > award.cash:
            yield (
                "reversal-within-cash",
                f"reversing {dollars(paid.amount)} would leave award {award.award_id} with "
                f"{dollars(award.cash - paid.amount)} cash on hand: part was already refunded",
            )

    @applies(c.DISBURSEMENT_REVERSED)
    def _reverse(self, seq: int, d: dict[str, Any], _: Event) -> None:
        award = self.awards.get(d["award_id"])
        key = (d["award_id"], d["disbursement_id"])
        paid = self.disbursements.get(key)
        if award is None or paid is None or paid.reversed_seq is not None:
            return
        self.disbursements[key] = paid._replace(reversed_seq=seq)
        self.awards[award.award_id] = award._replace(reversed=award.reversed + paid.amount)

    @checks(c.EXPENDITURE_REPORTED)
    def _expenditure_problems(self, d: dict[str, Any], event: Event) -> Iterator[Problem]:
        award, problems = self._open_award(d)
        yield from problems
        if award is None:
            return
        amount = d["amount_cents"]
        if event["org"] != award.grantee:
            yield (
                "own-award",
                f"{event['org']} may not report expenditures on {award.grantee}'s award",
            )
        if amount <= 0:
            yield "positive-amount", "an expenditure must be positive"
        if (award.award_id, d["expenditure_id"]) in self.expenditures:
            yield "unique-id", f"expenditure {d['expenditure_id']} is already reported"
        if award.expended + amount > award.authorised:
            yield (
                "expenditure-within-award",
                f"expenditure of {dollars(amount)} exceeds the "
                f"{dollars(award.authorised - award.expended)} unspent on award {award.award_id}",
            )
        if not award.period_start <= d["incurred_on"] <= award.period_end:
            yield (
                "spent-within-period",
                f"expenditure incurred on {d['incurred_on']} is outside award "
                f"{award.award_id}'s period {award.period_start} to {award.period_end}",
            )

    @applies(c.EXPENDITURE_REPORTED)
    def _spend(self, seq: int, d: dict[str, Any], _: Event) -> None:
        award = self.awards.get(d["award_id"])
        if award is None:
            return
        self.expenditures[(award.award_id, d["expenditure_id"])] = seq
        self.awards[award.award_id] = award._replace(expended=award.expended + d["amount_cents"])

    @checks(c.REFUND_RECEIVED)
    def _refund_problems(self, d: dict[str, Any], _: Event) -> Iterator[Problem]:
        award, problems = self._open_award(d)
        yield from problems
        if award is None:
            return
        if d["amount_cents"] <= 0:
            yield "positive-amount", "a refund must be positive"
        if d["amount_cents"] > award.cash:
            yield (
                "refund-within-cash",
                f"refund of {dollars(d['amount_cents'])} exceeds the {dollars(award.cash)} "
                f"paid out on award {award.award_id}",
            )
        yield from self._payment_ref_problems(d["payment_ref"])

    @applies(c.REFUND_RECEIVED)
    def _refund(self, seq: int, d: dict[str, Any], _: Event) -> None:
        award = self.awards.get(d["award_id"])
        if award is None:
            return
        self.awards[award.award_id] = award._replace(refunded=award.refunded + d["amount_cents"])
        self.payment_refs[d["payment_ref"]] = seq
