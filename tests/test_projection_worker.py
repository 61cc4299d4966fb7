"""A projection worker killed mid-batch: after restarts, every entry applied exactly once."""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from domain.application import CMPPApplication
from ledger.persistence import persistence_env
from projections import balances
from projections.db import ProjectionDB
from projections.runner import Projector
from tools.cli import app as cli

CMPP = str(Path(sys.executable).parent / "cmpp")


def positions(url: str) -> dict[str, int]:
    db = ProjectionDB(url)
    try:
        if not db.table_exists("projection_positions"):
            return {}
        return {r["name"]: r["position"] for r in db.query("SELECT * FROM projection_positions")}
    finally:
        db.close()


def test_a_killed_worker_resumes_without_applying_anything_twice(
    database_url: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "CMPP_DATABASE_URL": database_url,
        "CMPP_DATA_DIR": str(tmp_path),
        "CMPP_KEY_PASSPHRASE": "worker test passphrase",
        "CMPP_VAULT_KEY": base64.b64encode(b"v" * 32).decode(),
    }
    for args in (["init"], ["demo", "--participants", "400", "--seed", "9"]):
        assert CliRunner().invoke(cli, args, env=env).exit_code == 0
    app = CMPPApplication(env=persistence_env(database_url))
    size = app.store.head().size

    rng, seen = random.Random(1), 0
    for _ in range(4):
        worker = subprocess.Popen(
            [CMPP, "projections", "follow", "--batch", "5", "--interval", "0.05"],
            env=env,
            stderr=subprocess.DEVNULL,
        )
        started = time.monotonic()
        while min(positions(database_url).values(), default=0) <= seen:  # it is under way
            assert time.monotonic() - started < 30, "the worker made no progress"
            time.sleep(0.005)
        time.sleep(rng.uniform(0.005, 0.05))  # then, somewhere in the stream
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        now = positions(database_url)
        assert all(seen <= p <= size for p in now.values())  # never backwards, never past the log
        seen = min(now.values(), default=0)
    assert seen < size, "the worker finished before it was killed: make the log longer"

    # A last worker finishes the log, then follows it as it grows, until told to stop.
    worker = subprocess.Popen(
        [CMPP, "projections", "follow", "--batch", "60", "--interval", "0.1"],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while min(positions(database_url).values(), default=0) < size:
        assert time.monotonic() < deadline, "the worker did not catch up"
        time.sleep(0.1)
    signer = None
    from ledger.keystore import KeyStore
    from ledger.signing import Signer

    keys = KeyStore(tmp_path / "keys", env["CMPP_KEY_PASSPHRASE"])
    signer = Signer(keys.load(app.opening["data"]["root_key"]["key_id"]))
    app.record_appropriation(
        signer,
        appropriation_id="FY2023",
        fiscal_year=2023,
        public_law="P.L. 117-328",
        amount_cents=100_00,
        available_until="2025-09-30",
    )
    while min(positions(database_url).values()) < size + 1:
        assert time.monotonic() < deadline, "the worker did not follow the log"
        time.sleep(0.1)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(10) == 0

    # Exactly once: the same state as a clean build elsewhere, one movement per funds event.
    db = ProjectionDB(database_url)
    here = Projector(app.store, db, [balances.Balances(), balances.LogIndex()])
    elsewhere = Projector(
        app.store,
        ProjectionDB(f"sqlite:///{tmp_path / 'clean.sqlite3'}"),
        [balances.Balances(), balances.LogIndex()],
    )
    elsewhere.catch_up()
    assert here.digest() == elsewhere.digest()
    funds_events = sum(
        1
        for _, state in ((r[0], r[2]) for r in app.store.read_rows(0, 10**6))
        if json.loads(state or b"{}").get("event", {}).get("type") in balances.FUNDS_MOVEMENTS
    )
    assert db.query("SELECT COUNT(*) AS n FROM bal_movements")[0]["n"] == funds_events
    db.close()
    app.close()
