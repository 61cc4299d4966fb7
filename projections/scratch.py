"""Every projection, and a scratch database to build them in apart from the stored ones.

A projection rebuilt from the log into a scratch database is what the stored one ought
to be: `projections check` compares the two, and a verified report answers from the
scratch one alone. The scratch database is a temporary SQLite file, removed afterwards
(in TMPDIR: it holds what the projections hold, which the log holds anyway).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from projections.balances import Balances, LogIndex
from projections.case_history import CaseHistory
from projections.db import ProjectionDB
from projections.oversight import Oversight
from projections.runner import Projection


def every_projection() -> list[Projection]:
    """A fresh instance of each read model (they keep caches: one set per database)."""
    return [Balances(), LogIndex(), CaseHistory(), Oversight()]


@contextmanager
def scratch_db() -> Iterator[ProjectionDB]:
    """An empty projection database of our own, gone when the block ends."""
    with tempfile.TemporaryDirectory(prefix="cmpp-scratch-") as directory:
        db = ProjectionDB(f"sqlite:///{Path(directory) / 'projections.sqlite3'}")
        try:
            yield db
        finally:
            db.close()
