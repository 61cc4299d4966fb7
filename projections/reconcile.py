"""Reconciliation: a bank's payment file against the disbursements in the ledger.

The file is CSV with the header `payment_ref,paid_on,amount_cents,payee`. Each payment
is matched on its reference: matched, missing from the ledger, missing from the bank
file, amount or date mismatch, or a duplicate in the file. A disbursement the ledger
reversed is expected to be missing from the bank file; if the bank paid it, it is listed.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ledger.errors import UserError
from projections.db import ProjectionDB

HEADER = ["payment_ref", "paid_on", "amount_cents", "payee"]


class PaymentFileError(UserError, ValueError):
    """A payment file that cannot be read; the message names the line."""

    rule = "payment-file"


@dataclass(frozen=True)
class Payment:
    line: int
    payment_ref: str
    paid_on: str
    amount_cents: int
    payee: str


def read_payment_file(text: str) -> list[Payment]:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or [c.strip() for c in rows[0]] != HEADER:
        raise PaymentFileError(f"line 1: the header must be {','.join(HEADER)}")
    payments = []
    for number, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 4:
            raise PaymentFileError(f"line {number}: expected 4 fields, found {len(row)}")
        ref, paid_on, amount, payee = (c.strip() for c in row)
        if not ref:
            raise PaymentFileError(f"line {number}: payment_ref is empty")
        try:
            if date.fromisoformat(paid_on).isoformat() != paid_on:
                raise ValueError
        except ValueError:
            raise PaymentFileError(
                f"line {number}: paid_on {paid_on!r} is not YYYY-MM-DD"
            ) from None
        if not amount.lstrip("-").isdigit():
            raise PaymentFileError(f"line {number}: amount_cents {amount!r} is not whole cents")
        payments.append(Payment(number, ref, paid_on, int(amount), payee))
    return payments


@dataclass
class Reconciliation:
    matched: list[dict[str, Any]] = field(default_factory=list)
    missing_from_ledger: list[dict[str, Any]] = field(default_factory=list)
    missing_from_bank: list[dict[str, Any]] = field(default_factory=list)
    mismatched: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    paid_after_reversal: list[dict[str, Any]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (
            self.missing_from_ledger
            or self.missing_from_bank
            or self.mismatched
            or self.duplicates
            or self.paid_after_reversal
        )

    def totals(self) -> dict[str, Any]:
        def cents(rows: list[dict[str, Any]], key: str) -> int:
            return sum(int(r.get(key) or 0) for r in rows)

        return {
            name: {
                "count": len(rows),
                "ledger_cents": cents(rows, "ledger_amount_cents"),
                "bank_cents": cents(rows, "bank_amount_cents"),
            }
            for name, rows in vars(self).items()
        }

    def to_json(self) -> dict[str, Any]:
        return {"clean": self.clean, "totals": self.totals(), **vars(self)}


def reconcile(db: ProjectionDB, payments: list[Payment]) -> Reconciliation:
    ledger = {
        row["payment_ref"]: row
        for row in db.query(
            "SELECT d.*, a.grantee FROM bal_disbursements d"
            " JOIN bal_awards a ON a.award_id = d.award_id"
        )
    }
    out = Reconciliation()
    seen: dict[str, Payment] = {}
    for payment in payments:
        bank = {
            "payment_ref": payment.payment_ref,
            "line": payment.line,
            "bank_paid_on": payment.paid_on,
            "bank_amount_cents": payment.amount_cents,
            "payee": payment.payee,
        }
        if payment.payment_ref in seen:
            out.duplicates.append({**bank, "first_line": seen[payment.payment_ref].line})
            continue
        seen[payment.payment_ref] = payment
        row = ledger.get(payment.payment_ref)
        if row is None:
            out.missing_from_ledger.append(bank)
            continue
        both = {
            **bank,
            "award_id": row["award_id"],
            "disbursement_id": row["disbursement_id"],
            "grantee": row["grantee"],
            "ledger_paid_on": row["paid_on"],
            "ledger_amount_cents": int(row["amount_cents"]),
        }
        if row["reversed_seq"] is not None:
            out.paid_after_reversal.append(both)
        elif (row["amount_cents"], row["paid_on"]) != (payment.amount_cents, payment.paid_on):
            out.mismatched.append(both)
        else:
            out.matched.append(both)
    for ref, row in sorted(ledger.items()):
        if ref not in seen and row["reversed_seq"] is None:
            out.missing_from_bank.append(
                {
                    "payment_ref": ref,
                    "award_id": row["award_id"],
                    "disbursement_id": row["disbursement_id"],
                    "grantee": row["grantee"],
                    "ledger_paid_on": row["paid_on"],
                    "ledger_amount_cents": int(row["amount_cents"]),
                }
            )
    return out
