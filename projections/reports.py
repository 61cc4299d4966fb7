"""The reports as the command line and the API ask for them: now, as of an instant, or an entry.

Each is answered from the projections, brought up to the entry it needs first. With
`at_seq=N` nothing after entry N is read: projections behind N are brought up to N
only, and every answer comes from rows made by entries 0..N. An instant (`as_of`, or a
date meaning its last microsecond) needs every entry's time, since the clocks of
concurrent writers interleave.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any

from ledger.entry import EntryError, format_instant, parse_instant
from projections import balances, case_history, oversight
from projections.reconcile import Payment, Reconciliation, reconcile
from projections.runner import ProjectionError, Projector

# A progress bar: given a label and a total (None if unknown), it yields a callback.
Progress = Callable[[str, int | None], AbstractContextManager[Callable[[int], None]]]


@contextmanager
def no_progress(_label: str, _total: int | None) -> Iterator[Callable[[int], None]]:
    yield lambda _done: None


class Reports:
    def __init__(self, projector: Projector, progress: Progress = no_progress) -> None:
        self.projector = projector
        self.progress = progress

    @property
    def db(self) -> Any:
        return self.projector.db

    def caught_up(self, stop: int | None = None) -> None:
        """Project every entry not yet projected (before seq `stop`, if given)."""
        positions = self.projector.positions().values()
        end = self.projector.store.head().size if stop is None else stop
        todo = max((end - p for p in positions), default=0)
        with self.progress("projecting", todo or None) as advance:
            self.projector.catch_up(stop=stop, progress=advance)

    def cut(self, as_of: str | None = None, at_seq: int | None = None) -> int | None:
        """Catch the projections up as far as a report needs; return the seq it is as of."""
        if as_of is not None and at_seq is not None:
            raise ProjectionError("give --as-of or --at-seq, not both")
        if at_seq is not None:
            size = self.projector.store.head().size
            if not 0 <= at_seq < size:
                raise ProjectionError(f"--at-seq must be between 0 and {size - 1}")
            self.caught_up(stop=at_seq + 1)
            return at_seq
        self.caught_up()
        if as_of is None:
            return None
        instant = _instant(as_of)
        seq = balances.seq_at(self.db, instant)
        if seq is None:
            raise ProjectionError(f"nothing was recorded by {instant}")
        return seq

    def balances(self, *, as_of: str | None = None, at_seq: int | None = None) -> dict[str, Any]:
        return balances.report(self.db, self.cut(as_of, at_seq))

    def oversight(
        self, *, as_of: str | None = None, at_seq: int | None = None, suppress: bool = False
    ) -> dict[str, Any]:
        return oversight.report(self.db, at_seq=self.cut(as_of, at_seq), suppress=suppress)

    def case_history(
        self,
        participant_id: str,
        *,
        grantee: str | None,
        as_of: str | None = None,
        at_seq: int | None = None,
    ) -> dict[str, Any]:
        """`grantee` answers as that grantee (another's participant is not found); None: all."""
        cut = self.cut(as_of, at_seq)
        return case_history.history(self.db, participant_id, grantee=grantee, at_seq=cut)

    def replay(self, *, as_of: str | None = None, at_seq: int | None = None) -> dict[str, Any]:
        """Every report as it stood at a past moment."""
        if as_of is None and at_seq is None:
            raise ProjectionError("replay needs --as-of or --at-seq")
        cut = self.cut(as_of, at_seq)
        return {
            "as_of_seq": cut,
            "balances": balances.report(self.db, cut),
            "oversight": oversight.report(self.db, at_seq=cut),
        }

    def reconcile(self, payments: list[Payment]) -> Reconciliation:
        self.caught_up()
        return reconcile(self.db, payments)

    def digest(self) -> dict[str, str]:
        self.caught_up()
        return self.projector.digest()


def _instant(as_of: str) -> str:
    try:
        if len(as_of) == 10:  # a date: the last microsecond of that day
            day = datetime.fromisoformat(as_of).replace(tzinfo=UTC)
            return format_instant(day.replace(hour=23, minute=59, second=59, microsecond=999999))
        return format_instant(parse_instant(as_of))
    except (ValueError, EntryError):
        raise ProjectionError(
            f"--as-of {as_of!r} is not YYYY-MM-DD or an instant YYYY-MM-DDTHH:MM:SS.ffffffZ"
        ) from None
