"""`cmpp users` and `cmpp tokens`: the people who sign as themselves, and their tokens.

A person is registered under their organisation by the board's root key (the key the
command line holds), with a key of their own: made here and kept sealed in the key store
(server custody), or made by them and given here as a public key (client custody). Their
name and contact go to the vault, never the log. A token is shown once, when it is made;
the ledger keeps only its hash.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from domain.errors import DomainError
from domain.people import PeopleDirectory
from domain.tokens import Tokens
from ledger.errors import NotFoundError, UserError
from ledger.hashing import b64decode
from ledger.signing import Signer
from projections.commands.people import PersonCreate
from projections.commands.runner import CommandRunner
from projections.people import add_person, new_person, organisation_kind, suspend_person
from projections.system import System
from tools.console import JsonOpt, emit, err, out, printable, system
from tools.do_commands import validated

users = typer.Typer(no_args_is_help=True, help="People: add, list, suspend.")
tokens = typer.Typer(no_args_is_help=True, help="Bearer tokens of people: create, list, revoke.")

UserOpt = Annotated[str, typer.Option("--user", help="The person's id (user:…).")]
DEFAULT_LIFETIME = "30d"
_SPAN = re.compile(r"([1-9][0-9]{0,5})([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def directory(ledger: System) -> PeopleDirectory:
    return PeopleDirectory(ledger.app.recorder.datastore)  # type: ignore[attr-defined]


def token_table(ledger: System) -> Tokens:
    return Tokens(ledger.app.recorder.datastore)  # type: ignore[attr-defined]


# -- users ---------------------------------------------------------------------------------


@users.command("add")
def users_add(  # noqa: PLR0917 (a command's parameters are its options)
    org: Annotated[str, typer.Option(help="The person's organisation (org:…).")],
    role: Annotated[str, typer.Option(help="Their role: their organisation's kind, or public.")],
    custody: Annotated[
        str, typer.Option(help="Who keeps their private key: server or client.")
    ] = "server",
    public_key: Annotated[
        str | None, typer.Option(help="Client custody: their Ed25519 public key (base64).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Their name (kept in the vault).")] = None,
    email: Annotated[str | None, typer.Option(help="Their email (kept in the vault).")] = None,
    phone: Annotated[str | None, typer.Option(help="Their phone (kept in the vault).")] = None,
    org_name: Annotated[
        str,
        typer.Option(help="The board's organisation's name, if it is not registered yet."),
    ] = "National Board",
    as_json: JsonOpt = False,
) -> None:
    """Register a person under ORG (board-signed); print their id and key id. Their
    name and contact go to the vault, never the log."""
    if (email or phone) and not name:
        raise UserError("--email and --phone are kept with a --name")
    contact = {"name": name, "email": email, "phone": phone}
    body: dict[str, Any] = {"org": org, "role": role, "custody": custody}
    if public_key is not None:
        body["public_key"] = public_key
    if name:
        body["profile"] = {k: v for k, v in contact.items() if v is not None}
    request = validated(PersonCreate, body, "the person")
    key = None if request.public_key is None else b64decode(request.public_key)
    with system() as ledger:
        board = ledger.root_signer()  # opened first: if it cannot be, nothing is written
        register_board_organisation(ledger, board, request.org, org_name)
        person = new_person(request.org, request.role, request.custody, key)
        profile = None if request.profile is None else request.profile.model_dump(exclude_none=True)
        added = add_person(ledger, board, person, profile)
    row = {
        "person_id": added.person_id,
        "org": added.org,
        "role": added.role,
        "custody": added.custody,
        "key_id": added.key_id,
        "seq": added.seq,
    }
    emit(row, as_json, lambda: out.print(f"{added.person_id}  key {added.key_id}"))


def register_board_organisation(ledger: System, board: Signer, org: str, name: str) -> None:
    """The board's own organisation (its root key's holder) is registered with its first
    person, if no one registered it before: no person could, none being registered yet."""
    if org != board.org:
        return
    try:
        organisation_kind(ledger, org)
    except DomainError:
        ledger.app.register_organisation(board, org_id=org, name=name, kind="board")
        err.print(f"registered the board's organisation {org}", markup=False)


@users.command("list")
def users_list(
    org: Annotated[str | None, typer.Option(help="Only the people of this organisation.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The people registered, with their key in force (or "suspended"); never their names."""
    with system() as ledger:
        people = directory(ledger).everyone(ledger.app.trusted_keys(), org)
    rows = [
        {
            "person_id": p.person_id,
            "org": p.org,
            "role": p.role,
            "custody": p.custody,
            "key_id": None if p.key is None else p.key.key_id,
            "suspended": p.key is None,
        }
        for p in people
    ]

    def show() -> None:
        for r in rows:
            status = "suspended" if r["suspended"] else r["key_id"]
            out.print(
                f"{r['person_id']:<28} {r['org']:<20} {r['role']:<13} {r['custody']:<7} {status}"
            )

    emit(rows, as_json, show)


@users.command("suspend")
def users_suspend(
    user: Annotated[str, typer.Argument(help="The person's id (user:…).")],
    reason: Annotated[str, typer.Option(help="Why they are suspended (in the log).")],
    as_json: JsonOpt = False,
) -> None:
    """Suspend a person (board-signed): their keys are revoked, their tokens stop working."""
    with system() as ledger:
        board = ledger.root_signer()
        revoked = suspend_person(ledger, board, user, reason)
    emit(
        {"person_id": user, "revoked_key_ids": revoked},
        as_json,
        lambda: out.print(f"suspended {user}: revoked {', '.join(revoked)}"),
    )


# -- tokens --------------------------------------------------------------------------------


def lifetime(expires: str, now: datetime | None = None) -> timedelta:
    """`30d`, `12h`, `90m`, or an instant with its zone (2026-01-31T12:00:00Z): how long
    from now."""
    span = _SPAN.fullmatch(expires)
    if span:
        return timedelta(**{_UNITS[span[2]]: int(span[1])})
    try:
        moment = datetime.fromisoformat(expires)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise UserError(
            f"--expires {expires!r} is a span (30d, 12h, 90m) or an instant with its zone "
            "(2026-01-31T12:00:00Z)"
        )
    left = moment - (now or datetime.now(UTC))
    if left <= timedelta(0):
        raise UserError(f"--expires {expires!r} is not in the future")
    return left


@tokens.command("create")
def tokens_create(
    user: UserOpt,
    expires: Annotated[
        str, typer.Option(help="30d, 12h, 90m, or an instant (2026-01-31T12:00:00Z).")
    ] = DEFAULT_LIFETIME,
    as_json: JsonOpt = False,
) -> None:
    """Make a token for USER; it is printed this once, and kept only as its hash."""
    span = lifetime(expires)
    with system() as ledger:
        if CommandRunner(ledger).actor(user) is None:
            raise NotFoundError(f"{user} is not a person who may act (unknown or suspended)")
        issued = token_table(ledger).issue(user, span)
    row = {
        "token": issued.token,
        "token_id": issued.token_id,
        "person_id": issued.person_id,
        "expires_at": issued.expires_at,
    }

    def show() -> None:
        out.print(f"token    {issued.token}")
        out.print(f"id       {issued.token_id}")
        out.print(f"expires  {issued.expires_at}")
        out.print("The token is shown this once: keep it now.")

    emit(row, as_json, show)


@tokens.command("list")
def tokens_list(user: UserOpt, as_json: JsonOpt = False) -> None:
    """USER's tokens: ids, when made, when they expire, whether revoked (never the token)."""
    with system() as ledger:
        if directory(ledger).find(user, ledger.app.trusted_keys()) is None:
            raise NotFoundError(f"{user} is not a registered person")
        records = token_table(ledger).of(user)
    rows = [
        {
            "token_id": t.token_id,
            "created_at": t.created_at,
            "expires_at": t.expires_at,
            "revoked_at": t.revoked_at,
        }
        for t in records
    ]

    def show() -> None:
        for r in rows:
            revoked = "" if r["revoked_at"] is None else f"revoked {r['revoked_at']}"
            line = f"{r['token_id']}  made {r['created_at']}  expires {r['expires_at']}  {revoked}"
            out.print(line.rstrip())

    emit(rows, as_json, show)


@tokens.command("revoke")
def tokens_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id, as `tokens list` shows it.")],
    as_json: JsonOpt = False,
) -> None:
    """Revoke a token: it stops working at its next request."""
    with system() as ledger:
        count = token_table(ledger).revoke(token_id)
    if not count:
        raise NotFoundError(f"no token in force has the id {token_id}")
    emit({"revoked": token_id}, as_json, lambda: out.print(f"revoked {printable(token_id)}"))
