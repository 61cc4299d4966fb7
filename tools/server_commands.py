"""`cmpp serve` (the API) and `cmpp run` (the demo, served).

The server is uvicorn running the API's app factory by name (`api.asgi`), so each worker
process builds its own app from the environment; the command line never imports the
API. A projection worker follows the log beside the server, so reads rarely wait.
Stopping (Ctrl-C, SIGTERM) lets requests in flight finish, within a grace period; a
command that cannot finish in it was never committed, and writes nothing.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import threading
from datetime import timedelta
from types import FrameType
from typing import Annotated

import typer
import uvicorn

from domain.people import PeopleDirectory
from domain.tokens import Tokens
from ledger.application import LedgerNotOpenError
from ledger.persistence import ConfigError
from projections.settings import load_settings
from projections.system import System
from projections.worker import follow
from tools.console import err, out, system, user_errors
from tools.ledger_commands import MAX_PARTICIPANTS, demo_pilot

commands = typer.Typer()
GRACE_SECONDS = 30  # requests in flight at shutdown get this long to finish
DEMO_TOKEN_LIFETIME = timedelta(hours=12)

HostOpt = Annotated[str, typer.Option(help="Address to listen on.")]
PortOpt = Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")]
WorkersOpt = Annotated[
    int, typer.Option(min=1, max=64, help="Server processes (several need PostgreSQL).")
]


class _Stopped(Exception):  # noqa: N818 (a signal to stop, not an error)
    pass


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise _Stopped


def _follow_projections(parent: int) -> None:
    """A process of its own: keep the projections up with the log until stopped, or
    until the server that started it is gone (it must never outlive it)."""
    stop = threading.Event()

    def watch_parent() -> None:
        while not stop.wait(1.0):
            if os.getppid() != parent:
                stop.set()

    threading.Thread(target=watch_parent, name="parent-watch", daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with System(load_settings()) as ledger:
        try:
            follow(ledger.projector, stop=stop, listen_url=ledger.settings.url)
        except KeyboardInterrupt:
            stop.set()


def _listening_socket(host: str, port: int) -> socket.socket:
    """The server's socket, made here so that every connection it accepts sends small
    answers at once (TCP_NODELAY, inherited by accepted sockets on Linux): uvicorn's
    several-worker mode leaves it off, and Nagle's algorithm then holds each keep-alive
    answer ~40 ms for the client's delayed ACK."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listening = socket.socket(family, socket.SOCK_STREAM)
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        listening.bind((host, port))
        listening.listen(2048)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    listening.set_inheritable(True)
    return listening


def serve_api(host: str, port: int, workers: int) -> None:
    settings = load_settings()
    if workers > 1 and not settings.url.startswith("postgresql"):
        raise ConfigError("several server processes need PostgreSQL (CMPP_DATABASE_URL)")
    follower = multiprocessing.get_context("spawn").Process(
        target=_follow_projections, args=(os.getpid(),), name="cmpp-projections", daemon=True
    )
    follower.start()
    # uvicorn shuts down gracefully on SIGTERM, then sends the signal on to the process;
    # caught here, it ends the server as a clean stop (exit 0) and the worker goes too.
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        listening = _listening_socket(host, port)
        uvicorn.run(
            "api.asgi:from_environment",
            factory=True,
            fd=listening.fileno(),
            workers=workers,
            access_log=False,  # ours (api.access_log) names routes, never paths or tokens
            timeout_graceful_shutdown=GRACE_SECONDS,
            log_level="info",
        )
    except _Stopped:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        follower.terminate()
        follower.join(timeout=10)


@commands.command()
def serve(host: HostOpt = "127.0.0.1", port: PortOpt = 8000, workers: WorkersOpt = 1) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs), with a projection worker beside it."""
    with user_errors():
        serve_api(host, port, workers)


@commands.command()
def run(
    participants: Annotated[
        int, typer.Option(min=1, max=MAX_PARTICIPANTS, help="Demo size on first start.")
    ] = 2000,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
) -> None:
    """The demo: a ledger with the demo pilot (made if there is none), served, with a
    token for each of its people printed."""
    with system() as ledger:
        try:
            ledger.app.opening  # noqa: B018 (reads entry 0)
        except LedgerNotOpenError:
            ledger.app.vault  # noqa: B018 (fails now, before anything is written, if unconfigured)
            ledger.create_ledger()
            err.print(
                f"initialised a new ledger in {ledger.settings.describe_database()}", markup=False
            )
            summary = demo_pilot(ledger, participants, 2022)
            err.print(
                f"demo pilot: {summary.participants} participants, "
                f"{sum(summary.events.values())} events"
            )
        ledger.log.checkpoint()
        out.print(f"verifier key  {ledger.app.log_verifier_key}")
        _print_demo_tokens(ledger)
    out.print(f"\nOpenAPI docs  http://{host}:{port}/docs")
    out.print(f"dashboard     http://{host}:{port}/ui/  (sign in with a token above)\n")
    with user_errors():
        serve_api(host, port, 1)


def _print_demo_tokens(ledger: System) -> None:
    """A fresh token for every person in force (they expire; a new run prints new ones)."""
    datastore = ledger.app.recorder.datastore  # type: ignore[attr-defined]
    tokens = Tokens(datastore)
    people = PeopleDirectory(datastore).everyone(ledger.app.trusted_keys())
    out.print(f"\ntokens (each valid {DEMO_TOKEN_LIFETIME}; send Authorization: Bearer <token>)")
    for person in people:
        if person.active:
            token = tokens.issue(person.person_id, DEMO_TOKEN_LIFETIME).token
            out.print(f"  {person.role:<13} {person.org:<18} {person.person_id:<24} {token}")
