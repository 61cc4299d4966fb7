"""`cmpp demo`: fill a ledger with a pilot that looks like the real one, deterministically.

Organisations and awards follow what was publicly announced for the pilot (the National
Board chaired by CRCL, Church World Service as fiduciary agent, FY2021 and FY2022
appropriations, the named grantees); the participants are invented from a seeded
generator, names included. Every command goes through the domain, so the demo can
never produce an event the rules would refuse: it plans its dates and amounts inside them.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

from domain.catalogue import SERVICE_TYPES
from ledger.signing import Signer
from projections.people import add_person, new_person
from projections.system import System

PROGRAM_ORGS = [
    ("org:board", "National Board of the CMPP (chair: DHS Officer for CRCL)", "board", None),
    ("org:cws", "Church World Service (fiduciary agent)", "fiscal_agent", "CWS0000000A1"),
    ("org:crcl", "DHS Office for Civil Rights and Civil Liberties", "oversight", None),
    ("org:dhs-oig", "DHS Office of Inspector General", "inspector", None),
]
GRANTEES = [
    ("org:irc", "International Rescue Committee", "IRC0000000B2"),
    ("org:bakerripley", "BakerRipley", "BKR0000000C3"),
    ("org:la-oia", "Los Angeles County Office of Immigrant Affairs", "LAC0000000D4"),
    ("org:lirs", "Lutheran Immigration and Refugee Service", "LIR0000000E5"),
    ("org:lssnca", "Lutheran Social Services of the National Capital Area", "LSS0000000F6"),
]
# (award id, appropriation, grantee, dollars, start, end, method)
AWARDS = [
    ("A-2021-001", "FY2021", "org:irc", 1_600_000, "2021-12-01", "2022-12-31", "advance"),
    (
        "A-2021-002",
        "FY2021",
        "org:bakerripley",
        1_400_000,
        "2021-12-01",
        "2022-12-31",
        "reimbursement",
    ),
    ("A-2021-003", "FY2021", "org:la-oia", 1_500_000, "2021-12-01", "2022-12-31", "advance"),
    ("A-2022-004", "FY2022", "org:irc", 3_200_000, "2023-01-01", "2024-09-30", "advance"),
    (
        "A-2022-005",
        "FY2022",
        "org:bakerripley",
        2_400_000,
        "2023-01-01",
        "2024-09-30",
        "reimbursement",
    ),
    ("A-2022-006", "FY2022", "org:la-oia", 2_800_000, "2023-01-01", "2024-09-30", "advance"),
    ("A-2022-007", "FY2022", "org:lirs", 3_500_000, "2023-01-01", "2024-09-30", "advance"),
    ("A-2022-008", "FY2022", "org:lssnca", 2_500_000, "2023-01-01", "2024-09-30", "reimbursement"),
]
LANGUAGES = {
    "es": 50,
    "ht": 8,
    "pt": 6,
    "fr": 5,
    "ar": 4,
    "ru": 4,
    "uk": 4,
    "ps": 3,
    "quc": 3,
    "ti": 3,
    "zh": 2,
    "en": 8,
}
NATIONALITY = {
    "es": ["MX", "GT", "HN", "SV", "VE", "CO", "PE", "EC", "NI"],
    "ht": ["HT"],
    "pt": ["BR", "AO"],
    "fr": ["CD", "SN", "GN", "CM"],
    "ar": ["SY", "SD", "YE"],
    "ru": ["RU", "KZ"],
    "uk": ["UA"],
    "ps": ["AF"],
    "quc": ["GT"],
    "ti": ["ER"],
    "zh": ["CN"],
    "en": ["GH", "NG", "JM"],
}
GIVEN = [
    "Ana",
    "José",
    "María",
    "Luis",
    "Rose",
    "Jean",
    "Fatima",
    "Omar",
    "Olena",
    "Dmytro",
    "Ahmad",
    "Senait",
    "Wei",
    "Kwame",
    "Lucía",
    "Carlos",
    "Marie",
    "Ali",
    "Nadia",
    "Yonas",
]
FAMILY = [
    "García",
    "Hernández",
    "López",
    "Joseph",
    "Pierre",
    "Haddad",
    "Kovalenko",
    "Rahimi",
    "Tesfaye",
    "Chen",
    "Mensah",
    "Morales",
    "Baptiste",
    "Ibrahim",
    "Shevchenko",
    "Ramírez",
]
AGE_BANDS = ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"]
GENDERS = {"female": 47, "male": 50, "nonbinary": 2, "not_stated": 1}
# Case events hold codes of the catalogue's published lists; these are the demo's picks.
REFERRAL_SOURCES = ["ice_ero", "immigration_court", "community_partner", "self"]
SHARE_WITH = ["legal_service_provider", "health_clinic", "shelter", "school", "employer"]
CATEGORIES = ["personnel", "fringe", "contractual", "supplies", "travel", "other"]
COMPLAINTS = ["language_access", "conduct", "privacy", "accessibility", "other"]
CLOSED_BECAUSE = [
    "services_completed",
    "relocated_out_of_area",
    "lost_contact",
    "immigration_case_concluded",
]
OUTCOMES = ["substantiated", "unsubstantiated", "referred"]


@dataclass(frozen=True)
class DemoPerson:
    person_id: str
    org: str
    role: str


@dataclass
class DemoSummary:
    participants: int = 0
    events: Counter[str] = field(default_factory=Counter)
    people: list[DemoPerson] = field(default_factory=list)


class Demo:
    def __init__(self, system: System, seed: int) -> None:
        self.system, self.app = system, system.app
        self.root = system.root_signer()  # registers the organisations and the people
        self.board = self.root  # until the board's own person is registered
        self.rng = random.Random(seed)  # noqa: S311 (reproducible invented data, not secrets)
        self.signers: dict[str, Signer] = {}
        self.services_by_award: dict[str, list[tuple[str, date, int]]] = {}
        self.summary = DemoSummary()

    def _id(self, prefix: str) -> str:
        return f"{prefix}-{self.rng.getrandbits(64):016x}"

    def _count(self, kind: str, n: int = 1) -> None:
        self.summary.events[kind] += n

    def run(self, participants: int, progress: Callable[[int], None] | None = None) -> DemoSummary:
        self.organisations()
        self.funds()
        grantees = [g for g, _, _ in GRANTEES]
        for n in range(participants):
            # The first few carry the rarer parts of a case, so even a small demo has them all.
            self.participant(grantees[n % len(grantees)], forced=n)
            if progress is not None:
                progress(n + 1)
        self.spending()
        return self.summary

    # -- organisations, keys, appropriations, awards -----------------------------------

    def organisations(self) -> None:
        for org_id, name, kind, uei in PROGRAM_ORGS:
            self.app.register_organisation(self.root, org_id=org_id, name=name, kind=kind, uei=uei)
        for org_id, name, uei in GRANTEES:
            self.app.register_organisation(
                self.root, org_id=org_id, name=name, kind="grantee", uei=uei
            )
        self._count("org.OrganisationRegistered", len(PROGRAM_ORGS) + len(GRANTEES))
        # One person of each organisation, each with a key of their own (kept by the
        # server); the board's person signs the board's events from here on. Names are
        # invented, and go to the vault with the person, never to the log.
        roles = {
            "org:board": "board",
            "org:cws": "fiscal_agent",
            "org:crcl": "oversight",
            "org:dhs-oig": "inspector",
            **{g: "grantee" for g, _, _ in GRANTEES},
        }
        for org_id, role in roles.items():
            self.signers[org_id] = self._person(org_id, role)
        self._person("org:board", "public")  # someone outside the program, for FOIA's role
        self.board = self.signers["org:board"]
        self._count("ledger.KeyRegistered", len(roles) + 1)

    def _person(self, org: str, role: str) -> Signer:
        person = new_person(org, role)
        profile = {"name": f"Demo {role.replace('_', ' ')} of {org.removeprefix('org:')}"}
        add_person(self.system, self.root, person, profile)
        self.summary.people.append(DemoPerson(person.person_id, org, role))
        assert person.key is not None
        return Signer(person.key)

    def funds(self) -> None:
        for approp, year, law, dollars, until in (
            ("FY2021", 2021, "P.L. 116-260", 5_000_000, "2023-09-30"),
            ("FY2022", 2022, "P.L. 117-103", 15_000_000, "2024-09-30"),
        ):
            self.app.record_appropriation(
                self.board,
                appropriation_id=approp,
                fiscal_year=year,
                public_law=law,
                amount_cents=dollars * 100,
                available_until=until,
            )
        self._count("funds.AppropriationRecorded", 2)
        for award_id, approp, grantee, dollars, start, end, method in AWARDS:
            self.app.make_award(
                self.board,
                award_id=award_id,
                appropriation_id=approp,
                grantee=grantee,
                amount_cents=dollars * 100,
                period_start=start,
                period_end=end,
                method=method,
            )
            self.services_by_award[award_id] = []
        self._count("funds.AwardMade", len(AWARDS))
        self.app.amend_award(
            self.board,
            award_id="A-2022-008",
            delta_cents=150_000_00,
            reason="scope_change",
        )
        self._count("funds.AwardAmended")

    # -- one participant's case --------------------------------------------------------

    def participant(self, grantee: str, forced: int = -1) -> None:
        rng, app, signer = self.rng, self.app, self.signers[grantee]
        award = next(a for a in AWARDS if a[2] == grantee and a[1] == "FY2022")
        start, end = date.fromisoformat(award[4]), date.fromisoformat(award[5])
        enrolled = start + timedelta(rng.randrange((end - start).days - 120))
        language = rng.choices(list(LANGUAGES), weights=list(LANGUAGES.values()))[0]
        pid = app.enrol_participant(
            signer,
            participant_id=self._id("P"),
            enrolled_on=enrolled.isoformat(),
            referral_source=rng.choice(REFERRAL_SOURCES),
            language=language,
            age_band=rng.choices(AGE_BANDS, weights=[18, 34, 24, 13, 7, 4])[0],
            gender=rng.choices(list(GENDERS), weights=list(GENDERS.values()))[0],
            nationality=rng.choice(NATIONALITY[language]),
            pii={
                "name": f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}",
                "date_of_birth": (date(1950, 1, 1) + timedelta(rng.randrange(20000))).isoformat(),
                "a_number": f"A{rng.randrange(10**8, 10**9)}",
                "phone": f"+1 {rng.randrange(200, 999)} 555 {rng.randrange(1000, 9999)}",
            },
        )
        self.summary.participants += 1
        self._count("case.ParticipantEnrolled")
        interpreter = language != "en"
        given = enrolled + timedelta(rng.randrange(0, 4))
        services = ["case_management", *rng.sample(SERVICE_TYPES[1:], rng.randrange(1, 4))]
        share = rng.sample(SHARE_WITH, rng.randrange(1 if forced == 2 else 0, 3))
        consent = app.give_consent(
            signer,
            consent_id=self._id("C"),
            participant_id=pid,
            services=services,
            share_with=share,
            method=rng.choice(["written", "oral", "electronic"]),
            language=language,
            interpreter=interpreter,
            form_version="CMPP-C-2022.2",
            given_on=given.isoformat(),
            expires_on=(given + timedelta(365)).isoformat(),
        )
        self._count("case.ConsentGiven")
        until = min(end, given + timedelta(300))
        withdrawn = rng.random() < 0.05 or forced == 1
        if withdrawn:
            until = given + timedelta(rng.randrange(20, 90))
        on = given
        for _ in range(rng.randrange(1, 7)):
            on += timedelta(rng.randrange(1, 30))
            if on >= until:
                break
            kind = rng.choice(services)
            minutes = rng.choice([20, 30, 45, 60, 90])
            sid = app.deliver_service(
                signer,
                service_id=self._id("S"),
                participant_id=pid,
                service_type=kind,
                delivered_on=on.isoformat(),
                minutes=minutes,
                language=language if rng.random() < 0.9 else "en",
                interpreter=interpreter and rng.random() < 0.8,
                notes=None if rng.random() < 0.7 else f"Session {kind.replace('_', ' ')}.",
            )
            self._count("case.ServiceDelivered")
            self.services_by_award[award[0]].append((sid, on, minutes))
        if share and (rng.random() < 0.4 or forced == 2) and on < until:
            app.make_referral(
                signer,
                referral_id=self._id("R"),
                participant_id=pid,
                to_kind=rng.choice(share),
                consent_id=consent,
                made_on=on.isoformat(),
            )
            self._count("case.ReferralMade")
        if rng.random() < 0.25 or forced == 2:
            screening = rng.choice(["trafficking", "mental_health", "vulnerability"])
            app.complete_screening(
                signer,
                screening_id=self._id("SC"),
                participant_id=pid,
                screening_type=screening,
                completed_on=given.isoformat(),
                result={"screen": screening, "positive": rng.random() < 0.12},
            )
            self._count("case.ScreeningCompleted")
        if rng.random() < 0.03 or forced == 0:
            self.complaint(signer, pid, on)
        if withdrawn:
            app.withdraw_consent(
                signer, participant_id=pid, consent_id=consent, withdrawn_on=until.isoformat()
            )
            self._count("case.ConsentWithdrawn")
        if withdrawn or rng.random() < 0.3:
            reason = "consent_withdrawn" if withdrawn else rng.choice(CLOSED_BECAUSE)
            app.close_case(
                signer,
                participant_id=pid,
                closed_on=(until + timedelta(1)).isoformat(),
                reason=reason,
                # The caseworker's note goes to the vault; the event holds only the code.
                narrative=None
                if rng.random() < 0.5
                else f"Closing note for {pid}: {reason.replace('_', ' ')}.",
            )
            self._count("case.CaseClosed")

    def complaint(self, signer: Signer, pid: str, on: date) -> None:
        category = self.rng.choice(COMPLAINTS)
        complaint = self.app.file_complaint(
            signer,
            complaint_id=self._id("CP"),
            participant_id=pid,
            category=category,
            filed_on=on.isoformat(),
            narrative=f"The participant's account ({category.replace('_', ' ')}).",
        )
        self._count("case.ComplaintFiled")
        if self.rng.random() < 0.8 or self.summary.events["case.ComplaintResolved"] == 0:
            outcome = self.rng.choice(OUTCOMES)
            self.app.resolve_complaint(
                self.signers["org:crcl"],
                complaint_id=complaint,
                resolved_on=(on + timedelta(self.rng.randrange(5, 60))).isoformat(),
                outcome=outcome,
                narrative=f"CRCL findings on {complaint}: {outcome}.",
            )
            self._count("case.ComplaintResolved")

    # -- money in and out --------------------------------------------------------------

    def spending(self) -> None:
        rng, app, cws = self.rng, self.app, self.signers["org:cws"]
        refs = iter(range(10_000, 10**6))
        for award_id, _approp, grantee, dollars, start_s, end_s, method in AWARDS:
            authorised = dollars * 100 + (150_000_00 if award_id == "A-2022-008" else 0)
            start, end = date.fromisoformat(start_s), date.fromisoformat(end_s)
            services = self.services_by_award[award_id]
            spend = authorised * rng.randrange(55, 85) // 100
            months = max(1, (end - start).days // 30)
            spent = paid = 0
            for month in range(months):
                incurred = start + timedelta(30 * month + rng.randrange(0, 28))
                if incurred > end:
                    break
                amount = spend // months
                tied = [
                    s
                    for s, on, _ in services
                    if on.year == incurred.year and on.month == incurred.month
                ][:5]
                app.report_expenditure(
                    self.signers[grantee],
                    expenditure_id=f"E-{award_id}-{month:02d}",
                    award_id=award_id,
                    category=CATEGORIES[month % len(CATEGORIES)],
                    amount_cents=amount,
                    incurred_on=incurred.isoformat(),
                    service_ids=tied,
                    document_sha256=f"{rng.getrandbits(256):064x}",
                )
                spent += amount
                self._count("funds.ExpenditureReported")
                # Advances go out ahead of spending, reimbursements after it, each quarter.
                if month % 3 == 0:
                    # Advances stop at 90%: closeout needs room for the payment made in error.
                    target = (
                        min(authorised * 9 // 10, spent + amount * 3)
                        if method == "advance"
                        else spent
                    )
                    if target > paid:
                        app.record_disbursement(
                            cws,
                            award_id=award_id,
                            disbursement_id=f"D-{award_id}-{month:02d}",
                            amount_cents=target - paid,
                            payment_ref=f"CWS-{next(refs)}",
                            paid_on=(incurred + timedelta(rng.randrange(1, 15))).isoformat(),
                        )
                        paid = target
                        self._count("funds.DisbursementRecorded")
            if award_id == "A-2021-001":
                self.close_out(award_id, end, refs)

    def close_out(self, award_id: str, end: date, refs: Iterator[int]) -> None:
        """One award's closeout: a payment made in error and reversed, a refund, closure."""
        app, cws, board = self.app, self.signers["org:cws"], self.board
        app.record_disbursement(
            cws,
            award_id=award_id,
            disbursement_id=f"D-{award_id}-err",
            amount_cents=12_500_00,
            payment_ref=f"CWS-{next(refs)}",
            paid_on=(end + timedelta(10)).isoformat(),
        )
        app.reverse_disbursement(
            cws,
            award_id=award_id,
            disbursement_id=f"D-{award_id}-err",
            reason="duplicate_payment",
        )
        figures = app.funds.awards[award_id]
        unspent = figures.net_disbursed - figures.refunded - figures.expended
        if unspent > 0:
            app.record_refund(
                cws,
                award_id=award_id,
                refund_id=f"RF-{award_id}",
                amount_cents=unspent,
                received_on=(end + timedelta(60)).isoformat(),
                payment_ref=f"CWS-{next(refs)}",
            )
            self._count("funds.RefundReceived")
        app.close_award(board, award_id=award_id, closed_on=(end + timedelta(120)).isoformat())
        self._count("funds.DisbursementRecorded")
        self._count("funds.DisbursementReversed")
        self._count("funds.AwardClosed")


def run_demo(
    system: System,
    *,
    participants: int = 2000,
    seed: int = 2022,
    progress: Callable[[int], None] | None = None,
) -> DemoSummary:
    return Demo(system, seed).run(participants, progress)
