"""The write guard: domain-style rules kept atomically, under the writers' lock.

A toy rule set stands in for issue 3's funds rules: an award's disbursements stay
within a limit, and a payment reference is used once. Refused events write nothing;
a transaction that fails after admission leaves no trace in the guard; racing
processes never overdraw.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import IntegrityError

from ledger.application import LedgerApplication
from ledger.guard import GuardError, Journal, JournaledGuard
from ledger.persistence import persistence_env
from ledger.signing import Signer, SigningKey
from ledger.store import iter_leaves
from tests.helpers import LedgerUnderTest, RawDatabase, open_ledger
from tests.sample import SAMPLE_CATALOGUE, SAMPLE_RECORDED, SamplePayment, sample_payment

LIMIT = 1_000_000


class SpendingLimit(JournaledGuard):
    def __init__(self) -> None:
        self.journal = Journal()
        self.spent = self.journal.table()
        self.refs = self.journal.table()
        self.cursor = self.journal.table([("position", 0)])

    @property
    def position(self) -> int:
        return int(self.cursor["position"])

    def admit(self, seq: int, event: dict[str, Any], *, strict: bool) -> list[str]:
        problems = []
        if event["type"] == SAMPLE_RECORDED:
            data = event["data"]
            total = self.spent.get(data["award_id"], 0) + data["amount_cents"]
            if total > LIMIT:
                problems.append(f"award {data['award_id']} would reach {total} > {LIMIT}")
            if data["payment_ref"] in self.refs:
                problems.append(
                    f"payment_ref {data['payment_ref']} was used at seq "
                    f"{self.refs[data['payment_ref']]}"
                )
            if problems and strict:
                raise GuardError("; ".join(problems))
            self.spent[data["award_id"]] = total
            self.refs[data["payment_ref"]] = seq
        self.cursor["position"] = seq + 1
        return problems


def payment(amount: int, ref: str) -> SamplePayment:
    return sample_payment(amount, payment_ref=ref, award_id="A-1")


def guarded(url: str) -> tuple[LedgerUnderTest, SpendingLimit]:
    ledger = open_ledger(url)
    guard = SpendingLimit()
    ledger.app.recorder.set_guard(guard)  # type: ignore[attr-defined]
    return ledger, guard


def test_refusals_write_nothing_and_leave_no_trace(database_url: str) -> None:
    ledger, guard = guarded(database_url)
    app, raw = ledger.app, RawDatabase(database_url)
    app.save(payment(600_000, "P1"), signer=ledger.clerk)
    before = (raw.count("{events}"), raw.count("ledger_log"))

    with pytest.raises(GuardError, match="would reach 1100000"):
        app.save(payment(500_000, "P2"), signer=ledger.clerk)
    with pytest.raises(GuardError, match="P1 was used at seq"):
        app.save(payment(1, "P1"), signer=ledger.clerk)
    # A batch refused on its second event: the first is not kept either.
    with pytest.raises(GuardError):
        app.save(payment(100_000, "P3"), payment(400_000, "P4"), signer=ledger.clerk)
    assert (raw.count("{events}"), raw.count("ledger_log")) == before
    assert guard.spent == {"A-1": 600_000} and set(guard.refs) == {"P1"}

    app.save(payment(400_000, "P5"), signer=ledger.clerk)
    assert guard.spent == {"A-1": 1_000_000}


def test_a_batch_that_conflicts_after_admission_is_undone(database_url: str) -> None:
    ledger, guard = guarded(database_url)
    app = ledger.app
    app.save(payment(100_000, "P1"), signer=ledger.clerk)
    both = Signer(SigningKey.generate("org:board", ("board", "grantee")))
    app.register_key(ledger.root, both.key.public_key, "org:board", ["board", "grantee"])
    # Two copies of the ledger aggregate, each registering a key: the second conflicts
    # on its version, in a batch whose disbursement the guard has already admitted.
    first, second = app.ledger(), app.ledger()
    roles = SAMPLE_CATALOGUE.roles
    first.register_key(
        SigningKey.generate("org:irc", ("grantee",)).public_key, "org:irc", ["grantee"], roles
    )
    second.register_key(
        SigningKey.generate("org:lss", ("grantee",)).public_key, "org:lss", ["grantee"], roles
    )
    app.save(first, signer=ledger.root)
    with pytest.raises(IntegrityError):
        app.save(payment(200_000, "P2"), second, signer=both)
    assert guard.spent == {"A-1": 100_000} and set(guard.refs) == {"P1"}
    assert guard.position == app.store.head().size
    app.save(payment(900_000, "P3"), signer=ledger.clerk)
    assert guard.spent == {"A-1": 1_000_000}


def _racer(url: str, private: bytes, n: int) -> None:
    app = LedgerApplication(env=persistence_env(url), catalogue=SAMPLE_CATALOGUE)
    app.recorder.set_guard(SpendingLimit())  # type: ignore[attr-defined]
    key = SigningKey(
        Ed25519PrivateKey.from_private_bytes(private), "org:cws", ("grantee",), "user:clerk"
    )
    signer = Signer(key)
    for i in range(n):
        with contextlib.suppress(GuardError):
            app.save(payment(30_000, f"R{os.getpid()}-{i}"), signer=signer)
    app.close()


def test_racing_processes_never_overdraw(database_url: str) -> None:
    ledger, _ = guarded(database_url)
    private = ledger.clerk.key.private.private_bytes_raw()
    spawn = multiprocessing.get_context("spawn")
    procs = [spawn.Process(target=_racer, args=(database_url, private, 12)) for _ in range(6)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(180)
        assert proc.exitcode == 0
    amounts = [
        event["data"]["amount_cents"]
        for _, leaf in iter_leaves(ledger.app.store)
        if (event := json.loads(leaf)["event"])["type"] == SAMPLE_RECORDED
    ]
    assert sum(amounts) == LIMIT // 30_000 * 30_000  # as much as fits, and no more
    ledger.log.checkpoint()
    assert ledger.verify().ok
