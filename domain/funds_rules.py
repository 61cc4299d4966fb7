"""The funds invariants of DESIGN.md section 4, replayed from events alone.

One object serves three callers: the recorders keep the rules atomically under the
writers' lock (it is a ledger Guard: a refused event raises DomainError and nothing is
written), the verifier's check 9 replays them over a log, and the domain asks it for
figures when it builds friendly errors. It reads only events, so it needs nothing but
the standard library and what a log holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from domain.errors import DomainError, dollars
from ledger.guard import Journal

LIQUIDATION_DAYS = 90  # closeout: disbursements may be paid up to 90 days after the period


@dataclass
class AwardFigures:
    award_id: str
    appropriation_id: str
    grantee: str
    authorised: int
    period_start: date
    period_end: date
    method: str
    disbursed: int = 0
    reversed: int = 0
    refunded: int = 0
    expended: int = 0
    closed: bool = False
    disbursements: dict[str, int] = field(default_factory=dict)  # id -> cents
    reversed_ids: dict[str, int] = field(default_factory=dict)  # id -> seq
    expenditure_ids: dict[str, int] = field(default_factory=dict)

    @property
    def net_disbursed(self) -> int:
        return self.disbursed - self.reversed

    @property
    def remaining(self) -> int:
        """What may still be disbursed: the award net of what was paid and not returned."""
        return self.authorised - self.net_disbursed


@dataclass
class AppropriationFigures:
    appropriation_id: str
    amount: int
    available_until: date
    awarded: int = 0


class FundsRules:
    """A ledger Guard over funds.* events (see ledger.guard)."""

    types = ("funds.",)  # the events whose data the verifier must hand over

    def __init__(self, journal: Journal | None = None) -> None:
        self.position = 0
        self.journal = journal or Journal()
        self.appropriations: dict[str, AppropriationFigures] = {}
        self.awards: dict[str, AwardFigures] = {}
        self.payment_refs: dict[str, int] = {}  # ref -> seq of its first use

    # -- the Guard protocol ---------------------------------------------------------

    def admit(self, seq: int, event: dict[str, Any], *, strict: bool) -> list[str]:
        handler = _HANDLERS.get(event["type"])
        problems: list[DomainError] = []
        if handler is not None:
            try:
                problems = handler(self, seq, event, dry_run=True)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                # Data a log should never hold: say so rather than crash a replay.
                problems = [DomainError("well-formed", f"{event['type']} data is malformed: {exc}")]
                if strict:
                    raise problems[0] from None
                return [f"{p.rule}: {p}" for p in problems]
            if problems and strict:
                raise problems[0]
            handler(self, seq, event, dry_run=False)
        self.journal.set(self.__dict__, "position", seq + 1)
        return [f"{p.rule}: {p}" for p in problems]

    def begin(self) -> int:
        return self.journal.mark()

    def undo(self, mark: int) -> None:
        self.journal.undo(mark)

    def commit(self) -> None:
        self.journal.commit()

    # -- one method per event: with dry_run, the problems; without, the change --------

    def _appropriation(
        self, seq: int, event: dict[str, Any], *, dry_run: bool
    ) -> list[DomainError]:
        d = event["data"]
        if dry_run:
            if d["appropriation_id"] in self.appropriations:
                return [
                    DomainError(
                        "unique-id", f"appropriation {d['appropriation_id']} is already recorded"
                    )
                ]
            if d["amount_cents"] <= 0:
                return [DomainError("positive-amount", "an appropriation must be positive")]
            return []
        self.journal.set(
            self.appropriations,
            d["appropriation_id"],
            AppropriationFigures(
                d["appropriation_id"], d["amount_cents"], date.fromisoformat(d["available_until"])
            ),
        )
        return []

    def _award(self, seq: int, event: dict[str, Any], *, dry_run: bool) -> list[DomainError]:
        d = event["data"]
        appropriation = self.appropriations.get(d["appropriation_id"])
        if dry_run:
            problems = []
            if d["award_id"] in self.awards:
                problems.append(DomainError("unique-id", f"award {d['award_id']} already exists"))
            if appropriation is None:
                return [
                    *problems,
                    DomainError(
                        "known-appropriation",
                        f"appropriation {d['appropriation_id']} is not recorded",
                    ),
                ]
            if d["amount_cents"] <= 0:
                problems.append(DomainError("positive-amount", "an award must be positive"))
            left = appropriation.amount - appropriation.awarded
            if d["amount_cents"] > left:
                problems.append(
                    DomainError(
                        "award-within-appropriation",
                        f"award of {dollars(d['amount_cents'])} exceeds the {dollars(left)} "
                        f"remaining on appropriation {appropriation.appropriation_id}",
                    )
                )
            if d["period_start"] > d["period_end"]:
                problems.append(
                    DomainError("period", "the period of performance ends before it starts")
                )
            if d["method"] not in ("advance", "reimbursement"):
                problems.append(DomainError("method", "method is advance or reimbursement"))
            return problems
        if appropriation is not None:
            self.journal.set(
                appropriation.__dict__, "awarded", appropriation.awarded + d["amount_cents"]
            )
        self.journal.set(
            self.awards,
            d["award_id"],
            AwardFigures(
                d["award_id"],
                d["appropriation_id"],
                d["grantee"],
                d["amount_cents"],
                date.fromisoformat(d["period_start"]),
                date.fromisoformat(d["period_end"]),
                d["method"],
            ),
        )
        return []

    def _open_award(self, d: dict[str, Any]) -> tuple[AwardFigures | None, list[DomainError]]:
        award = self.awards.get(d["award_id"])
        if award is None:
            return None, [DomainError("known-award", f"award {d['award_id']} does not exist")]
        if award.closed:
            return award, [DomainError("closed-award", f"award {award.award_id} is closed")]
        return award, []

    def _amendment(self, seq: int, event: dict[str, Any], *, dry_run: bool) -> list[DomainError]:
        d = event["data"]
        award, problems = self._open_award(d)
        if award is None:
            return problems
        appropriation = self.appropriations.get(award.appropriation_id)
        if dry_run:
            left = 0 if appropriation is None else appropriation.amount - appropriation.awarded
            if d["delta_cents"] > left:
                problems.append(
                    DomainError(
                        "award-within-appropriation",
                        f"amendment of {dollars(d['delta_cents'])} exceeds the {dollars(left)} "
                        f"remaining on appropriation {award.appropriation_id}",
                    )
                )
            floor = max(award.net_disbursed, award.expended)
            if award.authorised + d["delta_cents"] < floor:
                problems.append(
                    DomainError(
                        "award-covers-spending",
                        f"amendment would leave award {award.award_id} at "
                        f"{dollars(award.authorised + d['delta_cents'])}, below the "
                        f"{dollars(floor)} already disbursed or spent",
                    )
                )
            return problems
        if appropriation is not None:
            self.journal.set(
                appropriation.__dict__, "awarded", appropriation.awarded + d["delta_cents"]
            )
        self.journal.set(award.__dict__, "authorised", award.authorised + d["delta_cents"])
        return []

    def _disbursement(self, seq: int, event: dict[str, Any], *, dry_run: bool) -> list[DomainError]:
        d = event["data"]
        award, problems = self._open_award(d)
        if award is None:
            return problems
        if dry_run:
            amount = d["amount_cents"]
            if amount <= 0:
                problems.append(DomainError("positive-amount", "a disbursement must be positive"))
            if d["disbursement_id"] in award.disbursements:
                problems.append(
                    DomainError(
                        "unique-id", f"disbursement {d['disbursement_id']} is already recorded"
                    )
                )
            if amount > award.remaining:
                problems.append(
                    DomainError(
                        "disbursement-within-award",
                        f"disbursement of {dollars(amount)} exceeds the {dollars(award.remaining)} "
                        f"remaining on award {award.award_id}",
                    )
                )
            if award.method == "reimbursement" and award.net_disbursed + amount > award.expended:
                problems.append(
                    DomainError(
                        "reimbursement-after-expenditure",
                        f"reimbursement award {award.award_id} has {dollars(award.expended)} of "
                        "reported expenditures; "
                        f"{dollars(award.net_disbursed + amount)} would be paid",
                    )
                )
            problems += self._payment_ref_problems(d["payment_ref"])
            paid_on = date.fromisoformat(d["paid_on"])
            last_day = award.period_end + timedelta(days=LIQUIDATION_DAYS)
            if not award.period_start <= paid_on <= last_day:
                problems.append(
                    DomainError(
                        "paid-within-period",
                        f"disbursement paid on {paid_on} is outside award {award.award_id}'s "
                        f"period {award.period_start} to {award.period_end} "
                        f"plus {LIQUIDATION_DAYS} days",
                    )
                )
            return problems
        self.journal.set(award.disbursements, d["disbursement_id"], d["amount_cents"])
        self.journal.set(award.__dict__, "disbursed", award.disbursed + d["amount_cents"])
        self.journal.set(self.payment_refs, d["payment_ref"], seq)
        return []

    def _payment_ref_problems(self, ref: str) -> list[DomainError]:
        if ref in self.payment_refs:
            return [
                DomainError(
                    "payment-ref-once",
                    f"payment_ref {ref} was already used (entry {self.payment_refs[ref]})",
                )
            ]
        return []

    def _reversal(self, seq: int, event: dict[str, Any], *, dry_run: bool) -> list[DomainError]:
        d = event["data"]
        award, problems = self._open_award(d)
        if award is None:
            return problems
        amount = award.disbursements.get(d["disbursement_id"])
        cash = award.net_disbursed - award.refunded
        if dry_run:
            if amount is None:
                problems.append(
                    DomainError(
                        "known-disbursement",
                        f"disbursement {d['disbursement_id']} is not on award {award.award_id}",
                    )
                )
            elif d["disbursement_id"] in award.reversed_ids:
                problems.append(
                    DomainError(
                        "reverse-once", f"disbursement {d['disbursement_id']} is already reversed"
                    )
                )
            elif amount > cash:
                problems.append(
                    DomainError(
                        "reversal-within-cash",
                        f"reversing {dollars(amount)} would leave award {award.award_id} with "
                        f"{dollars(cash - amount)} cash on hand: part was already refunded",
                    )
                )
            return problems
        if amount is not None and d["disbursement_id"] not in award.reversed_ids:
            self.journal.set(award.reversed_ids, d["disbursement_id"], seq)
            self.journal.set(award.__dict__, "reversed", award.reversed + amount)
        return []

    def _expenditure(self, seq: int, event: dict[str, Any], *, dry_run: bool) -> list[DomainError]:
        d = event["data"]
        award, problems = self._open_award(d)
        if award is None:
            return problems
        if dry_run:
            amount = d["amount_cents"]
            if event["org"] != award.grantee:
                problems.append(
                    DomainError(
                        "own-award",
                        f"{event['org']} may not report expenditures on {award.grantee}'s award",
                    )
                )
            if amount <= 0:
                problems.append(DomainError("positive-amount", "an expenditure must be positive"))
            if d["expenditure_id"] in award.expenditure_ids:
                problems.append(
                    DomainError(
                        "unique-id", f"expenditure {d['expenditure_id']} is already reported"
                    )
                )
            if award.expended + amount > award.authorised:
                problems.append(
                    DomainError(
                        "expenditure-within-award",
                        f"expenditure of {dollars(amount)} exceeds the "
                        f"{dollars(award.authorised - award.expended)} unspent "
                        f"on award {award.award_id}",
                    )
                )
            incurred = date.fromisoformat(d["incurred_on"])
            if not award.period_start <= incurred <= award.period_end:
                problems.append(
                    DomainError(
                        "spent-within-period",
                        f"expenditure incurred on {incurred} is outside award {award.award_id}'s "
                        f"period {award.period_start} to {award.period_end}",
                    )
                )
            return problems
        self.journal.set(award.expenditure_ids, d["expenditure_id"], seq)
        self.journal.set(award.__dict__, "expended", award.expended + d["amount_cents"])
        return []

    def _refund(self, seq: int, event: dict[str, Any], *, dry_run: bool) -> list[DomainError]:
        d = event["data"]
        award, problems = self._open_award(d)
        if award is None:
            return problems
        if dry_run:
            cash = award.net_disbursed - award.refunded
            if d["amount_cents"] <= 0:
                problems.append(DomainError("positive-amount", "a refund must be positive"))
            if d["amount_cents"] > cash:
                problems.append(
                    DomainError(
                        "refund-within-cash",
                        f"refund of {dollars(d['amount_cents'])} exceeds the {dollars(cash)} paid "
                        f"out on award {award.award_id}",
                    )
                )
            return problems + self._payment_ref_problems(d["payment_ref"])
        self.journal.set(award.__dict__, "refunded", award.refunded + d["amount_cents"])
        self.journal.set(self.payment_refs, d["payment_ref"], seq)
        return []

    def _closure(self, seq: int, event: dict[str, Any], *, dry_run: bool) -> list[DomainError]:
        award, problems = self._open_award(event["data"])
        if award is not None and not dry_run:
            self.journal.set(award.__dict__, "closed", True)
        return problems


_HANDLERS = {
    "funds.AppropriationRecorded": FundsRules._appropriation,
    "funds.AwardMade": FundsRules._award,
    "funds.AwardAmended": FundsRules._amendment,
    "funds.DisbursementRecorded": FundsRules._disbursement,
    "funds.DisbursementReversed": FundsRules._reversal,
    "funds.ExpenditureReported": FundsRules._expenditure,
    "funds.RefundReceived": FundsRules._refund,
    "funds.AwardClosed": FundsRules._closure,
}
