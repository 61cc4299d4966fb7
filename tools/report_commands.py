"""Report commands: balances, replay, case histories, oversight, reconciliation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from domain.errors import dollars
from ledger.transparency import MAX_TREE_SIZE
from projections.reconcile import Reconciliation, read_payment_file
from tools.console import JsonOpt, emit, out, read_input, system

commands = typer.Typer()

AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of", help="An instant (2024-03-31T23:59:59.999999Z, or a date for its end)."
    ),
]
AtSeqOpt = Annotated[
    int | None,
    typer.Option(
        "--at-seq", min=0, max=MAX_TREE_SIZE, help="The state once entry N had been applied."
    ),
]
MONEY = ("authorised", "disbursed", "reversed", "refunded", "expended", "cash_on_hand", "remaining")
SF425_LINES = ("10a", "10b", "10c", "10d", "10e", "10f", "10g", "10h")


def _balances_text(result: dict[str, Any]) -> None:
    cut = result["as_of_seq"]
    out.print(f"balances {'now' if cut is None else f'as of entry {cut}'}")
    table = Table("award", "grantee", *(m.replace("_", " ") for m in MONEY), "closed")
    for a in result["awards"]:
        table.add_row(
            a["award_id"],
            a["grantee"],
            *(dollars(a[k]) for k in MONEY),
            "yes" if a["closed"] else "",
        )
    out.print(table)
    table = Table("appropriation", "amount", "awarded", "unobligated", "disbursed", "expended")
    for p in result["appropriations"]:
        table.add_row(
            p["appropriation_id"],
            *(
                dollars(p[k])
                for k in ("amount", "authorised", "unobligated", "disbursed", "expended")
            ),
        )
    out.print(table)
    table = Table("award", *(f"SF-425 {line}" for line in SF425_LINES))
    for a in result["awards"]:
        table.add_row(a["award_id"], *(dollars(v) for v in a["sf425"].values()))
    out.print(table)


@commands.command("balances")
def balances_command(
    as_of: AsOfOpt = None, at_seq: AtSeqOpt = None, as_json: JsonOpt = False
) -> None:
    """Balances per appropriation, award and grantee, with SF-425 lines 10a to 10h."""
    with system() as ledger:
        result = ledger.reports.balances(as_of=as_of, at_seq=at_seq)
    emit(result, as_json, lambda: _balances_text(result))


@commands.command("replay")
def replay_command(
    as_of: AsOfOpt = None, at_seq: AtSeqOpt = None, as_json: JsonOpt = False
) -> None:
    """What the ledger would have answered at a past moment (every report, as of then)."""
    with system() as ledger:
        result = ledger.reports.replay(as_of=as_of, at_seq=at_seq)

    def show() -> None:
        _balances_text(result["balances"])
        out.print("oversight")
        out.print_json(data=result["oversight"])

    emit(result, as_json, show)


@commands.command("case-history")
def case_history_command(
    participant_id: str,
    grantee: Annotated[
        str | None,
        typer.Option(help="Answer as this grantee: another grantee's participant is not found."),
    ] = None,
    as_of: AsOfOpt = None,
    at_seq: AtSeqOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A participant's timeline, with the consents in force at each moment."""
    with system() as ledger:
        result = ledger.reports.case_history(
            participant_id, grantee=grantee, as_of=as_of, at_seq=at_seq
        )

    def show() -> None:
        out.print(f"participant {result['participant_id']} ({result['grantee']})")
        for row in result["timeline"]:
            consents = ", ".join(c["consent_id"] for c in row["consents_in_force"]) or "none"
            out.print(
                f"  {row['seq']:>8}  {row['on'] or '':<10}  {row['type']:<28} "
                f"consents in force: {consents}"
            )

    emit(result, as_json, show)


@commands.command("oversight")
def oversight_command(
    suppressed: Annotated[
        bool,
        typer.Option(
            "--suppressed", help="As it may leave the oversight role: counts under 11 hidden."
        ),
    ] = False,
    as_of: AsOfOpt = None,
    at_seq: AtSeqOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The civil-rights oversight view: consent integrity, timeliness, language, complaints."""
    with system() as ledger:
        result = ledger.reports.oversight(as_of=as_of, at_seq=at_seq, suppress=suppressed)
    emit(result, as_json, lambda: out.print_json(data=result))


def _reconciliation_text(result: Reconciliation) -> None:
    for name, totals in result.totals().items():
        out.print(
            f"{name.replace('_', ' '):<22} {totals['count']:>6}   ledger "
            f"{dollars(totals['ledger_cents']):>16}   bank {dollars(totals['bank_cents']):>16}"
        )
    for name in (
        "missing_from_ledger",
        "missing_from_bank",
        "mismatched",
        "duplicates",
        "paid_after_reversal",
    ):
        for row in getattr(result, name):
            out.print(
                f"  {name}: {row['payment_ref']} "
                + ", ".join(f"{k}={v}" for k, v in row.items() if k != "payment_ref")
            )
    out.print("RECONCILED" if result.clean else "DIFFERENCES FOUND")


@commands.command("reconcile")
def reconcile_command(
    payments: Annotated[Path, typer.Argument(metavar="PAYMENTS.csv")], as_json: JsonOpt = False
) -> None:
    """Match a bank payment file against the ledger's disbursements; exit 1 if they differ."""
    with system() as ledger:
        bank_file = read_payment_file(read_input(payments, "the payment file"))
        result = ledger.reports.reconcile(bank_file)
    emit(result.to_json(), as_json, lambda: _reconciliation_text(result))
    raise typer.Exit(0 if result.clean else 1)
