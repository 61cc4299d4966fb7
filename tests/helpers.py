"""Building ledgers for tests, and reaching around them to tamper with their storage."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.model import BenchPayment
from ledger.application import LedgerApplication
from ledger.settings import persistence_env
from ledger.signing import Signer, SigningKey
from ledger.transparency import LogSigner


def new_payment(amount_cents: int = 120_000) -> BenchPayment:
    """A stand-in for a domain aggregate: one signed funds event with an amount."""
    ref = uuid4().hex[:8]
    return BenchPayment(
        award_id="A-2022-007",
        disbursement_id=f"D-{ref}",
        amount_cents=amount_cents,
        payment_ref=f"PAY-{ref}",
        paid_on="2022-10-01",
    )


@dataclass
class LedgerUnderTest:
    url: str
    app: LedgerApplication
    root: Signer
    log_key: Ed25519PrivateKey
    clerk: Signer

    @property
    def log(self) -> LogSigner:
        return LogSigner(self.app.store, self.app.origin, self.log_key)

    def pay(self, amount_cents: int = 120_000, signer: Signer | None = None) -> BenchPayment:
        payment = new_payment(amount_cents)
        self.app.save(payment, signer=signer or self.clerk)
        return payment


def open_ledger(url: str) -> LedgerUnderTest:
    app = LedgerApplication(env=persistence_env(url))
    root = Signer("user:chair", SigningKey.generate("org:board", ("board",)))
    log_key = Ed25519PrivateKey.generate()
    app.open_ledger(
        origin="cmpp.example.gov/ledger/test",
        root=root,
        log_public=log_key.public_key().public_bytes_raw(),
    )
    clerk = Signer("user:clerk", SigningKey.generate("org:cws", ("grantee",)))
    app.register_key(root, clerk.key.public_key, "org:cws", ["grantee"])
    ledger = LedgerUnderTest(url, app, root, log_key, clerk)
    ledger.log.checkpoint()
    return ledger


class RawDatabase:
    """Direct SQL on the ledger's database, bypassing the application: an attacker's view."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.postgres = url.startswith("postgresql://")
        self.events = "ledger_events" if self.postgres else "stored_events"

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        sql = sql.replace("{events}", self.events)
        if self.postgres:
            with psycopg.connect(self.url, autocommit=True) as conn:
                cur = conn.execute(sql.replace("?", "%s"), params)
                return list(cur.fetchall()) if cur.description else []
        conn = sqlite3.connect(self.url[len("sqlite:///") :])
        try:
            with conn:
                cur = conn.execute(sql, params)
                return list(cur.fetchall())
        finally:
            conn.close()

    def event_key(self, seq: int) -> tuple[Any, int]:
        rows = self.execute(
            "SELECT originator_id, originator_version FROM ledger_log WHERE seq = ?", (seq,)
        )
        return rows[0][0], rows[0][1]

    def state(self, seq: int) -> bytes:
        oid, version = self.event_key(seq)
        rows = self.execute(
            "SELECT state FROM {events} WHERE originator_id = ? AND originator_version = ?",
            (oid, version),
        )
        return bytes(rows[0][0])

    def set_state(self, seq: int, state: bytes) -> None:
        oid, version = self.event_key(seq)
        self.execute(
            "UPDATE {events} SET state = ? WHERE originator_id = ? AND originator_version = ?",
            (state, oid, version),
        )

    def delete_entry(self, seq: int) -> None:
        oid, version = self.event_key(seq)
        self.execute(
            "DELETE FROM {events} WHERE originator_id = ? AND originator_version = ?",
            (oid, version),
        )
        self.execute("DELETE FROM ledger_log WHERE seq = ?", (seq,))

    def count(self, table: str) -> int:
        return int(self.execute(f"SELECT COUNT(*) FROM {table}")[0][0])
