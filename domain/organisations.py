"""Organisations of the program: the board, the fiscal agent, grantees, oversight, inspectors."""

from __future__ import annotations

from domain.catalogue import ORGANISATION_REGISTERED
from domain.streams import Stream
from ledger.events import DeclaredCreated


class Organisation(Stream):
    TOPIC = "domain.Organisation"
    KEY, PREFIX = "org_id", "org"

    class Created(DeclaredCreated):
        TOPIC = ORGANISATION_REGISTERED
