"""Commands of the log itself: init, run, demo, checkpoint, proofs, export and verification."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from domain.catalogue import ACCESS_PURPOSES, RECIPIENT
from ledger import transparency
from ledger.bundle import BundleError
from ledger.cosignature import WitnessKey
from ledger.errors import UserError
from ledger.export import export_entry_proof
from ledger.note import VerifierKey
from ledger.tlog_proof import TlogProofError, verify_tlog_proof
from ledger.transparency import MAX_TREE_SIZE
from ledger.witness_client import cosigned_note, parse_witnesses
from projections.releases import OPERATOR, export_audit_bundle
from projections.system import System
from tools.console import (
    JsonOpt,
    emit,
    err,
    fail,
    held_checkpoint,
    out,
    printable,
    progress_bar,
    read_input,
    system,
    user_errors,
)
from tools.demo import DemoSummary, run_demo

commands = typer.Typer()
prove = typer.Typer(no_args_is_help=True, help="Merkle proofs (LEDGER_FORMAT.md section 8).")
export = typer.Typer(no_args_is_help=True, help="Exports of the ledger.")

# Bounds of integer arguments: what a store can hold, and more than anyone will ask for.
SeqArg = Annotated[int, typer.Argument(min=0, max=MAX_TREE_SIZE)]
SizeOpt = Annotated[
    int | None, typer.Option(min=0, max=MAX_TREE_SIZE, help="Tree size to prove against.")
]
MAX_PARTICIPANTS = 10_000_000
MAX_SEED = 2**63 - 1
MAX_JOBS = 1024


@commands.command()
def init(
    board_org: Annotated[str, typer.Option(help="The National Board's org id.")] = "org:board",
    as_json: JsonOpt = False,
) -> None:
    """Create the ledger: database, keys, entry 0 and its first checkpoint."""
    with system() as ledger:
        info = ledger.create_ledger(board_org)
    emit(
        asdict(info),
        as_json,
        lambda: out.print(
            f"origin        {info.origin}\nroot key id   {info.root_key_id}\n"
            f"verifier key  {info.log_vkey}\ndatabase      {info.database}"
        ),
    )


@commands.command()
def checkpoint(
    as_json: JsonOpt = False,
    start_record: Annotated[
        Path | None,
        typer.Option(
            "--start-record",
            metavar="FILE",
            help="Start the log key's record of signed checkpoints (a ledger made before"
            " signers kept one) from FILE, the latest checkpoint held outside (a witness's,"
            " an auditor's), or the database's largest if larger; each must be a prefix of"
            " the log.",
        ),
    ] = None,
) -> None:
    """Print the latest signed checkpoint, issuing a new one if the log grew, with the
    cosignatures of the witnesses (CMPP_WITNESSES), each asked to cosign it first."""
    with system() as ledger:
        if start_record is not None:
            held = held_checkpoint(start_record)
            started = ledger.log.start_record(held)
            err.print(f"the signer's record starts from the checkpoint of {started} entries")
        results = ledger.cosign()
        # The very checkpoint the witnesses were shown, though the log may have grown since.
        size = results[0].size if results else None
        # Only kept lines that verify with the configured witnesses' keys are printed.
        keys = [w.key for w in parse_witnesses(ledger.settings.witnesses or "")]
        note = cosigned_note(ledger.app.store, ledger.log.checkpoint(size), keys)
        policy = ledger.coverage_policy
    witnesses = [
        {"witness": r.witness, "size": r.size, "cosigned": r.ok, "problem": r.problem}
        for r in results
    ]
    coverage = {
        "every_entries": policy.entries,
        "every_seconds": policy.seconds,
        "uncovered_tail": policy.describe(),
    }

    def show() -> None:
        out.print(note, end="")  # exactly the note on stdout: it is kept as a held checkpoint
        err.print(f"writers cover the log as they go: {policy.describe()}")

    emit({"checkpoint": note, "witnesses": witnesses, "coverage": coverage}, as_json, show)
    refused = [f"the witness {r.witness} did not cosign: {r.problem}" for r in results if not r.ok]
    if refused:
        raise fail("; ".join(refused))  # the note is printed all the same


def demo_pilot(ledger: System, participants: int, seed: int) -> DemoSummary:
    with progress_bar("demo participants", participants) as advance:
        summary = run_demo(ledger, participants=participants, seed=seed, progress=advance)
    ledger.log.checkpoint()
    return summary


@commands.command()
def demo(
    participants: Annotated[
        int, typer.Option(min=1, max=MAX_PARTICIPANTS, help="How many participants.")
    ] = 2000,
    seed: Annotated[
        int, typer.Option(min=0, max=MAX_SEED, help="The same seed gives the same pilot.")
    ] = 2022,
    as_json: JsonOpt = False,
) -> None:
    """Fill a new ledger with a realistic pilot (organisations, funds, cases)."""
    with system() as ledger:
        summary = demo_pilot(ledger, participants, seed)
    result = {"participants": summary.participants, "events": dict(summary.events)}
    emit(
        result,
        as_json,
        lambda: out.print(
            f"{summary.participants} participants, {sum(summary.events.values())} events"
        ),
    )


@contextmanager
def terminated_as_exit() -> Iterator[None]:
    """SIGTERM (a service stopping, `timeout`) ends the command as an exception does, so
    what it has half written is removed on the way out rather than left behind."""

    def exit_now(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may handle signals
        return
    previous = signal.signal(signal.SIGTERM, exit_now)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# -- proofs ---------------------------------------------------------------------------


@prove.command("inclusion")
def prove_inclusion(seq: SeqArg, size: SizeOpt = None) -> None:
    """Inclusion proof of entry SEQ (JSON, LEDGER_FORMAT.md section 8)."""
    with system() as ledger:
        emit(transparency.inclusion(ledger.log, seq, size), True, lambda: None)


@prove.command("consistency")
def prove_consistency(old: SeqArg, new: SeqArg) -> None:
    """Consistency proof from tree size OLD to NEW (JSON)."""
    with system() as ledger:
        emit(transparency.consistency(ledger.log, old, new), True, lambda: None)


@prove.command("entry")
def prove_entry(
    seq: SeqArg, out_dir: Annotated[Path, typer.Argument(metavar="OUT")], size: SizeOpt = None
) -> None:
    """Write entry SEQ's line and its C2SP tlog-proof to OUT/<seq>.entry, OUT/<seq>.tlog-proof."""
    with system() as ledger, terminated_as_exit():
        export_entry_proof(ledger.log, seq, out_dir, size)
    out.print(printable(f"wrote {out_dir / f'{seq}.entry'} and {out_dir / f'{seq}.tlog-proof'}"))


# -- export and verify ----------------------------------------------------------------


@export.command("bundle")
def export_bundle_command(
    out_dir: Annotated[Path, typer.Argument(metavar="OUT")],
    recipient: Annotated[
        str,
        typer.Option(help="Who receives it: an org:… or user:… id (recorded; never a name)."),
    ],
    purpose: Annotated[
        str, typer.Option(help=f"Why, one of: {', '.join(ACCESS_PURPOSES)} (recorded).")
    ],
) -> None:
    """Write an audit bundle (LEDGER_FORMAT.md section 7) to the directory OUT, recorded
    in the log as exported (`cmpp disclosures`) before it appears."""
    if purpose not in ACCESS_PURPOSES:
        raise fail(f"--purpose must be one of: {', '.join(ACCESS_PURPOSES)}")
    if not RECIPIENT.accepts(recipient):  # it is written to the log: never a name
        raise fail(f"--recipient must be {RECIPIENT.name}")
    with (
        system() as ledger,
        terminated_as_exit(),
        progress_bar("exporting", ledger.app.store.head().size) as advance,
    ):
        manifest = export_audit_bundle(
            ledger,
            out_dir,
            recipient=recipient,
            purpose=purpose,
            requested_by=OPERATOR,
            progress=advance,
        )
    out.print(
        printable(
            f"wrote {manifest['size']} entries to {out_dir}; "
            f"recorded as entry {manifest['export_seq']}"
        )
    )


@commands.command()
def verify(  # noqa: PLR0917 (a command's parameters are its options)
    bundle: Annotated[
        Path | None, typer.Option(help="Verify this bundle, not the database.")
    ] = None,
    trusted_key: Annotated[
        str | None, typer.Option(help="The log's verifier key you trust (origin+hash+key).")
    ] = None,
    trusted_root_key: Annotated[str | None, typer.Option(help="The root key id you trust.")] = None,
    jobs: Annotated[
        int | None,
        typer.Option(min=1, max=MAX_JOBS, help="Worker processes (default: every core)."),
    ] = None,
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(
            "--checkpoint",
            help="A checkpoint you hold (from `cmpp checkpoint`, or a witness); repeatable."
            " A log shorter than it, or with another root at its size, fails.",
        ),
    ] = None,
    witness_key: Annotated[
        list[str] | None,
        typer.Option(
            "--witness-key",
            help="A witness's verifier key (name+hash+key); repeatable. The latest checkpoint"
            " must carry a valid cosignature by each.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the log (checks 1 to 9 of LEDGER_FORMAT.md section 7); exit 0, 1 or 2."""
    with system(read_only=True) as ledger:
        if trusted_root_key is not None and not trusted_root_key.strip():
            raise BundleError("--trusted-root-key is empty: give the root key id you trust")
        key = None if trusted_key is None else VerifierKey.parse(trusted_key)
        held = [held_checkpoint(path) for path in checkpoint or []]
        witness_keys = [WitnessKey.parse(text) for text in witness_key or []]
        report = ledger.verify(
            bundle,
            trusted_key=key,
            trusted_root_key=trusted_root_key,
            jobs=jobs,
            held_checkpoints=held,
            witness_keys=witness_keys,
        )
    # A finding may quote what a bundle holds: shown, never acted on by the terminal.
    emit(report.to_json(), as_json, lambda: out.print("\n".join(map(printable, report.lines()))))
    raise typer.Exit(0 if report.ok else 1)


@commands.command("verify-entry")
def verify_entry(
    entry: Annotated[Path, typer.Argument(help="The entry's line (from `prove entry`).")],
    proof: Annotated[Path, typer.Argument(help="Its .tlog-proof file.")],
    trusted_key: Annotated[str, typer.Option(help="The log's verifier key you trust.")],
    as_json: JsonOpt = False,
) -> None:
    """Check one entry against a signed checkpoint, with nothing else of the log; exit 0/1/2."""
    with user_errors():
        key = VerifierKey.parse(trusted_key)
        line, text = _entry_line(entry), _proof_text(proof)
    try:
        checkpoint = verify_tlog_proof(text, line, key)
    except TlogProofError as exc:
        problem = str(exc)
        emit(
            {"verified": False, "problem": problem},
            as_json,
            lambda: out.print(printable(f"FAILED: {problem}")),
        )
        raise typer.Exit(1) from None
    result = {"verified": True, "tree_size": checkpoint.size, "origin": checkpoint.origin}
    emit(
        result,
        as_json,
        lambda: out.print(
            printable(f"VERIFIED entry in {checkpoint.origin} at tree size {checkpoint.size}")
        ),
    )


def _entry_line(path: Path) -> bytes:
    """The entry file's one line (a JSON object), as `prove entry` wrote it."""
    data = read_input(path, "the entry")
    line = data.removesuffix(b"\n")
    try:
        entry = json.loads(line.decode("utf-8")) if b"\n" not in line else None
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested past all reason
        entry = None
    if not isinstance(entry, dict):
        raise UserError(f"{path} is not an entry: one line of JSON, as `cmpp prove entry` writes")
    return data


def _proof_text(path: Path) -> str:
    try:
        return read_input(path, "the tlog-proof").decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path} is not a tlog-proof: it is not UTF-8 text") from None
