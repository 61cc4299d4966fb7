"""Organisations of the program: the board, the fiscal agent, grantees, oversight, inspectors."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

KINDS = ("board", "fiscal_agent", "grantee", "oversight", "inspector")


class Organisation(Aggregate):
    TOPIC = "domain.Organisation"

    class Created(Aggregate.Created):
        TOPIC = "org.OrganisationRegistered"
        org_id: str
        name: str
        kind: str
        uei: str | None

    @staticmethod
    def create_id(org_id: str) -> UUID:
        # One stream per org id: registering an org id twice conflicts in the database.
        return uuid5(NAMESPACE_URL, f"cmpp:org/{org_id}")

    @event(Created)
    def __init__(self, *, org_id: str, name: str, kind: str, uei: str | None) -> None:
        self.org_id = org_id
        self.name = name
        self.kind = kind
        self.uei = uei
