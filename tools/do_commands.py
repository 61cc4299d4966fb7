"""`cmpp do` and `cmpp do-batch`: any command of the program, given as a person.

A command runs as the API runs it (projections.commands.runner): its body checked by
its own request model, the person's role checked, signed with the person's own key, and
recorded once per idempotency key: a command given again with its key is answered as
the first time, and writes nothing. `cmpp do` makes a key when none is given and says
it first, so a command whose answer was lost can be given again safely.
"""

from __future__ import annotations

import json
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_args

import typer
from pydantic import BaseModel, ValidationError

from ledger.errors import NotFoundError, UserError
from projections.commands.models import Request
from projections.commands.registry import COMMANDS
from projections.commands.runner import CommandRunner, Outcome
from projections.commands.spec import Actor, CommandSpec
from tools.console import JsonOpt, emit, err, out, printable, progress_bar, read_input, system

commands = typer.Typer()

Model = TypeVar("Model", bound=BaseModel)
AsOpt = Annotated[str, typer.Option("--as", help="The person who acts (user:…).")]
BATCH_MEMBERS = {"command", "ids", "body", "key"}
MAX_ID_LENGTH = 256


def validated(model: type[Model], data: Any, what: str) -> Model:
    """`data` as `model`, or a user's error naming each field that is wrong (never the
    values given: they may be personal data)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'the body'}: {e['msg']}" for e in exc.errors()
        )
        raise UserError(f"{what} is not valid: {problems}", rule="validation") from None


def command_spec(name: str) -> CommandSpec:
    spec = COMMANDS.get(name)
    if spec is None:
        raise NotFoundError(f"there is no command {name}: `cmpp do --list` shows them")
    return spec


def acting(runner: CommandRunner, person: str) -> Actor:
    actor = runner.actor(person)
    if actor is None:
        raise NotFoundError(f"{person} is not a person who may act (unknown or suspended)")
    return actor


def check_ids(spec: CommandSpec, ids: dict[str, Any]) -> dict[str, str]:
    """The ids the command takes, each given once as text; no other."""
    missing = [name for name in spec.ids if name not in ids]
    extra = [name for name in ids if name not in spec.ids]
    if missing or extra:
        takes = f"the ids {', '.join(spec.ids)}" if spec.ids else "no ids"
        raise UserError(f"{spec.name} takes {takes} (--id NAME=VALUE)", rule="validation")
    for name, value in ids.items():
        if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_LENGTH:
            raise UserError(f"the id {name} is 1 to {MAX_ID_LENGTH} characters of text")
    return dict(ids)


def parse_ids(given: list[str]) -> dict[str, str]:
    ids: dict[str, str] = {}
    for item in given:
        name, equals, value = item.partition("=")
        if not equals:
            raise UserError(f"--id {item!r} is NAME=VALUE (award_id=A-1)")
        if name in ids:
            raise UserError(f"--id {name} is given twice")
        ids[name] = value
    return ids


def parse_body(text: str) -> dict[str, Any]:
    """The body: JSON itself, `@file.json`, or `-` for standard input."""
    if text == "-":
        source, what = sys.stdin.read(), "the body on standard input"
    elif text.startswith("@"):
        source, what = read_input(Path(text[1:]), "body file").decode("utf-8"), text[1:]
    else:
        source, what = text, "--body"
    try:
        body = json.loads(source)
    except json.JSONDecodeError as exc:
        raise UserError(f"{what} is not JSON: {exc.msg} (line {exc.lineno})") from None
    except RecursionError:
        raise UserError(f"{what} is nested too deeply") from None
    if not isinstance(body, dict):
        raise UserError(f"{what} is not a JSON object")
    return body


def request_of(spec: CommandSpec, body: Any) -> Request:
    return validated(spec.request, body, f"the body of {spec.name}")


def answer_of(name: str, actor: Actor, key: str, outcome: Outcome) -> dict[str, Any]:
    return {
        "command": name,
        "person_id": actor.person,
        "idempotency_key": key,
        "replayed": outcome.replayed,
        "seq": outcome.answer.seq,
        "answer": outcome.answer.body,
    }


@commands.command("do")
def do(  # noqa: PLR0917 (a command's parameters are its options)
    name: Annotated[str | None, typer.Argument(help="The command (`--list` names them).")] = None,
    as_user: Annotated[
        str | None, typer.Option("--as", help="The person who acts (user:…).")
    ] = None,
    ident: Annotated[
        list[str] | None,
        typer.Option("--id", help="An id the command takes: NAME=VALUE (repeatable)."),
    ] = None,
    body: Annotated[
        str, typer.Option(help="The request: JSON, @file.json, or - (standard input).")
    ] = "{}",
    idempotency_key: Annotated[
        str | None, typer.Option(help="Names this request: given again, it writes nothing.")
    ] = None,
    list_commands: Annotated[
        bool, typer.Option("--list", help="List the commands: roles, ids and fields.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Give the command NAME as a person, signed with their own key; print the answer."""
    if list_commands:
        listing(as_json)
        return
    if name is None or as_user is None:
        raise UserError("name a command and who gives it (--as user:…), or --list")
    spec = command_spec(name)
    ids = check_ids(spec, parse_ids(ident or []))
    request = request_of(spec, parse_body(body))
    key = idempotency_key
    if key is None:
        key = secrets.token_hex(16)
        err.print(f"idempotency key {key} (to give the command again: --idempotency-key {key})")
    with system() as ledger:
        runner = CommandRunner(ledger)
        actor = acting(runner, as_user)
        outcome = runner.run(actor, spec, ids, request, key=key)
    value = answer_of(name, actor, key, outcome)

    def show() -> None:
        said = "already recorded, at" if outcome.replayed else "recorded at"
        out.print(f"{name} {said} seq {value['seq']}, by {actor.person}")
        for member, text in outcome.answer.body.items():
            if member != "seq":
                out.print(f"  {member:<18} {printable(json.dumps(text))}")

    emit(value, as_json, show)


def listing(as_json: bool) -> None:
    rows: list[dict[str, Any]] = [
        {
            "command": spec.name,
            "roles": list(spec.roles),
            "ids": list(spec.ids),
            "fields": [
                {"name": field, "required": info.is_required(), "type": _type(info.annotation)}
                for field, info in spec.request.model_fields.items()
            ],
        }
        for spec in COMMANDS.values()
    ]

    def show() -> None:
        for r in rows:
            fields = ", ".join(f["name"] + ("" if f["required"] else "?") for f in r["fields"])
            ids = "".join(f" --id {i}=…" for i in r["ids"])
            out.print(f"{r['command']}{ids}  ({', '.join(r['roles'])})")
            out.print(f"    {fields}")

    emit(rows, as_json, show)


def _type(annotation: Any) -> str:
    if get_args(annotation):
        return str(annotation).replace("typing.", "").replace("datetime.", "")
    return str(getattr(annotation, "__name__", annotation))


@dataclass(frozen=True)
class Step:
    line: int
    spec: CommandSpec
    ids: dict[str, str]
    request: Request
    key: str


def read_batch(path: Path) -> list[Step]:
    """Every line of the file, checked before any runs: one command a line, with its key."""
    steps = []
    text = read_input(path, "batch file").decode("utf-8")
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                steps.append(_step(number, line))
            except UserError as exc:
                raise UserError(f"line {number} of {path}: {exc}", rule=exc.rule) from None
    return steps


def _step(number: int, line: str) -> Step:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise UserError(f"not JSON: {exc.msg}") from None
    except RecursionError:
        raise UserError("nested too deeply") from None
    if not isinstance(item, dict) or not {"command", "key"} <= item.keys() <= BATCH_MEMBERS:
        raise UserError('a line is {"command": …, "ids": {…}, "body": {…}, "key": …}')
    if not isinstance(item["command"], str) or not isinstance(item["key"], str):
        raise UserError("its command and key are text")
    ids, body = item.get("ids", {}), item.get("body", {})
    if not isinstance(ids, dict):
        raise UserError("its ids are an object")
    spec = command_spec(item["command"])
    return Step(number, spec, check_ids(spec, ids), request_of(spec, body), item["key"])


@commands.command("do-batch")
def do_batch(
    file: Annotated[Path, typer.Argument(help="One JSON command a line (JSON Lines).")],
    as_user: AsOpt,
    as_json: JsonOpt = False,
) -> None:
    """Give each line's command as a person, in order; stop at the first refused. Each
    line's key makes it idempotent: the file can be run again, and writes each line once."""
    steps = read_batch(file)
    recorded = replayed = 0
    last_seq = None
    with system() as ledger:
        runner = CommandRunner(ledger)
        actor = acting(runner, as_user)
        with progress_bar("commands", len(steps)) as advance:
            for done, step in enumerate(steps, 1):
                try:
                    outcome = runner.run(actor, step.spec, step.ids, step.request, key=step.key)
                except UserError as exc:
                    raise UserError(
                        f"line {step.line} ({step.spec.name}) was refused: {exc} "
                        f"({recorded} lines before it recorded now, {replayed} already were)",
                        rule=exc.rule,
                    ) from None
                recorded, replayed = recorded + (not outcome.replayed), replayed + outcome.replayed
                last_seq = outcome.answer.seq
                advance(done)
    value = {"lines": len(steps), "recorded": recorded, "replayed": replayed, "last_seq": last_seq}
    emit(
        value,
        as_json,
        lambda: out.print(
            f"{len(steps)} lines: {recorded} recorded now, {replayed} already recorded"
        ),
    )
