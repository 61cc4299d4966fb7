"""Releases that leave the system: a FOIA release, and its check by whoever receives it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ledger.note import VerifierKey
from projections.foia import MANIFEST, export_foia
from projections.foia_verify import verify_release
from projections.releases import OPERATOR
from tools.console import JsonOpt, fail, out, printable, progress_bar, system, user_errors
from tools.ledger_commands import export, terminated_as_exit
from tools.report_commands import AsOfOpt, AtSeqOpt

commands = typer.Typer()


@export.command("foia")
def export_foia_command(
    out_dir: Annotated[Path, typer.Argument(metavar="OUT")],
    request: Annotated[str, typer.Option(help="The FOIA request's number, e.g. FOIA-2026-0001.")],
    as_of: AsOfOpt = None,
    at_seq: AtSeqOpt = None,
) -> None:
    """Write a FOIA release to OUT: public money in full, each entry with its inclusion
    proof, the withholding index; recorded as a disclosure before it appears."""
    with system() as ledger, terminated_as_exit(), progress_bar("releasing", None) as advance:
        manifest = export_foia(
            ledger,
            out_dir,
            request=request,
            as_of=as_of,
            at_seq=at_seq,
            requested_by=OPERATOR,
            progress=advance,
        )
    out.print(
        printable(
            f"wrote the release for {request} as of entry {manifest['as_of_seq']} to {out_dir};"
            f" recorded as entry {manifest['export_seq']}"
        )
    )
    # What ties it to the signed log: the checkpoint it was cut from, and its digest.
    out.print(
        f"cut from checkpoint {manifest['tree_size']} (root {manifest['root']});"
        f" manifest.json sha256:{manifest['manifest_sha256']}"
    )


@commands.command("verify-foia")
def verify_foia_command(
    release: Annotated[Path, typer.Argument(help="The release's directory.")],
    trusted_key: Annotated[str, typer.Option(help="The log's verifier key you trust.")],
    as_json: JsonOpt = False,
) -> None:
    """Check a FOIA release with nothing but its files and the key; exit 0, 1 or 2."""
    with user_errors():
        key = VerifierKey.parse(trusted_key)
    if not release.is_dir():
        raise fail(f"{release} is not a directory")
    if not (release / MANIFEST).is_file():
        raise fail(f"{release} is not a FOIA release: it has no {MANIFEST}")
    problems = verify_release(release, key)
    if as_json:
        sys.stdout.write(
            json.dumps({"verified": not problems, "problems": problems}, indent=1) + "\n"
        )
    else:
        for problem in problems:
            out.print(printable(f"FAIL {problem}"))
        out.print("VERIFIED" if not problems else f"FAILED: {len(problems)} problems")
    if problems:
        raise typer.Exit(1)
