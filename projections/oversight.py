"""The civil-rights oversight view (CRCL): consent integrity, timeliness, language access,
complaints, disparities, and who read protected records.

Every service and referral is classified when it is projected, against the consents
known at that point of the log, so the view replays as of any entry like the rest.
Counts from 1 to 10 are suppressed whenever the view leaves the oversight role.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any

from domain import catalogue as c
from domain.consents import EXPIRED, IN_FORCE, WITHDRAWN
from projections import consents, oversight_suppression
from projections.db import ProjectionDB
from projections.oversight_tally import DIMENSIONS, median, tally_at

SMALL_CELL = 11  # counts below this (and above zero) are suppressed outside oversight
CACHED_PARTICIPANTS = 100_000  # about 100 MB of cached consents at most
TALLY_EVERY = 5_000  # entries of the log between two kept tallies: a view adds fewer rows


@dataclass(slots=True)
class _Person:
    """What classifying a participant's services needs, kept while projecting."""

    language: str
    enrolled_on: str
    reached: set[str]  # milestones recorded: consent, service, referral, withdrew


class Oversight:
    name = "oversight"
    # 3: each complaint's outcome; 4: each service's grantee, indexed; 5: milestones,
    # tallies; 6: exports (the accounting of disclosures)
    version = 6
    types = frozenset(
        {
            c.PARTICIPANT_ENROLLED,
            c.CONSENT_GIVEN,
            c.CONSENT_WITHDRAWN,
            c.SERVICE_DELIVERED,
            c.REFERRAL_MADE,
            c.COMPLAINT_FILED,
            c.COMPLAINT_RESOLVED,
            c.RECORDS_ACCESSED,
            c.EXPORT_GENERATED,
        }
    )
    tables: tuple[str, ...] = (
        "ov_participants",
        "ov_consents",
        "ov_services",
        "ov_referrals",
        "ov_complaints",
        "ov_accesses",
        "ov_milestones",
        "ov_tallies",
        "ov_exports",
    )

    def __init__(self) -> None:
        # Each service needs its participant's language, enrolment and consents: keep them
        # at hand rather than query for every service. Dropped whenever a batch rolls back.
        self._people: dict[str, _Person] = {}
        self._consents: dict[str, list[consents.Consent]] = {}
        self._last_tally: int | None = None

    def forget(self) -> None:
        self._people.clear()
        self._consents.clear()
        self._last_tally = None

    def _make_room(self) -> None:
        # The tables hold everything, so the caches may be dropped at any moment:
        # dropping them when full keeps a worker's memory bounded on any log.
        if len(self._people) >= CACHED_PARTICIPANTS or len(self._consents) >= CACHED_PARTICIPANTS:
            self._people.clear()
            self._consents.clear()

    def _person(self, db: ProjectionDB, pid: str) -> _Person | None:
        person = self._people.get(pid)
        if person is None:
            rows = db.query(
                "SELECT language, enrolled_on FROM ov_participants WHERE participant_id = ?",
                (pid,),
            )
            if not rows:
                return None
            reached = db.query(
                "SELECT milestone FROM ov_milestones WHERE participant_id = ?", (pid,)
            )
            self._make_room()
            person = self._people[pid] = _Person(
                rows[0]["language"], rows[0]["enrolled_on"], {r["milestone"] for r in reached}
            )
        return person

    def _reach(self, db: ProjectionDB, seq: int, pid: str, milestone: str, on: str) -> None:
        """Record a participant's first consent, service, referral or withdrawal."""
        person = self._person(db, pid)
        if person is None or milestone in person.reached:
            return
        person.reached.add(milestone)
        db.insert("ov_milestones", (seq, pid, milestone, _days(person.enrolled_on, on)))

    def _known_consents(self, db: ProjectionDB, pid: str) -> list[consents.Consent]:
        known = self._consents.get(pid)
        if known is None:
            self._make_room()
            rows = db.query("SELECT * FROM ov_consents WHERE participant_id = ?", (pid,))
            known = self._consents[pid] = [consents.Consent.from_row(row) for row in rows]
        return known

    def _remember_consent(self, seq: int, event: dict[str, Any]) -> None:
        """Keep a cached participant's consents as the table now has them."""
        d = event["data"]
        known = self._consents.get(d["participant_id"])
        if known is None:
            return  # not cached: it will be read from the table when needed
        if event["type"] == c.CONSENT_GIVEN:
            known.append(consents.Consent.from_given(seq, d))
        else:
            for consent in known:
                if consent.consent_id == d["consent_id"]:
                    consent.withdraw(seq, d["withdrawn_on"])

    def create(self, db: ProjectionDB) -> None:
        db.execute(
            "CREATE TABLE ov_participants (participant_id TEXT PRIMARY KEY,"
            " grantee TEXT NOT NULL, enrolled_on TEXT NOT NULL, age_band TEXT NOT NULL,"
            " gender TEXT NOT NULL, nationality TEXT NOT NULL, language TEXT NOT NULL,"
            " seq BIGINT NOT NULL)"
        )
        consents.create_table(db, "ov_consents")
        db.execute(
            f"CREATE TABLE ov_services (seq {db.seq_key}, participant_id TEXT NOT NULL,"
            " service_type TEXT NOT NULL, delivered_on TEXT NOT NULL,"
            " in_own_language BIGINT NOT NULL, interpreter BIGINT NOT NULL, finding TEXT,"
            " grantee TEXT NOT NULL)"
        )
        # A grantee's own figures (projections.grantee_figures) count by these.
        db.execute("CREATE INDEX ov_services_grantee ON ov_services (grantee, seq)")
        db.execute("CREATE INDEX ov_participants_grantee ON ov_participants (grantee, seq)")
        db.execute(
            f"CREATE TABLE ov_referrals (seq {db.seq_key}, participant_id TEXT NOT NULL,"
            " to_kind TEXT NOT NULL, made_on TEXT NOT NULL, released BIGINT NOT NULL)"
        )
        db.execute(
            "CREATE TABLE ov_complaints (complaint_id TEXT PRIMARY KEY, participant_id TEXT,"
            " category TEXT NOT NULL, filed_on TEXT NOT NULL, seq BIGINT NOT NULL,"
            " resolved_on TEXT, resolved_seq BIGINT, outcome TEXT, resolution_days BIGINT)"
        )
        db.execute(
            f"CREATE TABLE ov_accesses (seq {db.seq_key}, actor TEXT NOT NULL,"
            " purpose TEXT NOT NULL, participants BIGINT NOT NULL, fields TEXT NOT NULL)"
        )
        # At most one milestone per entry: an entry is about one participant.
        db.execute(
            f"CREATE TABLE ov_milestones (seq {db.seq_key}, participant_id TEXT NOT NULL,"
            " milestone TEXT NOT NULL, days BIGINT NOT NULL)"
        )
        db.execute(f"CREATE TABLE ov_tallies (seq {db.seq_key}, tally TEXT NOT NULL)")
        db.execute(
            f"CREATE TABLE ov_exports (seq {db.seq_key}, kind TEXT NOT NULL,"
            " recipient TEXT NOT NULL, purpose TEXT NOT NULL, parameters TEXT NOT NULL,"
            " sha256 TEXT NOT NULL)"
        )
        # A view reads the rows after its kept tally by seq, and lists findings by seq.
        db.execute("CREATE INDEX ov_participants_seq ON ov_participants (seq)")
        db.execute("CREATE INDEX ov_milestones_participant ON ov_milestones (participant_id)")
        db.execute("CREATE INDEX ov_complaints_seq ON ov_complaints (seq)")
        db.execute("CREATE INDEX ov_complaints_resolved ON ov_complaints (resolved_seq)")
        db.execute(
            "CREATE INDEX ov_services_findings ON ov_services (seq) WHERE finding IS NOT NULL"
        )
        db.execute("CREATE INDEX ov_referrals_unreleased ON ov_referrals (seq) WHERE released = 0")

    def apply(self, db: ProjectionDB, seq: int, event: dict[str, Any]) -> None:
        kind, d = event["type"], event["data"]
        if kind == c.PARTICIPANT_ENROLLED:
            db.insert(
                "ov_participants",
                (
                    d["participant_id"],
                    d["grantee"],
                    d["enrolled_on"],
                    d["age_band"],
                    d["gender"],
                    d["nationality"],
                    d["language"],
                    seq,
                ),
            )
            self._make_room()
            self._people[d["participant_id"]] = _Person(d["language"], d["enrolled_on"], set())
            self._consents[d["participant_id"]] = []
        elif kind in (c.CONSENT_GIVEN, c.CONSENT_WITHDRAWN):
            consents.record(db, "ov_consents", seq, event)
            self._remember_consent(seq, event)
            if kind == c.CONSENT_GIVEN:
                self._reach(db, seq, d["participant_id"], "consent", d["given_on"])
            else:
                self._reach(db, seq, d["participant_id"], "withdrew", d["withdrawn_on"])
        elif kind == c.SERVICE_DELIVERED:
            person = self._person(db, d["participant_id"])
            own = person is not None and person.language == d["language"]
            finding = _service_finding(
                self._known_consents(db, d["participant_id"]),
                d["service_type"],
                d["delivered_on"],
            )
            db.insert(
                "ov_services",
                (
                    seq,
                    d["participant_id"],
                    d["service_type"],
                    d["delivered_on"],
                    int(own),
                    int(bool(d["interpreter"])),
                    finding,
                    event["org"],  # the grantee recording it: its own participant's
                ),
            )
            self._reach(db, seq, d["participant_id"], "service", d["delivered_on"])
        elif kind == c.REFERRAL_MADE:
            released = _released(
                self._known_consents(db, d["participant_id"]),
                d["consent_id"],
                d["to_kind"],
                d["made_on"],
            )
            db.insert(
                "ov_referrals",
                (seq, d["participant_id"], d["to_kind"], d["made_on"], int(released)),
            )
            self._reach(db, seq, d["participant_id"], "referral", d["made_on"])
        elif kind == c.COMPLAINT_FILED:
            db.insert(
                "ov_complaints",
                (
                    d["complaint_id"],
                    d["participant_id"],
                    d["category"],
                    d["filed_on"],
                    seq,
                    None,  # resolved_on
                    None,  # resolved_seq
                    None,  # outcome
                    None,  # resolution_days
                ),
            )
        elif kind == c.COMPLAINT_RESOLVED:
            filed = db.query(
                "SELECT filed_on FROM ov_complaints WHERE complaint_id = ?", (d["complaint_id"],)
            )
            days = _days(filed[0]["filed_on"], d["resolved_on"]) if filed else None
            db.execute(
                "UPDATE ov_complaints SET resolved_on = ?, resolved_seq = ?, outcome = ?,"
                " resolution_days = ? WHERE complaint_id = ?",
                (d["resolved_on"], seq, d["outcome"], days, d["complaint_id"]),
            )
        elif kind == c.RECORDS_ACCESSED:
            db.insert(
                "ov_accesses",
                (
                    seq,
                    d["actor"],
                    d["purpose"],
                    len(d["participant_ids"]),
                    json.dumps(sorted(d["fields"])),
                ),
            )
        elif kind == c.EXPORT_GENERATED:
            db.insert(
                "ov_exports",
                (
                    seq,
                    d["kind"],
                    d["recipient"],
                    d["purpose"],
                    json.dumps(d["parameters"], sort_keys=True),
                    d["sha256"],
                ),
            )
        self._keep_tally(db, seq)

    def _keep_tally(self, db: ProjectionDB, seq: int) -> None:
        """Every TALLY_EVERY entries or more, keep the tally as of this one. Where tallies
        are kept depends on the log alone, so a rebuilt projection keeps the same ones."""
        if self._last_tally is None:
            kept = db.query("SELECT MAX(seq) AS seq FROM ov_tallies")
            self._last_tally = -1 if kept[0]["seq"] is None else int(kept[0]["seq"])
        if seq - self._last_tally >= TALLY_EVERY:
            db.insert("ov_tallies", (seq, tally_at(db, seq + 1).to_json()))
            self._last_tally = seq

    def digest_queries(self) -> list[str]:
        # Column 1 (or 1 and 2) is each table's key, so the order is total.
        return [f"SELECT * FROM {t} ORDER BY 1, 2" for t in self.tables]  # noqa: S608


def _days(start: str, end: str) -> int:
    return (date.fromisoformat(end) - date.fromisoformat(start)).days


def _service_finding(known: list[consents.Consent], service_type: str, on: str) -> str | None:
    states = {consent.state(on) for consent in known if service_type in consent.services}
    if IN_FORCE in states:
        return None
    if not any(consent.given_on <= on for consent in known):
        return "before consent"
    if WITHDRAWN in states:
        return "after withdrawal"
    if EXPIRED in states:
        return "after expiry"
    return "outside scope"


def _released(known: list[consents.Consent], consent_id: str, to_kind: str, on: str) -> bool:
    return any(
        consent.consent_id == consent_id
        and to_kind in consent.share_with
        and consent.state(on) == IN_FORCE
        for consent in known
    )


def report(
    db: ProjectionDB, *, at_seq: int | None = None, suppress: bool = False
) -> dict[str, Any]:
    """The oversight view once entry `at_seq` was applied; `suppress` outside the oversight role."""
    limit = (at_seq + 1) if at_seq is not None else 2**62
    tally = tally_at(db, limit)

    def cell(n: int) -> int:
        return n  # outside oversight, hidden below with their complements

    def listed(_count: int, sql: str) -> list[dict[str, Any]] | str:
        # Outside oversight, case-level rows never leave (the count is beside them).
        if suppress:
            return "details for oversight only"
        return [
            {k: (int(v) if k == "seq" else v) for k, v in r.items()}
            for r in db.query(sql, (limit,))
        ]

    disparities: dict[str, list[dict[str, Any]]] = {}
    for dimension in DIMENSIONS:
        rows = []
        for value, group in sorted(tally.groups[dimension].items()):
            rows.append(
                {
                    dimension: value,
                    "participants": cell(group.participants),
                    "consented": cell(group.consented),
                    "services": cell(group.services),
                    "median_days_to_first_service": None
                    if suppress and group.participants < SMALL_CELL
                    else median(group.days_to_first_service),
                }
            )
        disparities[dimension] = rows

    findings = sum(tally.findings.values())
    view = {
        "as_of_seq": at_seq,
        "suppressed": suppress,
        "participants": cell(tally.participants),
        "consent": {
            "consented": cell(tally.consented),
            "withdrew": cell(tally.withdrew),
            "consent_rate": _rate(tally.consented, tally.participants, suppress),
            "withdrawal_rate": _rate(tally.withdrew, tally.consented, suppress),
        },
        "services_without_valid_consent": {
            "count": cell(findings),
            "target": 0,
            "by_finding": {k: cell(v) for k, v in sorted(tally.findings.items())},
            "listed": listed(
                findings,
                "SELECT seq, participant_id, service_type, delivered_on, finding FROM ov_services"
                " WHERE finding IS NOT NULL AND seq < ? ORDER BY seq",
            ),
        },
        "referrals_without_release": {
            "count": cell(tally.unreleased_referrals),
            "target": 0,
            "listed": listed(
                tally.unreleased_referrals,
                "SELECT seq, participant_id, to_kind, made_on FROM ov_referrals"
                " WHERE released = 0 AND seq < ? ORDER BY seq",
            ),
        },
        "median_days": {
            "enrolment_to_consent": median(tally.waits["consent"]),
            "enrolment_to_first_service": median(tally.waits["service"]),
            "enrolment_to_first_referral": median(tally.waits["referral"]),
        },
        "language_access": {
            "services": cell(tally.services),
            "in_participants_language": cell(tally.in_own_language),
            "with_interpreter": cell(tally.with_interpreter),
        },
        # Categories and outcomes are codes of the catalogue's published lists.
        "complaints": {
            category: {
                "filed": cell(filed),
                "resolved": cell(tally.complaints_resolved[category]),
                "outcomes": {
                    outcome: cell(n)
                    for outcome, n in sorted(tally.outcomes.get(category, Counter()).items())
                },
                "median_days_to_resolution": "suppressed"
                if suppress and filed < SMALL_CELL
                else median(tally.days_to_resolution.get(category, Counter())),
            }
            for category, filed in sorted(tally.complaints_filed.items())
        },
        "disparities": disparities,
        "protected_record_accesses": {
            purpose: cell(n) for purpose, n in sorted(tally.accesses.items())
        },
    }
    return oversight_suppression.suppressed(view) if suppress else view


def _rate(part: int, whole: int, suppress: bool) -> float | str | None:
    if whole == 0:
        return None
    if suppress and (0 < part < SMALL_CELL or whole < SMALL_CELL):
        return "suppressed"
    return round(part / whole, 4)
