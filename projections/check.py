"""Are the stored projections what the log makes? Each is rebuilt apart and compared row by row.

A projection's rows are read with its position, in one snapshot (they commit together,
so they agree), and the same projection is rebuilt in a scratch database from the log's
entries up to that same position. Then each table is compared by its key, both sides
read in key order and merged, so memory stays flat however large the tables: a row
that differs, a row the stored projection lacks and a row the log does not make are
each a `Difference`. Small checks, each returning what it finds, as beancount's do.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ledger.errors import UserError
from ledger.store import LogStore
from projections.db import ProjectionDB
from projections.reports import Progress, no_progress
from projections.runner import Projection, Projector
from projections.scratch import every_projection, scratch_db

KEPT_DIFFERENCES = 1000  # per table; beyond this they are counted, not kept
Row = dict[str, Any]


@dataclass(frozen=True)
class Difference:
    """One way a stored projection is not what the log makes.

    `stored` None: the row is missing from the stored projection; `rebuilt` None: the
    stored projection holds a row the log does not make; both None: the whole table, or
    with `table` empty the whole projection (`message` says how)."""

    projection: str
    table: str
    key: Row
    stored: Row | None
    rebuilt: Row | None
    message: str = ""

    @property
    def kind(self) -> str:
        if self.stored is None and self.rebuilt is None:
            return "projection"
        if self.stored is None:
            return "missing"
        return "unexpected" if self.rebuilt is None else "changed"

    @property
    def columns(self) -> list[str]:
        """The columns whose values differ (every column of a missing or unexpected row)."""
        stored, rebuilt = self.stored or {}, self.rebuilt or {}
        names = list(rebuilt) + [c for c in stored if c not in rebuilt]
        return [c for c in names if stored.get(c, _ABSENT) != rebuilt.get(c, _ABSENT)]

    def __str__(self) -> str:
        key = ", ".join(f"{k}={v!r}" for k, v in self.key.items())
        where = f"{self.table} ({key})" if key else self.table or f"projection {self.projection}"
        if self.kind == "projection":
            return f"{where}: {self.message}"
        if self.kind == "missing":
            return f"{where}: missing from the stored projection; rebuilt {self.rebuilt}"
        if self.kind == "unexpected":
            return f"{where}: stored, but the log makes no such row; stored {self.stored}"
        stored, rebuilt = self.stored or {}, self.rebuilt or {}
        changes = "; ".join(
            f"{c} stored {stored.get(c)!r}, rebuilt {rebuilt.get(c)!r}" for c in self.columns
        )
        return f"{where}: {changes}"

    def to_json(self) -> dict[str, Any]:
        return {
            "projection": self.projection,
            "table": self.table,
            "kind": self.kind,
            "key": self.key,
            "columns": self.columns,
            "stored": self.stored,
            "rebuilt": self.rebuilt,
            "message": str(self),
        }


_ABSENT = object()


@dataclass
class CheckResult:
    positions: dict[str, int] = field(default_factory=dict)  # projection -> entries it holds
    tables: dict[str, list[str]] = field(default_factory=dict)  # projection -> its tables
    not_built: list[str] = field(default_factory=list)  # projections never stored
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows compared
    # table (or "(projection)" for a whole projection) -> differences found
    counts: dict[str, int] = field(default_factory=dict)
    differences: list[Difference] = field(default_factory=list)  # up to KEPT per table

    @property
    def ok(self) -> bool:
        return not self.differences

    def to_json(self) -> dict[str, Any]:
        return {
            "match": self.ok,
            "projections": {
                name: {
                    "position": position,
                    "tables": {
                        table: {
                            "rows": self.rows.get(table),
                            "differences": self.counts.get(table, 0),
                        }
                        for table in self.tables[name]
                    },
                }
                for name, position in self.positions.items()
            },
            "not_built": self.not_built,
            "differences": [d.to_json() for d in self.differences],
        }


def check_projections(
    store: LogStore, stored: ProjectionDB, progress: Progress = no_progress
) -> CheckResult:
    """Compare every stored projection with a rebuild of it from `store`'s log."""
    result = CheckResult()
    with scratch_db() as scratch, stored.snapshot():
        built = _stored_positions(stored)
        groups: dict[int, list[Projection]] = {}
        for projection in every_projection():
            if projection.name not in built:
                result.not_built.append(projection.name)
                continue
            position, version = built[projection.name]
            result.positions[projection.name] = position
            result.tables[projection.name] = list(projection.tables)
            if version != projection.version:
                _keep(result, check_version(projection, version))
                continue
            groups.setdefault(position, []).append(projection)
        # Projections stored at different positions are rebuilt each to its own.
        for position, group in sorted(groups.items()):
            with progress(f"rebuilding {', '.join(p.name for p in group)}", position) as advance:
                rebuilt = Projector(store, scratch, group)
                rebuilt.catch_up(stop=position, progress=advance)
            for projection in group:
                _keep(result, check_position(projection, position, rebuilt.positions()))
                for table in projection.tables:
                    _keep(result, check_table(projection.name, table, stored, scratch, result))
    return result


def _stored_positions(db: ProjectionDB) -> dict[str, tuple[int, int]]:
    if not db.table_exists("projection_positions"):
        return {}  # nothing was ever projected
    rows = db.query("SELECT name, position, version FROM projection_positions")
    return {r["name"]: (int(r["position"]), int(r["version"])) for r in rows}


def _keep(result: CheckResult, found: Iterable[Difference]) -> None:
    for difference in found:
        where = difference.table or f"({difference.projection})"
        count = result.counts.get(where, 0)
        if count < KEPT_DIFFERENCES:
            result.differences.append(difference)
        result.counts[where] = count + 1


# -- the checks ---------------------------------------------------------------------------


def check_version(projection: Projection, version: int) -> Iterator[Difference]:
    yield Difference(
        projection.name,
        "",
        {},
        None,
        None,
        f"stored by version {version} of the projection; this program builds version "
        f"{projection.version} (it is rebuilt when next used)",
    )


def check_position(
    projection: Projection, position: int, rebuilt: dict[str, int]
) -> Iterator[Difference]:
    """A projection stored past the log's end was made from entries the log lacks now."""
    reached = rebuilt[projection.name]
    if reached < position:
        yield Difference(
            projection.name,
            "",
            {},
            None,
            None,
            f"stored from {position} entries, but the log holds only {reached}"
            " (was it truncated? run cmpp verify)",
        )


def check_table(
    name: str, table: str, stored: ProjectionDB, scratch: ProjectionDB, result: CheckResult
) -> Iterator[Difference]:
    """The table as stored against the table as rebuilt, row by row in key order."""
    columns = scratch.columns(table)
    keys = _key_columns(scratch, table)
    found = stored.columns(table)
    if found != columns:
        what = "is missing" if not found else f"has the columns {found}, not {columns}"
        yield Difference(name, table, {}, None, None, f"the stored table {what}")
        return
    names = [k for k, _text in keys]
    compared = 0
    pairs = _merged(
        _in_order(stored, table, columns, keys),
        _in_order(scratch, table, columns, keys),
        names,
        table,
    )
    for old, new in pairs:
        compared += 1
        if old != new:
            source = new if new is not None else old
            key = {k: source[k] for k in names} if source is not None else {}
            yield Difference(name, table, key, old, new)
    result.rows[table] = compared


def _in_order(
    db: ProjectionDB, table: str, columns: list[str], keys: list[tuple[str, bool]]
) -> Iterator[Row]:
    """The table's rows in key order. PostgreSQL's "C" collation sorts text by code point,
    as SQLite does and as Python compares strings, so both sides merge in one order."""
    order = ", ".join(f'{k} COLLATE "C"' if text and db.postgres else k for k, text in keys)
    return db.stream(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}")  # noqa: S608


def _key_columns(db: ProjectionDB, table: str) -> list[tuple[str, bool]]:
    """(column, is text) of the table's primary key, in key order (SQLite's catalogue)."""
    rows = db.query(
        "SELECT name, type, pk FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", (table,)
    )
    return [(str(r["name"]), str(r["type"]).upper() == "TEXT") for r in rows]


def _order(row: Row, names: list[str]) -> tuple[tuple[int, Any], ...]:
    """A row's key as both databases order it: NULL, then numbers, then text (SQLite's
    order across types, which only a tampered SQLite row could mix)."""
    return tuple((_rank(row[k]), row[k]) for k in names)


def _rank(value: Any) -> int:
    # Any number a tampered SQLite column may hold sorts with the integers.
    if value is None:
        return 0
    if isinstance(value, numbers.Number):
        return 1
    return 2 if isinstance(value, str) else 3


def _merged(
    stored: Iterator[Row], rebuilt: Iterator[Row], names: list[str], table: str
) -> Iterator[tuple[Row | None, Row | None]]:
    """Pairs of rows with equal keys; a row without a partner is paired with None."""
    next_stored = _ascending(stored, names, table)
    next_rebuilt = _ascending(rebuilt, names, table)
    old, new = next_stored(), next_rebuilt()
    while old is not None or new is not None:
        if new is None or (old is not None and _order(old, names) < _order(new, names)):
            yield old, None
            old = next_stored()
        elif old is None or _order(new, names) < _order(old, names):
            yield None, new
            new = next_rebuilt()
        else:
            yield old, new
            old, new = next_stored(), next_rebuilt()


def _ascending(rows: Iterator[Row], names: list[str], table: str) -> Callable[[], Row | None]:
    """The next row, refusing an order the merge cannot follow (it would pair wrongly)."""
    last: list[tuple[tuple[int, Any], ...]] = []

    def advance() -> Row | None:
        row = next(rows, None)
        if row is not None:
            order = _order(row, names)
            if last and order < last[0]:
                raise CheckError(
                    f"{table} is not read in key order (is the database's encoding UTF-8?)"
                )
            last[:] = [order]
        return row

    return advance


class CheckError(UserError, RuntimeError):
    """The comparison itself cannot be made: the two sides cannot be read in one order."""

    rule = "projection-check"
