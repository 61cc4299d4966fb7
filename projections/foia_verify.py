"""Checking a FOIA release with nothing but its files and the log's verifier key.

The steps, each reporting every problem it finds:
1. the manifest names every file, and each file's SHA-256 is the one it names;
2. the checkpoint is signed by the trusted key, and is the size and root the manifest says;
3. each released entry is canonical JSON (JCS), a money entry at or before the release's
   entry, and its inclusion proof (on the same line) leads from it to that root;
4. each CSV row is its entry's figures, and each entry has its one row;
5. the control totals, recomputed from the entries, are those of the manifest.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import rfc8785

from ledger import merkle
from ledger.hashing import b64decode
from ledger.note import Checkpoint, NoteError, VerifierKey
from projections import foia_money
from projections.balances import FUNDS_MOVEMENTS
from projections.foia import CHECKPOINT, ENTRIES, MANIFEST, PROOFS


def verify_release(release: Path, key: VerifierKey) -> list[str]:
    """Every problem found with the release (none: it checks)."""
    try:
        manifest = json.loads((release / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        return [f"{MANIFEST} cannot be read: {exc}"]
    problems = _files(release, manifest)
    if problems:
        return problems  # nothing else can be trusted
    try:
        checkpoint = Checkpoint.open((release / CHECKPOINT).read_text(), key)
    except NoteError as exc:
        return [f"{CHECKPOINT} is not signed by the trusted key: {exc}"]
    if checkpoint.size != manifest.get("tree_size"):
        problems.append(f"the checkpoint is of {checkpoint.size} entries, not the manifest's")
    entries = _entries(release, checkpoint, manifest.get("as_of_seq"), problems)
    problems += _rows(release, entries)
    totals = _control_totals(entries)
    if totals != manifest.get("control_totals"):
        problems.append(f"the control totals of the entries are {totals}, not the manifest's")
    return problems


def _files(release: Path, manifest: dict[str, Any]) -> list[str]:
    listed = manifest.get("files")
    if not isinstance(listed, dict):
        return [f"{MANIFEST} lists no files"]
    present = {str(p.relative_to(release)) for p in release.rglob("*") if p.is_file()} - {MANIFEST}
    problems = [f"{name} is not in the manifest" for name in sorted(present - set(listed))]
    for name, digest in sorted(listed.items()):
        path = release / name
        if name not in present:
            problems.append(f"{name} is missing")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            problems.append(f"{name} is not the file the manifest names (its SHA-256 differs)")
    return problems


def _entries(
    release: Path, checkpoint: Checkpoint, as_of_seq: Any, problems: list[str]
) -> dict[int, dict[str, Any]]:
    lines = (release / ENTRIES).read_bytes().splitlines()
    proofs = (release / PROOFS).read_bytes().splitlines()
    if len(lines) != len(proofs):
        problems.append(f"{len(lines)} entries but {len(proofs)} proofs")
    found: dict[int, dict[str, Any]] = {}
    for number, (line, proof_line) in enumerate(zip(lines, proofs, strict=False), 1):
        try:
            entry = json.loads(line)
            proof = json.loads(proof_line)
            if rfc8785.dumps(entry) != line:
                raise ValueError("not canonical JSON (JCS)")
            seq, event = entry["seq"], entry["event"]
            if event["type"] not in foia_money.MONEY_FILES:
                raise ValueError(f"{event['type']} is not a money entry")
            if type(as_of_seq) is not int or not 0 <= seq <= as_of_seq:
                raise ValueError(f"entry {seq} is not at or before the release's entry")
            leaf = merkle.leaf_hash(line)
            if b64decode(proof["leaf_hash"]) != leaf or proof["index"] != seq:
                raise ValueError("its proof is of another entry")
            path = [b64decode(p) for p in proof["proof"]]
            merkle.verify_inclusion(seq, checkpoint.size, leaf, path, checkpoint.root)
        except (ValueError, KeyError, TypeError, merkle.ProofError) as exc:
            problems.append(f"{ENTRIES} line {number}: {exc}")
            continue
        if seq in found:
            problems.append(f"{ENTRIES} line {number}: entry {seq} is released twice")
        found[seq] = event
    return found


def _rows(release: Path, entries: dict[int, dict[str, Any]]) -> list[str]:
    problems = []
    rowed: set[int] = set()
    for kind, name in foia_money.MONEY_FILES.items():
        path = f"money/{name}.csv"
        rows = list(csv.reader(io.StringIO((release / path).read_text())))
        if not rows or rows[0] != foia_money.columns(kind):
            problems.append(f"{path}: its header is not {foia_money.columns(kind)}")
            continue
        for number, shown in enumerate(rows[1:], 2):
            event = entries.get(int(shown[0])) if shown and shown[0].isdigit() else None
            if event is None or event["type"] != kind:
                problems.append(f"{path} row {number}: no released {kind} entry has its seq")
            elif shown != foia_money.row(int(shown[0]), event):
                problems.append(f"{path} row {number}: not the figures of entry {shown[0]}")
            else:
                rowed.add(int(shown[0]))
    problems += [f"entry {seq} has no CSV row" for seq in sorted(set(entries) - rowed)]
    return problems


def _control_totals(entries: dict[int, dict[str, Any]]) -> dict[str, dict[str, int]]:
    """What `cmpp balances` counts per kind of money movement: events, and cents (a
    reversal counts the cents of the disbursement it reverses)."""
    paid = {
        (e["data"]["award_id"], e["data"]["disbursement_id"]): e["data"]["amount_cents"]
        for e in entries.values()
        if e["type"] == "funds.DisbursementRecorded"
    }
    totals: dict[str, dict[str, int]] = defaultdict(lambda: {"events": 0, "cents": 0})
    for event in entries.values():
        kind, d = event["type"], event["data"]
        if kind not in FUNDS_MOVEMENTS:
            continue
        if kind == "funds.AwardAmended":
            cents = d["delta_cents"]
        elif kind == "funds.DisbursementReversed":
            cents = paid.get((d["award_id"], d["disbursement_id"]), 0)
        else:
            cents = d["amount_cents"]
        totals[kind]["events"] += 1
        totals[kind]["cents"] += cents
    return dict(sorted(totals.items()))
