"""One shape for the program's rule sets: for each event type they judge, a check and an apply.

`check` says what an event would break, given every entry before it: findings, each
naming its rule and saying it with the figures. `apply` records the event in what the
rules know. The writers' guard (domain.rules) refuses an event with findings and
applies the rest; the verifier's check 9 replays both over a whole log and lists every
finding. A rule set knows only what its journal's tables hold, rows that cannot be
changed in place, so a batch the database does not commit is undone exactly. What the
tables hold can be saved and restored as builtins (a snapshot, ledger.guard_snapshot).

Handlers are methods marked with the type they judge:

    @checks(AWARD_CLOSED)
    def _closure_problems(self, d, event): yield "closed-award", "…"

    @applies(AWARD_CLOSED)
    def _close(self, seq, d, event): self.awards[id] = award._replace(closed=True)
"""

from __future__ import annotations

import marshal
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
        self._tables: dict[str, _Table] = {}

    @property
    def types(self) -> frozenset[str]:
        return frozenset(self._checks) | frozenset(self._applies)

    def table(
        self, name: str, row: type[Any] | None = None, *, lazy: bool = False
    ) -> JournaledTable[Any, Any]:
        """A table of this rule set's state; `row` is its NamedTuple type (None: plain values).

        A `lazy` table's rows come back from a snapshot still encoded, and are decoded when
        first read through `row()`: a process that starts from a snapshot decodes only the
        rows it touches. Read a lazy table only through `row()` (or `in`).
        """
        made = self.journal.table()
        self._tables[name] = _Table(made, row, lazy)
        return made

    def row(self, table: JournaledTable[Any, Any], key: Any) -> Any:
        """`table[key]` (None if absent), decoding a lazy row still as the snapshot left it."""
        value = table.get(key)
        if type(value) is bytes:
            spec = next(t for t in self._tables.values() if t.table is table)
            # Only rows of a snapshot whose MAC was checked reach here (ledger.guard_snapshot).
            value = spec.decode(marshal.loads(value))  # noqa: S302
            dict.__setitem__(table, key, value)  # the same row, decoded: not a change
        return value

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
        return {name: spec.plain_rows() for name, spec in self._tables.items()}

    def restore(self, state: dict[str, dict[Any, Any]]) -> None:
        if state.keys() != self._tables.keys():
            raise ValueError(f"a snapshot of {type(self).__name__} has other tables")
        for name, spec in self._tables.items():
            spec.restore(state[name])


class _Table(NamedTuple):
    table: JournaledTable[Any, Any]
    row: type[Any] | None
    lazy: bool

    def plain(self, value: Any) -> Any:
        if self.row is None:
            return value
        return value.plain() if hasattr(value, "plain") else tuple(value)

    def decode(self, value: Any) -> Any:
        if self.row is None:
            return value
        from_plain = getattr(self.row, "from_plain", None)
        return from_plain(value) if from_plain is not None else self.row._make(value)

    def plain_rows(self) -> dict[Any, Any]:
        if self.lazy:  # each row on its own: rows never decoded since loading stay as they are
            return {
                k: v if type(v) is bytes else marshal.dumps(self.plain(v))
                for k, v in self.table.items()
            }
        return {k: self.plain(v) for k, v in self.table.items()}

    def restore(self, rows: dict[Any, Any]) -> None:
        dict.clear(self.table)  # outside any batch: nothing to journal
        dict.update(self.table, rows if self.lazy else {k: self.decode(v) for k, v in rows.items()})
