"""The case rules of DESIGN.md section 4, judged from events alone.

Only the participant's own grantee records its case events. A service or referral is
refused unless a consent covering that service type (or that recipient) was given on
or before its date, has not been withdrawn, and has not expired (domain.consents).
Check 9 replays the same rules: "no service without consent". Reasons, outcomes,
authorities and the like are codes of the catalogue's published lists: their kinds
(domain.catalogue) refuse anything else before these rules are asked. A narrative is
kept under a participant's key, so a complaint naming none commits to no narrative.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from domain import catalogue as c
from domain.consents import IN_FORCE, consent_state
from domain.rule_set import Event, Problem, RuleSet, applies, checks
from ledger.guard import Journal, JournaledTable


class Consent(NamedTuple):
    consent_id: str
    services: frozenset[str]
    share_with: frozenset[str]
    given_on: str
    expires_on: str | None
    withdrawn_on: str | None = None

    def in_force(self, on: str) -> bool:
        return consent_state(on, self.given_on, self.expires_on, self.withdrawn_on) == IN_FORCE


class CaseFile(NamedTuple):
    """All the rules know of one participant: whose, since when, open, consents, records."""

    grantee: str
    enrolled_on: str
    closed: bool = False
    erased: bool = False
    consents: tuple[Consent, ...] = ()
    records: frozenset[str] = frozenset()  # ids of services, referrals and screenings

    def consent(self, consent_id: str) -> Consent | None:
        return next((c for c in self.consents if c.consent_id == consent_id), None)

    def plain(self) -> tuple[Any, ...]:
        return (*self[:4], tuple(tuple(c) for c in self.consents), self.records)

    @classmethod
    def from_plain(cls, value: tuple[Any, ...]) -> CaseFile:
        grantee, enrolled_on, closed, erased, consents, records = value
        return cls(
            grantee, enrolled_on, closed, erased, tuple(map(Consent._make, consents)), records
        )


class ComplaintState(NamedTuple):
    filed_by: str
    participant_id: str | None
    filed_on: str
    resolved: bool = False


_NO_KEY_FOR_NARRATIVE = (
    "narrative",
    "a complaint naming no participant has no participant's key to keep a narrative under",
)

RECORDS = {  # events that add a record to a case, and the member naming it
    c.SERVICE_DELIVERED: "service_id",
    c.REFERRAL_MADE: "referral_id",
    c.SCREENING_COMPLETED: "screening_id",
}


class CaseRules(RuleSet):
    def __init__(self, journal: Journal, org_kinds: JournaledTable[str, str]) -> None:
        super().__init__(journal)
        self.org_kinds = org_kinds  # the organisation rules' table: read only here
        # One case file per participant, decoded only when first needed after a snapshot.
        self.cases = self.table("cases", CaseFile, lazy=True)
        self.complaints = self.table("complaints", ComplaintState)

    def case(self, participant_id: str) -> CaseFile | None:
        found: CaseFile | None = self.row(self.cases, participant_id)
        return found

    # -- enrolment, and what every later case event needs -----------------------------

    @checks(c.PARTICIPANT_ENROLLED)
    def _enrolment_problems(self, d: dict[str, Any], event: Event) -> Iterator[Problem]:
        if d["participant_id"] in self.cases:
            yield "unique-id", f"participant {d['participant_id']} is already enrolled"
        if event["org"] != d["grantee"]:
            yield (
                "own-participant",
                f"{event['org']} may not enrol a participant for {d['grantee']}",
            )

    @applies(c.PARTICIPANT_ENROLLED)
    def _enrol(self, seq: int, d: dict[str, Any], _: Event) -> None:
        if d["participant_id"] not in self.cases:
            self.cases[d["participant_id"]] = CaseFile(d["grantee"], d["enrolled_on"])

    def _case_problems(self, d: dict[str, Any], event: Event) -> list[Problem]:
        """A case event must name an enrolled participant of the signer's own, case open."""
        who = self.case(d["participant_id"])
        if who is None:
            return [("known-participant", f"participant {d['participant_id']} is not enrolled")]
        if event["org"] != who.grantee:
            return [
                (
                    "own-participant",
                    f"{event['org']} may not record case events for {who.grantee}'s participant",
                )
            ]
        if who.erased:
            return [("erased", f"participant {d['participant_id']}'s data was erased")]
        if who.closed and event["type"] != c.PARTICIPANT_DATA_ERASED:
            return [("closed-case", f"participant {d['participant_id']}'s case is closed")]
        return []

    # -- consents -------------------------------------------------------------------------

    @checks(c.CONSENT_GIVEN)
    def _consent_problems(self, d: dict[str, Any], event: Event) -> Iterator[Problem]:
        problems = self._case_problems(d, event)
        yield from problems
        if problems:
            return
        if self._case(d).consent(d["consent_id"]) is not None:
            yield "unique-id", f"consent {d['consent_id']} already exists"
        if not d["services"] or not set(d["services"]) <= set(c.SERVICE_TYPES):
            yield (
                "service-types",
                f"consent must name service types from {', '.join(c.SERVICE_TYPES)}",
            )
        if d["expires_on"] is not None and d["expires_on"] < d["given_on"]:
            yield "dates", "a consent cannot expire before it is given"

    @applies(c.CONSENT_GIVEN)
    def _give(self, seq: int, d: dict[str, Any], _: Event) -> None:
        who = self.case(d["participant_id"])
        if who is None or who.consent(d["consent_id"]) is not None:
            return
        consent = Consent(
            d["consent_id"],
            frozenset(d["services"]),
            frozenset(d["share_with"]),
            d["given_on"],
            d["expires_on"],
        )
        self.cases[d["participant_id"]] = who._replace(consents=(*who.consents, consent))

    @checks(c.CONSENT_WITHDRAWN)
    def _withdrawal_problems(self, d: dict[str, Any], event: Event) -> Iterator[Problem]:
        problems = self._case_problems(d, event)
        yield from problems
        if problems:
            return
        consent = self._case(d).consent(d["consent_id"])
        if consent is None:
            yield "known-consent", f"consent {d['consent_id']} was not given"
        elif consent.withdrawn_on is not None:
            yield "withdraw-once", f"consent {d['consent_id']} is already withdrawn"
        elif d["withdrawn_on"] < consent.given_on:
            yield "dates", "a consent cannot be withdrawn before it was given"

    @applies(c.CONSENT_WITHDRAWN)
    def _withdraw(self, seq: int, d: dict[str, Any], _: Event) -> None:
        who = self.case(d["participant_id"])
        if who is None:
            return
        consents = tuple(
            c._replace(withdrawn_on=d["withdrawn_on"])
            if c.consent_id == d["consent_id"] and c.withdrawn_on is None
            else c
            for c in who.consents
        )
        self.cases[d["participant_id"]] = who._replace(consents=consents)

    # -- services, referrals and screenings -------------------------------------------

    def _case(self, d: dict[str, Any]) -> CaseFile:
        """The case file of an event that passed `_case_problems` (so it exists)."""
        found = self.case(d["participant_id"])
        assert found is not None
        return found

    def _unique_record(self, d: dict[str, Any], event: Event) -> list[Problem]:
        record_id = d[RECORDS[event["type"]]]
        if record_id in self._case(d).records:
            return [("unique-id", f"{record_id} is already recorded")]
        return []

    @checks(c.SERVICE_DELIVERED)
    def _service_problems(self, d: dict[str, Any], event: Event) -> Iterator[Problem]:
        case = self._case_problems(d, event)
        if case:
            yield from case
            return
        yield from self._unique_record(d, event)
        if d["service_type"] not in c.SERVICE_TYPES:
            yield "service-types", f"{d['service_type']} is not a service type"
            return
        on = d["delivered_on"]
        if not any(
            d["service_type"] in consent.services and consent.in_force(on)
            for consent in self._case(d).consents
        ):
            yield (
                "service-with-consent",
                f"no consent in force on {on} covers {d['service_type']} for participant "
                f"{d['participant_id']}",
            )
        if d["minutes"] <= 0:
            yield "minutes", "minutes must be a positive integer"

    @checks(c.REFERRAL_MADE)
    def _referral_problems(self, d: dict[str, Any], event: Event) -> Iterator[Problem]:
        case = self._case_problems(d, event)
        if case:
            yield from case
            return
        yield from self._unique_record(d, event)
        consent = self._case(d).consent(d["consent_id"])
        on = d["made_on"]
        if consent is None or not consent.in_force(on) or d["to_kind"] not in consent.share_with:
            yield (
                "referral-with-release",
                f"consent {d['consent_id']} does not release participant "
                f"{d['participant_id']}'s information to {d['to_kind']} on {on}",
            )

    @checks(c.SCREENING_COMPLETED)
    def _screening_problems(self, d: dict[str, Any], event: Event) -> Iterator[Problem]:
        case = self._case_problems(d, event)
        yield from case or self._unique_record(d, event)

    @applies(c.SERVICE_DELIVERED)
    @applies(c.REFERRAL_MADE)
    @applies(c.SCREENING_COMPLETED)
    def _add_record(self, seq: int, d: dict[str, Any], event: Event) -> None:
        who = self.case(d["participant_id"])
        if who is not None:
            records = who.records | {d[RECORDS[event["type"]]]}
            self.cases[d["participant_id"]] = who._replace(records=records)

    # -- closing and erasing a case -------------------------------------------------------

    @checks(c.CASE_CLOSED)
    def _closure_problems(self, d: dict[str, Any], event: Event) -> Iterator[Problem]:
        yield from self._case_problems(d, event)

    @applies(c.CASE_CLOSED)
    def _close(self, seq: int, d: dict[str, Any], _: Event) -> None:
        who = self.case(d["participant_id"])
        if who is not None:
            self.cases[d["participant_id"]] = who._replace(closed=True)

    @checks(c.PARTICIPANT_DATA_ERASED)
    def _erasure_problems(self, d: dict[str, Any], event: Event) -> Iterator[Problem]:
        yield from self._case_problems(d, event)

    @applies(c.PARTICIPANT_DATA_ERASED)
    def _erase(self, seq: int, d: dict[str, Any], _: Event) -> None:
        who = self.case(d["participant_id"])
        if who is not None:
            self.cases[d["participant_id"]] = who._replace(erased=True)

    # -- complaints ---------------------------------------------------------------------------

    @checks(c.COMPLAINT_FILED)
    def _complaint_problems(self, d: dict[str, Any], event: Event) -> Iterator[Problem]:
        if d["complaint_id"] in self.complaints:
            yield "unique-id", f"complaint {d['complaint_id']} exists"
        pid = d["participant_id"]
        if pid is not None:
            who = self.case(pid)
            if who is None:
                yield "known-participant", f"participant {pid} is not enrolled"
            elif who.grantee != event["org"]:
                yield (
                    "own-participant",
                    f"{event['org']} may not file a complaint for {who.grantee}'s participant",
                )
            yield from self._narrative_kept(pid, d)
        elif d["narrative_sha256"] is not None:
            yield _NO_KEY_FOR_NARRATIVE

    def _narrative_kept(self, pid: str, d: dict[str, Any]) -> Iterator[Problem]:
        # An erased participant's data key is gone for good: a narrative sealed now
        # would make them a new one, and their data readable again.
        who = self.case(pid)
        if who is not None and who.erased and d["narrative_sha256"] is not None:
            yield "erased", f"participant {pid}'s data was erased: no narrative can be kept"

    @applies(c.COMPLAINT_FILED)
    def _file(self, seq: int, d: dict[str, Any], event: Event) -> None:
        self.complaints[d["complaint_id"]] = ComplaintState(
            event["org"], d["participant_id"], d["filed_on"]
        )

    @checks(c.COMPLAINT_RESOLVED)
    def _resolution_problems(self, d: dict[str, Any], event: Event) -> Iterator[Problem]:
        complaint = self.complaints.get(d["complaint_id"])
        if complaint is None:
            yield "known-complaint", f"complaint {d['complaint_id']} was not filed"
            return
        if complaint.resolved:
            yield "resolve-once", f"complaint {d['complaint_id']} is already resolved"
        org = event["org"]
        if org != complaint.filed_by and self.org_kinds.get(org) != c.OVERSIGHT:
            yield "resolver", f"{org} may not resolve a complaint filed by {complaint.filed_by}"
        if d["resolved_on"] < complaint.filed_on:
            yield "dates", "a complaint cannot be resolved before it was filed"
        if complaint.participant_id is None and d["narrative_sha256"] is not None:
            yield _NO_KEY_FOR_NARRATIVE
        elif complaint.participant_id is not None:
            yield from self._narrative_kept(complaint.participant_id, d)

    @applies(c.COMPLAINT_RESOLVED)
    def _resolve(self, seq: int, d: dict[str, Any], _: Event) -> None:
        complaint = self.complaints.get(d["complaint_id"])
        if complaint is not None:
            self.complaints[d["complaint_id"]] = complaint._replace(resolved=True)
