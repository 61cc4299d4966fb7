"""What leaves the system, each recorded before it is handed over (DESIGN.md section 7).

Every export is written where no one can take it yet, then `audit.ExportGenerated`
is recorded (kind, recipient, purpose, parameters, and the SHA-256 of its
`manifest.json`, which holds the SHA-256 of every other file), and only then does it
appear. If the record cannot be written, nothing leaves: the accounting of disclosures
lists every export that did.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ledger.export import ExportError, export_bundle
from ledger.transparency import LogSigner
from ledger.witness_client import parse_witnesses
from projections.audit import record_export
from projections.system import System

# Who asked, for an export made at the command line: whoever runs it on the server (the
# recipient and purpose say the rest).
OPERATOR = "operator (command line)"


def export_audit_bundle(
    system: System,
    out: Path,
    *,
    recipient: str,
    purpose: str,
    requested_by: str,
    log: LogSigner | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """The audit bundle at `out` (every entry, for offline verification), recorded as
    exported to `recipient` for `purpose` at the request of `requested_by` (a person id,
    or the command line's operator). Returns its manifest, with `export_seq`: the entry
    recording it (the bundle holds the entries before it)."""
    recorded: dict[str, int] = {}

    def record(manifest: dict[str, Any], sha256: str) -> None:
        recorded["seq"] = record_export(
            system,
            kind="bundle",
            recipient=recipient,
            purpose=purpose,
            parameters={"requested_by": requested_by, "size": manifest["size"]},
            sha256=sha256,
        )

    try:
        manifest = export_bundle(
            system.app.store,
            log or system.log,
            system.app.opening["data"]["root_key"]["key_id"],
            out,
            progress,
            witness_keys=[w.key for w in parse_witnesses(system.settings.witnesses or "")],
            before_handover=record,
        )
    except (ExportError, OSError) as exc:
        if "seq" not in recorded:
            raise
        # The record stays (the log is append-only): it over-states, never hides.
        raise ExportError(
            f"{exc}; the export was recorded as entry {recorded['seq']}, but nothing was"
            " handed over"
        ) from None
    return {**manifest, "export_seq": recorded["seq"]}
