"""The oversight view's figures as one tally: counts, and the days each wait took.

A tally as of an entry is the sum of what every earlier entry added, and each entry's
share is a row of the oversight tables stamped with its seq. So a tally is kept every
few thousand entries (`ov_tallies`), and a view as of any entry is the nearest kept
tally plus the rows after it: the same work on a log of any length. Medians come from
the waits' day counts, exactly as from the list of waits.

Every figure counts each participant once, by their milestones (`ov_milestones`):
their first recorded consent, service and referral, and their first withdrawal.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from projections.db import ProjectionDB

DIMENSIONS = ("age_band", "gender", "nationality", "language")
WAITS = ("consent", "service", "referral")  # milestones whose days from enrolment count
LOOKUP_CHUNK = 500  # participant ids looked up per query


@dataclass
class Group:
    """The participants sharing one value of one dimension (say, language: Haitian Creole)."""

    participants: int = 0
    consented: int = 0
    services: int = 0
    days_to_first_service: Counter[int] = field(default_factory=Counter)


@dataclass
class Tally:
    participants: int = 0
    consented: int = 0
    withdrew: int = 0
    services: int = 0
    in_own_language: int = 0
    with_interpreter: int = 0
    unreleased_referrals: int = 0
    findings: Counter[str] = field(default_factory=Counter)
    waits: dict[str, Counter[int]] = field(default_factory=lambda: {w: Counter() for w in WAITS})
    complaints_filed: Counter[str] = field(default_factory=Counter)
    complaints_resolved: Counter[str] = field(default_factory=Counter)
    outcomes: dict[str, Counter[str]] = field(default_factory=dict)
    days_to_resolution: dict[str, Counter[int]] = field(default_factory=dict)
    accesses: Counter[str] = field(default_factory=Counter)
    groups: dict[str, dict[str, Group]] = field(default_factory=lambda: {d: {} for d in DIMENSIONS})

    def group(self, dimension: str, value: str) -> Group:
        return self.groups[dimension].setdefault(value, Group())

    def to_json(self) -> str:
        """The same tally always makes the same text (it is part of the projection's digest)."""

        def days(counts: Counter[int]) -> list[list[int]]:
            return [[d, n] for d, n in sorted(counts.items())]

        body = {
            "participants": self.participants,
            "consented": self.consented,
            "withdrew": self.withdrew,
            "services": self.services,
            "in_own_language": self.in_own_language,
            "with_interpreter": self.with_interpreter,
            "unreleased_referrals": self.unreleased_referrals,
            "findings": dict(self.findings),
            "waits": {w: days(c) for w, c in self.waits.items()},
            "complaints_filed": dict(self.complaints_filed),
            "complaints_resolved": dict(self.complaints_resolved),
            "outcomes": {k: dict(c) for k, c in self.outcomes.items()},
            "days_to_resolution": {k: days(c) for k, c in self.days_to_resolution.items()},
            "accesses": dict(self.accesses),
            "groups": {
                dim: {
                    value: [g.participants, g.consented, g.services, days(g.days_to_first_service)]
                    for value, g in values.items()
                }
                for dim, values in self.groups.items()
            },
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Tally:
        body = json.loads(text)

        def days(pairs: list[list[int]]) -> Counter[int]:
            return Counter({d: n for d, n in pairs})

        tally = cls(
            **{k: body[k] for k in ("participants", "consented", "withdrew", "services")},
            in_own_language=body["in_own_language"],
            with_interpreter=body["with_interpreter"],
            unreleased_referrals=body["unreleased_referrals"],
            findings=Counter(body["findings"]),
            waits={w: days(p) for w, p in body["waits"].items()},
            complaints_filed=Counter(body["complaints_filed"]),
            complaints_resolved=Counter(body["complaints_resolved"]),
            outcomes={k: Counter(c) for k, c in body["outcomes"].items()},
            days_to_resolution={k: days(p) for k, p in body["days_to_resolution"].items()},
            accesses=Counter(body["accesses"]),
        )
        for dim, values in body["groups"].items():
            for value, (participants, consented, services, waits) in values.items():
                tally.groups[dim][value] = Group(participants, consented, services, days(waits))
        return tally


def median(counts: Counter[int]) -> int | float | None:
    """The median of the days counted, as `statistics.median` of their list would be."""
    total = sum(counts.values())
    if total == 0:
        return None
    middle = [(total - 1) // 2, total // 2]  # positions in the sorted list
    found: list[int] = []
    seen = 0
    for d in sorted(counts):
        seen += counts[d]
        while middle and middle[0] < seen:
            found.append(d)
            middle.pop(0)
    low, high = found
    return low if total % 2 else (low + high) / 2


def tally_at(db: ProjectionDB, limit: int) -> Tally:
    """The tally of every entry before seq `limit`: the last kept tally, and the rows after."""
    kept = db.query(
        "SELECT seq, tally FROM ov_tallies WHERE seq < ? ORDER BY seq DESC LIMIT 1", (limit,)
    )
    if kept:
        tally, after = Tally.from_json(kept[0]["tally"]), int(kept[0]["seq"])
    else:
        tally, after = Tally(), -1
    add_rows(db, tally, after, limit)
    return tally


def add_rows(db: ProjectionDB, tally: Tally, after: int, limit: int) -> None:
    """Add to `tally` what the entries after seq `after` and before seq `limit` added."""
    span = (after, limit)
    dims = ", ".join(f"p.{d}" for d in DIMENSIONS)
    for p in db.query(
        f"SELECT {dims} FROM ov_participants p WHERE p.seq > ? AND p.seq < ?",  # noqa: S608
        span,
    ):
        tally.participants += 1
        for dim in DIMENSIONS:
            tally.group(dim, p[dim]).participants += 1
    milestones = db.query(
        "SELECT participant_id, milestone, days FROM ov_milestones WHERE seq > ? AND seq < ?",
        span,
    )
    services = db.query(
        "SELECT participant_id, finding, in_own_language, interpreter FROM ov_services"
        " WHERE seq > ? AND seq < ?",
        span,
    )
    people = _dimensions(db, {r["participant_id"] for r in (*milestones, *services)})
    for m in milestones:
        milestone, days, person = m["milestone"], int(m["days"]), people.get(m["participant_id"])
        if milestone == "withdrew":
            tally.withdrew += 1
            continue
        tally.waits[milestone][days] += 1
        if milestone == "consent":
            tally.consented += 1
        for dim, value in (person or {}).items():
            if milestone == "consent":
                tally.group(dim, value).consented += 1
            elif milestone == "service":
                tally.group(dim, value).days_to_first_service[days] += 1
    for s in services:
        tally.services += 1
        tally.in_own_language += int(s["in_own_language"])
        tally.with_interpreter += int(s["interpreter"])
        if s["finding"] is not None:
            tally.findings[s["finding"]] += 1
        # A service to someone enrolled, as the rules require, counts in their groups.
        for dim, value in people.get(s["participant_id"], {}).items():
            tally.group(dim, value).services += 1
    unreleased = db.query(
        "SELECT COUNT(*) AS n FROM ov_referrals WHERE seq > ? AND seq < ? AND released = 0",
        span,
    )
    tally.unreleased_referrals += int(unreleased[0]["n"])
    for row in db.query(
        "SELECT category, COUNT(*) AS n FROM ov_complaints WHERE seq > ? AND seq < ?"
        " GROUP BY category",
        span,
    ):
        tally.complaints_filed[row["category"]] += int(row["n"])
    for row in db.query(
        "SELECT category, outcome, resolution_days FROM ov_complaints"
        " WHERE resolved_seq > ? AND resolved_seq < ?",
        span,
    ):
        category = row["category"]
        tally.complaints_resolved[category] += 1
        tally.outcomes.setdefault(category, Counter())[row["outcome"]] += 1
        tally.days_to_resolution.setdefault(category, Counter())[int(row["resolution_days"])] += 1
    for row in db.query(
        "SELECT purpose, COUNT(*) AS n FROM ov_accesses WHERE seq > ? AND seq < ? GROUP BY purpose",
        span,
    ):
        tally.accesses[row["purpose"]] += int(row["n"])


def _dimensions(db: ProjectionDB, participants: set[str]) -> dict[str, dict[str, str]]:
    """Each participant's age band, gender, nationality and language, looked up by id (a
    join could scan every participant for a few rows)."""
    found: dict[str, dict[str, str]] = {}
    ids = sorted(participants)
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start : start + LOOKUP_CHUNK]
        marks = ", ".join("?" * len(chunk))
        for row in db.query(
            f"SELECT participant_id, {', '.join(DIMENSIONS)} FROM ov_participants"  # noqa: S608
            f" WHERE participant_id IN ({marks})",
            chunk,
        ):
            found[row["participant_id"]] = {d: row[d] for d in DIMENSIONS}
    return found
