"""Every write covered soon: checkpoints issued by the writers themselves.

Entries after the last checkpoint (the uncovered tail) are protected only by the
database: an operator could delete them, or re-chain them with one stolen key, and no
signed statement would contradict him. So a process that writes also signs: once the
log has grown `entries` past the last checkpoint, at once; else `seconds` after its
first uncovered write; and when it closes cleanly. The tail is then at most
`entries - 1` entries, or the writes of the last `seconds` seconds (plus those of a
process killed before it could close), whichever comes first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_ENTRIES = 1000
DEFAULT_SECONDS = 10


@dataclass(frozen=True)
class CoveragePolicy:
    entries: int = DEFAULT_ENTRIES  # sign once the tail is this long
    seconds: int = DEFAULT_SECONDS  # or this long after the first uncovered write

    def describe(self) -> str:
        return (
            f"at most {self.entries - 1} entries, or the last {self.seconds} s of writes, "
            "go without a checkpoint (and what a writer killed before it closed wrote)"
        )


class AutoCheckpoints:
    """Signs checkpoints as a writer's commits require (see the module's docstring).

    `sign()` issues a checkpoint of the whole log and returns its size; `covered()` is
    the size of the largest checkpoint issued so far. A failure to sign (the signer
    refusing, the database away) goes to `on_error`: the write itself has committed.
    """

    def __init__(
        self,
        sign: Callable[[], int],
        covered: Callable[[], int],
        policy: CoveragePolicy,
        on_error: Callable[[Exception], None],
    ) -> None:
        self._sign = sign
        self._covered_source = covered
        self.policy = policy
        self._on_error = on_error
        self._lock = threading.Lock()
        self._covered: int | None = None
        self._head = 0
        self._timer: threading.Timer | None = None
        self.signed = 0  # checkpoints this process issued

    def committed(self, size: int) -> None:
        """After a commit that left the log at `size` entries."""
        with self._lock:
            if self._covered is None:
                self._covered = self._covered_source()
            self._head = max(self._head, size)
            due = self._head - self._covered >= self.policy.entries
            if not due and self._timer is None and self._head > self._covered:
                self._timer = threading.Timer(self.policy.seconds, self.flush)
                self._timer.daemon = True
                self._timer.start()
        if due:
            self.flush()

    def flush(self) -> None:
        """Cover every entry this process has seen committed, now."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._covered is not None and self._head <= self._covered:
                return
            try:
                self._covered = self._sign()
                self.signed += 1
            except Exception as exc:  # reported, not raised: the writes have committed
                self._on_error(exc)

    def close(self) -> None:
        """On a clean exit: sign what this process wrote and is not yet covered."""
        self.flush()
