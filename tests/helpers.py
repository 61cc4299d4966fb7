"""Building ledgers for tests, and reaching around them to tamper with their storage."""

from __future__ import annotations

import marshal
import sqlite3
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domain import catalogue as c
from domain.application import STREAMS
from domain.rules import ProgramRules
from domain.streams import Stream
from ledger.application import LedgerApplication
from ledger.catalogue import EventType
from ledger.live import LiveSource
from ledger.persistence import persistence_env
from ledger.report import Report
from ledger.signing import Signer, SigningKey
from ledger.transparency import LogSigner
from ledger.verify import verify
from tests.sample import SAMPLE_CATALOGUE, SamplePayment, sample_payment


@dataclass
class LedgerUnderTest:
    """A bare ledger (no program rules) whose clerk records sample payments."""

    url: str
    app: LedgerApplication
    root: Signer
    log_key: Ed25519PrivateKey
    clerk: Signer

    @property
    def log(self) -> LogSigner:
        return LogSigner(self.app.store, self.app.origin, self.log_key)

    def pay(self, amount_cents: int = 120_000, signer: Signer | None = None) -> SamplePayment:
        payment = sample_payment(amount_cents)
        self.app.save(payment, signer=signer or self.clerk)
        return payment

    def verify(self) -> Report:
        return verify(LiveSource(self.app.store), catalogue=SAMPLE_CATALOGUE)


def open_ledger(url: str) -> LedgerUnderTest:
    app = LedgerApplication(env=persistence_env(url), catalogue=SAMPLE_CATALOGUE)
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


class BareLedger:
    """A ledger application with real signatures and keys, but none of the program's rules:
    a way around the domain, to write what it would refuse."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.app = LedgerApplication(env=persistence_env(url), catalogue=c.CATALOGUE)
        self.board = Signer("user:chair", SigningKey.generate("org:board", ("board",)))
        self.log_key = Ed25519PrivateKey.generate()
        self.app.open_ledger(
            origin="cmpp.example.gov/ledger/bad",
            root=self.board,
            log_public=self.log_key.public_key().public_bytes_raw(),
        )
        self.streams: dict[UUID, Stream] = {}
        self.broken: dict[int, str] = {}

    def signer(self, org: str, role: str) -> Signer:
        signer = Signer(f"user:{org[4:]}", SigningKey.generate(org, (role,)))
        self.app.register_key(self.board, signer.key.public_key, org, [role])
        return signer

    def record(
        self, signer: Signer, event_type: EventType, breaks: str | None = None, **data: Any
    ) -> int:
        """Record one event, unjudged; if it `breaks` a rule, check 9 must say so at its seq."""
        stream = STREAMS[event_type]
        if event_type == stream.Created.TOPIC:  # type: ignore[attr-defined]
            aggregate = self.streams[stream.id_for(data)] = stream.open(data)
        else:
            aggregate = self.streams[stream.id_for(data)]
            aggregate.record(event_type, data)
        seq = self.app.store.head().size
        self.app.save(aggregate, signer=signer)
        if breaks:
            self.broken[seq] = breaks
        return seq


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
