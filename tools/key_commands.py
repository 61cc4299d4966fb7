"""`cmpp keys`: the signing keys registered in the ledger, and their life (board-signed).

A new key's private key file is kept only if its registration commits: it is sealed
under a pending name first, renamed into place once the ledger holds the key, and
removed if the registration is refused or fails.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ledger.registry import KeyRuleError
from ledger.signing import SigningKey
from projections.system import System
from tools.console import JsonOpt, emit, out, system

keys = typer.Typer(no_args_is_help=True, help="Signing keys: list, register, rotate, revoke.")


@keys.command("list")
def keys_list(as_json: JsonOpt = False) -> None:
    """The keys registered in the ledger, as its own entries register and revoke them
    (replayed and checked as a writer does; never the keys table, which anyone with the
    database could edit)."""
    with system(read_only=True) as ledger:
        rows: list[dict[str, Any]] = [
            {
                "key_id": k.key_id,
                "holder": k.holder,
                "roles": list(k.roles),
                "registered_seq": max(k.registered_seq, 0),
                "revoked_seq": k.revoked_seq,
            }
            for k in sorted(ledger.app.trusted_keys(), key=lambda k: (k.registered_seq, k.key_id))
        ]

    def show() -> None:
        for r in rows:
            revoked = r["revoked_seq"]
            status = "" if revoked is None else f"revoked at seq {revoked}"
            out.print(f"{r['key_id']}  {r['holder']:<24} {','.join(r['roles']):<22} {status}")

    emit(rows, as_json, show)


@keys.command("register")
def keys_register(
    holder: Annotated[str, typer.Option(help="The organisation that holds the key.")],
    role: Annotated[list[str], typer.Option(help="A role the key may sign for (repeatable).")],
    label: Annotated[str, typer.Option(help="A note for people.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Make a new key for HOLDER, keep it in the key store, and register it (board-signed)."""
    with system() as ledger:
        key = register_new_key(ledger, holder, tuple(role), label or f"{holder} {','.join(role)}")
    emit({"key_id": key.key_id}, as_json, lambda: out.print(key.key_id))


@keys.command("rotate")
def keys_rotate(
    key_id: str,
    reason: Annotated[str, typer.Option(help="Why the key is replaced.")],
    as_json: JsonOpt = False,
) -> None:
    """Replace a key: its successor (same holder, roles) is registered as it is revoked."""
    with system() as ledger:
        key = rotate_to_new_key(ledger, key_id, reason)
    emit({"key_id": key.key_id, "replaces": key_id}, as_json, lambda: out.print(key.key_id))


@keys.command("revoke")
def keys_revoke(
    key_id: str,
    reason: Annotated[str, typer.Option(help="Why the key is revoked.")],
) -> None:
    """Revoke a signing key (board-signed); entries it signed before stay valid."""
    with system() as ledger:
        ledger.app.revoke_key(ledger.root_signer(), key_id, reason)
    out.print(f"revoked {key_id}")


def register_new_key(ledger: System, holder: str, roles: tuple[str, ...], label: str) -> SigningKey:
    """A new key for `holder`, registered (board-signed), its file kept once it commits."""
    board = ledger.root_signer()  # opened first: if it cannot be, nothing was written
    key = SigningKey.generate(holder, roles)
    with ledger.keys.staged(key, label):
        ledger.app.register_key(board, key.public_key, holder, list(roles))
    return key


def rotate_to_new_key(ledger: System, key_id: str, reason: str) -> SigningKey:
    """`key_id`'s successor, registered as it is revoked, its file kept once that commits."""
    record = next((k for k in ledger.app.trusted_keys() if k.key_id == key_id), None)
    if record is None:
        raise KeyRuleError(f"key {key_id} is not registered")
    board = ledger.root_signer()
    key = SigningKey.generate(record.holder, record.roles)
    with ledger.keys.staged(key, f"{record.holder} {','.join(record.roles)} (rotated)"):
        ledger.app.rotate_key(board, key_id, key.public_key, reason)
    return key
