"""A large demo-shaped log, fast: many participants per transaction, through the domain.

`cmpp demo` records one command per transaction (as people would), which is too slow
for a million events. Here whole cases (enrolment, consent, services, sometimes a
referral or closure) are built as aggregates and saved fifty participants at a time,
with the program's rules still checking every event under the writers' lock.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from bench.model import BenchLedger, open_bench_ledger
from domain import catalogue as c
from domain.cases import Participant
from ledger.signing import Signer, SigningKey

GRANTEES = ["org:irc", "org:bakerripley", "org:la-oia", "org:lirs", "org:lssnca"]
START = date(2023, 1, 1)


def fill_demo_log(url: str, events: int, seed: int = 1) -> BenchLedger:
    rng = random.Random(seed)
    ledger = open_bench_ledger(url)
    system = ledger.system
    app, board, log = system.app, system.root_signer(), system.log
    signers = {}
    for org, role in [("org:cws", "fiscal_agent"), *((g, "grantee") for g in GRANTEES)]:
        app.register_organisation(board, org_id=org, name=org, kind=role)
        signers[org] = Signer(SigningKey.generate(org, (role,), f"user:{org[4:]}:bench"))
        app.register_key(board, signers[org].key.public_key, org, [role], f"user:{org[4:]}:bench")
    app.record_appropriation(
        board,
        appropriation_id="FY2022",
        fiscal_year=2022,
        public_law="P.L. 117-103",
        amount_cents=10**13,
        available_until="2030-09-30",
    )
    for grantee in GRANTEES:
        app.make_award(
            board,
            award_id=f"A-{grantee[4:]}",
            appropriation_id="FY2022",
            grantee=grantee,
            amount_cents=10**12,
            period_start="2023-01-01",
            period_end="2030-09-30",
            method="advance",
        )
    n = 0
    while app.store.head().size < events:
        grantee = GRANTEES[n % len(GRANTEES)]
        cases = [_case(rng, grantee, f"P-{n}-{i}") for i in range(50)]
        app.save(*cases, signer=signers[grantee])
        day = (START + timedelta(n % 2000)).isoformat()
        app.report_expenditure(
            signers[grantee],
            award_id=f"A-{grantee[4:]}",
            expenditure_id=f"E-{n}",
            category="personnel",
            amount_cents=rng.randrange(10**5, 10**7),
            incurred_on=day,
        )
        app.record_disbursement(
            signers["org:cws"],
            award_id=f"A-{grantee[4:]}",
            disbursement_id=f"D-{n}",
            amount_cents=rng.randrange(10**5, 10**7),
            payment_ref=f"CWS-{n}",
            paid_on=day,
        )
        n += 1
        if n % 200 == 0:
            print(f"  {app.store.head().size:,} entries", flush=True)
            log.checkpoint()
    log.checkpoint()
    return ledger


def _case(rng: random.Random, grantee: str, pid: str) -> Participant:
    """One participant's whole case, as one aggregate with its pending events."""
    enrolled = START + timedelta(rng.randrange(2000))
    language = rng.choice(["es", "es", "ht", "pt", "fr", "ar", "uk", "en"])
    interpreter = language != "en"
    p = Participant.open(
        {
            "participant_id": pid,
            "grantee": grantee,
            "enrolled_on": enrolled.isoformat(),
            "referral_source": "ice_ero",
            "language": language,
            "age_band": rng.choice(["18-24", "25-34", "35-44", "45-54"]),
            "gender": rng.choice(["female", "male"]),
            "nationality": "XX",
            "pii_sha256": f"{rng.getrandbits(256):064x}",
        }
    )
    services = ["case_management", rng.choice(c.SERVICE_TYPES[1:])]
    consent = {"participant_id": pid, "consent_id": f"C-{pid}"}
    p.record(
        c.CONSENT_GIVEN,
        {
            **consent,
            "services": services,
            "share_with": ["legal_service_provider"],
            "method": "written",
            "language": language,
            "interpreter": interpreter,
            "form_version": "1",
            "given_on": enrolled.isoformat(),
            "expires_on": None,
        },
    )
    on = enrolled
    for k in range(rng.randrange(2, 7)):
        on += timedelta(rng.randrange(1, 20))
        p.record(
            c.SERVICE_DELIVERED,
            {
                "participant_id": pid,
                "service_id": f"S-{pid}-{k}",
                "service_type": rng.choice(services),
                "delivered_on": on.isoformat(),
                "minutes": 30,
                "language": language,
                "interpreter": interpreter,
                "notes_sha256": None,
            },
        )
    if rng.random() < 0.2:
        p.record(
            c.REFERRAL_MADE,
            {
                **consent,
                "referral_id": f"R-{pid}",
                "to_kind": "legal_service_provider",
                "made_on": on.isoformat(),
            },
        )
    if rng.random() < 0.3:
        p.record(
            c.CASE_CLOSED,
            {
                "participant_id": pid,
                "closed_on": (on + timedelta(1)).isoformat(),
                "reason": "services_completed",
                "narrative_sha256": None,
            },
        )
    return p
