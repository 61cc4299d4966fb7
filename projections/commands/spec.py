"""What a command is: a request model, an answer, who may give it, and what it does."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ledger.signing import Signer
from projections.commands.models import Recorded, Request
from projections.commands.scope import Owner
from projections.system import System


@dataclass(frozen=True)
class Actor:
    """The person giving a command: their organisation and role are those of their key
    in force, as the log's entries make them."""

    person: str
    org: str
    role: str
    key_id: str
    custody: str


@dataclass(frozen=True)
class Planned:
    """A command about to run: the answer it will give (without its seq, known only once
    its entry is written) and what it does, given the signer."""

    answer: dict[str, Any]
    act: Callable[[Signer], object]
    keeps_key: bool = False  # it stores a new private key: it cannot be prepared


Plan = Callable[[System, Actor, dict[str, str], Any], Planned]


@dataclass(frozen=True)
class CommandSpec:
    name: str
    request: type[Request]
    answer: type[Recorded]
    roles: tuple[str, ...]
    plan: Plan
    ids: tuple[str, ...] = ()  # named outside the body: in the URL, or by --id
    # Refusals by these rules mean "another organisation's thing": answered as not
    # found, with `hidden_as` (formatted with the ids), exactly as for a missing thing.
    hidden: frozenset[str] = field(default_factory=frozenset)
    hidden_as: str = ""
    # For a grantee: the organisation owning the command's target (None: no such thing),
    # checked before anything else (projections.commands.scope).
    owner: Owner | None = None


def data_of(request: Request, ids: dict[str, str]) -> dict[str, Any]:
    """The command's members as the domain takes them: ids, then the body (dates as text)."""
    return {**ids, **request.model_dump(mode="json")}
