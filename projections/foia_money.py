"""Public money in a FOIA release: every money entry whole, with its inclusion proof, and
the same entries as CSV a requester can open.

Money entries hold nothing to withhold (no free text but a public law's citation, no
names, no link to a case: domain.catalogue), so each is released as its exact bytes, and
its inclusion proof (LEDGER_FORMAT.md section 8) shows it is in the log the release's
checkpoint signs. The CSV rows are read from those entries: one file per kind of event,
a row per entry with its seq, columns in the catalogue's order, dates as they are
(ISO), amounts in dollars with two decimals ("-1234.50").
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from domain import catalogue as c
from ledger import transparency
from ledger.entry import read_event
from ledger.store import leaf_from_row
from ledger.transparency import LogSigner
from projections.system import System

# Each kind of money event, and the CSV file (money/<name>.csv) its rows go to.
MONEY_FILES: dict[str, str] = {
    c.APPROPRIATION_RECORDED: "appropriations",
    c.AWARD_MADE: "awards",
    c.AWARD_AMENDED: "amendments",
    c.DISBURSEMENT_RECORDED: "disbursements",
    c.DISBURSEMENT_REVERSED: "reversals",
    c.REFUND_RECEIVED: "refunds",
    c.EXPENDITURE_REPORTED: "expenditures",
    c.AWARD_CLOSED: "closures",
}
READ_BATCH = 500  # seqs looked up in the log index at a time


def columns(event_type: str) -> list[str]:
    """A money CSV's header: the entry's seq and instant, then its data members (an
    amount in cents named without `_cents`, since it is shown in dollars)."""
    members = c.CATALOGUE[event_type].members
    return ["seq", "recorded_at", *(m.removesuffix("_cents") for m in members)]


def row(seq: int, event: dict[str, Any]) -> list[str]:
    members = c.CATALOGUE[event["type"]].members
    return [str(seq), event["at"], *(_cell(m, event["data"][m]) for m in members)]


def _cell(member: str, value: Any) -> str:
    if value is None:
        return ""
    if member.endswith("_cents"):
        sign = "-" if value < 0 else ""
        return f"{sign}{abs(value) // 100}.{abs(value) % 100:02d}"
    return str(value)


def csv_text(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(rows)
    return buffer.getvalue()


def money_seqs(system: System, as_of_seq: int) -> Iterator[int]:
    """The seqs of the money entries up to `as_of_seq`, in order (the log index is
    brought up to it first)."""
    system.reports.cut(at_seq=as_of_seq)
    marks = ", ".join("?" * len(MONEY_FILES))
    after = -1
    while True:
        rows = system.reports.db.query(
            f"SELECT seq FROM log_index WHERE type IN ({marks}) AND seq > ? AND seq <= ?"  # noqa: S608
            " ORDER BY seq LIMIT ?",
            (*MONEY_FILES, after, as_of_seq, READ_BATCH),
        )
        if not rows:
            return
        for r in rows:
            yield int(r["seq"])
        after = int(rows[-1]["seq"])


def released(
    system: System, log: LogSigner, as_of_seq: int, tree_size: int
) -> Iterator[tuple[int, bytes, dict[str, Any], dict[str, Any]]]:
    """(seq, entry line, event, inclusion proof against the checkpoint of `tree_size`)
    for every money entry up to `as_of_seq`. Each proof is checked before it is given."""
    store = system.app.store
    for seq in money_seqs(system, as_of_seq):
        [(found, prev, state)] = store.read_rows(seq, 1)
        leaf = leaf_from_row(found, prev, state)
        event = read_event(state) if state is not None else {}
        if event.get("type") not in MONEY_FILES:
            raise ValueError(f"entry {seq} is not the money entry the log index says it is")
        proof = transparency.inclusion(log, seq, tree_size)
        yield seq, leaf, event, proof


def proof_line(proof: dict[str, Any]) -> bytes:
    return json.dumps(proof, sort_keys=True).encode() + b"\n"
