"""What every command shares: the consoles, JSON or text output, progress bars, and the
one place where a user's error becomes a message and exit code 2."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from eventsourcing.persistence import PersistenceError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from ledger.errors import UserError
from projections.settings import load_settings
from projections.system import System

err = Console(stderr=True, highlight=False, soft_wrap=True)  # one message, one line
# Piped output is read by programs and people with wide screens: don't fold it at 80.
# What it prints holds users' text, so nothing in it is read as console markup.
out = Console(
    highlight=False, markup=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
ActorOpt = Annotated[
    str | None,
    typer.Option("--actor", help="Who is acting, e.g. user:jdoe (default: CMPP_ACTOR)."),
]


def fail(message: str) -> typer.Exit:
    """Say what went wrong (as text, never as console markup); exit code 2."""
    err.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(2)


@contextmanager
def user_errors() -> Iterator[None]:
    """Known failures become a message and exit code 2, never a traceback."""
    try:
        yield
    except UserError as exc:
        raise fail(str(exc)) from None
    except PersistenceError as exc:
        raise fail(f"database error: {type(exc).__name__}: {exc}") from None


@contextmanager
def system(actor: str | None = None) -> Iterator[System]:
    """The ledger, wired from the environment's settings, for one command."""
    with user_errors():
        overrides = {} if actor is None else {"actor": actor}
        with System(load_settings(**overrides), progress_bar) as built:
            yield built


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
