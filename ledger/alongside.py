"""Rows written in the same transaction as the next events saved, or not at all.

Whatever must exist exactly when an event does (a vault record the event commits to,
the answer to an idempotent request, a person's directory row) is staged here, inside
a `with staged(...)` block around the save. The recorders run the statements after the
entry is appended, under the writers' lock, so a statement may read the new head:
`(SELECT size - 1 FROM ledger_head WHERE id = 1)` is the seq of the batch's last entry.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

from ledger.outcome import Statement

_staged: ContextVar[tuple[Statement, ...]] = ContextVar("alongside", default=())
# The seq of the last entry of the last batch written in this context (ledger.appender
# sets it under the write lock): what LAST_SEQ was for the rows staged with it.
_written: ContextVar[int | None] = ContextVar("alongside_written", default=None)

# The seq of the last entry of the batch being written, for a statement staged here.
LAST_SEQ = "(SELECT size - 1 FROM ledger_head WHERE id = 1)"


@contextmanager
def staged(statements: Sequence[Statement]) -> Iterator[None]:
    """Write `statements` with the events saved inside the block (SQL with `?` marks)."""
    token = _staged.set((*_staged.get(), *statements))
    _written.set(None)  # until a batch is written in the block
    try:
        yield
    finally:
        _staged.reset(token)


def statements() -> list[Statement]:
    """The statements to write with the events being saved now."""
    return list(_staged.get())


def wrote(last_seq: int) -> None:
    """Called by the writer as it appends a batch (on each attempt: the last one to
    append is the one that committed, if any did)."""
    _written.set(last_seq)


def written_seq() -> int | None:
    """The seq of the last entry of the batch written in the last `staged` block of this
    context (None if none was): the seq its statements' LAST_SEQ read, known without
    asking the database again."""
    return _written.get()
