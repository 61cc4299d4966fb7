"""Building ledgers for tests, and reaching around them to tamper with their storage."""

from __future__ import annotations

import marshal
import sqlite3
from typing import Any
from uuid import UUID

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domain import catalogue as c
from domain.application import STREAMS
from domain.rules import ProgramRules
from domain.streams import Stream
from ledger.application import LedgerApplication
from ledger.catalogue import Catalogue, EventType
from ledger.live import LiveSource
from ledger.persistence import persistence_env
from ledger.report import Report
from ledger.signing import Signer, SigningKey
from ledger.transparency import LogSigner
from ledger.verify import verify
from tests.sample import SAMPLE_CATALOGUE, SamplePayment, sample_payment


class BareLedger:
    """A ledger application with real signatures and keys, but none of the program's rules:
    a way around the domain, to write what it would refuse. Its catalogue says who may
    sign what (the program's, unless a test brings its own)."""

    def __init__(self, url: str, catalogue: Catalogue = c.CATALOGUE) -> None:
        self.url = url
        self.catalogue = catalogue
        self.app = LedgerApplication(env=persistence_env(url), catalogue=catalogue)
        self.board = Signer(SigningKey.generate("org:board", ("board",)))
        self.log_key = Ed25519PrivateKey.generate()
        self.app.open_ledger(
            origin="cmpp.example.gov/ledger/test",
            root=self.board,
            log_public=self.log_key.public_key().public_bytes_raw(),
        )
        self.streams: dict[UUID, Stream] = {}
        self.broken: dict[int, str] = {}

    @property
    def log(self) -> LogSigner:
        return LogSigner(self.app.store, self.app.origin, self.log_key)

    def signer(self, org: str, role: str, person: str | None = None) -> Signer:
        """A new key of `org` for `role`, registered; held by `person` if one is named."""
        signer = Signer(SigningKey.generate(org, (role,), person))
        self.app.register_key(self.board, signer.key.public_key, org, [role], person)
        return signer

    def verify(self) -> Report:
        return verify(LiveSource(self.app.store), catalogue=self.catalogue)

    def record(
        self, signer: Signer, event_type: EventType, breaks: str | None = None, **data: Any
    ) -> int:
        """Record one event, unjudged; if it `breaks` a rule, check 9 must say so at its seq."""
        stream = STREAMS[event_type]
        if stream.opens(event_type):
            aggregate = self.streams[stream.id_for(data)] = stream.open(data)
        else:
            aggregate = self.streams[stream.id_for(data)]
            aggregate.record(event_type, data)
        seq = self.app.store.head().size
        self.app.save(aggregate, signer=signer)
        if breaks:
            self.broken[seq] = breaks
        return seq


class LedgerUnderTest(BareLedger):
    """A bare ledger of the sample catalogue, whose clerk records sample payments."""

    def __init__(self, url: str) -> None:
        super().__init__(url, SAMPLE_CATALOGUE)
        self.clerk = self.signer("org:cws", "grantee", "user:clerk")

    @property
    def root(self) -> Signer:
        return self.board

    def pay(self, amount_cents: int = 120_000, signer: Signer | None = None) -> SamplePayment:
        payment = sample_payment(amount_cents)
        self.app.save(payment, signer=signer or self.clerk)
        return payment


def open_ledger(url: str) -> LedgerUnderTest:
    ledger = LedgerUnderTest(url)
    ledger.log.checkpoint()
    return ledger


def known(rules: ProgramRules) -> dict[str, Any]:
    """Everything the program's rules know, decoded (lazy rows too), comparable by value."""
    state = rules.state()
    cases = state["CaseRules"]["cases"]
    state["CaseRules"]["cases"] = {k: marshal.loads(v) for k, v in cases.items()}
    return state


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
