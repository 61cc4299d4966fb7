"""`cmpp keys`: the signing keys registered in the ledger, and their life (board-signed)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ledger.registry import KeyRuleError
from ledger.signing import SigningKey
from tools.console import ActorOpt, JsonOpt, emit, out, system

keys = typer.Typer(no_args_is_help=True, help="Signing keys: list, register, rotate, revoke.")


@keys.command("list")
def keys_list(as_json: JsonOpt = False) -> None:
    """The keys registered in the ledger."""
    with system() as ledger:
        rows: list[dict[str, Any]] = [
            {
                "key_id": k.key_id,
                "holder": k.holder,
                "roles": list(k.roles),
                "registered_seq": max(k.registered_seq, 0),
                "revoked_seq": k.revoked_seq,
            }
            for k in ledger.app.store.key_records()
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
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make a new key for HOLDER, keep it in the key store, and register it (board-signed)."""
    with system(actor) as ledger:
        key = SigningKey.generate(holder, tuple(role))
        ledger.keys.save(key, label or f"{holder} {','.join(role)}")
        ledger.app.register_key(ledger.root_signer(), key.public_key, holder, list(role))
    emit({"key_id": key.key_id}, as_json, lambda: out.print(key.key_id))


@keys.command("rotate")
def keys_rotate(
    key_id: str,
    reason: Annotated[str, typer.Option(help="Why the key is replaced.")],
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Replace a key: its successor (same holder, roles) is registered as it is revoked."""
    with system(actor) as ledger:
        record = next((k for k in ledger.app.store.key_records() if k.key_id == key_id), None)
        if record is None:
            raise KeyRuleError(f"key {key_id} is not registered")
        key = SigningKey.generate(record.holder, record.roles)
        ledger.keys.save(key, f"{record.holder} {','.join(record.roles)} (rotated)")
        ledger.app.rotate_key(ledger.root_signer(), key_id, key.public_key, reason)
    emit({"key_id": key.key_id, "replaces": key_id}, as_json, lambda: out.print(key.key_id))


@keys.command("revoke")
def keys_revoke(
    key_id: str,
    reason: Annotated[str, typer.Option(help="Why the key is revoked.")],
    actor: ActorOpt = None,
) -> None:
    """Revoke a signing key (board-signed); entries it signed before stay valid."""
    with system(actor) as ledger:
        ledger.app.revoke_key(ledger.root_signer(), key_id, reason)
    out.print(f"revoked {key_id}")
