"""Concurrent writers (threads, processes) make one gap-free log; a killed writer loses nothing."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.application import LedgerApplication
from ledger.persistence import persistence_env
from ledger.signing import Signer, SigningKey
from ledger.store import iter_leaves
from tests.helpers import LedgerUnderTest, RawDatabase, open_ledger
from tests.sample import SAMPLE_CATALOGUE, sample_payment

SPAWN = multiprocessing.get_context("spawn")


def _settle(url: str) -> None:
    """Wait out a killed writer's transaction: on PostgreSQL its backend may still be
    committing what the client sent before it died. Writers hold the table lock until
    they commit or abort, so taking it once is enough."""
    raw = RawDatabase(url)
    if raw.postgres:
        raw.execute("BEGIN; LOCK TABLE {events} IN EXCLUSIVE MODE; COMMIT")


def _assert_whole(ledger: LedgerUnderTest, expected_size: int) -> None:
    raw = RawDatabase(ledger.url)
    seqs = [seq for seq, _ in iter_leaves(ledger.app.store)]
    assert seqs == list(range(expected_size))
    assert raw.count("{events}") == raw.count("ledger_log") == expected_size
    assert ledger.app.store.head().size == expected_size
    ledger.log.checkpoint()
    report = ledger.verify()
    assert report.ok, list(report.lines())


def _writer(url: str, private: bytes, saves: int, per_save: int) -> None:
    app = LedgerApplication(env=persistence_env(url), catalogue=SAMPLE_CATALOGUE)
    key = SigningKey(
        Ed25519PrivateKey.from_private_bytes(private), "org:cws", ("grantee",), "user:clerk"
    )
    signer = Signer(key)
    for _ in range(saves):
        app.save(*[sample_payment() for _ in range(per_save)], signer=signer)
    app.close()


def _private(ledger: LedgerUnderTest) -> bytes:
    return ledger.clerk.key.private.private_bytes_raw()


def test_threads_share_one_gap_free_log(database_url: str) -> None:
    ledger = open_ledger(database_url)
    start = ledger.app.store.head().size

    def write(n: int) -> None:
        for i in range(15):
            ledger.app.save(
                *[sample_payment() for _ in range(1 + (n + i) % 3)], signer=ledger.clerk
            )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(8)))
    written = sum(1 + (n + i) % 3 for n in range(8) for i in range(15))
    _assert_whole(ledger, start + written)


def test_processes_share_one_gap_free_log(database_url: str) -> None:
    ledger = open_ledger(database_url)
    start = ledger.app.store.head().size
    procs = [
        SPAWN.Process(target=_writer, args=(ledger.url, _private(ledger), 20, 1 + n % 3))
        for n in range(4)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    _assert_whole(ledger, start + sum(20 * (1 + n % 3) for n in range(4)))


def test_a_writer_killed_mid_stream_leaves_no_partial_entry(database_url: str) -> None:
    ledger = open_ledger(database_url)
    start = ledger.app.store.head().size
    proc = SPAWN.Process(target=_writer, args=(ledger.url, _private(ledger), 100_000, 5))
    proc.start()
    deadline = time.monotonic() + 60
    while ledger.app.store.head().size < start + 60:
        assert time.monotonic() < deadline, "the writer made no progress"
        time.sleep(0.02)
    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)
    assert proc.exitcode == -signal.SIGKILL
    _settle(ledger.url)

    # Every committed batch is whole: 5 events, 5 entries, nothing in between.
    size = ledger.app.store.head().size
    assert (size - start) % 5 == 0
    _assert_whole(ledger, size)

    # Writing resumes with the next seq.
    ledger.pay()
    _assert_whole(ledger, size + 1)


@pytest.mark.postgres
def test_postgres_writers_across_processes_with_a_killed_one(pg_database: object) -> None:
    """Writers keep going while one of them dies holding the lock's queue position."""
    url = pg_database.url  # type: ignore[attr-defined]
    ledger = open_ledger(url)
    start = ledger.app.store.head().size
    doomed = SPAWN.Process(target=_writer, args=(url, _private(ledger), 100_000, 3))
    steady = [SPAWN.Process(target=_writer, args=(url, _private(ledger), 30, 2)) for _ in range(3)]
    doomed.start()
    for proc in steady:
        proc.start()
    time.sleep(1.0)
    assert doomed.pid is not None
    os.kill(doomed.pid, signal.SIGKILL)
    for proc in steady:
        proc.join(120)
        assert proc.exitcode == 0
    doomed.join(10)
    _settle(url)
    size = ledger.app.store.head().size
    assert size >= start + 3 * 30 * 2
    _assert_whole(ledger, size)
