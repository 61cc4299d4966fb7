"""Organisations: each registered once, with an id of the form org:name and a known kind."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from domain import catalogue as c
from domain.rule_set import Event, Problem, RuleSet, applies, checks
from ledger.guard import Journal


class OrganisationRules(RuleSet):
    def __init__(self, journal: Journal) -> None:
        super().__init__(journal)
        self.kinds = self.table("kinds")  # org id -> kind

    @checks(c.ORGANISATION_REGISTERED)
    def _registration_problems(self, d: dict[str, Any], _: Event) -> Iterator[Problem]:
        if not (d["org_id"].startswith("org:") and len(d["org_id"]) > 4):
            yield "org-id", f"an organisation id looks like org:name, not {d['org_id']!r}"
        if d["org_id"] in self.kinds:
            yield "unique-id", f"organisation {d['org_id']} is already registered"
        if d["kind"] not in c.ORGANISATION_KINDS:
            yield "org-kind", f"kind must be one of {', '.join(c.ORGANISATION_KINDS)}"
        if not d["name"].strip():
            yield "org-name", "an organisation needs a name"

    @applies(c.ORGANISATION_REGISTERED)
    def _register(self, seq: int, d: dict[str, Any], _: Event) -> None:
        self.kinds[d["org_id"]] = d["kind"]
