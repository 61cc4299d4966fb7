"""The ledger's own story, told through its public methods, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from uuid import uuid4

import pytest

from ledger import merkle
from ledger.appender import LogWriteError
from ledger.hashing import b64decode
from ledger.mapper import UnsignedEventError
from ledger.note import Checkpoint
from ledger.registry import KeyRuleError
from ledger.signing import Signer, SigningKey
from ledger.store import iter_leaves
from ledger.transparency import consistency, inclusion
from tests.helpers import RawDatabase, open_ledger
from tests.sample import SAMPLE_RECORDED, sample_payment


def test_a_ledger_opens_registers_keys_signs_and_verifies(database_url: str) -> None:
    # The board opens the ledger and registers the fiduciary agent's key.
    ledger = open_ledger(database_url)
    app = ledger.app
    assert app.store.head().size == 2

    # The clerk agent records payments; each is one signed entry.
    for amount in (100_00, 250_00, 75_00):
        ledger.pay(amount)
    assert app.store.head().size == 5

    # Every entry is the exact JCS of {event, prev, seq, sig}, chained by prev.
    leaves = list(iter_leaves(app.store))
    assert [seq for seq, _ in leaves] == [0, 1, 2, 3, 4]
    prev = "0" * 64
    for seq, leaf in leaves:
        entry = json.loads(leaf)
        assert entry["seq"] == seq and entry["prev"] == prev
        prev = merkle.leaf_hash(leaf).hex()
    last = json.loads(leaves[-1][1])["event"]
    assert last["type"] == SAMPLE_RECORDED
    assert last["org"] == "org:cws" and last["actor"] == "user:clerk"
    assert last["key"] == ledger.clerk.key.key_id
    assert last["data"]["amount_cents"] == 75_00

    # Aggregates come back from the signed events.
    payment = sample_payment(42_00)
    app.save(payment, signer=ledger.clerk)
    assert app.repository.get(payment.id).amount_cents == 42_00

    # A checkpoint, proofs that verify against it, and a clean verification.
    note = ledger.log.checkpoint()
    checkpoint = Checkpoint.open(note, app.log_verifier_key)
    assert checkpoint.size == 6
    proof = inclusion(ledger.log, 3)
    merkle.verify_inclusion(
        3,
        6,
        b64decode(proof["leaf_hash"]),
        [b64decode(p) for p in proof["proof"]],
        checkpoint.root,
    )
    ledger.pay()
    later = consistency(ledger.log, 6, 7)
    new_root = Checkpoint.open(later["new_checkpoint"], app.log_verifier_key).root
    merkle.verify_consistency(
        6, 7, checkpoint.root, new_root, [b64decode(p) for p in later["proof"]]
    )
    report = ledger.verify()
    assert report.ok, list(report.lines())
    assert report.size == 7


def test_refused_writes_write_nothing(database_url: str) -> None:
    ledger = open_ledger(database_url)
    app, raw = ledger.app, RawDatabase(database_url)
    before = (app.store.head().size, raw.count("{events}"), raw.count("ledger_log"))

    # An unregistered key, a key held by another org, a role that may not sign the type.
    stranger = Signer(SigningKey.generate("org:cws", ("grantee",)))
    impostor = Signer(SigningKey(ledger.clerk.key.private, "org:irc", ("grantee",)))
    for signer, reason in (
        (stranger, "not registered"),
        (impostor, "held by org:cws, not org:irc"),
        (ledger.root, f"may not sign {SAMPLE_RECORDED}"),
    ):
        with pytest.raises(LogWriteError, match=reason):
            app.save(sample_payment(), signer=signer)

    # A revoked key signs nothing more; the board may not revoke its last key.
    app.revoke_key(ledger.root, ledger.clerk.key.key_id, "officer left")
    with pytest.raises(LogWriteError, match="revoked"):
        ledger.pay()
    with pytest.raises(KeyRuleError, match="last board key"):
        app.revoke_key(ledger.root, ledger.root.key.key_id, "oops")
    with pytest.raises(KeyRuleError, match="already registered"):
        app.register_key(ledger.root, ledger.clerk.key.public_key, "org:cws", ["grantee"])

    # Nothing unsigned gets in at all.
    with pytest.raises(UnsignedEventError):
        app.save(sample_payment())

    after = (app.store.head().size, raw.count("{events}"), raw.count("ledger_log"))
    assert after == (before[0] + 1, before[1] + 1, before[2] + 1)  # only the revocation
    ledger.log.checkpoint()
    assert ledger.verify().ok


def test_a_grantee_key_cannot_register_keys(database_url: str) -> None:
    ledger = open_ledger(database_url)
    grantee = Signer(SigningKey.generate("org:irc", ("grantee",)))
    ledger.app.register_key(ledger.root, grantee.key.public_key, "org:irc", ["grantee"])
    with pytest.raises(LogWriteError, match=r"may not sign ledger\.KeyRegistered"):
        ledger.app.register_key(
            grantee, SigningKey.generate("org:irc", ("grantee",)).public_key, "org:irc", ["grantee"]
        )


def test_a_streams_opening_event_is_the_first_it_recorded(database_url: str) -> None:
    ledger = open_ledger(database_url)
    app = ledger.app
    opened = app.opening_event(app.ledger_id)
    assert opened is not None and opened["type"] == "ledger.LedgerOpened"
    ledger.pay(100_00)  # later events of other streams, and the ledger's own, change nothing
    assert app.opening_event(app.ledger_id) == opened
    assert app.opening_event(uuid4()) is None
