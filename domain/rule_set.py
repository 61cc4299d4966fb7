"""One shape for the program's rule sets: for each event type they judge, a check and an apply.

`check` says what an event would break, given every entry before it: findings, each
naming its rule and saying it with the figures. `apply` records the event in what the
rules know. The writers' guard (domain.rules) refuses an event with findings and
applies the rest; the verifier's check 9 replays both over a whole log and lists every
finding. A rule set knows only what its journal's tables hold, rows that cannot be
changed in place, so a batch the database does not commit is undone exactly.

Handlers are methods marked with the type they judge:

    @checks(AWARD_CLOSED)
    def _closure_problems(self, d, event): yield "closed-award", "…"

    @applies(AWARD_CLOSED)
    def _close(self, seq, d, event): self.awards[id] = award._replace(closed=True)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, TypeVar

from ledger.catalogue import EventType
from ledger.guard import Journal, JournaledTable

Event = dict[str, Any]
Problem = tuple[str, str]  # (rule, message), as a check yields them
F = TypeVar("F", bound=Callable[..., Any])


class Finding(NamedTuple):
    rule: str
    message: str
    seq: int

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


def checks(event_type: EventType) -> Callable[[F], F]:
    """Mark a method `(self, data, event) -> Iterable[Problem]` as the check of a type."""

    def mark(method: F) -> F:
        method.__dict__.setdefault("checks", []).append(event_type)
        return method

    return mark


def applies(event_type: EventType) -> Callable[[F], F]:
    """Mark a method `(self, seq, data, event) -> None` as the apply of a type."""

    def mark(method: F) -> F:
        method.__dict__.setdefault("applies", []).append(event_type)
        return method

    return mark


class RuleSet:
    _checks: dict[str, Callable[..., Iterable[Problem]]]
    _applies: dict[str, Callable[..., None]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._checks, cls._applies = {}, {}
        for value in vars(cls).values():
            marks = getattr(value, "__dict__", {}) if callable(value) else {}
            cls._checks.update(dict.fromkeys(marks.get("checks", ()), value))
            cls._applies.update(dict.fromkeys(marks.get("applies", ()), value))

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._tables: dict[str, tuple[JournaledTable[Any, Any], type[Any] | None]] = {}

    @property
    def types(self) -> frozenset[str]:
        return frozenset(self._checks) | frozenset(self._applies)

    def table(self, name: str, row: type[Any] | None = None) -> JournaledTable[Any, Any]:
        """A table of this rule set's state; `row` is its NamedTuple type (None: plain values)."""
        made = self.journal.table()
        self._tables[name] = (made, row)
        return made

    def check(self, seq: int, event: Event) -> list[Finding]:
        method = self._checks.get(event["type"])
        if method is None:
            return []
        return [Finding(rule, message, seq) for rule, message in method(self, event["data"], event)]

    def apply(self, seq: int, event: Event) -> None:
        method = self._applies.get(event["type"])
        if method is not None:
            method(self, seq, event["data"], event)

    # -- a snapshot of what it knows: builtins only (no row types, no dates) ---------------

    def state(self) -> dict[str, dict[Any, Any]]:
        return {
            name: dict(table) if row is None else {k: tuple(v) for k, v in table.items()}
            for name, (table, row) in self._tables.items()
        }

    def restore(self, state: dict[str, dict[Any, Any]]) -> None:
        if state.keys() != self._tables.keys():
            raise ValueError(f"a snapshot of {type(self).__name__} has other tables")
        for name, (table, row) in self._tables.items():
            dict.clear(table)  # outside any batch: nothing to journal
            rows = state[name] if row is None else {k: row._make(v) for k, v in state[name].items()}
            dict.update(table, rows)
