"""Organisations of the program: the board, the fiscal agent, grantees, oversight, inspectors."""

from __future__ import annotations

from domain.catalogue import ORGANISATION_REGISTERED
from domain.streams import Stream
from ledger.events import opening


class Organisation(Stream):
    TOPIC = "domain.Organisation"
    KEY, PREFIX = "org_id", "org"
    Created = opening(ORGANISATION_REGISTERED)
