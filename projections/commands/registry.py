"""Every command, by name: what the API's routes and `cmpp do` look up."""

from __future__ import annotations

from projections.commands.cases import CASES
from projections.commands.funds import FUNDS
from projections.commands.keys import KEYS
from projections.commands.people import PEOPLE
from projections.commands.spec import CommandSpec

COMMANDS: dict[str, CommandSpec] = {spec.name: spec for spec in (*PEOPLE, *KEYS, *FUNDS, *CASES)}
