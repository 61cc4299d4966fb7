"""The case rules of DESIGN.md section 4, replayed from events alone (a ledger Guard).

Only the participant's own grantee records its case events. A service or referral is
refused unless a consent covering that service type (or that recipient) was given on
or before its date, has not been withdrawn, and has not expired. Check 9 replays the
same rules: "no service without consent".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from domain.cases import SERVICE_TYPES
from domain.errors import DomainError
from ledger.guard import Journal


@dataclass
class ParticipantFacts:
    grantee: str
    enrolled_on: date
    closed: bool = False
    erased: bool = False
    consents: dict[str, ConsentFacts] = field(default_factory=dict)
    record_ids: dict[str, int] = field(default_factory=dict)  # service/referral/screening ids


@dataclass
class ConsentFacts:
    services: frozenset[str]
    share_with: frozenset[str]
    given_on: date
    expires_on: date | None
    withdrawn_on: date | None = None

    def in_force(self, on: date) -> bool:
        return (
            self.given_on <= on
            and (self.withdrawn_on is None or on < self.withdrawn_on)
            and (self.expires_on is None or on <= self.expires_on)
        )


@dataclass
class ComplaintFacts:
    filed_by: str
    participant_id: str | None
    filed_on: date
    resolved: bool = False


CASE_TYPES = frozenset(
    {
        "case.ParticipantEnrolled",
        "case.ConsentGiven",
        "case.ConsentWithdrawn",
        "case.ServiceDelivered",
        "case.ReferralMade",
        "case.ScreeningCompleted",
        "case.ComplaintFiled",
        "case.ComplaintResolved",
        "case.CaseClosed",
        "case.ParticipantDataErased",
    }
)


class CaseRules:
    types = ("case.", "org.")

    def __init__(self, journal: Journal | None = None) -> None:
        self.position = 0
        self.journal = journal or Journal()
        self.participants: dict[str, ParticipantFacts] = {}
        self.complaints: dict[str, ComplaintFacts] = {}
        self.org_kinds: dict[str, str] = {}

    def admit(self, seq: int, event: dict[str, Any], *, strict: bool) -> list[str]:
        kind = event["type"]
        problems: list[DomainError] = []
        if kind == "org.OrganisationRegistered":
            self.journal.set(self.org_kinds, event["data"]["org_id"], event["data"]["kind"])
        elif kind in CASE_TYPES:
            try:
                problems = self._problems(kind, event)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                problems = [DomainError("well-formed", f"{kind} data is malformed: {exc}")]
                if strict:
                    raise problems[0] from None
                self.journal.set(self.__dict__, "position", seq + 1)
                return [f"{p.rule}: {p}" for p in problems]
            if problems and strict:
                raise problems[0]
            self._apply(seq, kind, event["data"], event["org"])
        self.journal.set(self.__dict__, "position", seq + 1)
        return [f"{p.rule}: {p}" for p in problems]

    def begin(self) -> int:
        return self.journal.mark()

    def undo(self, mark: int) -> None:
        self.journal.undo(mark)

    def commit(self) -> None:
        self.journal.commit()

    # -- what an event breaks ---------------------------------------------------------

    def _problems(self, kind: str, event: dict[str, Any]) -> list[DomainError]:
        d, org = event["data"], event["org"]
        if kind == "case.ParticipantEnrolled":
            problems = []
            if d["participant_id"] in self.participants:
                problems.append(
                    DomainError(
                        "unique-id", f"participant {d['participant_id']} is already enrolled"
                    )
                )
            if org != d["grantee"]:
                problems.append(
                    DomainError(
                        "own-participant", f"{org} may not enrol a participant for {d['grantee']}"
                    )
                )
            if not _is_commitment(d["pii_sha256"]):
                problems.append(DomainError("commitment", "pii_sha256 is not a SHA-256 hex"))
            return problems
        if kind == "case.ComplaintFiled":
            return self._complaint_filed(d, org)
        if kind == "case.ComplaintResolved":
            return self._complaint_resolved(d, org)
        return self._on_participant(kind, d, org)

    def _on_participant(self, kind: str, d: dict[str, Any], org: str) -> list[DomainError]:
        who = self.participants.get(d["participant_id"])
        if who is None:
            return [
                DomainError(
                    "known-participant", f"participant {d['participant_id']} is not enrolled"
                )
            ]
        if org != who.grantee:
            return [
                DomainError(
                    "own-participant",
                    f"{org} may not record case events for {who.grantee}'s participant",
                )
            ]
        if who.erased:
            return [DomainError("erased", f"participant {d['participant_id']}'s data was erased")]
        if who.closed and kind != "case.ParticipantDataErased":
            return [
                DomainError("closed-case", f"participant {d['participant_id']}'s case is closed")
            ]
        if kind == "case.ConsentGiven":
            return self._consent_given(who, d)
        if kind == "case.ConsentWithdrawn":
            consent = who.consents.get(d["consent_id"])
            if consent is None:
                return [DomainError("known-consent", f"consent {d['consent_id']} was not given")]
            if consent.withdrawn_on is not None:
                return [
                    DomainError("withdraw-once", f"consent {d['consent_id']} is already withdrawn")
                ]
            if date.fromisoformat(d["withdrawn_on"]) < consent.given_on:
                return [DomainError("dates", "a consent cannot be withdrawn before it was given")]
            return []
        if kind == "case.ServiceDelivered":
            return self._service(who, d)
        if kind == "case.ReferralMade":
            return self._referral(who, d)
        if kind == "case.ScreeningCompleted":
            return self._unique_record(who, d["screening_id"]) + (
                []
                if _is_commitment(d["result_sha256"])
                else [DomainError("commitment", "result_sha256 is not a SHA-256 hex")]
            )
        return []  # CaseClosed, ParticipantDataErased: own, open (checked above)

    def _consent_given(self, who: ParticipantFacts, d: dict[str, Any]) -> list[DomainError]:
        problems = []
        if d["consent_id"] in who.consents:
            problems.append(DomainError("unique-id", f"consent {d['consent_id']} already exists"))
        unknown = sorted(set(d["services"]) - set(SERVICE_TYPES))
        if not d["services"] or unknown:
            problems.append(
                DomainError(
                    "service-types",
                    f"consent must name service types from {', '.join(SERVICE_TYPES)}",
                )
            )
        given = date.fromisoformat(d["given_on"])
        if d["expires_on"] is not None and date.fromisoformat(d["expires_on"]) < given:
            problems.append(DomainError("dates", "a consent cannot expire before it is given"))
        return problems

    def _service(self, who: ParticipantFacts, d: dict[str, Any]) -> list[DomainError]:
        problems = self._unique_record(who, d["service_id"])
        if d["service_type"] not in SERVICE_TYPES:
            return [
                *problems,
                DomainError("service-types", f"{d['service_type']} is not a service type"),
            ]
        on = date.fromisoformat(d["delivered_on"])
        if not any(
            d["service_type"] in c.services and c.in_force(on) for c in who.consents.values()
        ):
            problems.append(
                DomainError(
                    "service-with-consent",
                    f"no consent in force on {on} covers {d['service_type']} for participant "
                    f"{d['participant_id']}",
                )
            )
        if not isinstance(d["minutes"], int) or d["minutes"] <= 0:
            problems.append(DomainError("minutes", "minutes must be a positive integer"))
        if d["notes_sha256"] is not None and not _is_commitment(d["notes_sha256"]):
            problems.append(DomainError("commitment", "notes_sha256 is not a SHA-256 hex"))
        return problems

    def _referral(self, who: ParticipantFacts, d: dict[str, Any]) -> list[DomainError]:
        problems = self._unique_record(who, d["referral_id"])
        consent = who.consents.get(d["consent_id"])
        on = date.fromisoformat(d["made_on"])
        if consent is None or not consent.in_force(on) or d["to_kind"] not in consent.share_with:
            problems.append(
                DomainError(
                    "referral-with-release",
                    f"consent {d['consent_id']} does not release participant "
                    f"{d['participant_id']}'s information to {d['to_kind']} on {on}",
                )
            )
        return problems

    @staticmethod
    def _unique_record(who: ParticipantFacts, record_id: str) -> list[DomainError]:
        if record_id in who.record_ids:
            return [DomainError("unique-id", f"{record_id} is already recorded")]
        return []

    def _complaint_filed(self, d: dict[str, Any], org: str) -> list[DomainError]:
        problems = []
        if d["complaint_id"] in self.complaints:
            problems.append(DomainError("unique-id", f"complaint {d['complaint_id']} exists"))
        pid = d["participant_id"]
        if pid is not None:
            who = self.participants.get(pid)
            if who is None:
                problems.append(
                    DomainError("known-participant", f"participant {pid} is not enrolled")
                )
            elif who.grantee != org:
                problems.append(
                    DomainError(
                        "own-participant",
                        f"{org} may not file a complaint for {who.grantee}'s participant",
                    )
                )
        return problems

    def _complaint_resolved(self, d: dict[str, Any], org: str) -> list[DomainError]:
        complaint = self.complaints.get(d["complaint_id"])
        if complaint is None:
            return [DomainError("known-complaint", f"complaint {d['complaint_id']} was not filed")]
        problems = []
        if complaint.resolved:
            problems.append(
                DomainError("resolve-once", f"complaint {d['complaint_id']} is already resolved")
            )
        if org != complaint.filed_by and self.org_kinds.get(org) != "oversight":
            problems.append(
                DomainError(
                    "resolver", f"{org} may not resolve a complaint filed by {complaint.filed_by}"
                )
            )
        if date.fromisoformat(d["resolved_on"]) < complaint.filed_on:
            problems.append(
                DomainError("dates", "a complaint cannot be resolved before it was filed")
            )
        return problems

    # -- the change an event makes ------------------------------------------------------------

    def _apply(self, seq: int, kind: str, d: dict[str, Any], org: str) -> None:
        j = self.journal
        if kind == "case.ParticipantEnrolled":
            j.set(
                self.participants,
                d["participant_id"],
                ParticipantFacts(d["grantee"], date.fromisoformat(d["enrolled_on"])),
            )
            return
        if kind == "case.ComplaintFiled":
            j.set(
                self.complaints,
                d["complaint_id"],
                ComplaintFacts(org, d["participant_id"], date.fromisoformat(d["filed_on"])),
            )
            return
        if kind == "case.ComplaintResolved":
            if d["complaint_id"] in self.complaints:
                j.set(self.complaints[d["complaint_id"]].__dict__, "resolved", True)
            return
        who = self.participants.get(d["participant_id"])
        if who is None:
            return
        if kind == "case.ConsentGiven":
            expires = d["expires_on"]
            j.set(
                who.consents,
                d["consent_id"],
                ConsentFacts(
                    frozenset(d["services"]),
                    frozenset(d["share_with"]),
                    date.fromisoformat(d["given_on"]),
                    None if expires is None else date.fromisoformat(expires),
                ),
            )
        elif kind == "case.ConsentWithdrawn" and d["consent_id"] in who.consents:
            j.set(
                who.consents[d["consent_id"]].__dict__,
                "withdrawn_on",
                date.fromisoformat(d["withdrawn_on"]),
            )
        elif kind in ("case.ServiceDelivered", "case.ReferralMade", "case.ScreeningCompleted"):
            record_id = d.get("service_id") or d.get("referral_id") or d.get("screening_id")
            j.set(who.record_ids, record_id, seq)
        elif kind == "case.CaseClosed":
            j.set(who.__dict__, "closed", True)
        elif kind == "case.ParticipantDataErased":
            j.set(who.__dict__, "erased", True)


def _is_commitment(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and not value.strip("0123456789abcdef")
