"""Report commands: balances, replay, reconciliation, and the projections behind them."""

from __future__ import annotations

import contextlib
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from domain.errors import dollars
from ledger.entry import EntryError, format_instant, parse_instant
from projections import balances, case_history, oversight
from projections.reconcile import PaymentFileError, read_payment_file, reconcile
from projections.runner import ProjectionError
from projections.worker import follow
from tools.cli import JsonOpt, app, command, emit, err, out, progress_bar
from tools.context import Context

projections_app = typer.Typer(
    no_args_is_help=True, help="The read models: status, rebuild, digest."
)
app.add_typer(projections_app, name="projections")

AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of", help="An instant (2024-03-31T23:59:59.999999Z, or a date for its end)."
    ),
]
AtSeqOpt = Annotated[
    int | None, typer.Option("--at-seq", help="The state once entry N had been applied.")
]


def _caught_up(ctx: Context, stop: int | None = None) -> None:
    """Project every entry not yet projected (before seq `stop`, if given)."""
    positions = ctx.projector.positions().values()
    end = ctx.app.store.head().size if stop is None else stop
    todo = max((end - p for p in positions), default=0)
    with progress_bar("projecting", todo or None) as advance:
        ctx.projector.catch_up(stop=stop, progress=advance)


def _prepared(ctx: Context, as_of: str | None, at_seq: int | None) -> int | None:
    """Catch the projections up as far as the report needs, and return its cut.

    With --at-seq N no entry after N is read: projections behind N are brought up to
    N only, and every answer is from rows made by entries 0..N. An instant (--as-of)
    needs every entry's time, since clocks of concurrent writers interleave.
    """
    if at_seq is not None and as_of is None:
        cut = _cut(ctx, None, at_seq)
        _caught_up(ctx, stop=at_seq + 1)
        return cut
    _caught_up(ctx)
    return _cut(ctx, as_of, at_seq)


def _cut(ctx: Context, as_of: str | None, at_seq: int | None) -> int | None:
    """The seq a report is as of: from --at-seq, or the last entry recorded by --as-of."""
    if as_of is not None and at_seq is not None:
        raise ProjectionError("give --as-of or --at-seq, not both")
    if at_seq is not None:
        size = ctx.app.store.head().size
        if not 0 <= at_seq < size:
            raise ProjectionError(f"--at-seq must be between 0 and {size - 1}")
        return at_seq
    if as_of is None:
        return None
    try:
        instant = (
            format_instant(
                datetime.fromisoformat(as_of)
                .replace(tzinfo=UTC)
                .replace(hour=23, minute=59, second=59, microsecond=999999)
            )
            if len(as_of) == 10
            else format_instant(parse_instant(as_of))
        )
    except (ValueError, EntryError):
        raise ProjectionError(
            f"--as-of {as_of!r} is not YYYY-MM-DD or an instant YYYY-MM-DDTHH:MM:SS.ffffffZ"
        ) from None
    seq = balances.seq_at(ctx.projector.db, instant)
    if seq is None:
        raise ProjectionError(f"nothing was recorded by {instant}")
    return seq


def _balances_text(result: dict[str, Any]) -> None:
    cut = result["as_of_seq"]
    out.print(f"balances {'now' if cut is None else f'as of entry {cut}'}")
    table = Table(
        "award",
        "grantee",
        "authorised",
        "disbursed",
        "reversed",
        "refunded",
        "expended",
        "cash on hand",
        "remaining",
        "closed",
    )
    for a in result["awards"]:
        table.add_row(
            a["award_id"],
            a["grantee"],
            *(
                dollars(a[k])
                for k in (
                    "authorised",
                    "disbursed",
                    "reversed",
                    "refunded",
                    "expended",
                    "cash_on_hand",
                    "remaining",
                )
            ),
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
    table = Table(
        "award",
        *(f"SF-425 {line}" for line in ("10a", "10b", "10c", "10d", "10e", "10f", "10g", "10h")),
    )
    for a in result["awards"]:
        table.add_row(a["award_id"], *(dollars(v) for v in a["sf425"].values()))
    out.print(table)


@app.command("balances")
def balances_command(
    as_of: AsOfOpt = None, at_seq: AtSeqOpt = None, as_json: JsonOpt = False
) -> None:
    """Balances per appropriation, award and grantee, with SF-425 lines 10a to 10h."""
    with command() as ctx:
        result = balances.report(ctx.projector.db, _prepared(ctx, as_of, at_seq))
        emit(result, as_json, lambda: _balances_text(result))


@app.command("replay")
def replay_command(
    as_of: AsOfOpt = None, at_seq: AtSeqOpt = None, as_json: JsonOpt = False
) -> None:
    """What the ledger would have answered at a past moment (every report, as of then)."""
    with command() as ctx:
        cut = _prepared(ctx, as_of, at_seq)
        if cut is None:
            raise ProjectionError("replay needs --as-of or --at-seq")
        result: dict[str, Any] = {
            "as_of_seq": cut,
            "balances": balances.report(ctx.projector.db, cut),
            "oversight": oversight.report(ctx.projector.db, at_seq=cut),
        }

        def show() -> None:
            _balances_text(result["balances"])
            out.print("oversight")
            out.print_json(data=result["oversight"])

        emit(result, as_json, show)


@app.command("case-history")
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
    with command() as ctx:
        cut = _prepared(ctx, as_of, at_seq)
        result = case_history.history(ctx.projector.db, participant_id, grantee=grantee, at_seq=cut)

    def show() -> None:
        out.print(f"participant {result['participant_id']} ({result['grantee']})")
        for row in result["timeline"]:
            consents = ", ".join(c["consent_id"] for c in row["consents_in_force"]) or "none"
            out.print(
                f"  {row['seq']:>8}  {row['on'] or '':<10}  {row['type']:<28} "
                f"consents in force: {consents}"
            )

    emit(result, as_json, show)


@app.command("oversight")
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
    with command() as ctx:
        cut = _prepared(ctx, as_of, at_seq)
        result = oversight.report(ctx.projector.db, at_seq=cut, suppress=suppressed)
    emit(result, as_json, lambda: out.print_json(data=result))


@app.command("reconcile")
def reconcile_command(
    payments: Annotated[Path, typer.Argument(metavar="PAYMENTS.csv")], as_json: JsonOpt = False
) -> None:
    """Match a bank payment file against the ledger's disbursements; exit 1 if they differ."""
    with command() as ctx:
        try:
            text = payments.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PaymentFileError(f"cannot read {payments}: {exc}") from None
        parsed = read_payment_file(text)
        _caught_up(ctx)
        result = reconcile(ctx.projector.db, parsed)

    def show() -> None:
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

    emit(result.to_json(), as_json, show)
    raise typer.Exit(0 if result.clean else 1)


@projections_app.command("status")
def projections_status(as_json: JsonOpt = False) -> None:
    """Each projection's position and how far it lags the log."""
    with command() as ctx:
        positions, lag = ctx.projector.positions(), ctx.projector.lag()
        rows = {name: {"position": positions[name], "lag": lag[name]} for name in positions}

        def show() -> None:
            for name, row in rows.items():
                out.print(f"{name:<12} position {row['position']:>9}  lag {row['lag']:>9}")

        emit(rows, as_json, show)


@projections_app.command("rebuild")
def projections_rebuild(name: Annotated[str | None, typer.Argument()] = None) -> None:
    """Drop a projection (default: all) and rebuild it from the log."""
    with command() as ctx:
        size = ctx.app.store.head().size
        with progress_bar("rebuilding", size) as advance:
            ctx.projector.rebuild(name, progress=advance)
        out.print(f"rebuilt {name or 'all projections'} to entry {size - 1}")


@projections_app.command("digest")
def projections_digest(as_json: JsonOpt = False) -> None:
    """A SHA-256 of each projection's state: equal wherever and however it was built."""
    with command() as ctx:
        _caught_up(ctx)
        digests = ctx.projector.digest()

        def show() -> None:
            for name, digest in digests.items():
                out.print(f"{name:<12} {digest}")

        emit(digests, as_json, show)


@projections_app.command("follow")
def projections_follow(
    interval: Annotated[float, typer.Option(min=0.05, help="Seconds between polls.")] = 1.0,
    batch: Annotated[int, typer.Option(min=1, help="Entries per transaction.")] = 5000,
) -> None:
    """Run a projection worker: follow the log until stopped (Ctrl-C or SIGTERM)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with command() as ctx:

        def report_lag(applied: int, lag: dict[str, int]) -> None:
            if applied:
                err.print(
                    f"applied {applied}; lag " + ", ".join(f"{k} {v}" for k, v in lag.items())
                )

        with contextlib.suppress(KeyboardInterrupt):
            follow(
                ctx.projector,
                interval_ms=round(interval * 1000),
                batch=batch,
                stop=stop,
                listen_url=ctx.settings.url,
                on_cycle=report_lag,
            )
