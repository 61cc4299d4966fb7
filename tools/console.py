"""What every command shares: the consoles, JSON or text output, progress bars, reading
the files a user names, and the one place where a user's error becomes a message and
exit code 2."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import psycopg
import typer
from eventsourcing.persistence import PersistenceError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.text import Text
from typer.core import TyperGroup

from ledger.bundle import BundleError
from ledger.errors import UserError
from projections.settings import load_settings
from projections.system import CheckpointNotIssuedError, System

err = Console(stderr=True, highlight=False, soft_wrap=True)  # one message, one line
# Piped output is read by programs and people with wide screens: don't fold it at 80.
# What it prints holds users' text, so nothing in it is read as console markup.
out = Console(
    highlight=False, markup=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def printable(text: object) -> str:
    """`text` on one line, its control characters shown as escapes: what a user typed or
    a file held can neither break a message in two nor drive the terminal."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in str(text))


def fail(message: str) -> typer.Exit:
    """Say what went wrong (as text, never as console markup), on one line; exit code 2."""
    err.print(Text.assemble(("error:", "red"), " ", printable(message)))
    return typer.Exit(2)


def os_reason(exc: OSError) -> str:
    """`path: reason` for an error of the operating system (a full disk, a permission)."""
    reason = exc.strerror or str(exc)
    return reason if exc.filename is None else f"{exc.filename}: {reason}"


@contextmanager
def user_errors() -> Iterator[None]:
    """Known failures become a message and exit code 2, never a traceback.

    Besides our own errors, only what the environment causes is caught here: the
    operating system refusing a file, and a file read as JSON or text that is neither
    (a corrupt key file). A programming error keeps its traceback."""
    try:
        yield
    except UserError as exc:
        raise fail(str(exc)) from None
    except PersistenceError as exc:
        raise fail(f"database error: {type(exc).__name__}: {exc}") from None
    except (psycopg.OperationalError, psycopg.InterfaceError, sqlite3.OperationalError) as exc:
        # The projections' own connection: a database gone away, locked or read-only.
        raise fail(f"database error: {exc}") from None
    except OSError as exc:
        raise fail(f"cannot use {os_reason(exc)}") from None
    except json.JSONDecodeError as exc:
        raise fail(f"a file that should hold JSON does not: {exc}") from None
    except UnicodeDecodeError as exc:
        raise fail(f"a file that should hold UTF-8 text does not: {exc.reason}") from None


class Commands(TyperGroup):
    """The command line's root: every command runs inside `user_errors`, so an error a
    command forgot to name still becomes a message and exit code 2."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        # An argument holding bytes that are not UTF-8 reaches Python as lone surrogates,
        # which no file, database or signed entry can hold: refused here, once for all.
        for arg in args:
            if not _is_utf8(arg):
                raise fail(f"the argument {arg} is not UTF-8 text")
        return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:  # typer's own (vendored) click.Context
        _after_the_answer.clear()
        with user_errors():
            result = super().invoke(ctx)
            if _after_the_answer:
                raise _after_the_answer[0]
            return result


# Raised once the command has printed its answer: its writes committed, and only what
# follows them (the checkpoint that covers them) failed. A user who saw only an error
# would run the command again and record it twice.
_after_the_answer: list[UserError] = []


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def read_input(path: Path, what: str) -> bytes:
    """The bytes of a file the user named: a regular file, never a FIFO or a device that
    would block the command or never end (opened without blocking, checked, then read)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise UserError(f"cannot read {what} {path}: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # before open(), which refuses a directory
        os.close(fd)
        raise UserError(f"{what} {path} is not a regular file")
    with open(fd, "rb") as file:
        try:
            return file.read()
        except OSError as exc:
            raise UserError(f"cannot read {what} {path}: {exc.strerror}") from None


@contextmanager
def system(*, read_only: bool = False) -> Iterator[System]:
    """The ledger, wired from the environment's settings, for one command. A command
    that only reads the log says so: it then writes nothing and waits on no writer."""
    with user_errors():
        built = System(load_settings(), progress_bar, read_only=read_only)
        try:
            yield built
        finally:
            try:
                built.close()
            except CheckpointNotIssuedError as exc:
                _after_the_answer.append(exc)


def emit(value: Any, as_json: bool, text: Callable[[], None]) -> None:
    if as_json:
        sys.stdout.write(json.dumps(value, indent=1) + "\n")
    else:
        text()


@contextmanager
def progress_bar(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done: bar.update(task, completed=done)


def held_checkpoint(path: Path) -> str:
    """A checkpoint an auditor holds (`--checkpoint FILE`), as text."""
    try:
        return read_input(path, "the checkpoint").decode("utf-8")
    except UnicodeDecodeError:
        raise BundleError(f"the checkpoint {path} is not UTF-8 text") from None
