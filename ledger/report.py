"""The verifier's report: every finding of checks 1 to 9 with its seq, as text or JSON."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ledger.hashing import b64encode

CHECKS = {
    1: "manifest hashes",
    2: "canonical entries, seq = line number",
    3: "prev chain",
    4: "entry 0 and the trusted keys",
    5: "signatures, keys and permissions",
    6: "Merkle root = checkpoint root",
    7: "checkpoint signature (log key)",
    8: "earlier checkpoints",
    9: "domain invariants",
}
KEPT_FINDINGS = 1000  # per check; beyond this they are counted, not kept


@dataclass(frozen=True)
class Finding:
    check: int
    seq: int | None
    message: str

    def __str__(self) -> str:
        where = f"seq {self.seq}: " if self.seq is not None else ""
        return f"{where}{self.message}"


@dataclass
class Report:
    size: int = 0
    root: bytes | None = None
    counts: dict[int, int] = field(default_factory=lambda: dict.fromkeys(CHECKS, 0))
    findings: dict[int, list[Finding]] = field(default_factory=lambda: {c: [] for c in CHECKS})
    checked: dict[int, str] = field(default_factory=dict)  # what each check covered
    skipped: set[int] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)

    def add(self, check: int, seq: int | None, message: str) -> None:
        self.counts[check] += 1
        if len(self.findings[check]) < KEPT_FINDINGS:
            self.findings[check].append(Finding(check, seq, message))

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

    def lines(self) -> Iterator[str]:
        for number, name in CHECKS.items():
            if number in self.skipped:
                yield f"{number}. {name}: SKIP ({self.checked.get(number, 'not applicable')})"
                continue
            status = "PASS" if self.counts[number] == 0 else f"FAIL ({self.counts[number]})"
            yield f"{number}. {name}: {status} — {self.checked.get(number, '')}".rstrip(" —")
            for finding in self.findings[number]:
                yield f"   {finding}"
            hidden = self.counts[number] - len(self.findings[number])
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
                    "number": number,
                    "name": name,
                    "status": "SKIP"
                    if number in self.skipped
                    else ("PASS" if self.counts[number] == 0 else "FAIL"),
                    "problems": self.counts[number],
                    "covered": self.checked.get(number, ""),
                    "findings": [
                        {"seq": f.seq, "message": f.message} for f in self.findings[number]
                    ],
                }
                for number, name in CHECKS.items()
            ],
            "notes": self.notes,
            "verdict": self.verdict(),
        }
