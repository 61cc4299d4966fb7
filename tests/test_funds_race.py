"""32 processes race disbursements against one award on PostgreSQL: it is never overdrawn."""

from __future__ import annotations

import json
import multiprocessing
import os
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domain.application import CMPPApplication
from domain.errors import DomainError
from domain.verification import verify_log
from ledger.live import LiveSource
from ledger.persistence import persistence_env
from ledger.signing import Signer, SigningKey
from ledger.store import iter_leaves
from tests.pilot import fund, open_pilot

PROCESSES = 32
ATTEMPTS = 3
AMOUNT = 37_000_00  # $37,000.00: 27 of them fit in a $1,000,000.00 award
AWARD = 1_000_000_00


def _race(url: str, private: bytes, person: str | None, results: Any) -> None:
    try:
        results.put(_disburse(url, private, person))
    except BaseException as exc:  # the test says what went wrong, not only that
        results.put(f"{type(exc).__name__}: {exc}")
        raise


def _disburse(url: str, private: bytes, person: str | None) -> int:
    # One connection each: 32 processes with the default pool would ask the server for
    # more connections than its default max_connections (100).
    app = CMPPApplication(env=persistence_env(url, pool_size=1))
    key = SigningKey(
        Ed25519PrivateKey.from_private_bytes(private), "org:cws", ("fiscal_agent",), person
    )
    signer = Signer(key)
    accepted = 0
    for i in range(ATTEMPTS):
        ref = f"{os.getpid()}-{i}"
        try:
            app.record_disbursement(
                signer,
                award_id="A-2022-007",
                disbursement_id=f"D-{ref}",
                amount_cents=AMOUNT,
                payment_ref=f"PAY-{ref}",
                paid_on="2022-11-01",
            )
            accepted += AMOUNT
        except DomainError:
            pass
    app.close()
    return accepted


def test_racing_disbursements_never_overdraw_an_award(pg_database: Any) -> None:
    pilot = open_pilot(pg_database.url)
    fund(pilot, award_cents=AWARD)
    private = pilot.cws.key.private.private_bytes_raw()
    spawn = multiprocessing.get_context("spawn")
    results = spawn.Queue()
    procs = [
        spawn.Process(target=_race, args=(pg_database.url, private, pilot.cws.key.person, results))
        for _ in range(PROCESSES)
    ]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=300) for _ in procs]
    failures = [o for o in outcomes if not isinstance(o, int)]
    assert not failures, failures
    accepted = sum(outcomes)
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0

    logged = [
        event["data"]["amount_cents"]
        for _, leaf in iter_leaves(pilot.app.store)
        if (event := json.loads(leaf)["event"])["type"] == "funds.DisbursementRecorded"
    ]
    assert sum(logged) == accepted  # what was accepted is exactly what the log holds
    assert accepted <= AWARD  # never overdrawn
    assert accepted == AWARD // AMOUNT * AMOUNT  # and every dollar that fits was paid
    pilot.log.checkpoint()
    assert verify_log(LiveSource(pilot.app.store)).ok
