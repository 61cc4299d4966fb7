"""All of the program's rules as one ledger Guard: funds and cases, sharing one journal."""

from __future__ import annotations

from typing import Any

from domain.case_rules import CaseRules
from domain.funds_rules import FundsRules
from ledger.guard import Journal


class ProgramRules:
    types = ("funds.", "case.", "org.")

    def __init__(self) -> None:
        self.journal = Journal()  # one journal, so a refused batch is undone in both
        self.funds = FundsRules(self.journal)
        self.cases = CaseRules(self.journal)

    @property
    def position(self) -> int:
        return self.funds.position

    def admit(self, seq: int, event: dict[str, Any], *, strict: bool) -> list[str]:
        return [
            *self.funds.admit(seq, event, strict=strict),
            *self.cases.admit(seq, event, strict=strict),
        ]

    def begin(self) -> int:
        return self.journal.mark()

    def undo(self, mark: int) -> None:
        self.journal.undo(mark)

    def commit(self) -> None:
        self.journal.commit()
