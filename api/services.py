"""What one server process holds: the ledger system and the stores beside it.

One `Services` per process (uvicorn worker), made by the app factory from settings and
closed at shutdown; the routes reach it through `LedgerDep`. Reports run one at a time
in a process (they bring the projections up to date first, which writes), commands in
parallel (the writers' lock orders them).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, TypeVar

from domain.application import CMPPApplication
from domain.sessions import Sessions
from domain.tokens import Tokens
from domain.verification_runs import VerificationRuns
from ledger.entry import format_instant
from ledger.errors import UserError
from projections.commands.runner import CommandRunner
from projections.commands.spec import Actor
from projections.reports import Reports
from projections.settings import Settings
from projections.system import System

T = TypeVar("T")


class Services:
    def __init__(self, settings: Settings, system: System | None = None) -> None:
        self.settings = settings
        self.system = system or System(settings)
        self._reports_lock = threading.Lock()
        # People as their keys make them, kept while the log's keys are unchanged.
        self._actors: dict[str, tuple[int, Actor | None]] = {}
        # Answers kept until the log grows: anything a report counts is an entry, so a
        # new size is all that can change them.
        self._answers: dict[Hashable, tuple[int, Any]] = {}
        self._verification_lock = threading.Lock()
        self._verifying: tuple[str, str] | None = None

    @property
    def app(self) -> CMPPApplication:
        return self.system.app

    @cached_property
    def commands(self) -> CommandRunner:
        return CommandRunner(self.system)

    @cached_property
    def tokens(self) -> Tokens:
        return Tokens(self.system.app.recorder.datastore)  # type: ignore[attr-defined]

    @cached_property
    def verification_runs(self) -> VerificationRuns:
        return VerificationRuns(self.system.app.recorder.datastore)  # type: ignore[attr-defined]

    def verifying(self) -> tuple[str, str] | None:
        """The verification running in this process (started at, by whom), if any."""
        return self._verifying

    def start_verification(self, by: str) -> bool:
        """Verify the live log in the background, and record what was found; False if a
        verification is running already (one at a time: it reads the whole log)."""
        with self._verification_lock:
            if self._verifying is not None:
                return False
            started = format_instant(datetime.now(UTC))
            self._verifying = (started, by)
        threading.Thread(
            target=self._verify, args=(started, by), name="cmpp-verify", daemon=True
        ).start()
        return True

    def _verify(self, started: str, by: str) -> None:
        try:
            try:
                report = self.system.verify().to_json()
            except (UserError, OSError) as exc:  # said as found, with the run
                report = {
                    "verified": False,
                    "size": 0,
                    "root": None,
                    "problems": 1,
                    "checks": [],
                    "error": str(exc),
                }
            self.verification_runs.record(
                report,
                requested_by=by,
                started_at=started,
                finished_at=format_instant(datetime.now(UTC)),
            )
        finally:
            with self._verification_lock:
                self._verifying = None

    @cached_property
    def sessions(self) -> Sessions:
        return Sessions(self.system.app.recorder.datastore, self.tokens)  # type: ignore[attr-defined]

    def actor(self, person_id: str, keys_changed: int) -> Actor | None:
        """The person a token is for, as their key in force makes them (None: no one).
        `keys_changed` is the stamp of the keys (ledger.replay) of the committed log,
        read just before: a key revoked by any process counts from the next request.
        Worked out again only when the keys have changed since."""
        cached = self._actors.get(person_id)
        if cached is not None and cached[0] == keys_changed:
            return cached[1]
        actor = self.commands.actor(person_id)
        self._actors[person_id] = (keys_changed, actor)
        return actor

    def current(self, key: Hashable, make: Callable[[], tuple[int, T]], size: int) -> tuple[int, T]:
        """An answer as of the whole log of `size` entries (read just before; `make`
        gives the seq it reflects and the answer), made again once the log has grown."""
        cached = self._answers.get(key)
        if cached is not None and cached[0] == size:
            return size - 1, cached[1]
        seq, answer = make()
        if seq == size - 1:  # exactly the log as it stood: kept for the next ask
            self._answers[key] = (size, answer)
        return seq, answer

    @contextmanager
    def reports(self) -> Iterator[Reports]:
        with self._reports_lock:
            yield self.system.reports

    def projected_seq(self) -> int:
        """The last seq every projection has reached (-1: none)."""
        positions = self.system.projector.positions().values()
        return min(positions, default=0) - 1

    def warm(self) -> None:
        """Replay the log before the first request, then set what was built aside from
        the garbage collector: the replay's objects live as long as the process, and
        sweeping them again and again paused requests for 50 to 200 ms at a time."""
        try:
            self.app.confirmed_log()
        except UserError:
            return  # no ledger yet, or one refused: /readyz says so
        gc.collect()
        gc.freeze()

    def close(self) -> None:
        self.system.close()
