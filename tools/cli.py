"""The `cmpp` command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any
from uuid import uuid4

import typer
from eventsourcing.persistence import PersistenceError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from domain.rules import ProgramRules
from ledger import transparency
from ledger.application import LedgerNotOpenError
from ledger.bundle import BundleError, bundle_material
from ledger.errors import UserError
from ledger.export import export_bundle, live_material
from ledger.note import VerifierKey
from ledger.registry import KeyRuleError
from ledger.settings import Settings
from ledger.signing import Signer, SigningKey
from ledger.tlog_proof import TlogProofError, verify_tlog_proof
from ledger.verify import verify as run_verify
from tools.context import Context
from tools.demo import DemoSummary, run_demo

app = typer.Typer(no_args_is_help=True, add_completion=False, help="The CMPP ledger.")
prove_app = typer.Typer(no_args_is_help=True, help="Merkle proofs (LEDGER_FORMAT.md section 8).")
export_app = typer.Typer(no_args_is_help=True, help="Exports of the ledger.")
keys_app = typer.Typer(no_args_is_help=True, help="Signing keys: list, register, revoke.")
app.add_typer(prove_app, name="prove")
app.add_typer(export_app, name="export")
app.add_typer(keys_app, name="keys")

err = Console(stderr=True)
# Piped output is read by programs and people with wide screens: don't fold it at 80.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
ActorOpt = Annotated[
    str, typer.Option("--actor", envvar="CMPP_ACTOR", help="Who is acting, e.g. user:jdoe.")
]


@contextmanager
def command(actor: str = "user:cli") -> Iterator[Context]:
    """A command's context; known failures become a message and exit code 2."""
    ctx = None
    try:
        ctx = Context(Settings(), actor)
        yield ctx
    except UserError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    except PersistenceError as exc:
        err.print(f"[red]database error:[/red] {type(exc).__name__}: {escape(str(exc))}")
        raise typer.Exit(2) from None
    finally:
        if ctx is not None:
            ctx.close()


def emit(value: Any, as_json: bool, text: Callable[[], None]) -> None:
    if as_json:
        sys.stdout.write(json.dumps(value, indent=1) + "\n")
    else:
        text()


@contextmanager
def progress_bar(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done: bar.update(task, completed=done)


# -- init, checkpoint, run ------------------------------------------------------------


def _init(ctx: Context, board_org: str) -> dict[str, Any]:
    ledger_id = uuid4()
    origin = ctx.settings.origin or f"cmpp.example.gov/ledger/{ledger_id.hex}"
    root = SigningKey.generate(board_org, ("board",))
    log_key = SigningKey.generate(board_org, ("log",))
    ctx.keys.save(root, "root key (board)")
    ctx.keys.save(log_key, "log key (checkpoints)")
    ctx.app.open_ledger(
        origin=origin,
        root=Signer(ctx.actor, root),
        log_public=log_key.public_key,
        ledger_id=ledger_id,
    )
    checkpoint = ctx.log.checkpoint()
    return {
        "origin": origin,
        "ledger_id": str(ledger_id),
        "root_key_id": root.key_id,
        "log_vkey": str(ctx.app.log_verifier_key),
        "checkpoint": checkpoint,
        "database": ctx.settings.describe_database(),
    }


@app.command()
def init(
    actor: ActorOpt = "user:cli",
    board_org: Annotated[str, typer.Option(help="The National Board's org id.")] = "org:board",
    as_json: JsonOpt = False,
) -> None:
    """Create the ledger: database, keys, entry 0 and its first checkpoint."""
    with command(actor) as ctx:
        info = _init(ctx, board_org)
        emit(
            info,
            as_json,
            lambda: out.print(
                f"origin        {info['origin']}\nroot key id   {info['root_key_id']}\n"
                f"verifier key  {info['log_vkey']}\ndatabase      {info['database']}"
            ),
        )


@app.command()
def checkpoint(as_json: JsonOpt = False) -> None:
    """Print the latest signed checkpoint, issuing a new one if the log grew."""
    with command() as ctx:
        note = ctx.log.checkpoint()
        emit({"checkpoint": note}, as_json, lambda: out.print(note, end=""))


def _demo(ctx: Context, participants: int, seed: int) -> DemoSummary:
    with progress_bar("demo participants", participants) as advance:
        summary = run_demo(
            ctx.app,
            ctx.keys,
            ctx.root_signer(),
            participants=participants,
            seed=seed,
            progress=advance,
        )
    ctx.log.checkpoint()
    return summary


@app.command()
def demo(
    participants: Annotated[int, typer.Option(min=1, help="How many participants.")] = 2000,
    seed: Annotated[int, typer.Option(help="The same seed gives the same pilot.")] = 2022,
    actor: ActorOpt = "user:cli",
    as_json: JsonOpt = False,
) -> None:
    """Fill a new ledger with a realistic pilot (organisations, funds, cases)."""
    with command(actor) as ctx:
        summary = _demo(ctx, participants, seed)
        result = {"participants": summary.participants, "events": dict(summary.events)}
        emit(
            result,
            as_json,
            lambda: out.print(
                f"{summary.participants} participants, {sum(summary.events.values())} events"
            ),
        )


@app.command()
def run(
    actor: ActorOpt = "user:cli",
    participants: Annotated[int, typer.Option(help="Demo size on first start.")] = 2000,
) -> None:
    """Initialise a ledger with the demo pilot if there is none; show its checkpoint and key."""
    with command(actor) as ctx:
        try:
            ctx.app.opening  # noqa: B018 (reads entry 0)
        except LedgerNotOpenError:
            ctx.app.vault  # noqa: B018 (fails now, before anything is written, if unconfigured)
            _init(ctx, "org:board")
            err.print(f"initialised a new ledger in {ctx.settings.describe_database()}")
            summary = _demo(ctx, participants, 2022)
            err.print(
                f"demo pilot: {summary.participants} participants, "
                f"{sum(summary.events.values())} events"
            )
        note = ctx.log.checkpoint()
        out.print(f"verifier key  {ctx.app.log_verifier_key}\n\n{note}", end="")


# -- proofs ---------------------------------------------------------------------------


@prove_app.command("inclusion")
def prove_inclusion(
    seq: int, size: Annotated[int | None, typer.Option(help="Tree size to prove against.")] = None
) -> None:
    """Inclusion proof of entry SEQ (JSON, LEDGER_FORMAT.md section 8)."""
    with command() as ctx:
        emit(transparency.inclusion(ctx.log, seq, size), True, lambda: None)


@prove_app.command("consistency")
def prove_consistency(old: int, new: int) -> None:
    """Consistency proof from tree size OLD to NEW (JSON)."""
    with command() as ctx:
        emit(transparency.consistency(ctx.log, old, new), True, lambda: None)


@prove_app.command("entry")
def prove_entry(
    seq: int,
    out_dir: Annotated[Path, typer.Argument(metavar="OUT")],
    size: Annotated[int | None, typer.Option(help="Tree size to prove against.")] = None,
) -> None:
    """Write entry SEQ's line and its C2SP tlog-proof to OUT/<seq>.entry, OUT/<seq>.tlog-proof."""
    with command() as ctx:
        line, proof = transparency.entry_proof(ctx.log, seq, size)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"{seq}.entry").write_bytes(line)
        (out_dir / f"{seq}.tlog-proof").write_text(proof)
        out.print(f"wrote {out_dir / f'{seq}.entry'} and {out_dir / f'{seq}.tlog-proof'}")


# -- export and verify ----------------------------------------------------------------


@export_app.command("bundle")
def export_bundle_command(out_dir: Annotated[Path, typer.Argument(metavar="OUT")]) -> None:
    """Write an audit bundle (LEDGER_FORMAT.md section 7) to the directory OUT."""
    with command() as ctx:
        size = ctx.app.store.head().size
        with progress_bar("exporting", size) as advance:
            manifest = export_bundle(
                ctx.app.store,
                ctx.log,
                ctx.app.opening["data"]["root_key"]["key_id"],
                out_dir,
                advance,
            )
        out.print(f"wrote {manifest['size']} entries to {out_dir}")


@app.command()
def verify(
    bundle: Annotated[
        Path | None, typer.Option(help="Verify this bundle, not the database.")
    ] = None,
    trusted_key: Annotated[
        str | None, typer.Option(help="The log's verifier key you trust (origin+hash+key).")
    ] = None,
    trusted_root_key: Annotated[str | None, typer.Option(help="The root key id you trust.")] = None,
    jobs: Annotated[
        int | None, typer.Option(help="Worker processes (default: every core).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the log (checks 1 to 9 of LEDGER_FORMAT.md section 7); exit 0, 1 or 2."""
    with command() as ctx:
        key = VerifierKey.parse(trusted_key) if trusted_key else None
        if bundle is not None:
            if not bundle.is_dir():
                raise BundleError(f"{bundle} is not a directory")
            material = bundle_material(bundle)
        else:
            material = live_material(ctx.app.store)
        with progress_bar("verifying", material.size_hint or None) as advance:
            report = run_verify(
                material,
                invariants=[ProgramRules()],
                trusted_log_key=key,
                trusted_root_key_id=trusted_root_key,
                jobs=jobs,
                progress=advance,
            )
    emit(report.to_json(), as_json, lambda: out.print("\n".join(report.lines())))
    raise typer.Exit(0 if report.ok else 1)


@app.command("verify-entry")
def verify_entry(
    entry: Annotated[Path, typer.Argument(help="The entry's line (from `prove entry`).")],
    proof: Annotated[Path, typer.Argument(help="Its .tlog-proof file.")],
    trusted_key: Annotated[str, typer.Option(help="The log's verifier key you trust.")],
    as_json: JsonOpt = False,
) -> None:
    """Check one entry against a signed checkpoint, with nothing else of the log; exit 0/1/2."""
    with command():
        key = VerifierKey.parse(trusted_key)
        try:
            line, text = entry.read_bytes(), proof.read_text()
        except OSError as exc:
            raise BundleError(f"cannot read {exc.filename}: {exc.strerror}") from None
    try:
        checkpoint = verify_tlog_proof(text, line, key)
    except TlogProofError as exc:
        problem = str(exc)
        emit(
            {"verified": False, "problem": problem},
            as_json,
            lambda: out.print(f"FAILED: {problem}"),
        )
        raise typer.Exit(1) from None
    result = {"verified": True, "tree_size": checkpoint.size, "origin": checkpoint.origin}
    emit(
        result,
        as_json,
        lambda: out.print(f"VERIFIED entry in {checkpoint.origin} at tree size {checkpoint.size}"),
    )


# -- keys -----------------------------------------------------------------------------


@keys_app.command("list")
def keys_list(as_json: JsonOpt = False) -> None:
    """The keys registered in the ledger."""
    with command() as ctx:
        rows: list[dict[str, Any]] = [
            {
                "key_id": k.key_id,
                "holder": k.holder,
                "roles": list(k.roles),
                "registered_seq": max(k.registered_seq, 0),
                "revoked_seq": k.revoked_seq,
            }
            for k in ctx.app.store.key_records()
        ]

        def show() -> None:
            for r in rows:
                revoked = r["revoked_seq"]
                status = "" if revoked is None else f"revoked at seq {revoked}"
                out.print(f"{r['key_id']}  {r['holder']:<24} {','.join(r['roles']):<22} {status}")

        emit(rows, as_json, show)


@keys_app.command("register")
def keys_register(
    holder: Annotated[str, typer.Option(help="The organisation that holds the key.")],
    role: Annotated[list[str], typer.Option(help="A role the key may sign for (repeatable).")],
    label: Annotated[str, typer.Option(help="A note for people.")] = "",
    actor: ActorOpt = "user:cli",
    as_json: JsonOpt = False,
) -> None:
    """Make a new key for HOLDER, keep it in the key store, and register it (board-signed)."""
    with command(actor) as ctx:
        key = SigningKey.generate(holder, tuple(role))
        ctx.keys.save(key, label or f"{holder} {','.join(role)}")
        ctx.app.register_key(ctx.root_signer(), key.public_key, holder, list(role))
        emit({"key_id": key.key_id}, as_json, lambda: out.print(key.key_id))


@keys_app.command("rotate")
def keys_rotate(
    key_id: str,
    reason: Annotated[str, typer.Option(help="Why the key is replaced.")],
    actor: ActorOpt = "user:cli",
    as_json: JsonOpt = False,
) -> None:
    """Replace a key: its successor (same holder, roles) is registered as it is revoked."""
    with command(actor) as ctx:
        record = next((k for k in ctx.app.store.key_records() if k.key_id == key_id), None)
        if record is None:
            raise KeyRuleError(f"key {key_id} is not registered")
        key = SigningKey.generate(record.holder, record.roles)
        ctx.keys.save(key, f"{record.holder} {','.join(record.roles)} (rotated)")
        ctx.app.rotate_key(ctx.root_signer(), key_id, key.public_key, reason)
        emit({"key_id": key.key_id, "replaces": key_id}, as_json, lambda: out.print(key.key_id))


@keys_app.command("revoke")
def keys_revoke(
    key_id: str,
    reason: Annotated[str, typer.Option(help="Why the key is revoked.")],
    actor: ActorOpt = "user:cli",
) -> None:
    """Revoke a signing key (board-signed); entries it signed before stay valid."""
    with command(actor) as ctx:
        ctx.app.revoke_key(ctx.root_signer(), key_id, reason)
        out.print(f"revoked {key_id}")


def main() -> None:
    app()


# The report commands live in their own module and register themselves on `app`.
import tools.reports  # noqa: E402, F401
