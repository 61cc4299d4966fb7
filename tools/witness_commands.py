"""`cmpp witness`: run an independent witness (c2sp.org/tlog-witness) over its own key and
state directory, apart from the ledger (the inspector general may run one).

It needs no ledger settings: only its directory (ledger.witness), and for `serve` an
address to listen on. Requests are answered by `POST /add-checkpoint`.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from fastapi import FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

from ledger.note import VerifierKey
from ledger.witness import MAX_BODY_BYTES, Witness, WitnessError
from tools.console import JsonOpt, emit, err, out, printable, user_errors

witness = typer.Typer(
    no_args_is_help=True,
    help="An independent witness: cosigns a log's checkpoints, refuses forks and rollbacks.",
)
DirArg = Annotated[Path, typer.Argument(metavar="DIR", help="The witness's state directory.")]
DEFAULT_PORT = 7380


def witness_app(state: Witness) -> FastAPI:
    """The witness's HTTP interface: POST /add-checkpoint, as c2sp.org/tlog-witness."""
    app = FastAPI(title="cmpp witness", docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/add-checkpoint")
    async def add_checkpoint(request: Request) -> Response:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return Response("the request body is too long\n", status_code=413)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return Response("the request body is not UTF-8 text\n", status_code=400)
        # The witness waits on its directory's lock and syncs files: not on the event loop.
        answer = await run_in_threadpool(state.add_checkpoint, text)
        return Response(
            answer.body,
            status_code=answer.status,
            headers={"content-type": answer.content_type},  # as is: no charset added
        )

    return app


def make_server(state: Witness, host: str, port: int) -> tuple[uvicorn.Server, socket.socket]:
    """A server for the witness and the socket it will listen on (bound now, so that an
    address in use is an error here rather than inside the server)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        listening = socket.create_server((host, port), family=family)
    except (OSError, ValueError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise WitnessError(f"cannot listen on {host}:{port}: {reason}") from None
    config = uvicorn.Config(witness_app(state), log_level="info")
    return uvicorn.Server(config), listening


@witness.command("init")
def witness_init(
    directory: DirArg,
    name: Annotated[
        str, typer.Option(help="The witness's name, a schema-less URL: ig.example.gov/witness")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Make a witness in DIR (new or empty) with a new key; print its verifier key."""
    with user_errors():
        made = Witness.create(directory, name)
    emit(
        {"name": made.name, "key": str(made.key)},
        as_json,
        lambda: out.print(printable(made.key)),
    )


@witness.command("add-log")
def witness_add_log(
    directory: DirArg,
    log_key: Annotated[str, typer.Option(help="The log's verifier key (origin+hash+key).")],
    as_json: JsonOpt = False,
) -> None:
    """Witness the log whose verifier key is given (its origin names it)."""
    with user_errors():
        key = VerifierKey.parse(log_key)
        added = Witness(directory).add_log(key)
    said = "now witnessing" if added else "already witnessing"
    emit(
        {"origin": key.name, "log_key": str(key), "added": added},
        as_json,
        lambda: out.print(printable(f"{said} {key.name}")),
    )


@witness.command("serve")
def witness_serve(
    directory: DirArg,
    host: Annotated[str, typer.Option(help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="The port (0: any free one).")
    ] = DEFAULT_PORT,
) -> None:
    """Answer POST /add-checkpoint requests until stopped."""
    with user_errors():
        state = Witness(directory)
        server, listening = make_server(state, host, port)
    bound = listening.getsockname()
    err.print(printable(f"witness {state.key} listening on http://{host}:{bound[1]}"), markup=False)
    server.run(sockets=[listening])


@witness.command("show")
def witness_show(directory: DirArg, as_json: JsonOpt = False) -> None:
    """The witness's key, its logs (each at the size last cosigned), the evidence kept
    (and, for a log at the cap on rollback and inconsistent records, how many were not)."""
    with user_errors():
        info = Witness(directory).describe()

    def show() -> None:
        out.print(printable(f"witness   {info['key']}"))
        for log in info["logs"]:
            size = "nothing cosigned yet" if log["size"] is None else f"size {log['size']}"
            out.print(printable(f"log       {log['origin']}: {size}"))
            if log["evidence"] or log["evidence_not_kept"]:
                out.print(f"          evidence kept: {log['evidence']}")
            if log["evidence_cap_reached"] or log["evidence_not_kept"]:
                out.print(
                    f"          evidence cap reached ({info['evidence_cap']} rollback or "
                    f"inconsistent records): {log['evidence_not_kept']} more refusals not kept"
                )
        out.print(f"evidence  {info['evidence']}")

    emit(info, as_json, show)
