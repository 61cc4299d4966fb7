"""All of the program's rules as one ledger Guard: funds and cases, sharing one journal."""

from __future__ import annotations

import re
from typing import Any

from domain.case_rules import CaseRules
from domain.errors import DomainError
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
        findings = []
        text = _control_character(event.get("data"))
        if text is not None:
            problem = DomainError(
                "plain-text",
                f"{event['type']} holds a control character in {text[:40]!r}: "
                "text may hold line breaks and tabs, no other control character",
            )
            if strict:
                raise problem
            findings.append(f"{problem.rule}: {problem}")
        return [
            *findings,
            *self.funds.admit(seq, event, strict=strict),
            *self.cases.admit(seq, event, strict=strict),
        ]

    def begin(self) -> int:
        return self.journal.mark()

    def undo(self, mark: int) -> None:
        self.journal.undo(mark)

    def commit(self) -> None:
        self.journal.commit()


# C0 controls but tab, line feed and carriage return. NUL cannot be stored in a
# PostgreSQL TEXT column at all, and none of them belongs in an id or a note.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _control_character(value: Any) -> str | None:
    """The first string in `value` holding a control character, if any."""
    if isinstance(value, str):
        return value if _CONTROL.search(value) else None
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if isinstance(value, list):
        for item in value:
            found = _control_character(item)
            if found is not None:
                return found
    return None
