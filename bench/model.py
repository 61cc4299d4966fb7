"""What the benchmarks write: a ledger built as `cmpp init` builds it, and one kind of event.

The event is a record of access to protected records (`audit.RecordsAccessed`), signed by
the server's own key: a real event of the catalogue, which the program's rules accept
without preconditions, so a benchmark measures the ledger, not a scenario.
"""

from __future__ import annotations

import itertools
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from domain.audit import RecordsAccess
from domain.catalogue import SYSTEM
from ledger.signing import Signer, SigningKey
from projections.settings import throwaway_settings
from projections.system import System

_numbers = itertools.count()


def access() -> RecordsAccess:
    n = next(_numbers)
    return RecordsAccess.open(
        {
            "actor": "user:analyst",
            "purpose": "audit",
            "participant_ids": [f"P-{n}"],
            "fields": ["name", "a_number"],
        }
    )


@dataclass
class BenchLedger:
    system: System
    server: Signer  # the server's own key (role system): signs every access record
    _keys: tempfile.TemporaryDirectory[str] = field(repr=False)

    def close(self) -> None:
        self.system.close()
        self._keys.cleanup()


def open_bench_ledger(url: str) -> BenchLedger:
    keys = tempfile.TemporaryDirectory(prefix="cmpp-bench-")
    system = System(throwaway_settings(url, Path(keys.name)))
    system.create_ledger()
    server = Signer(SigningKey.generate("org:board", (SYSTEM,)))
    system.app.register_key(system.root_signer(), server.key.public_key, "org:board", [SYSTEM])
    return BenchLedger(system, server, keys)
