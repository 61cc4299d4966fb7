"""`cmpp vault`: the vault's upkeep.

`sweep` finds vault records that no log entry commits to (left by versions that wrote
records apart from their events, when a crash fell between the two) and, with
`--remove`, deletes them. Each one reported is proven orphaned: the whole log, read
after the records, carries no event with its commitment.
"""

from __future__ import annotations

from typing import Annotated

import typer

from domain.vault_sweep import sweep
from tools.console import JsonOpt, emit, out, progress_bar, system

vault = typer.Typer(no_args_is_help=True, help="The vault of personal data: upkeep.")


@vault.command("sweep")
def vault_sweep(
    remove: Annotated[
        bool, typer.Option("--remove", help="Delete the orphaned records (default: list them).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """List (or remove) vault records that no log entry commits to."""
    with system() as ledger:
        size = ledger.app.store.head().size
        with progress_bar("reading the log", size) as advance:
            found = sweep(ledger.app.vault, ledger.app.store, remove=remove, progress=advance)
    result = {
        "records": found.records,
        "entries_read": found.entries,
        "removed": found.removed,
        "orphans": [
            {"record_id": o.record_id, "participant_id": o.participant_id, "kind": o.kind}
            for o in found.orphans
        ],
    }

    def show() -> None:
        verb = "removed" if found.removed else "found"
        out.print(
            f"{found.records} vault records, {found.entries} log entries read: "
            f"{verb} {len(found.orphans)} with no event"
        )
        for o in found.orphans:
            out.print(f"  {o.record_id}  {o.participant_id}  {o.kind}")

    emit(result, as_json, show)
