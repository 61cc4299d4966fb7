"""`cmpp client`: a person who keeps their own key, giving commands to a ledger's API.

1. `cmpp client keygen KEYFILE` makes their Ed25519 key, sealed under
   CMPP_CLIENT_PASSPHRASE (PKCS#8, 0600), and prints the public key the board registers
   (`cmpp users add … --custody client --public-key …`).
2. `cmpp client do NAME --server URL …` asks the server to prepare the command, shows
   what is to be signed, signs the event's exact bytes here, and submits the signature:
   the private key never leaves this machine. The token comes from CMPP_API_TOKEN (never
   an argument: arguments show in process listings).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import urllib.error
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.durable import write_atomic
from ledger.errors import UserError
from tools.console import JsonOpt, emit, err, out, printable, read_input, user_errors
from tools.do_commands import check_ids, command_spec, parse_body, parse_ids, request_of

client = typer.Typer(no_args_is_help=True, help="Act as a person who keeps their own key.")
MIN_PASSPHRASE = 12
TIMEOUT_SECONDS = 60


def _passphrase() -> bytes:
    value = os.environ.get("CMPP_CLIENT_PASSPHRASE", "")
    if len(value.strip()) < MIN_PASSPHRASE:
        raise UserError(
            f"set CMPP_CLIENT_PASSPHRASE ({MIN_PASSPHRASE} characters at least): it seals "
            "your key file",
            rule="config",
        )
    return value.encode()


def _load_key(path: Path) -> Ed25519PrivateKey:
    data = read_input(path, "key file")
    try:
        key = serialization.load_pem_private_key(data, _passphrase())
    except (ValueError, TypeError):
        raise UserError(
            f"cannot open the key file {path.name}: is CMPP_CLIENT_PASSPHRASE the one it was "
            "made with?",
            rule="key-store",
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UserError(f"{path.name} does not hold an Ed25519 key", rule="key-store")
    return key


@client.command("keygen")
def keygen(
    keyfile: Annotated[Path, typer.Argument(help="Where to keep the new private key.")],
    as_json: JsonOpt = False,
) -> None:
    """Make your own Ed25519 key; print the public key to register."""
    with user_errors():
        if keyfile.exists():
            raise UserError(f"{keyfile} exists: choose another file (keys are never replaced)")
        key = Ed25519PrivateKey.generate()
        sealed = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(_passphrase()),
        )
        write_atomic(keyfile, sealed)
        os.chmod(keyfile, 0o600)
        public = base64.b64encode(key.public_key().public_bytes_raw()).decode()
    emit({"public_key": public}, as_json, lambda: out.print(public))


def _post(server: str, path: str, body: Any, key: str) -> dict[str, Any]:
    token = os.environ.get("CMPP_API_TOKEN")
    if not token:
        raise UserError("set CMPP_API_TOKEN to your token (from `cmpp tokens create`)")
    request = urllib.request.Request(  # noqa: S310 (the URL is the user's own server)
        server.rstrip("/") + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Idempotency-Key": key,
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310
            return json.loads(answer.read())  # type: ignore[no-any-return]
    except urllib.error.HTTPError as exc:
        try:
            problem = json.loads(exc.read())
            said = f"{problem.get('title')}: {problem.get('detail')} ({problem.get('type')})"
        except ValueError:
            said = f"HTTP {exc.code}"
        raise UserError(f"the server refused: {printable(said)}", rule="refused") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise UserError(f"cannot reach {server}: {exc}", rule="unreachable") from None


@client.command("do")
def client_do(  # noqa: PLR0917 (a command's parameters are its options)
    name: Annotated[str, typer.Argument(help="The command (`cmpp do --list` names them).")],
    server: Annotated[str, typer.Option(help="The API, e.g. https://ledger.example.gov")],
    keyfile: Annotated[Path, typer.Option("--key-file", help="Your private key file.")],
    ident: Annotated[
        list[str] | None, typer.Option("--id", help="An id the command takes: NAME=VALUE.")
    ] = None,
    body: Annotated[str, typer.Option(help="JSON, @file.json, or - (standard input).")] = "{}",
    idempotency_key: Annotated[
        str | None, typer.Option(help="Names this request: given again, it writes nothing.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Prepare NAME on the server, sign its event here with your key, and submit it."""
    with user_errors():
        spec = command_spec(name)
        ids = check_ids(spec, parse_ids(ident or []))
        request = request_of(spec, parse_body(body))  # refused here, before anything is sent
        key = _load_key(keyfile)
        idem = idempotency_key or secrets.token_hex(16)
        if idempotency_key is None:
            err.print(
                f"idempotency key {idem} (to give the command again: --idempotency-key {idem})"
            )
        prepared = _post(
            server,
            "/v1/prepared",
            {"command": name, "ids": ids, "body": request.model_dump(mode="json")},
            idem,
        )
        event_bytes = base64.b64decode(prepared["event_bytes"])
        if json.loads(event_bytes) != prepared["event"]:
            raise UserError("the server's event and its bytes differ: nothing was signed")
        signature = base64.b64encode(key.sign(event_bytes)).decode()
        answer = _post(
            server,
            f"/v1/prepared/{prepared['prepared_id']}/signature",
            {"signature": signature},
            idem,
        )
    emit(
        {"command": name, "event": prepared["event"], "answer": answer},
        as_json,
        lambda: out.print(f"{name} recorded at seq {answer['seq']}, signed by your key here"),
    )
