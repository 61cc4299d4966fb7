"""The verifier's report: every finding of checks 1 to 9 with its seq, as text or JSON."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from ledger.hashing import b64encode


class Check(IntEnum):
    """The checks of LEDGER_FORMAT.md section 7, numbered as it numbers them."""

    MANIFEST = 1
    CANONICAL = 2
    CHAIN = 3
    OPENING = 4
    SIGNATURES = 5
    ROOT = 6
    CHECKPOINT = 7
    EARLIER_CHECKPOINTS = 8
    INVARIANTS = 9

    @property
    def title(self) -> str:
        return _TITLES[self]


_TITLES = {
    Check.MANIFEST: "manifest hashes",
    Check.CANONICAL: "canonical entries, seq = line number",
    Check.CHAIN: "prev chain",
    Check.OPENING: "entry 0 and the trusted keys",
    Check.SIGNATURES: "signatures, keys and permissions",
    Check.ROOT: "Merkle root = checkpoint root",
    Check.CHECKPOINT: "checkpoint signature (log key)",
    Check.EARLIER_CHECKPOINTS: "earlier checkpoints",
    Check.INVARIANTS: "domain invariants",
}
KEPT_FINDINGS = 1000  # per check; beyond this they are counted, not kept


@dataclass(frozen=True)
class Finding:
    check: Check
    seq: int | None
    message: str

    def __str__(self) -> str:
        where = f"seq {self.seq}: " if self.seq is not None else ""
        return f"{where}{self.message}"


@dataclass
class Report:
    size: int = 0
    root: bytes | None = None
    counts: dict[Check, int] = field(default_factory=lambda: dict.fromkeys(Check, 0))
    findings: dict[Check, list[Finding]] = field(default_factory=lambda: {c: [] for c in Check})
    checked: dict[Check, str] = field(default_factory=dict)  # what each check covered
    skipped: set[Check] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)

    def add(self, check: Check, seq: int | None, message: str) -> None:
        self.counts[check] += 1
        if len(self.findings[check]) < KEPT_FINDINGS:
            self.findings[check].append(Finding(check, seq, message))

    def skip(self, check: Check, why: str) -> None:
        self.skipped.add(check)
        self.checked[check] = why

    @property
    def problems(self) -> int:
        return sum(self.counts.values())

    @property
    def ok(self) -> bool:
        return self.problems == 0

    def verdict(self) -> str:
        if self.ok and self.root is not None:
            return f"VERIFIED {self.size} entries, root {b64encode(self.root)}"
        return f"FAILED: {self.problems} problems"

    def status(self, check: Check) -> str:
        if check in self.skipped:
            return "SKIP"
        return "PASS" if self.counts[check] == 0 else "FAIL"

    def lines(self) -> Iterator[str]:
        for check in Check:
            status = self.status(check)
            covered = self.checked.get(check, "")
            if status == "SKIP":
                yield f"{check.value}. {check.title}: SKIP ({covered or 'not applicable'})"
                continue
            if status == "FAIL":
                status = f"FAIL ({self.counts[check]})"
            yield f"{check.value}. {check.title}: {status} — {covered}".rstrip(" —")
            for finding in self.findings[check]:
                yield f"   {finding}"
            hidden = self.counts[check] - len(self.findings[check])
            if hidden > 0:
                yield f"   … and {hidden} more"
        for note in self.notes:
            yield f"note: {note}"
        yield self.verdict()

    def to_json(self) -> dict[str, Any]:
        return {
            "verified": self.ok and self.root is not None,
            "size": self.size,
            "root": None if self.root is None else b64encode(self.root),
            "problems": self.problems,
            "checks": [
                {
                    "number": check.value,
                    "name": check.title,
                    "status": self.status(check),
                    "problems": self.counts[check],
                    "covered": self.checked.get(check, ""),
                    "findings": [
                        {"seq": f.seq, "message": f.message} for f in self.findings[check]
                    ],
                }
                for check in Check
            ],
            "notes": self.notes,
            "verdict": self.verdict(),
        }
