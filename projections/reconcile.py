"""Reconciliation: a bank's payment file against the disbursements in the ledger.

The file is CSV with the header `payment_ref,paid_on,amount_cents,payee`. Each payment
is matched on its reference: matched, missing from the ledger, missing from the bank
file, amount or date mismatch, or a duplicate in the file. A disbursement the ledger
reversed is expected to be missing from the bank file; if the bank paid it, it is listed.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ledger.catalogue import MAX_SAFE_INTEGER, is_identifier
from ledger.errors import UserError
from projections.db import ProjectionDB

HEADER = ["payment_ref", "paid_on", "amount_cents", "payee"]
WHOLE_CENTS = re.compile(r"[0-9]+")  # ASCII only: int() would also take '٥٦' or '²'


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


def read_payment_file(data: bytes) -> list[Payment]:
    """The payments of a bank file's bytes (UTF-8, with or without a byte-order mark)."""
    rows = _rows(_text(data))
    first = next(rows, None)
    if first is None or [c.strip() for c in first[1]] != HEADER:
        raise PaymentFileError(f"line 1: the header must be {','.join(HEADER)}")
    payments = []
    for number, row in rows:
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 4:
            raise PaymentFileError(f"line {number}: expected 4 fields, found {len(row)}")
        payments.append(_payment(number, *(c.strip() for c in row)))
    return payments


def _text(data: bytes) -> str:
    if b"\0" in data:
        raise PaymentFileError("this is not a CSV file: it holds NUL bytes (a binary file?)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise PaymentFileError(f"line {line}: the file is not UTF-8 text") from None


def _rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """Each record with the line it starts on (a quoted field may span lines)."""
    reader = csv.reader(io.StringIO(text))
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a field over csv's limit of 131,072 characters
            raise PaymentFileError(f"line {start}: not valid CSV ({exc})") from None
        yield start, row


def _payment(number: int, ref: str, paid_on: str, amount: str, payee: str) -> Payment:
    if not is_identifier(ref):
        raise PaymentFileError(f"line {number}: payment_ref must be 1 to 256 printable characters")
    try:
        if date.fromisoformat(paid_on).isoformat() != paid_on:
            raise ValueError
    except ValueError:
        raise PaymentFileError(
            f"line {number}: paid_on {paid_on[:40]!r} is not YYYY-MM-DD"
        ) from None
    if not WHOLE_CENTS.fullmatch(amount):
        raise PaymentFileError(
            f"line {number}: amount_cents {amount[:40]!r} is not whole cents (digits 0-9, no sign)"
        )
    # Its length first: a long enough string of digits is refused by int() itself.
    significant = amount.lstrip("0") or "0"
    if len(significant) > len(str(MAX_SAFE_INTEGER)) or int(significant) > MAX_SAFE_INTEGER:
        raise PaymentFileError(
            f"line {number}: amount_cents is more than the ledger's limit of "
            f"{MAX_SAFE_INTEGER} cents"
        )
    if not payee.isprintable():
        raise PaymentFileError(f"line {number}: payee holds control characters")
    return Payment(number, ref, paid_on, int(significant), payee)


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
            "seq": int(row["seq"]),  # the disbursement's entry
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
                    "seq": int(row["seq"]),
                }
            )
    return out
