"""All of the program's rules as one ledger Guard (see ledger.guard), sharing one journal.

For each entry: its type must be one of the catalogue's, its data exactly the members
the catalogue declares, written as declared, and free of control characters; then each
rule set checks it. A new event with a finding is refused (DomainError, nothing
written); committed history and a verifier's replay are applied regardless, each
finding reported with its seq.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import domain.case_rules
import domain.catalogue
import domain.consents
import domain.funds_rules
import domain.organisation_rules
import domain.rule_set
from domain.case_rules import CaseRules
from domain.catalogue import CATALOGUE
from domain.errors import DomainError
from domain.funds_rules import FundsRules
from domain.organisation_rules import OrganisationRules
from domain.rule_set import Event, Finding
from ledger.catalogue import LEDGER_TYPES
from ledger.guard import Journal, JournaledGuard


def _source_fingerprint(*modules: ModuleType) -> str:
    """A hash of the rules' own source: a snapshot made by other code is never trusted."""
    digest = hashlib.sha256()
    for module in modules:
        digest.update(Path(module.__file__ or "").read_bytes())
    return digest.hexdigest()


class ProgramRules(JournaledGuard):
    name = "program-rules"
    # The event types whose data the verifier hands to check 9: all but the ledger's own.
    types = tuple(sorted({f"{t.area}." for t in CATALOGUE if t not in LEDGER_TYPES}))
    fingerprint = _source_fingerprint(
        sys.modules[__name__],
        domain.catalogue,
        domain.consents,
        domain.rule_set,
        domain.organisation_rules,
        domain.funds_rules,
        domain.case_rules,
    )

    def __init__(self) -> None:
        self.journal = Journal()  # one journal, so a refused batch is undone everywhere
        self.organisations = OrganisationRules(self.journal)
        self.funds = FundsRules(self.journal)
        self.cases = CaseRules(self.journal, self.organisations.kinds)
        self.rule_sets = (self.organisations, self.funds, self.cases)
        # For each type, the rule sets that judge it (most types have one, audit.* none).
        self._judges = {t: [r for r in self.rule_sets if t in r.types] for t in CATALOGUE.types}
        self._cursor = self.journal.table([("position", 0)])

    @property
    def position(self) -> int:
        return int(self._cursor["position"])

    def findings(self, seq: int, event: Event) -> tuple[list[Finding], bool]:
        """What `event` breaks at `seq`, and whether its data is well formed."""
        kind = event["type"]
        declared = CATALOGUE.types.get(kind)
        if declared is None:
            return [
                Finding("known-type", f"{kind} is not an event type of the catalogue", seq)
            ], False
        if declared in LEDGER_TYPES:
            return [], False  # the ledger's trust rules judge these
        data = event["data"]
        found = [Finding(rule, message, seq) for rule, message in declared.problems(data)]
        # Identifiers are printable (their kind says so): only text can hide a control.
        texts = [data[m] for m in declared.text_members if m in data] if type(data) is dict else []
        text = _control_character(texts)
        if text is not None:
            found.append(
                Finding(
                    "plain-text",
                    f"{kind} holds a control character in {text[:40]!r}: "
                    "text may hold line breaks and tabs, no other control character",
                    seq,
                )
            )
        if found:
            return found, False
        return [f for rules in self._judges[kind] for f in rules.check(seq, event)], True

    def admit(self, seq: int, event: Event, *, strict: bool) -> list[str]:
        found, well_formed = self.findings(seq, event)
        if found and strict:
            raise DomainError(found[0].rule, found[0].message)
        if well_formed:
            for rules in self._judges[event["type"]]:
                rules.apply(seq, event)
        self._cursor["position"] = seq + 1
        return [str(f) for f in found]

    def state(self) -> dict[str, Any]:
        """What the rules know, in builtins only: for a snapshot (ledger.guard_snapshot)."""
        return {
            "position": self.position,
            **{type(rules).__name__: rules.state() for rules in self.rule_sets},
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Know what `state` says (outside any batch), as if its entries had been admitted."""
        for rules in self.rule_sets:
            rules.restore(state[type(rules).__name__])
        dict.__setitem__(self._cursor, "position", state["position"])


# C0 controls but tab, line feed and carriage return. NUL cannot be stored in a
# PostgreSQL TEXT column at all, and none of them belongs in an id or a note.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _control_character(values: list[Any]) -> str | None:
    """The first string among `values` (or inside them) holding a control character."""
    # One search over all the strings at once: this runs for every entry replayed.
    flat = [text for value in values for text in _strings(value)]
    if not _CONTROL.search("".join(flat)):
        return None
    return next(text for text in flat if _CONTROL.search(text))


def _strings(value: Any) -> Iterator[str]:
    if type(value) is str:
        yield value
    elif type(value) is dict:
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif type(value) is list:
        for item in value:
            yield from _strings(item)
