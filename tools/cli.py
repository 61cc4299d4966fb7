"""The `cmpp` command line: one typer app gathering each group of commands."""

from __future__ import annotations

import typer

from tools import (
    client_commands,
    do_commands,
    key_commands,
    ledger_commands,
    people_commands,
    projection_commands,
    release_commands,
    report_commands,
    server_commands,
    vault_commands,
    witness_commands,
)
from tools.console import Commands

app = typer.Typer(cls=Commands, no_args_is_help=True, add_completion=False, help="The CMPP ledger.")
app.add_typer(ledger_commands.commands)
app.add_typer(report_commands.commands)
app.add_typer(server_commands.commands)
app.add_typer(release_commands.commands)
app.add_typer(ledger_commands.prove, name="prove")
app.add_typer(ledger_commands.export, name="export")
app.add_typer(key_commands.keys, name="keys")
app.add_typer(people_commands.users, name="users")
app.add_typer(people_commands.tokens, name="tokens")
app.add_typer(do_commands.commands)
app.add_typer(projection_commands.projections, name="projections")
app.add_typer(vault_commands.vault, name="vault")
app.add_typer(witness_commands.witness, name="witness")
app.add_typer(client_commands.client, name="client")


def main() -> None:
    app()
