"""The verifier with this program's catalogue (check 5) and rules (check 9)."""

from __future__ import annotations

from typing import Any

from domain.catalogue import CATALOGUE
from domain.rules import ProgramRules
from ledger.report import Report
from ledger.verify import Source, verify


def verify_log(source: Source, **options: Any) -> Report:
    """Checks 1 to 9 of LEDGER_FORMAT.md section 7 over `source` (see ledger.verify)."""
    return verify(source, catalogue=CATALOGUE, invariants=[ProgramRules()], **options)
