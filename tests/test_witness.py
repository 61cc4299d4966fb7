"""Witnesses (issue 10; LEDGER_FORMAT.md section 6; c2sp.org/tlog-witness and
tlog-cosignature): a witness cosigns a growing log, refuses a rollback and a fork and
keeps them as evidence, and `cmpp verify --witness-key` requires its cosignature."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from ledger import transparency
from ledger.application import LedgerApplication
from ledger.cosignature import WitnessKey, cosignature_line, cosignatures_by
from ledger.hashing import b64decode, b64encode
from ledger.live import LiveSource
from ledger.note import Checkpoint, NoteError
from ledger.persistence import persistence_env
from ledger.report import Check
from ledger.verify import verify
from ledger.witness import SIZE_TYPE, Witness
from ledger.witness_client import WitnessAddress, cosign, cosigned_note
from tests.helpers import LedgerUnderTest, open_ledger

WITNESS = "ig.example.gov/witness"


def new_witness(ledger: LedgerUnderTest, directory: Path) -> tuple[Witness, list[WitnessAddress]]:
    """A witness of the ledger's log, called in this process through its directory."""
    witness = Witness.create(directory, WITNESS)
    assert witness.add_log(ledger.log.verifier)
    return witness, [WitnessAddress(witness.key, str(directory))]


def held_size(witness: Witness) -> int | None:
    [log] = witness.describe()["logs"]
    return log["size"]  # type: ignore[no-any-return]


def evidence(witness: Witness, kind: str) -> list[dict[str, str]]:
    return [
        {name: (place / f"{name}.txt").read_text() for name in ("held", "shown", "why")}
        for place in witness.evidence()
        if f"-{kind}-" in place.name
    ]


def witness_findings(ledger: LedgerUnderTest, *keys: WitnessKey) -> list[str]:
    source = LiveSource(ledger.app.store)
    assert source.latest_checkpoint is not None
    source.latest_checkpoint = cosigned_note(ledger.app.store, source.latest_checkpoint, keys)
    report = verify(source, catalogue=ledger.catalogue, witness_keys=keys)
    return [f.message for f in report.findings[Check.CHECKPOINT]]


def test_a_witness_cosigns_a_growing_log(database_url: str, tmp_path: Path) -> None:
    ledger = open_ledger(database_url)
    witness, witnesses = new_witness(ledger, tmp_path / "witness")
    sizes = []
    for batch in (1, 2, 3, 1):
        for _ in range(batch):
            ledger.pay()
        [result] = cosign(ledger.log, witnesses)
        assert result.ok, result.problem
        sizes.append(result.size)
        assert held_size(witness) == result.size
        note = cosigned_note(ledger.app.store, ledger.log.checkpoint(), [witness.key])
        [(line, _time)] = cosignatures_by(note, witness.key)
        assert line.rstrip("\n") == result.line
    assert sizes == sorted(set(sizes))
    # Asked again at the same size, the ledger keeps the cosignature it has.
    assert cosign(ledger.log, witnesses)[0].line == result.line
    assert witness_findings(ledger, witness.key) == []
    other = Witness.create(tmp_path / "other", "other.example/witness").key
    [finding] = witness_findings(ledger, other)
    assert finding.startswith(f"witness {other.short}: ") and "no cosignature" in finding
    # Its key is its own: the directory and key file are for the witness alone.
    assert stat.S_IMODE(os.stat(tmp_path / "witness").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "witness" / "witness.key").st_mode) == 0o600
    assert witness.evidence() == []


class Backup:
    """An operator's copy of the ledger's database, taken now, restored later. Both take
    the application down and bring it back, as an operator's restore would."""

    def __init__(self, ledger: LedgerUnderTest, tmp_path: Path) -> None:
        self.url = ledger.url
        ledger.app.close()
        if self.url.startswith("sqlite:///"):
            self.copy = tmp_path / "backup.sqlite3"
            with sqlite3.connect(self.url[len("sqlite:///") :]) as live:
                copy = sqlite3.connect(self.copy)
                live.backup(copy)
                copy.close()
        else:
            self.name = self.url.rsplit("/", 1)[1]
            self._admin(f'CREATE DATABASE "{self.name}_copy" TEMPLATE "{self.name}"')
        self._reopen(ledger)

    def _admin(self, *statements: str) -> None:
        with psycopg.connect(self.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)  # type: ignore[arg-type]

    def _reopen(self, ledger: LedgerUnderTest) -> None:
        ledger.app = LedgerApplication(env=persistence_env(self.url), catalogue=ledger.catalogue)

    def restore(self, ledger: LedgerUnderTest) -> None:
        ledger.app.close()
        if self.url.startswith("sqlite:///"):
            with sqlite3.connect(self.url[len("sqlite:///") :]) as live:
                copy = sqlite3.connect(self.copy)
                copy.backup(live)
                copy.close()
        else:
            self._admin(
                f'DROP DATABASE "{self.name}" WITH (FORCE)',
                f'CREATE DATABASE "{self.name}" TEMPLATE "{self.name}_copy"',
                f'DROP DATABASE "{self.name}_copy"',
            )
        self._reopen(ledger)


def test_a_rollback_is_refused_and_kept_as_evidence(database_url: str, tmp_path: Path) -> None:
    ledger = open_ledger(database_url)
    witness, witnesses = new_witness(ledger, tmp_path / "witness")
    ledger.pay()
    assert cosign(ledger.log, witnesses)[0].ok
    backup = Backup(ledger, tmp_path)
    for _ in range(3):
        ledger.pay()
    [cosigned] = cosign(ledger.log, witnesses)
    assert cosigned.ok and held_size(witness) == cosigned.size
    held_note = ledger.log.checkpoint()

    backup.restore(ledger)  # the entries since the copy are gone, and so is what it knew
    ledger.pay()
    [refused] = cosign(ledger.log, witnesses)
    assert not refused.ok and refused.size < cosigned.size
    assert refused.problem is not None and refused.problem.startswith("rollback: ")
    [kept] = evidence(witness, "rollback")
    assert kept["held"] == held_note and kept["shown"] == ledger.log.checkpoint()

    # Written past the size the witness holds, the log is another history.
    for _ in range(4):
        ledger.pay()
    [refused] = cosign(ledger.log, witnesses)
    assert not refused.ok and refused.size > cosigned.size
    assert refused.problem is not None and "not consistent" in refused.problem
    [kept] = evidence(witness, "inconsistent")
    assert kept["held"] == held_note and kept["shown"] == ledger.log.checkpoint()
    assert held_size(witness) == cosigned.size  # what it cosigned stands
    [finding] = witness_findings(ledger, witness.key)
    assert WITNESS in finding


def test_a_fork_is_refused_and_both_checkpoints_kept(database_url: str, tmp_path: Path) -> None:
    ledger = open_ledger(database_url)
    witness, witnesses = new_witness(ledger, tmp_path / "witness")
    ledger.pay()
    [cosigned] = cosign(ledger.log, witnesses)
    size, published = cosigned.size, ledger.log.checkpoint()
    # The log key signs another root for the size the witness cosigned.
    fork = Checkpoint(ledger.app.origin, size, b"\x07" * 32).sign(ledger.log_key)
    for old in (size, 0):
        answer = witness.add_checkpoint(f"old {old}\n\n{fork}")
        assert answer == (409, f"{size}\n") and answer.content_type == SIZE_TYPE
    [kept] = evidence(witness, "fork")  # once, however often it is shown
    assert kept["held"] == published and kept["shown"] == fork
    # A larger checkpoint on another root, with a proof that cannot bind it to the held one.
    larger = Checkpoint(ledger.app.origin, size + 2, b"\x08" * 32).sign(ledger.log_key)
    bogus = "".join(f"{b64encode(bytes([i]) * 32)}\n" for i in range(2))
    assert witness.add_checkpoint(f"old {size}\n{bogus}\n{larger}").status == 422
    [kept] = evidence(witness, "inconsistent")
    assert kept["held"] == published and kept["shown"] == larger
    # Not signed by the log: neither cosigned nor evidence of anything.
    forged = Checkpoint(ledger.app.origin, size, b"\x07" * 32).sign(Ed25519PrivateKey.generate())
    assert witness.add_checkpoint(f"old {size}\n\n{forged}").status == 403
    assert len(witness.evidence()) == 2 and held_size(witness) == size
    # The log's own next checkpoint is cosigned as ever.
    ledger.pay()
    assert cosign(ledger.log, witnesses)[0].ok


def test_the_add_checkpoint_protocol_s_answers(tmp_path: Path) -> None:
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    witness, _ = new_witness(ledger, tmp_path / "witness")
    note = ledger.log.checkpoint()
    size = Checkpoint.open(note, ledger.log.verifier).size
    stranger = Checkpoint("elsewhere.example/log", size, b"\x01" * 32).sign(ledger.log_key)
    for body, status in [
        ("", 400),
        (f"{note}", 400),
        (f"old 01\n\n{note}", 400),
        (f"old 0\nnot base64\n\n{note}", 400),
        (f"old 0\n{b64encode(b'x' * 31)}\n\n{note}", 400),
        ("old 0\n" + f"{b64encode(b'x' * 32)}\n" * 64 + f"\n{note}", 400),
        (f"old {size + 1}\n\n{note}", 400),
        ("old 0\n\nnot a note\n", 400),
        (f"old 0\n\n{stranger}", 404),
        (f"old 1\n\n{note}", 409),
        (f"old 0\n{b64encode(b'x' * 32)}\n\n{note}", 400),
    ]:
        assert witness.add_checkpoint(body).status == status, body
    assert witness.add_checkpoint(f"old 0\n\n{note}").status == 200
    again = witness.add_checkpoint(f"old {size}\n\n{note}")  # the same one: cosigned again
    assert again.status == 200 and again.body.startswith(f"— {WITNESS} ")
    assert witness.add_checkpoint(f"old 0\n\n{note}") == (409, f"{size}\n")


def test_two_requests_from_the_same_state_cannot_both_advance_it(tmp_path: Path) -> None:
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    _witness, witnesses = new_witness(ledger, tmp_path / "witness")
    [cosigned] = cosign(ledger.log, witnesses)
    old = cosigned.size
    bodies = []
    for grown in (1, 2):
        ledger.pay()
        proof = transparency.consistency(ledger.log, old, old + grown)["proof"]
        note = ledger.log.checkpoint(old + grown)
        bodies.append(f"old {old}\n" + "".join(f"{p}\n" for p in proof) + f"\n{note}")
    start, statuses = threading.Barrier(2), []

    def ask(body: str) -> None:
        asking = Witness(tmp_path / "witness")  # its own object: as another process has
        start.wait()
        statuses.append(asking.add_checkpoint(body).status)

    threads = [threading.Thread(target=ask, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 409]


@given(
    seed=st.binary(min_size=32, max_size=32),
    size=st.integers(0, 2**63 - 1),
    root=st.binary(min_size=32, max_size=32),
    timestamp=st.integers(0, 2**63 - 1),
    data=st.data(),
)
def test_a_cosignature_round_trips_and_any_flipped_byte_fails(
    seed: bytes, size: int, root: bytes, timestamp: int, data: st.DataObject
) -> None:
    private = Ed25519PrivateKey.from_private_bytes(seed)
    key = WitnessKey(WITNESS, private.public_key().public_bytes_raw())
    assert WitnessKey.parse(str(key)) == key
    text = Checkpoint("cmpp.example.gov/ledger/x", size, root).text()
    line = cosignature_line(text, WITNESS, private, timestamp)
    assert cosignatures_by(f"{text}\n{line}", key) == [(line, timestamp)]
    # One bit of the line's bytes (key hash, time, signature) or of the text it signs.
    blob = bytearray(b64decode(line.rstrip("\n").rsplit(" ", 1)[1]))
    if data.draw(st.booleans()):
        blob[data.draw(st.integers(0, len(blob) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    else:
        where = data.draw(st.integers(0, len(text) - 1))
        flipped = chr(ord(text[where]) ^ 1 << data.draw(st.integers(0, 6)))
        text = text[:where] + flipped + text[where + 1 :]
    with pytest.raises(NoteError):
        cosignatures_by(f"{text}\n— {WITNESS} {b64encode(bytes(blob))}\n", key)
