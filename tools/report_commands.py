"""Report commands: balances, SF-425, replay, case histories, oversight, reconciliation.

A figure that leaves the building (the SF-425, a reconciliation) is answered by default
from a rebuild of the verified log (`--verified`); `--unverified` answers from the
stored projections, faster, and says so. Balances default to the stored projections.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from domain.errors import dollars
from ledger.note import VerifierKey
from ledger.transparency import MAX_TREE_SIZE
from projections import balances
from projections.bundle_reports import bundle_reports
from projections.reconcile import Reconciliation, read_payment_file
from projections.reports import Reports
from projections.verified import UNVERIFIED, LogNotVerifiedError, verified_reports
from tools.console import (
    JsonOpt,
    emit,
    held_checkpoint,
    out,
    printable,
    progress_bar,
    read_input,
    system,
    user_errors,
)

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
VerifiedOpt = Annotated[
    bool,
    typer.Option(
        "--verified/--unverified",
        help="Verify the log and answer from a rebuild of exactly the verified entries"
        " (slower), or answer from the stored projections.",
    ),
]
MONEY = ("authorised", "disbursed", "reversed", "refunded", "expended", "cash_on_hand", "remaining")
SF425_LINES = balances.SF425_LINES


@contextmanager
def answering(verified: bool, as_json: bool) -> Iterator[tuple[Reports, dict[str, Any]]]:
    """The reports to answer from, and what they rest on (the `basis` of the answer).

    Verified: the log is verified first and the projections rebuilt from exactly the
    verified entries; if it does not verify, the findings are shown and the command
    exits 1 with no figures."""
    if not verified:
        with system() as ledger:
            yield ledger.reports, UNVERIFIED
        return
    try:
        with (
            system(read_only=True) as ledger,  # nothing stored is read, or written
            verified_reports(
                ledger.app.store, ledger.progress, held_checkpoints=ledger.signed_by_this_host()
            ) as (reports, basis),
        ):
            yield reports, basis.to_json()
    except LogNotVerifiedError as exc:
        _refuse(exc, as_json)
        raise typer.Exit(1) from None


def _refuse(exc: LogNotVerifiedError, as_json: bool) -> None:
    why = "REFUSED: the log does not verify, so no figure is answered from it"
    if as_json:
        refusal = {"verified": False, "refused": why, "verification": exc.report.to_json()}
        sys.stdout.write(json.dumps(refusal, indent=1) + "\n")
        return
    out.print("\n".join(map(printable, exc.report.lines())))
    out.print(why)


def _basis_text(result: dict[str, Any]) -> None:
    """Say what the answer rests on: the verified log or the stored rows, and which entries."""
    basis = result.get("basis")
    if basis is not None:
        out.print(basis["statement"])
    if result.get("rests_on") is not None:
        out.print(f"as of: {result['rests_on']['statement']}")
    anchor = result.get("anchor")
    if anchor is not None:
        covered = anchor["checkpoint"]
        by = (
            "no checkpoint covers it yet (cmpp checkpoint)"
            if covered is None
            else f"covered by checkpoint {covered['size']} (root {covered['root']})"
        )
        out.print(f"reflects entry {anchor['seq']}, {by}; digest {anchor['digest']}")


def _balances_text(result: dict[str, Any]) -> None:
    cut = result["as_of_seq"]
    out.print(f"balances {'now' if cut is None else f'as of entry {cut}'}")
    _basis_text(result)
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
    as_of: AsOfOpt = None,
    at_seq: AtSeqOpt = None,
    verified: VerifiedOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Balances per appropriation, award and grantee, with SF-425 lines 10a to 10h."""
    with answering(verified, as_json) as (reports, basis):
        result = reports.balances(as_of=as_of, at_seq=at_seq)
    result["basis"] = basis
    emit(result, as_json, lambda: _balances_text(result))


@commands.command("sf425")
def sf425_command(
    as_of: AsOfOpt = None,
    at_seq: AtSeqOpt = None,
    verified: VerifiedOpt = True,
    as_json: JsonOpt = False,
) -> None:
    """SF-425 lines 10a to 10h per award and in total, from the verified log by default."""
    with answering(verified, as_json) as (reports, basis):
        result = balances.sf425(reports.balances(as_of=as_of, at_seq=at_seq))
    result["basis"] = basis

    def show() -> None:
        cut = result["as_of_seq"]
        out.print(f"SF-425 {'now' if cut is None else f'as of entry {cut}'}")
        _basis_text(result)
        table = Table("award", "grantee", *(f"SF-425 {line}" for line in SF425_LINES))
        for a in result["awards"]:
            table.add_row(a["award_id"], a["grantee"], *(dollars(v) for v in a["sf425"].values()))
        table.add_row("total", "", *(dollars(v) for v in result["totals"].values()))
        out.print(table)

    emit(result, as_json, show)


@commands.command("replay")
def replay_command(
    as_of: AsOfOpt = None,
    at_seq: AtSeqOpt = None,
    verified: VerifiedOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """What the ledger would have answered at a past moment (every report, as of then)."""
    with answering(verified, as_json) as (reports, basis):
        result = reports.replay(as_of=as_of, at_seq=at_seq)
    for answer in (result, result["balances"], result["oversight"]):
        answer["basis"] = basis  # each part says what it rests on, as it would alone

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
        _basis_text(result)
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


class BundleReport(StrEnum):
    balances = "balances"
    sf425 = "sf425"
    oversight = "oversight"


@commands.command("report")
def report_command(  # noqa: PLR0917 (a command's parameters are its options)
    name: Annotated[BundleReport, typer.Argument(help="The report: balances, sf425 or oversight.")],
    bundle: Annotated[Path, typer.Option(help="The audit bundle to answer from (verified first).")],
    trusted_key: Annotated[
        str | None, typer.Option(help="The log's verifier key you trust (origin+hash+key).")
    ] = None,
    trusted_root_key: Annotated[str | None, typer.Option(help="The root key id you trust.")] = None,
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option("--checkpoint", help="A checkpoint you hold; repeatable (as cmpp verify)."),
    ] = None,
    suppressed: Annotated[
        bool, typer.Option("--suppressed", help="Oversight as it may leave the oversight role.")
    ] = False,
    as_of: AsOfOpt = None,
    at_seq: AtSeqOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A report recomputed from an audit bundle alone, after verifying it: its anchor's
    digest equals the live report's as of the same entry. Exit 1 if it does not verify."""
    key = None if trusted_key is None else VerifierKey.parse(trusted_key)
    try:
        with (
            user_errors(),
            bundle_reports(
                bundle,
                progress_bar,
                trusted_key=key,
                trusted_root_key=trusted_root_key,
                held_checkpoints=[held_checkpoint(path) for path in checkpoint or []],
            ) as (reports, basis),
        ):
            if name is BundleReport.oversight:
                result = reports.oversight(as_of=as_of, at_seq=at_seq, suppress=suppressed)
            else:
                result = reports.balances(as_of=as_of, at_seq=at_seq)
                if name is BundleReport.sf425:
                    result = balances.sf425(result)
    except LogNotVerifiedError as exc:
        _refuse(exc, as_json)
        raise typer.Exit(1) from None
    said = basis.to_json()
    said["source"] = f"a rebuild from the verified bundle {bundle}"
    if key is None:  # as `cmpp verify` says it
        said["statement"] += "; the log key was taken from entry 0 (pass --trusted-key to pin it)"
    result["basis"] = said

    def show() -> None:
        if name is BundleReport.balances:
            _balances_text(result)
        else:
            _basis_text(result)
            out.print_json(data=result)

    emit(result, as_json, show)


@commands.command("disclosures")
def disclosures_command(
    page: Annotated[
        int, typer.Option(min=1, max=1_000_000, help="Page (50 exports a page, newest first).")
    ] = 1,
    as_of: AsOfOpt = None,
    at_seq: AtSeqOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The accounting of disclosures: every export recorded (bundle, FOIA release, CSV,
    vault extract), to whom, why, and the SHA-256 of what left."""
    with system() as ledger:
        result = ledger.reports.disclosures(page=page, as_of=as_of, at_seq=at_seq)

    def show() -> None:
        out.print(
            f"{result['exports']} export(s) recorded; page {result['page']} of {result['pages']}"
        )
        table = Table("entry", "at", "kind", "recipient", "purpose", "parameters", "sha256")
        for r in result["rows"]:
            table.add_row(
                str(r["seq"]),
                r["at"],
                r["kind"],
                printable(r["recipient"]),
                r["purpose"],
                printable(json.dumps(r["parameters"], sort_keys=True)),
                r["sha256"],
            )
        out.print(table)

    emit(result, as_json, show)


def _reconciliation_text(result: Reconciliation, basis: dict[str, Any]) -> None:
    out.print(basis["statement"])
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
    payments: Annotated[Path, typer.Argument(metavar="PAYMENTS.csv")],
    verified: VerifiedOpt = True,
    as_json: JsonOpt = False,
) -> None:
    """Match a bank payment file against the ledger's disbursements; exit 1 if they differ
    (or if, answering from the verified log, the log does not verify)."""
    # The file first: a mistake in it is found before the log is verified.
    bank_file = read_payment_file(read_input(payments, "the payment file"))
    with answering(verified, as_json) as (reports, basis):
        result = reports.reconcile(bank_file)
    emit(
        {**result.to_json(), "basis": basis},
        as_json,
        lambda: _reconciliation_text(result, basis),
    )
    raise typer.Exit(0 if result.clean else 1)
