"""What one server process holds: the ledger system and the stores beside it.

One `Services` per process (uvicorn worker), made by the app factory from settings and
closed at shutdown; the routes reach it through `LedgerDep`. Reports run one at a time
in a process (they bring the projections up to date first, which writes), commands in
parallel (the writers' lock orders them).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property

from domain.application import CMPPApplication
from domain.tokens import Tokens
from ledger.errors import UserError
from projections.commands.runner import CommandRunner
from projections.reports import Reports
from projections.settings import Settings
from projections.system import System


class Services:
    def __init__(self, settings: Settings, system: System | None = None) -> None:
        self.settings = settings
        self.system = system or System(settings)
        self._reports_lock = threading.Lock()

    @property
    def app(self) -> CMPPApplication:
        return self.system.app

    @cached_property
    def commands(self) -> CommandRunner:
        return CommandRunner(self.system)

    @cached_property
    def tokens(self) -> Tokens:
        return Tokens(self.system.app.recorder.datastore)  # type: ignore[attr-defined]

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
