"""The civil-rights oversight view (CRCL): consent integrity, timeliness, language access,
complaints, disparities, and who read protected records.

Every service and referral is classified when it is projected, against the consents
known at that point of the log, so the view replays as of any entry like the rest.
Counts from 1 to 10 are suppressed whenever the view leaves the oversight role.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from datetime import date
from typing import Any

from domain import catalogue as c
from domain.consents import EXPIRED, IN_FORCE, WITHDRAWN
from projections import consents
from projections.db import ProjectionDB

SMALL_CELL = 11  # counts below this (and above zero) are suppressed outside oversight
DIMENSIONS = ("age_band", "gender", "nationality", "language")
CACHED_PARTICIPANTS = 100_000  # about 100 MB of cached consents at most


class Oversight:
    name = "oversight"
    version = 4  # 3: each complaint's outcome; 4: each service's grantee, indexed
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
        }
    )
    tables: tuple[str, ...] = (
        "ov_participants",
        "ov_consents",
        "ov_services",
        "ov_referrals",
        "ov_complaints",
        "ov_accesses",
    )

    def __init__(self) -> None:
        # Each service needs its participant's language and consents: keep them at hand
        # rather than query for every service. Dropped whenever a batch rolls back.
        self._language: dict[str, str] = {}
        self._consents: dict[str, list[consents.Consent]] = {}

    def forget(self) -> None:
        self._language.clear()
        self._consents.clear()

    def _make_room(self) -> None:
        # The tables hold everything, so the caches may be dropped at any moment:
        # dropping them when full keeps a worker's memory bounded on any log.
        if len(self._language) >= CACHED_PARTICIPANTS or len(self._consents) >= CACHED_PARTICIPANTS:
            self.forget()

    def _language_of(self, db: ProjectionDB, pid: str) -> str | None:
        if pid not in self._language:
            rows = db.query("SELECT language FROM ov_participants WHERE participant_id = ?", (pid,))
            if not rows:
                return None
            self._make_room()
            self._language[pid] = rows[0]["language"]
        return self._language[pid]

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
            " resolved_on TEXT, resolved_seq BIGINT, outcome TEXT)"
        )
        db.execute(
            f"CREATE TABLE ov_accesses (seq {db.seq_key}, actor TEXT NOT NULL,"
            " purpose TEXT NOT NULL, participants BIGINT NOT NULL, fields TEXT NOT NULL)"
        )

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
            self._language[d["participant_id"]] = d["language"]
            self._consents[d["participant_id"]] = []
        elif kind in (c.CONSENT_GIVEN, c.CONSENT_WITHDRAWN):
            consents.record(db, "ov_consents", seq, event)
            self._remember_consent(seq, event)
        elif kind == c.SERVICE_DELIVERED:
            own = self._language_of(db, d["participant_id"]) == d["language"]
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
                ),
            )
        elif kind == c.COMPLAINT_RESOLVED:
            db.execute(
                "UPDATE ov_complaints SET resolved_on = ?, resolved_seq = ?, outcome = ?"
                " WHERE complaint_id = ?",
                (d["resolved_on"], seq, d["outcome"], d["complaint_id"]),
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

    def digest_queries(self) -> list[str]:
        # Column 1 (or 1 and 2) is each table's key, so the order is total.
        return [f"SELECT * FROM {t} ORDER BY 1, 2" for t in self.tables]  # noqa: S608


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


def _median_days(pairs: list[tuple[str, str]]) -> float | None:
    days = [(date.fromisoformat(b) - date.fromisoformat(a)).days for a, b in pairs]
    return statistics.median(days) if days else None


def report(
    db: ProjectionDB, *, at_seq: int | None = None, suppress: bool = False
) -> dict[str, Any]:
    """The oversight view once entry `at_seq` was applied; `suppress` outside the oversight role."""
    limit = (at_seq + 1) if at_seq is not None else 2**62

    def cell(n: int) -> int | str:
        return "<11" if suppress and 0 < n < SMALL_CELL else n

    people = {
        p["participant_id"]: p
        for p in db.query("SELECT * FROM ov_participants WHERE seq < ?", (limit,))
    }
    given = db.query("SELECT * FROM ov_consents WHERE seq < ?", (limit,))
    services = db.query("SELECT * FROM ov_services WHERE seq < ? ORDER BY seq", (limit,))
    referrals = db.query("SELECT * FROM ov_referrals WHERE seq < ? ORDER BY seq", (limit,))
    complaints = db.query("SELECT * FROM ov_complaints WHERE seq < ?", (limit,))
    accesses = db.query("SELECT * FROM ov_accesses WHERE seq < ?", (limit,))

    consented = {consent["participant_id"] for consent in given}
    withdrew = {
        consent["participant_id"]
        for consent in given
        if consent["withdrawn_seq"] is not None and consent["withdrawn_seq"] < limit
    }
    first_service: dict[str, str] = {}
    for s in services:
        first_service.setdefault(s["participant_id"], s["delivered_on"])
    first_consent: dict[str, str] = {}
    for consent in sorted(given, key=lambda consent: consent["given_on"]):
        first_consent.setdefault(consent["participant_id"], consent["given_on"])
    first_referral: dict[str, str] = {}
    for r in referrals:
        first_referral.setdefault(r["participant_id"], r["made_on"])

    findings = [s for s in services if s["finding"] is not None]
    unreleased = [r for r in referrals if not r["released"]]
    by_category: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for complaint in complaints:
        by_category[complaint["category"]].append(complaint)

    def resolved(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in rows if r["resolved_seq"] is not None and r["resolved_seq"] < limit]

    def enrolled_to(dates: dict[str, str], among: set[str]) -> float | None:
        return _median_days(
            [(people[p]["enrolled_on"], d) for p, d in dates.items() if p in among and p in people]
        )

    disparities: dict[str, list[dict[str, Any]]] = {}
    services_per: Counter[str] = Counter(s["participant_id"] for s in services)
    for dimension in DIMENSIONS:
        groups: dict[str, set[str]] = defaultdict(set)
        for pid, person in people.items():
            groups[person[dimension]].add(pid)
        rows = []
        for value, members in sorted(groups.items()):
            n = len(members)
            small = suppress and n < SMALL_CELL
            rows.append(
                {
                    dimension: value,
                    "participants": cell(n),
                    "consented": cell(len(members & consented)),
                    "services": cell(sum(services_per[p] for p in members)),
                    "median_days_to_first_service": None
                    if small
                    else enrolled_to(first_service, members),
                }
            )
        disparities[dimension] = rows

    def listed(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]] | str:
        # Outside oversight, case-level rows never leave: only their (suppressed) count.
        return (
            f"{cell(len(rows))} (details for oversight only)"
            if suppress
            else [{k: r[k] for k in keys} for r in rows]
        )

    all_people = set(people)
    return {
        "as_of_seq": at_seq,
        "suppressed": suppress,
        "participants": cell(len(people)),
        "consent": {
            "consented": cell(len(consented & all_people)),
            "withdrew": cell(len(withdrew & all_people)),
            "consent_rate": _rate(len(consented & all_people), len(people), suppress),
            "withdrawal_rate": _rate(len(withdrew & all_people), len(consented), suppress),
        },
        "services_without_valid_consent": {
            "count": cell(len(findings)),
            "target": 0,
            "by_finding": {k: cell(v) for k, v in Counter(s["finding"] for s in findings).items()},
            "listed": listed(
                findings, ("seq", "participant_id", "service_type", "delivered_on", "finding")
            ),
        },
        "referrals_without_release": {
            "count": cell(len(unreleased)),
            "target": 0,
            "listed": listed(unreleased, ("seq", "participant_id", "to_kind", "made_on")),
        },
        "median_days": {
            "enrolment_to_consent": enrolled_to(first_consent, all_people),
            "enrolment_to_first_service": enrolled_to(first_service, all_people),
            "enrolment_to_first_referral": enrolled_to(first_referral, all_people),
        },
        "language_access": {
            "services": cell(len(services)),
            "in_participants_language": cell(sum(s["in_own_language"] for s in services)),
            "with_interpreter": cell(sum(s["interpreter"] for s in services)),
        },
        # Categories and outcomes are codes of the catalogue's published lists.
        "complaints": {
            category: {
                "filed": cell(len(rows)),
                "resolved": cell(len(resolved(rows))),
                "outcomes": {
                    outcome: cell(n)
                    for outcome, n in sorted(Counter(r["outcome"] for r in resolved(rows)).items())
                },
                "median_days_to_resolution": "suppressed"
                if suppress and len(rows) < SMALL_CELL
                else _median_days([(r["filed_on"], r["resolved_on"]) for r in resolved(rows)]),
            }
            for category, rows in sorted(by_category.items())
        },
        "disparities": disparities,
        "protected_record_accesses": {
            purpose: cell(n) for purpose, n in Counter(a["purpose"] for a in accesses).items()
        },
    }


def _rate(part: int, whole: int, suppress: bool) -> float | str | None:
    if whole == 0:
        return None
    if suppress and (0 < part < SMALL_CELL or whole < SMALL_CELL):
        return "suppressed"
    return round(part / whole, 4)
