"""The reports as the command line and the API ask for them: now, as of an instant, or an entry.

Each is answered from the projections, brought up to the entry it needs first. With
`at_seq=N` nothing after entry N is read: projections behind N are brought up to N
only, and every answer comes from rows made by entries 0..N. An instant (`as_of`, or a
date meaning its last microsecond) needs every entry's time, since the clocks of
concurrent writers interleave. An answer as of an entry or an instant says which
entries it rests on (`rests_on`), exactly, out-of-order instants included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any

from ledger.entry import EntryError, format_instant, parse_instant
from projections import (
    anchors,
    balances,
    case_history,
    entry_index,
    grantee_figures,
    movements,
    oversight,
    oversight_detail,
)
from projections.reconcile import Payment, Reconciliation, reconcile
from projections.runner import ProjectionError, Projector

# A progress bar: given a label and a total (None if unknown), it yields a callback.
Progress = Callable[[str, int | None], AbstractContextManager[Callable[[int], None]]]


@contextmanager
def no_progress(_label: str, _total: int | None) -> Iterator[Callable[[int], None]]:
    yield lambda _done: None


class Reports:
    def __init__(
        self,
        projector: Projector,
        progress: Progress = no_progress,
        covering: anchors.Covering | None = None,
    ) -> None:
        self.projector = projector
        self.progress = progress
        self.covering = covering  # the checkpoints a report's anchor names

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
        found = self._cut(as_of, at_seq)
        return None if found is None else found[0]

    def _cut(self, as_of: str | None, at_seq: int | None) -> tuple[int, dict[str, Any]] | None:
        """The seq a report is as of, and what it rests on (None: all that is projected)."""
        if as_of is not None and at_seq is not None:
            raise ProjectionError("give --as-of or --at-seq, not both")
        if at_seq is not None:
            size = self.projector.store.head().size
            if not 0 <= at_seq < size:
                raise ProjectionError(f"--at-seq must be between 0 and {size - 1}")
            self.caught_up(stop=at_seq + 1)
            return at_seq, self.rests_on(at_seq)
        self.caught_up()
        if as_of is None:
            return None
        instant = _instant(as_of)
        # The entries whose instants are known now: the cut looks at these only, so what
        # it says of them stays true if a worker projects more meanwhile.
        held = self.projector.positions()["log_index"]
        seq = balances.seq_at(self.db, instant, before=held)
        if seq is None:
            raise ProjectionError(f"nothing was recorded by {instant}")
        return seq, self.rests_on(seq, instant, held)

    def rests_on(
        self, seq: int, instant: str | None = None, held: int | None = None
    ) -> dict[str, Any]:
        """Which entries an answer as of entry `seq` rests on: 0 to `seq`, every one.

        Instants may run up to 300 s backwards from one entry to the next (writers'
        clocks interleave), so the last entry is not always the latest recorded, and a
        cut at an instant (the last entry recorded by then, of the first `held`) can hold
        entries recorded after that instant: both are counted, not hidden."""
        db = self.db
        row = db.query("SELECT at, latest_at FROM log_index WHERE seq = ?", (seq,))[0]
        last_at = row["at"]
        basis: dict[str, Any] = {
            "first_seq": 0,
            "last_seq": seq,
            "entries": seq + 1,
            "last_at": last_at,
            "latest_at": row["latest_at"],
        }
        if instant is not None:
            after = db.query(
                "SELECT COUNT(*) AS n FROM log_index WHERE seq <= ? AND at > ?", (seq, instant)
            )
            basis.update(as_of=instant, log_size=held, recorded_after_as_of=int(after[0]["n"]))
        basis["statement"] = _statement(basis)
        return basis

    def balances(self, *, as_of: str | None = None, at_seq: int | None = None) -> dict[str, Any]:
        cut = self._cut(as_of, at_seq)
        seq = self._reflected(cut)
        return self._anchored(balances.report(self.db, seq), cut, seq)

    def oversight(
        self, *, as_of: str | None = None, at_seq: int | None = None, suppress: bool = False
    ) -> dict[str, Any]:
        cut = self._cut(as_of, at_seq)
        seq = self._reflected(cut)
        found = oversight.report(self.db, at_seq=seq, suppress=suppress)
        return self._anchored(found, cut, seq)

    def award_movements(
        self,
        award_id: str,
        *,
        page: int = 1,
        as_of: str | None = None,
        at_seq: int | None = None,
    ) -> dict[str, Any]:
        cut = self._cut(as_of, at_seq)
        return _resting(
            movements.award_movements(self.db, award_id, at_seq=_seq(cut), page=page), cut
        )

    def monthly_flows(
        self, *, grantee: str | None = None, as_of: str | None = None, at_seq: int | None = None
    ) -> dict[str, Any]:
        cut = self._cut(as_of, at_seq)
        return _resting(movements.monthly_flows(self.db, at_seq=_seq(cut), grantee=grantee), cut)

    def grantee_figures(
        self, grantee: str, *, as_of: str | None = None, at_seq: int | None = None
    ) -> dict[str, Any]:
        """A grantee's own participants, consents and services (counts)."""
        cut = self._cut(as_of, at_seq)
        return _resting(grantee_figures.own_figures(self.db, grantee, at_seq=_seq(cut)), cut)

    def days_to_first_service(
        self, *, suppress: bool, as_of: str | None = None, at_seq: int | None = None
    ) -> dict[str, Any]:
        cut = self._cut(as_of, at_seq)
        found = oversight_detail.days_to_first_service(self.db, at_seq=_seq(cut), suppress=suppress)
        return _resting(found, cut)

    def accesses(
        self, *, page: int = 1, as_of: str | None = None, at_seq: int | None = None
    ) -> dict[str, Any]:
        """Reads of protected records (oversight's log of them), page by page."""
        cut = self._cut(as_of, at_seq)
        return _resting(oversight_detail.accesses(self.db, at_seq=_seq(cut), page=page), cut)

    def disclosures(
        self, *, page: int = 1, as_of: str | None = None, at_seq: int | None = None
    ) -> dict[str, Any]:
        """The accounting of disclosures: every export recorded, page by page."""
        cut = self._cut(as_of, at_seq)
        found = oversight_detail.disclosures(self.db, at_seq=_seq(cut), page=page)
        return _resting(found, cut)

    def entries(
        self,
        *,
        event_type: str | None = None,
        org: str | None = None,
        before: int | None = None,
        as_of: str | None = None,
        at_seq: int | None = None,
    ) -> dict[str, Any]:
        """Entries by type and organisation, newest first, a page at a time."""
        cut = self._cut(as_of, at_seq)
        found = entry_index.find_entries(
            self.db, event_type=event_type, org=org, before=before, at_seq=_seq(cut)
        )
        return _resting(found, cut)

    def case_history(
        self,
        participant_id: str,
        *,
        grantee: str | None,
        as_of: str | None = None,
        at_seq: int | None = None,
    ) -> dict[str, Any]:
        """`grantee` answers as that grantee (another's participant is not found); None: all."""
        cut = self._cut(as_of, at_seq)
        seq = self._reflected(cut)
        found = case_history.history(self.db, participant_id, grantee=grantee, at_seq=seq)
        return self._anchored(found, cut, seq)

    def replay(self, *, as_of: str | None = None, at_seq: int | None = None) -> dict[str, Any]:
        """Every report as it stood at a past moment."""
        if as_of is None and at_seq is None:
            raise ProjectionError("replay needs --as-of or --at-seq")
        cut = self._cut(as_of, at_seq)
        seq = self._reflected(cut)
        return self._anchored(
            {
                "as_of_seq": seq,
                "balances": self._anchored(balances.report(self.db, seq), cut, seq),
                "oversight": self._anchored(oversight.report(self.db, at_seq=seq), cut, seq),
            },
            cut,
            seq,
        )

    def _reflected(self, cut: tuple[int, dict[str, Any]] | None) -> int:
        """The entry a report is computed as of: the cut's, or (now) the last entry every
        projection has applied, read before the report, which then reads nothing after
        it, however far a projection worker in another process gets meanwhile."""
        if cut is not None:
            return cut[0]
        return min(self.projector.positions().values(), default=0) - 1

    def _anchored(
        self, answer: dict[str, Any], cut: tuple[int, dict[str, Any]] | None, seq: int
    ) -> dict[str, Any]:
        """The answer as of entry `seq`, saying which entries it rests on (`as_of_seq`
        None: now), anchored to that entry."""
        answer["as_of_seq"] = _seq(cut)
        return anchors.anchored(_resting(answer, cut), seq, self.covering)

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


def _seq(cut: tuple[int, dict[str, Any]] | None) -> int | None:
    return None if cut is None else cut[0]


def _resting(answer: dict[str, Any], cut: tuple[int, dict[str, Any]] | None) -> dict[str, Any]:
    """The answer, saying which entries it rests on (None: all that were projected)."""
    answer["rests_on"] = None if cut is None else cut[1]
    return answer


def _statement(basis: dict[str, Any]) -> str:
    last, count = basis["last_seq"], basis["entries"]
    text = f"entries 0–{last} ({count} entries), the last recorded at {basis['last_at']}"
    if basis["latest_at"] != basis["last_at"]:
        text += f", the latest at {basis['latest_at']}"
    if "as_of" in basis:
        text += (
            f"; every one of the log's first {basis['log_size']} entries recorded by "
            f"{basis['as_of']} is among them"
        )
        after = basis["recorded_after_as_of"]
        if after:
            text += (
                f", and {after} of them {'was' if after == 1 else 'were'} recorded after it"
                " (an earlier entry in the log, with a later clock)"
            )
    return text
