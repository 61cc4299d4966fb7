"""A FOIA release: public money in full, each entry provable against a signed checkpoint,
and an index of what is withheld and why (DESIGN.md sections 5 and 7).

`export_foia` writes the release where no one can take it yet, records it
(`audit.ExportGenerated`, recipient: the request's number), and only then moves it into
place. Its manifest holds the control totals of `cmpp balances` at the same entry, the
tree size and root of the checkpoint it was cut from, and the SHA-256 of every file;
`cmpp verify-foia` checks all of it with nothing but the release and the log's key.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from domain.catalogue import RECIPIENT_PATTERN
from ledger.entry import format_instant
from ledger.export import ExportError
from ledger.hashing import b64encode
from ledger.note import Checkpoint
from projections import foia_money, foia_statistics
from projections.audit import record_export
from projections.system import System

FORMAT = "cmpp-foia-release/1"
MANIFEST = "manifest.json"
CHECKPOINT = "checkpoint.txt"
ENTRIES = "entries.jsonl"
PROOFS = "proofs.jsonl"
WITHHOLDING = "withholding.csv"
README = "README.md"
PROGRAM_TOTALS = "program_totals.csv"

# What is withheld, by class of record: (class, exemption, what it is, the log's types
# whose entries it counts, or None for the count given apart).
WITHHELD = (
    (
        "case records",
        "(b)(6); (b)(7)(C)",
        "every participant-level case entry (enrolments, consents, services, referrals, "
        "screenings, complaints, closures, erasures)",
        "case.",
    ),
    (
        "participants' identities",
        "(b)(6); (b)(3): 8 U.S.C. 1367",
        "names, dates of birth, A-Numbers and contact details, kept in the vault outside "
        "the log; counted by participant",
        "case.ParticipantEnrolled",
    ),
    (
        "screenings and protected status",
        "(b)(3): 8 U.S.C. 1367; 8 CFR 208.6",
        "screening results, trafficking (T visa), VAWA and U visa, and asylum-related information",
        "case.ScreeningCompleted",
    ),
    (
        "audit records",
        "(b)(6); (b)(7)(C)",
        "records of who read protected case records, and of exports",
        "audit.",
    ),
    (
        "staff identities and keys",
        "(b)(6)",
        "people registered to sign, and their keys (the released entries name people "
        "only by a pseudonymous id)",
        "ledger.Key",
    ),
)


def export_foia(
    system: System,
    out: Path,
    *,
    request: str,
    as_of: str | None = None,
    at_seq: int | None = None,
    requested_by: str,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Write the release for FOIA request `request` to `out`; returns its manifest, with
    `export_seq`, the entry recording it."""
    if RECIPIENT_PATTERN.fullmatch(request) is None or not request.startswith("FOIA-"):
        raise ExportError(
            f"--request must be a FOIA request number such as FOIA-2026-0001, not {request!r}"
        )
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out} already exists and is not an empty directory")
    cut = system.reports.cut(as_of=as_of, at_seq=at_seq)
    tree_size = system.app.store.head().size
    as_of_seq = tree_size - 1 if cut is None else cut
    note = system.log.checkpoint(tree_size)
    checkpoint = Checkpoint.parse_text(note.split("\n\n")[0] + "\n")
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(mode=0o700, parents=True)  # only its owner may read it until handed over
    try:
        files = _write(
            system,
            partial,
            note,
            as_of_seq=as_of_seq,
            tree_size=checkpoint.size,
            progress=progress,
        )
        balances = system.reports.balances(at_seq=as_of_seq)
        manifest = {
            "format": FORMAT,
            "request": request,
            "origin": system.log.origin,
            "log_vkey": str(system.log.verifier),
            "as_of_seq": as_of_seq,
            "tree_size": checkpoint.size,
            "root": b64encode(checkpoint.root),
            "created_at": format_instant(datetime.now(UTC)),
            "control_totals": balances["control_totals"],
            "files": files,
        }
        text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
        (partial / MANIFEST).write_text(text)
        digest = hashlib.sha256(text.encode()).hexdigest()
        seq = record_export(
            system,
            kind="foia",
            recipient=request,
            purpose="legal_request",
            parameters={
                "request": request,
                "as_of_seq": as_of_seq,
                "tree_size": checkpoint.size,
                "requested_by": requested_by,
            },
            sha256=digest,
        )
        try:
            if out.exists():
                out.rmdir()
            partial.rename(out)
        except OSError as exc:  # the record stays (append-only): it over-states, never hides
            raise ExportError(
                f"{out}: {exc.strerror or exc}; the release was recorded as entry {seq}, but"
                " nothing was handed over"
            ) from None
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return {**manifest, "export_seq": seq, "manifest_sha256": digest}


def _write(
    system: System,
    into: Path,
    note: str,
    *,
    as_of_seq: int,
    tree_size: int,
    progress: Callable[[int], None] | None,
) -> dict[str, str]:
    """Every file but the manifest; returns {name: SHA-256}."""
    tables: dict[str, list[list[str]]] = {
        name: [foia_money.columns(kind)] for kind, name in foia_money.MONEY_FILES.items()
    }
    (into / "money").mkdir()
    with (into / ENTRIES).open("wb") as entries, (into / PROOFS).open("wb") as proofs:
        for done, (seq, leaf, event, proof) in enumerate(
            foia_money.released(system, system.log, as_of_seq, tree_size), 1
        ):
            entries.write(leaf + b"\n")
            proofs.write(foia_money.proof_line(proof))
            tables[foia_money.MONEY_FILES[event["type"]]].append(foia_money.row(seq, event))
            if progress is not None and done % 100 == 0:
                progress(done)
    (into / CHECKPOINT).write_text(note)
    for name, rows in tables.items():
        (into / "money" / f"{name}.csv").write_text(foia_money.csv_text(rows))
    system.reports.cut(at_seq=as_of_seq)  # the case projections, up to the entry
    counted = foia_statistics.statistics(system.reports.db, as_of_seq)
    (into / "statistics").mkdir()
    for table in counted.tables:
        rows = foia_statistics.table_rows(table)
        (into / "statistics" / foia_statistics.file_name(table)).write_text(
            foia_money.csv_text(rows)
        )
    (into / "statistics" / PROGRAM_TOTALS).write_text(foia_money.csv_text(counted.program_rows()))
    withheld = _withholding(system, as_of_seq)
    withheld.append(
        [
            "small counts",
            "(b)(6)",
            "cells of the statistics from 1 to 10, and the cells hidden with them so that "
            "none can be worked out from the published totals",
            str(counted.hidden_cells),
        ]
    )
    (into / WITHHOLDING).write_text(foia_money.csv_text(withheld))
    (into / README).write_text(_readme(system, as_of_seq, tree_size))
    return {
        str(path.relative_to(into)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(into.rglob("*"))
        if path.is_file()
    }


def _withholding(system: System, as_of_seq: int) -> list[list[str]]:
    counts = {
        str(r["type"]): int(r["n"])
        for r in system.reports.db.query(
            "SELECT type, COUNT(*) AS n FROM log_index WHERE seq <= ? GROUP BY type",
            (as_of_seq,),
        )
    }
    found = [["class", "exemption", "withheld", "items"]]
    for name, exemption, what, prefix in WITHHELD:
        items = sum(n for t, n in counts.items() if t.startswith(prefix))
        found.append([name, exemption, what, str(items)])
    return found


def _readme(system: System, as_of_seq: int, tree_size: int) -> str:
    return f"""# A release under the Freedom of Information Act

From the ledger of the Alternatives to Detention Case Management Pilot Program
(origin `{system.log.origin}`), as of entry {as_of_seq}.

## What is released

- `money/*.csv`: every appropriation, award, amendment, disbursement, reversal,
  refund, expenditure and award closure recorded by then, one row each, with the `seq`
  of the entry recording it. Dates are ISO (YYYY-MM-DD); amounts are US dollars with
  two decimals.
- `entries.jsonl`: those entries themselves, exactly as the ledger holds them (one per
  line), and `proofs.jsonl`: for each, a proof that it is in the ledger's log (an RFC
  9162 inclusion proof, on the same line number).
- `checkpoint.txt`: the log's signed checkpoint of {tree_size} entries that the proofs
  lead to.
- `manifest.json`: the control totals of the money (equal to the ledger's balances as
  of entry {as_of_seq}), and the SHA-256 of every file.

An expenditure's entry names no service and no participant: `services_sha256`
commits to the services it paid for, which are withheld.

- `statistics/*.csv`: case statistics, only as counts by grantee and calendar quarter
  (participants enrolled, consents given and withdrawn, services of each type,
  referrals, complaints, cases closed), each with its totals. A count from 1 to 10 is
  shown as `suppressed`, and so are as many other cells as it takes that no
  suppressed cell can be worked out from the published ones to within 10.
  `statistics/program_totals.csv`: services for mental health and trafficking
  screening, screenings, and complaints that name no participant, only as totals for
  the whole program, suppressed the same way.

## What is withheld, and why

`withholding.csv` lists each class of record withheld, the exemption that applies
(5 U.S.C. 552(b)(6), (b)(7)(C), or (b)(3) with its statute: 8 U.S.C. 1367 protects
information about applicants for VAWA, T and U visa relief, and 8 CFR 208.6 protects
asylum-related information) and how many items.

## How to check it

With the ledger's verifier key (published by the program; it must not be taken from
this release): `cmpp verify-foia THIS-DIRECTORY --trusted-key KEY` checks every file's
SHA-256, the checkpoint's signature, every entry's inclusion proof, that every CSV row
is its entry's figures, and the control totals. Without the program's software: each
entry's SHA-256 leaf hash, with its proof, must give the root in `checkpoint.txt`
(RFC 9162 section 2.1.3.2), and the checkpoint's signature must verify with the key
(C2SP signed-note).
"""
